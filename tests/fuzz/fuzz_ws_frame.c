/* Fuzz target: the WebSocket frame decoder (core/upstream/ws_frame.c),
 * driven as the client drives it.  The first byte picks how the rest is
 * cut into reads and the frame and message limits; the rest is the
 * server's bytes.  Every event must leave the decoder consistent: used
 * never beyond what was given, messages within the limits, text messages
 * valid UTF-8, an error always with a reason and a close code. */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "upstream/ws_frame.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    size_t piece = (mode & 0x1f) + 1;
    size_t limit = (mode & 0x20) ? 64 : 1 << 16;
    data++;
    size--;
    /* An exact copy: reads past the end show up under ASan. */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    vpd_ws_decoder d;
    vpd_ws_decoder_init(&d, limit, limit * 2);
    size_t off = 0;
    bool done = false;
    while (off < size && !done) {
        size_t n = size - off < piece ? size - off : piece, pos = 0;
        while (pos < n && !done) {
            size_t used = 0;
            vpd_ws_event e =
                vpd_ws_decode(&d, copy + off + pos, n - pos, &used);
            if (used > n - pos)
                abort();
            pos += used;
            switch (e) {
            case VPD_WS_MORE:
                if (pos != n)
                    abort();
                break;
            case VPD_WS_MESSAGE:
                if (d.msg_len > limit * 2)
                    abort();
                if (d.msg_opcode == VPD_WS_OP_TEXT &&
                    !vpd_ws_utf8_valid(d.msg, d.msg_len))
                    abort();
                break;
            case VPD_WS_PING:
            case VPD_WS_PONG:
                if (d.ctl_len > VPD_WS_CONTROL_MAX)
                    abort();
                break;
            case VPD_WS_CLOSE:
                done = true;
                break;
            case VPD_WS_ERROR:
                if (!d.error || d.error_code < 1000)
                    abort();
                done = true;
                break;
            }
        }
        off += n;
    }
    vpd_ws_decoder_free(&d);
    free(copy);
    return 0;
}
