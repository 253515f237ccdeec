/* libFuzzer target for HTTP/2 clients: the bytes of one h2c connection go
 * through the real listener (core/http/server.c with
 * http2_prior_knowledge, core/http/h2_conn.c and h2_stream.c on nghttp2)
 * into the real router, the plugin chain and lease cache when the plugins
 * are built, and the forwarder (tests/netfuzz/fuzz_server.h, shared with
 * the HTTP/1.1 target).  Besides what that checks, it aborts when the
 * server's first bytes are not a SETTINGS frame (after a valid preface).
 *
 * Input layout:
 *
 *   byte 0: bit 0 listener (plain+quit, or small limits); bit 1
 *           half-close after sending; bit 2 raw: send no preface of our
 *           own (the input must bring it); bit 3 an auto-auth token
 *   byte 1: where the rest is split into two writes (x/255 of its length)
 *   rest:   frames (after the connection preface unless raw) */
#include "autoconf.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../netfuzz/fuzz_server.h"
#include "fuzz.h"
#include "http/h2_conn.h"

/* The server's first frame must be its SETTINGS: type 4 on stream 0. */
static const char *
check_settings(const char *buf, size_t len)
{
    if (len < 9 || buf[3] != 4 || memcmp(buf + 5, "\0\0\0\0", 4) != 0)
        return "the server did not start with SETTINGS";
    return NULL;
}

static const fuzz_server_spec SPEC = {
    .name = "fuzz_h2",
    .top = "",
    .listeners = {"  http2_prior_knowledge = true\n"
                  "  proxy_api { enable_quit = true }\n",
                  "  http2_prior_knowledge = true\n"
                  "  max_request_header_bytes = 256\n"
                  "  max_request_size = 64\n"},
    .n_listeners = 2,
    .check_first = check_settings,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool raw = data[0] & 4;
    size_t len = size - 2;
    fuzz_client cl = {.listener = data[0] & 1,
                      .half_close = data[0] & 2,
                      .with_token = data[0] & 8,
                      .check_first = !raw,
                      .first = raw ? NULL : VPD_H2_PREFACE,
                      .first_len = raw ? 0 : VPD_H2_PREFACE_LEN,
                      .msg = data + 2,
                      .len = len,
                      .split = len * data[1] / 255};
    fuzz_server_connection(&SPEC, &cl);
    return 0;
}
