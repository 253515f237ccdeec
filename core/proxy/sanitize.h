/* Hides the auto-auth token from clients that only borrow it:
 * a token lookup or renewal made with, or about, the proxy's own token
 * answers without the token's id and accessor.
 *
 * Ownership: on VPD_SANITIZED the caller owns *out (free()). */
#ifndef VPD_SANITIZE_H
#define VPD_SANITIZE_H

#include <stddef.h>

typedef enum {
    VPD_SANITIZE_UNTOUCHED = 0, /* not a lookup of the auto-auth token */
    VPD_SANITIZED = 1,          /* *out holds the cleaned answer */
    VPD_SANITIZE_ERROR = -1,    /* the request body is not JSON: 500 */
} vpd_sanitize_result;

/* path: the request path; req_token: the token the request carried
 * upstream; req_body: the request body (for auth/token/lookup and renew);
 * auto_token: the current auto-auth token, or NULL; resp_body: the 200
 * answer from upstream. */
vpd_sanitize_result
vpd_sanitize_token_answer(const char *path, const char *req_token,
                          const char *req_body, size_t req_body_len,
                          const char *auto_token, const char *resp_body,
                          size_t resp_len, char **out, size_t *out_len);

#endif
