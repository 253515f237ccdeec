/* SIGHUP, the plugins' part: running cache and consistency instances take
 * the settings of the instances built from the re-read config, through
 * their plugin's reconfigure op (ABI 1.1, cache.h and consistency.h), so
 * they keep their entries and what they have learned.
 *
 * Instances are paired by position: the api_proxy policy (first in the
 * chain), the `plugin` blocks in config order, and the lease cache's
 * store.  A pair with equal configurations is left alone.  A changed one
 * is applied, or logged as needing a restart (the plugin has no op: built
 * against ABI 1.0, or does not implement it), or logged as refused with
 * the plugin's reason (that instance keeps its running configuration,
 * the others still change).  Plugin blocks added, removed or renamed pair
 * nothing: config_diff.c reports them as needing a restart.
 *
 * Runs on the loop thread between requests (the SIGHUP callback).
 *
 * Ownership: everything is borrowed.  An applied change moves the new
 * configuration into the running instance and the old one into the fresh
 * instance, which the caller frees as it would anyway. */
#ifndef VPD_RELOAD_PLUGINS_H
#define VPD_RELOAD_PLUGINS_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/chain.h"
#include "config/config.h"
#include "plugin/plugin_instance.h"

/* One config's instances, as the daemon builds them. */
typedef struct {
    const vpd_config *cfg;     /* its `plugin` blocks, for pairing */
    vpd_chain *chain;          /* consistency[0] is api_proxy's policy,
                                  then one per consistency block */
    vpd_instance *cache_store; /* NULL without a cache */
} vpd_instances;

/* SIGHUP changed the auth method's block, not its type (config_diff.c's
 * VPD_METHOD_REPLACE): running takes fresh's configuration through the
 * method's reconfigure op (ABI 1.2), so it keeps what it holds (a JWT read
 * from a file that was removed after reading).  Returns true when it did;
 * false when the method has no op or refused the change (logged), and the
 * caller then replaces running by fresh. */
bool vpd_reload_auth_method(vpd_instance *running, vpd_instance *fresh);

/* Returns how many changes were not applied (needing a restart, or
 * refused by the plugin); each was logged. */
size_t vpd_reload_plugins(const vpd_instances *running,
                          const vpd_instances *fresh);

#endif
