/* Config comparison for reloads.  Only values are compared, never file
 * names or line numbers, so moving a block around or splitting a file
 * does not count as a change. */
#include "autoconf.h"

#include "config/config_diff.h"

#include <stdio.h>
#include <string.h>

static bool
str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return (!a || !*a) && (!b || !*b);
    return strcmp(a, b) == 0;
}

bool
vpd_cfg_node_equal(const vpd_cfg_node *a, const vpd_cfg_node *b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case VPD_CFG_STRING:
    case VPD_CFG_NUMBER:
        return str_eq(a->str, b->str);
    case VPD_CFG_BOOL:
        return a->boolean == b->boolean;
    case VPD_CFG_NULL:
        return true;
    case VPD_CFG_LIST:
        if (a->n_items != b->n_items)
            return false;
        for (size_t i = 0; i < a->n_items; i++)
            if (!vpd_cfg_node_equal(a->items[i], b->items[i]))
                return false;
        return true;
    case VPD_CFG_OBJECT:
        if (a->n_members != b->n_members)
            return false;
        for (size_t i = 0; i < a->n_members; i++)
            if (strcmp(a->members[i].key, b->members[i].key) != 0 ||
                !vpd_cfg_node_equal(a->members[i].value, b->members[i].value))
                return false;
        return true;
    }
    return false;
}

bool
vpd_config_method_equal(const vpd_method_config *a, const vpd_method_config *b)
{
    return str_eq(a->type, b->type) && str_eq(a->mount_path, b->mount_path) &&
           str_eq(a->namespace_, b->namespace_) &&
           a->wrap_ttl_ms == b->wrap_ttl_ms &&
           a->min_backoff_ms == b->min_backoff_ms &&
           a->max_backoff_ms == b->max_backoff_ms &&
           a->exit_on_err == b->exit_on_err &&
           vpd_cfg_node_equal(a->config, b->config);
}

static bool
sink_equal(const vpd_sink_config *a, const vpd_sink_config *b)
{
    return str_eq(a->type, b->type) && a->wrap_ttl_ms == b->wrap_ttl_ms &&
           str_eq(a->dh_type, b->dh_type) && str_eq(a->dh_path, b->dh_path) &&
           a->derive_key == b->derive_key && str_eq(a->aad, b->aad) &&
           str_eq(a->aad_env_var, b->aad_env_var) &&
           vpd_cfg_node_equal(a->config, b->config);
}

/* The listener settings fixed when the socket was opened or read by
 * request handling from the running config.  TLS files and policy are
 * not here: they reload live. */
static bool
listener_equal(const vpd_listener_config *a, const vpd_listener_config *b)
{
    return a->type == b->type && str_eq(a->address, b->address) &&
           a->metrics_only == b->metrics_only &&
           a->require_request_header == b->require_request_header &&
           a->enable_quit == b->enable_quit &&
           a->tls_disable == b->tls_disable &&
           str_eq(a->socket_mode, b->socket_mode) &&
           str_eq(a->socket_user, b->socket_user) &&
           str_eq(a->socket_group, b->socket_group) &&
           a->max_header_bytes == b->max_header_bytes &&
           a->max_body_bytes == b->max_body_bytes &&
           a->max_connections == b->max_connections &&
           a->read_timeout_ms == b->read_timeout_ms &&
           a->idle_timeout_ms == b->idle_timeout_ms;
}

bool
vpd_config_plugin_blocks_match(const vpd_config *a, const vpd_config *b)
{
    if (a->n_plugins != b->n_plugins)
        return false;
    for (size_t i = 0; i < a->n_plugins; i++) {
        if (!str_eq(a->plugins[i].kind, b->plugins[i].kind) ||
            !str_eq(a->plugins[i].name, b->plugins[i].name))
            return false;
    }
    return true;
}

/* The cache block's `persist` members (every one, in order): the core's
 * business, opened once at start.  The other keys configure the store
 * and are compared through its instance. */
static bool
persist_equal(const vpd_cfg_node *a, const vpd_cfg_node *b)
{
    size_t i = 0, j = 0;
    for (;;) {
        while (a && a->type == VPD_CFG_OBJECT && i < a->n_members &&
               strcmp(a->members[i].key, "persist") != 0)
            i++;
        while (b && b->type == VPD_CFG_OBJECT && j < b->n_members &&
               strcmp(b->members[j].key, "persist") != 0)
            j++;
        bool more_a = a && a->type == VPD_CFG_OBJECT && i < a->n_members;
        bool more_b = b && b->type == VPD_CFG_OBJECT && j < b->n_members;
        if (!more_a || !more_b)
            return more_a == more_b;
        if (!vpd_cfg_node_equal(a->members[i].value, b->members[j].value))
            return false;
        i++;
        j++;
    }
}

