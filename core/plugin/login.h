/* Login requests: what an auth method describes through the host table's
 * login_* members (method, path, body, token, headers, TLS identity and
 * where the token is in the answer), and what auto-auth then sends.
 *
 * Ownership: a vp_login_t is owned by whoever called vpd_login_new and
 * released with vpd_login_free.  It owns every string in it; the body and
 * token are secret buffers, wiped when replaced or released. */
#ifndef VPD_LOGIN_H
#define VPD_LOGIN_H

#include <vaproxy/vaproxy.h>

#include "http/http.h"

struct vp_login {
    char method[16];
    char *path;  /* below /v1/ */
    char *body;  /* secret */
    char *token; /* secret, X-Vault-Token */
    vpd_hdrs headers;
    char *client_cert, *client_key, *ca_cert;
    vp_login_result_t result;
};

vp_login_t *vpd_login_new(void);
/* Releases everything the request holds and leaves it empty. */
void vpd_login_reset(vp_login_t *login);
void vpd_login_free(vp_login_t *login);

/* The host table's login_* members, with the contracts host.h gives them.
 * Every setter copies what it keeps. */
int vpd_login_set_request(vp_login_t *login, const char *method,
                          const char *path);
int vpd_login_set_body(vp_login_t *login, const char *json);
int vpd_login_set_token(vp_login_t *login, const char *token);
int vpd_login_add_header(vp_login_t *login, const char *name,
                         const char *value);
int vpd_login_set_tls(vp_login_t *login, const char *cert, const char *key,
                      const char *ca);
int vpd_login_set_result(vp_login_t *login, vp_login_result_t where);
const char *vpd_login_method(const vp_login_t *login);
const char *vpd_login_path(const vp_login_t *login);

#endif
