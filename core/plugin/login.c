/* Login requests: see login.h.  A setter replaces what was there, so an
 * auth method may describe the request again (a second login step). */
#include "autoconf.h"

#include "plugin/login.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/secmem.h"

vp_login_t *
vpd_login_new(void)
{
    return calloc(1, sizeof(vp_login_t));
}

void
vpd_login_reset(vp_login_t *l)
{
    free(l->path);
    vpd_secret_free(l->body);
    vpd_secret_free(l->token);
    vpd_hdrs_free(&l->headers);
    free(l->client_cert);
    free(l->client_key);
    free(l->ca_cert);
    memset(l, 0, sizeof *l);
}

void
vpd_login_free(vp_login_t *l)
{
    if (!l)
        return;
    vpd_login_reset(l);
    free(l);
}

static int
replace_str(char **slot, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return VP_ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

static int
replace_secret(char **slot, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = vpd_secret_dup(value, strlen(value))))
        return VP_ENOMEM;
    vpd_secret_free(*slot);
    *slot = copy;
    return 0;
}

int
vpd_login_set_request(vp_login_t *l, const char *method, const char *path)
{
    if (!method || strlen(method) >= sizeof l->method || !path)
        return VP_EINVAL;
    while (*path == '/')
        path++;
    snprintf(l->method, sizeof l->method, "%s", method);
    return replace_str(&l->path, path);
}

int
vpd_login_set_body(vp_login_t *l, const char *json)
{
    return replace_secret(&l->body, json);
}

int
vpd_login_set_token(vp_login_t *l, const char *token)
{
    return replace_secret(&l->token, token);
}

int
vpd_login_add_header(vp_login_t *l, const char *name, const char *value)
{
    return vpd_hdrs_add(&l->headers, name, value) == 0 ? 0 : VP_ENOMEM;
}

int
vpd_login_set_tls(vp_login_t *l, const char *cert, const char *key,
                  const char *ca)
{
    if (replace_str(&l->client_cert, cert) ||
        replace_str(&l->client_key, key) || replace_str(&l->ca_cert, ca))
        return VP_ENOMEM;
    return 0;
}

int
vpd_login_set_result(vp_login_t *l, vp_login_result_t where)
{
    if (where != VP_LOGIN_RESULT_AUTH && where != VP_LOGIN_RESULT_LOOKUP)
        return VP_EINVAL;
    l->result = where;
    return 0;
}

const char *
vpd_login_method(const vp_login_t *l)
{
    return l->method;
}

const char *
vpd_login_path(const vp_login_t *l)
{
    return l->path ? l->path : "";
}
