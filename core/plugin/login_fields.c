/* The login request's setters and getters that do not depend on how a
 * login keeps its headers: method and path, body, token, TLS identity,
 * where the token is in the answer (see login.h).  A setter replaces what
 * was there, so an auth method may describe the request again (a second
 * login step).
 *
 * This file has a second user: the SDK's mock host (tests/host/mock_host.c)
 * includes it, and `make install` ships it beside mock_host.c as
 * plugin/login_fields.c, so that a plugin tested on the mock host meets
 * the daemon's rules.  There it must stand alone: the mock defines
 * VPD_LOGIN_FIELDS_STATIC first, which makes these functions static and
 * skips the core's headers, and VPD_LOGIN_SECRET_DUP and
 * VPD_LOGIN_SECRET_FREE to its counted secret buffers.  Its vp_login_t
 * has the same members for all that is set here.  Keep it to libc and the
 * SDK's headers. */
#ifndef VPD_LOGIN_FIELDS_STATIC
#include "autoconf.h"

#include "plugin/login.h"

#include "base/secmem.h"
#define VPD_LOGIN_FIELDS_LINKAGE
#else
#define VPD_LOGIN_FIELDS_LINKAGE static
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vaproxy/vaproxy.h>

#ifndef VPD_LOGIN_SECRET_DUP
#define VPD_LOGIN_SECRET_DUP vpd_secret_dup
#endif
#ifndef VPD_LOGIN_SECRET_FREE
#define VPD_LOGIN_SECRET_FREE vpd_secret_free
#endif

static int
login_replace_str(char **slot, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = strdup(value)))
        return VP_ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

/* The body and token are secrets: the old value is wiped as it goes. */
static int
login_replace_secret(char **slot, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = VPD_LOGIN_SECRET_DUP(value, strlen(value))))
        return VP_ENOMEM;
    VPD_LOGIN_SECRET_FREE(*slot);
    *slot = copy;
    return 0;
}

VPD_LOGIN_FIELDS_LINKAGE int
vpd_login_set_request(vp_login_t *l, const char *method, const char *path)
{
    if (!method || strlen(method) >= sizeof l->method || !path)
        return VP_EINVAL;
    while (*path == '/')
        path++;
    snprintf(l->method, sizeof l->method, "%s", method);
    return login_replace_str(&l->path, path);
}

VPD_LOGIN_FIELDS_LINKAGE int
vpd_login_set_body(vp_login_t *l, const char *json)
{
    return login_replace_secret(&l->body, json);
}

VPD_LOGIN_FIELDS_LINKAGE int
vpd_login_set_token(vp_login_t *l, const char *token)
{
    return login_replace_secret(&l->token, token);
}

VPD_LOGIN_FIELDS_LINKAGE int
vpd_login_set_tls(vp_login_t *l, const char *cert, const char *key,
                  const char *ca)
{
    if (login_replace_str(&l->client_cert, cert) ||
        login_replace_str(&l->client_key, key) ||
        login_replace_str(&l->ca_cert, ca))
        return VP_ENOMEM;
    return 0;
}

VPD_LOGIN_FIELDS_LINKAGE int
vpd_login_set_result(vp_login_t *l, vp_login_result_t where)
{
    if (where != VP_LOGIN_RESULT_AUTH && where != VP_LOGIN_RESULT_LOOKUP)
        return VP_EINVAL;
    l->result = where;
    return 0;
}

VPD_LOGIN_FIELDS_LINKAGE const char *
vpd_login_method(const vp_login_t *l)
{
    return l->method;
}

VPD_LOGIN_FIELDS_LINKAGE const char *
vpd_login_path(const vp_login_t *l)
{
    return l->path ? l->path : "";
}
