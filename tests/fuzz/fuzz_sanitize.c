/* Fuzz target: sanitising an upstream token lookup answer (the auto-auth
 * token's id and accessor are hidden from clients that only borrow it).
 * The request body comes from a client and the answer from upstream;
 * neither is trusted.  Input: path, request token, request body, auto-auth
 * token and answer body, separated by NUL bytes (an empty auto-auth
 * token field means none). */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proxy/sanitize.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[5];
    size_t l[5];
    memset(f, 0, sizeof f);
    if (fuzz_fields(data, size, f, l, 5) == 0) {
        char *out = NULL;
        size_t out_len = 0;
        vpd_sanitize_result r = vpd_sanitize_token_answer(
            f[0], f[1], f[2], l[2], l[3] ? f[3] : NULL, f[4], l[4], &out,
            &out_len);
        if (r == VPD_SANITIZED) {
            if (!out || strlen(out) != out_len)
                abort();
            free(out);
        }
    }
    fuzz_fields_free(f, 5);
    return 0;
}
