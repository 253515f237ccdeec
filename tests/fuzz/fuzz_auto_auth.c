/* Fuzz target: auto-auth's reading of upstream answers: a login or token
 * lookup answer (token, lease, renewability) and the error text of a
 * failed one.  Input: the answer body (NUL-terminated here, as the
 * forwarder hands it over); the status is derived from its length. */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "auth/auto_auth.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    for (int lookup = 0; lookup < 2; lookup++) {
        char *token = NULL, why[256];
        uint64_t lease_s = 0;
        bool renewable = false;
        if (vpd_auto_auth_extract_token(body, lookup, &token, &lease_s,
                                        &renewable, why, sizeof why) == 0) {
            if (!token || !token[0])
                abort(); /* success promises a token */
            vpd_secret_free(token);
        }
    }
    vpd_fwd_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.error = VPD_FWD_OK;
    resp.status = 400 + (int)(size % 100);
    resp.body = body;
    resp.body_len = size;
    char msg[512];
    vpd_auto_auth_answer_error(&resp, msg, sizeof msg);
    free(body);
    return 0;
}
