/* What changed between the running config and one re-read on SIGHUP.
 * Each key's reload class is in the key table (config_keys.c): the daemon
 * applies some changes live (logging, TLS files, the auth method's
 * settings), hands others to the plugins' reconfigure op (`plugin` blocks'
 * config, the cache block's store keys, api_proxy's when_inconsistent; see
 * reload_plugins.h), and everything this file reports needs a restart
 * (listeners' addresses and limits, cache on/off and persist, plugin
 * blocks added, removed or renamed, sinks, the rest of api_proxy, the
 * upstream address, ...).
 *
 * Ownership: both configs are borrowed; nothing is kept. */
#ifndef VPD_CONFIG_DIFF_H
#define VPD_CONFIG_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* Calls report once per setting that differs and cannot be applied live,
 * with a short name ("listener 1 address", "cache", ...).  Returns how
 * many there were. */
size_t vpd_config_diff_restart(const vpd_config *running,
                               const vpd_config *fresh,
                               void (*report)(const char *what, void *arg),
                               void *arg);

/* True when both configs have the same `plugin` blocks (count, and kind
 * and name of each, in order), whatever their config maps. */
bool vpd_config_plugin_blocks_match(const vpd_config *a, const vpd_config *b);

/* What a reload does with the auth method: keep the running instance,
 * replace it by one built from the new block (same type, other settings),
 * or leave it and report a restart (another type, or auto_auth added or
 * removed: vpd_config_diff_restart names those). */
typedef enum {
    VPD_METHOD_KEEP = 0,
    VPD_METHOD_REPLACE,
    VPD_METHOD_RESTART,
} vpd_method_change;

vpd_method_change vpd_config_method_change(const vpd_config *running,
                                           const vpd_config *fresh);

/* True when both method blocks configure the same thing (type, mount,
 * namespace, wrapping, backoff, exit_on_err and the `config` map). */
bool vpd_config_method_equal(const vpd_method_config *a,
                             const vpd_method_config *b);

/* Deep equality of two trees, ignoring positions (either may be NULL). */
bool vpd_cfg_node_equal(const vpd_cfg_node *a, const vpd_cfg_node *b);

#endif
