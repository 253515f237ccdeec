/* Login requests: see login.h.  Making, resetting and freeing one, and its
 * headers, which the daemon keeps as a vpd_hdrs list; the other members
 * are set in login_fields.c, shared with the SDK's mock host. */
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

int
vpd_login_add_header(vp_login_t *l, const char *name, const char *value)
{
    return vpd_hdrs_add(&l->headers, name, value) == 0 ? 0 : VP_ENOMEM;
}
