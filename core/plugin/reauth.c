/* The host table's reauth member: see reauth.h. */
#include "autoconf.h"

#include "plugin/reauth.h"

#include <stddef.h>

static const vp_instance_t *reauth_inst;
static void (*reauth_fn)(void *);
static void *reauth_arg;

void
vpd_plugin_reauth_register(const vp_instance_t *inst, void (*fn)(void *),
                           void *arg)
{
    reauth_inst = inst;
    reauth_fn = fn;
    reauth_arg = arg;
}

void
vpd_plugin_reauth_unregister(const vp_instance_t *inst)
{
    if (reauth_inst == inst)
        vpd_plugin_reauth_register(NULL, NULL, NULL);
}

int
vpd_plugin_reauth(vp_instance_t *inst)
{
    if (!inst || inst != reauth_inst || !reauth_fn)
        return VP_ENOTSUP;
    reauth_fn(reauth_arg);
    return 0;
}
