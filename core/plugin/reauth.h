/* The host table's reauth member (ABI 1.2): an auth method asks auto-auth
 * to log in again.  The plugin layer sits below auto-auth, so auto-auth
 * registers the instance it logs in with and the function to call.
 *
 * Ownership: the registration borrows inst and arg until it is replaced
 * or cleared (vpd_plugin_reauth_register with NULL). */
#ifndef VPD_PLUGIN_REAUTH_H
#define VPD_PLUGIN_REAUTH_H

#include <vaproxy/vaproxy.h>

/* From now on host->reauth(inst) calls fn(arg); fn must not log in inside
 * the call (the plugin is in one of its hooks): it schedules the login. */
void vpd_plugin_reauth_register(const vp_instance_t *inst, void (*fn)(void *),
                                void *arg);
/* Clears the registration if it is inst's. */
void vpd_plugin_reauth_unregister(const vp_instance_t *inst);

int vpd_plugin_reauth(vp_instance_t *inst);

#endif
