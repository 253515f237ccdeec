/* Live reconfiguration of plugin instances on SIGHUP.  Everything here
 * only logs: a reload never fails because one instance kept its old
 * settings, and every other change still applies. */
#include "autoconf.h"

#include "app/reload_plugins.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config/config_diff.h"
#include "base/log.h"

#define COMPONENT "proxy"

/* Applies one pair (same implementation on both sides).  Returns 1 when
 * the change was not applied, else 0. */
static size_t
apply(vpd_instance *running, vpd_instance *fresh, const char *what)
{
    if (!running || !fresh || running->provide != fresh->provide ||
        vpd_instance_same_config(running, fresh))
        return 0;
    if (!vpd_instance_reconfigure_op(running)) {
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "reload: %s changed: needs a restart, the running value "
                "stays (the plugin cannot be reconfigured live)",
                what);
        return 1;
    }
    char err[1024];
    if (vpd_instance_reconfigure(running, fresh, err, sizeof err) != 0) {
        vpd_log(VPD_LOG_ERROR, COMPONENT,
                "reload: %s changed: refused, the running value stays: %s",
                what, err);
        return 1;
    }
    vpd_log(VPD_LOG_INFO, COMPONENT, "reload: %s changed: applied", what);
    return 0;
}

static bool
has_cache_block(const vpd_config *cfg)
{
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        if (strcmp(cfg->plugins[i].kind, "cache") == 0)
            return true;
    }
    return false;
}

size_t
vpd_reload_plugins(const vpd_instances *r, const vpd_instances *f)
{
    size_t missed = 0;
    char what[160];

    /* api_proxy's policy: another enforce_consistency is another
     * implementation (apply() skips it; config_diff.c reports it). */
    if (r->chain->n_consistency && f->chain->n_consistency)
        missed += apply(r->chain->consistency[0], f->chain->consistency[0],
                        "api_proxy when_inconsistent");

    bool blocks_match = vpd_config_plugin_blocks_match(r->cfg, f->cfg);
    if (blocks_match) {
        /* Same blocks, same order: the chains line up after their first
         * member, one consistency instance per consistency block. */
        size_t at = 1;
        for (size_t i = 0; i < r->cfg->n_plugins; i++) {
            const vpd_plugin_block *pb = &r->cfg->plugins[i];
            snprintf(what, sizeof what, "plugin \"%s\" \"%s\"", pb->kind,
                     pb->name);
            if (strcmp(pb->kind, "cache") == 0) {
                missed += apply(r->cache_store, f->cache_store, what);
                continue;
            }
            if (at < r->chain->n_consistency && at < f->chain->n_consistency)
                missed += apply(r->chain->consistency[at],
                                f->chain->consistency[at], what);
            at++;
        }
    }
    /* The store the cache block configures (max_entries, max_bytes for
     * "memory"), when no `plugin "cache"` block names another on either
     * side. */
    if (!has_cache_block(r->cfg) && !has_cache_block(f->cfg))
        missed += apply(r->cache_store, f->cache_store, "cache");
    return missed;
}

bool
vpd_reload_auth_method(vpd_instance *running, vpd_instance *fresh)
{
    if (!running || !fresh || running->provide != fresh->provide ||
        !vpd_instance_reconfigure_op(running))
        return false;
    char err[1024];
    if (vpd_instance_reconfigure(running, fresh, err, sizeof err) != 0) {
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "reload: auth method changed: reconfigure refused (%s): "
                "replacing the instance",
                err);
        return false;
    }
    vpd_log(VPD_LOG_INFO, COMPONENT,
            "reload: auth method changed: applied to the running instance");
    return true;
}
