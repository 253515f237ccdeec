/* Fuzz target: the reader of upstream answers (core/upstream/response.c),
 * driven as a connection drives it.  The first byte picks how the rest is
 * cut into reads (so answers split at every place are tried), whether the
 * request was HEAD, whether it was CONNECT, and whether the headers go to
 * a client (left out while reading where possible); the rest is the server's
 * bytes, ending with the connection's close. */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http/hdr_policy.h"
#include "upstream/response.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    size_t piece = (mode & 0x1f) + 1;
    bool is_head = mode & 0x20, tunnel = (mode & 0xc0) == 0xc0;
    bool for_client = (mode & 0xc0) == 0x40;
    data++;
    size--;
    /* An exact copy: reads past the end show up under ASan. */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    vpd_hdrs h = {0};
    vpd_buf body = VPD_BUF_INIT;
    vpd_up_resp r;
    memset(&r, 0, sizeof r);
    vpd_up_resp_init(&r, tunnel, is_head, &h, &body);
    if (for_client)
        vpd_up_resp_for_client(&r);
    vpd_up_resp_result res = VPD_UP_RESP_MORE;
    size_t off = 0;
    while (off < size && res == VPD_UP_RESP_MORE) {
        size_t n = size - off < piece ? size - off : piece, used = 0;
        res = vpd_up_resp_feed(&r, copy + off, n, &used);
        if (used > n)
            abort();
        off += used;
    }
    if (res == VPD_UP_RESP_MORE)
        res = vpd_up_resp_eof(&r);
    if (res == VPD_UP_RESP_DONE) {
        if (!tunnel && (r.status < 100 || r.status > 999))
            abort();
        if ((is_head || r.status == 204 || r.status == 304) && body.len)
            abort(); /* these never have a body */
        (void)vpd_up_resp_keep_alive(&r);
        /* A list said to be filtered has nothing left to filter. */
        if (vpd_up_resp_filtered(&r) &&
            vpd_hdrs_filter(&h, VPD_HDR_TO_CLIENT,
                            is_head || r.status == 304) != 0)
            abort();
    } else if (res == VPD_UP_RESP_ERROR && !vpd_up_resp_error(&r)[0]) {
        abort();
    }
    vpd_up_resp_free(&r);
    vpd_hdrs_free(&h);
    vpd_buf_free(&body);
    free(copy);
    return 0;
}