typedef struct {
    void (*report)(const char *what, void *arg);
    void *arg;
    size_t n;
} diff;

static void
differs(diff *d, const char *what)
{
    d->n++;
    d->report(what, d->arg);
}

size_t
vpd_config_diff_restart(const vpd_config *r, const vpd_config *f,
                        void (*report)(const char *what, void *arg), void *arg)
{
    diff d = {report, arg, 0};
    char what[96];

    if (r->n_listeners != f->n_listeners) {
        differs(&d, "the number of listeners");
    } else {
        for (size_t i = 0; i < r->n_listeners; i++) {
            if (!listener_equal(&r->listeners[i], &f->listeners[i])) {
                snprintf(what, sizeof what, "listener %zu (%s)", i + 1,
                         r->listeners[i].address ? r->listeners[i].address
                                                 : "?");
                differs(&d, what);
            }
        }
    }
    /* The store's keys and when_inconsistent are the instances' settings,
     * compared and applied by reload_plugins.c. */
    if (r->cache.present != f->cache.present)
        differs(&d, "cache");
    else if (!persist_equal(r->cache.node, f->cache.node))
        differs(&d, "cache persist");
    if (r->api_proxy.present != f->api_proxy.present ||
        r->api_proxy.use_auto_auth_token != f->api_proxy.use_auto_auth_token ||
        !str_eq(r->api_proxy.enforce_consistency,
                f->api_proxy.enforce_consistency) ||
        r->api_proxy.prepend_configured_namespace !=
            f->api_proxy.prepend_configured_namespace)
        differs(&d, "api_proxy");
    /* A block's config map alone is reload_plugins.c's; blocks added,
     * removed or renamed need a restart. */
    if (r->n_plugins != f->n_plugins) {
        differs(&d, "plugin blocks");
    } else {
        for (size_t i = 0; i < r->n_plugins; i++) {
            const vpd_plugin_block *a = &r->plugins[i], *b = &f->plugins[i];
            if (!str_eq(a->kind, b->kind) || !str_eq(a->name, b->name)) {
                snprintf(what, sizeof what, "plugin \"%s\" \"%s\"", a->kind,
                         a->name);
                differs(&d, what);
            }
        }
    }
    const vpd_auto_auth_config *ra = &r->auto_auth, *fa = &f->auto_auth;
    if (ra->present != fa->present) {
        differs(&d, "auto_auth");
    } else if (ra->present) {
        if (!str_eq(ra->method.type, fa->method.type))
            differs(&d, "auto_auth method type");
        bool sinks = ra->n_sinks == fa->n_sinks;
        for (size_t i = 0; sinks && i < ra->n_sinks; i++)
            sinks = sink_equal(&ra->sinks[i], &fa->sinks[i]);
        if (!sinks)
            differs(&d, "auto_auth sinks");
        if (ra->enable_reauth_on_new_credentials !=
            fa->enable_reauth_on_new_credentials)
            differs(&d, "auto_auth enable_reauth_on_new_credentials");
    }
    const vpd_vault_config *rv = &r->vault, *fv = &f->vault;
    if (!str_eq(rv->address, fv->address))
        differs(&d, "vault address");
    if (!str_eq(rv->tls_server_name, fv->tls_server_name))
        differs(&d, "vault tls_server_name");
    if (!str_eq(rv->namespace_, fv->namespace_))
        differs(&d, "vault namespace");
    if (rv->num_retries != fv->num_retries)
        differs(&d, "vault retry");
    if (!vpd_cfg_node_equal(r->telemetry, f->telemetry))
        differs(&d, "telemetry");
    if (!str_eq(r->pid_file, f->pid_file))
        differs(&d, "pid_file");
    if (r->exit_after_auth != f->exit_after_auth)
        differs(&d, "exit_after_auth");
    if (r->disable_idle_connections_auto_auth !=
            f->disable_idle_connections_auto_auth ||
        r->disable_idle_connections_proxying !=
            f->disable_idle_connections_proxying ||
        r->disable_keep_alives_auto_auth != f->disable_keep_alives_auto_auth ||
        r->disable_keep_alives_proxying != f->disable_keep_alives_proxying)
        differs(&d, "disable_idle_connections / disable_keep_alives");
    return d.n;
}
