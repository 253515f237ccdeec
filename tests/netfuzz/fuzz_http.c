/* libFuzzer target for what clients send: the bytes of one connection go
 * through the real listener (core/http/server.c: llhttp, the LIST workaround,
 * pipelining, limits, header handling) into the real router (proxy API
 * paths, token selection, require_request_header), the plugin chain and
 * lease cache when the plugins are built, and the forwarder
 * (tests/netfuzz/fuzz_server.h, shared with the h2 target).  Besides what
 * that checks, it aborts when an answer does not start with "HTTP/".
 *
 * Input layout:
 *
 *   byte 0: bits 0-1 listener (plain+quit, require_request_header,
 *           metrics_only, small limits); bit 2 half-close after sending;
 *           bit 3 with an auto-auth token in the holder
 *   byte 1: where the rest is split into two writes (x/255 of its length)
 *   rest:   the bytes the client sends */
#include "autoconf.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_server.h"

/* Every answer must start as an HTTP/1.x status line: anything else would
 * be a framing bug. */
static const char *
check_status_line(const char *buf, size_t len)
{
    if (len < 5 || memcmp(buf, "HTTP/", 5) != 0)
        return "answer does not start with HTTP/";
    return NULL;
}

static const fuzz_server_spec SPEC = {
    .name = "fuzz_http",
    .top = "telemetry { prometheus_retention_time = \"1h\" }\n",
    .listeners = {"  proxy_api { enable_quit = true }\n",
                  "  require_request_header = true\n",
                  "  role = \"metrics_only\"\n",
                  "  max_request_header_bytes = 256\n"
                  "  max_request_size = 64\n"},
    .n_listeners = 4,
    .check_first = check_status_line,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t len = size - 2;
    fuzz_client cl = {.listener = data[0] & 3,
                      .half_close = data[0] & 4,
                      .with_token = data[0] & 8,
                      .check_first = true,
                      .msg = data + 2,
                      .len = len,
                      .split = len * data[1] / 255};
    fuzz_server_connection(&SPEC, &cl);
    return 0;
}
