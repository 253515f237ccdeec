/* Start-up order follows Vault Proxy's: config, overrides, logging,
 * plugins and their configs, then the network.  Everything that can be
 * checked is checked before a socket is opened, so --check-config catches
 * the same errors a start would. */
#include "autoconf.h"

#include "app/daemon.h"

#include <signal.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "app/agent_mode.h"
#include "auth/auto_auth.h"
#include "proxy/chain.h"
#include "config/config.h"
#include "config/config_diff.h"
#include "config/config_dump.h"
#include "config/config_keys.h"
#include "upstream/forward.h"
#include "base/secmem.h"
#include "plugin/host_table.h"
#include "plugin/plugin_instance.h"
#include "cache/lease_cache.h"
#include "cache/persist.h"
#include "cache/static_cache.h"
#include "config/config_keys.h"
#include "base/log.h"
#include "base/log_file.h"
#include "plugin/plugin_describe.h"
#include "plugin/plugin_loader.h"
#include "app/reload_plugins.h"
#include "proxy/router.h"
#include "app/sd_notify.h"
#include "http/server.h"
#include "auth/sink_file.h"
#include "auth/sinks.h"
#include "auth/token_holder.h"
#include "plugin/fetch.h"
#include "plugin/timers.h"

#define COMPONENT "proxy"
#define DRAIN_LIMIT_MS 30000

/* Logging as resolved from flags, environment and config: copied, so it
 * outlives the config it came from. */
typedef struct {
    vpd_log_level level;
    vpd_log_format format;
    char file[4096]; /* "" for none */
    uint64_t rotate_bytes;
    uint64_t rotate_ms;
    int64_t max_files;
} log_settings;

typedef struct {
    const vpd_options *opt;
    vpd_config *cfg; /* from start-up; what needs a restart
                        keeps running from it */
    vpd_registry plugins;
    vpd_instance *auth_method; /* the instance auto-auth uses */
    vpd_config *auth_cfg;      /* the config its method block is in: cfg,
                                  or one loaded by a reload (owned) */
    log_settings log;          /* in force */
    vpd_instance *cache_store; /* the lease cache's storage plugin */
    vpd_cfg_node cache_conf;   /* the cache block without `persist` */
    vpd_persist_config persist_cfg;
    bool has_persist;
    vpd_persist *persist;
    char *preloaded_token; /* auto-auth token from the persistent cache */
    vpd_chain chain;

    uv_loop_t loop;
    vpd_fwd *fwd;
    vpd_server *server;
    vpd_router *router;
    vpd_token_holder holder;
    vpd_auto_auth *auto_auth;
    vpd_sinks *sinks;
    vpd_lease_cache *cache;
    vpd_static_cache *statics; /* cache_static_secrets; NULL: off */
    vpd_agent_mode *agent;     /* templates and exec (agent_mode.h) */
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t drain_timer;
    uint64_t drain_started;
    bool stopping;
    int exit_code;
    bool exit_after_auth;
    bool pid_written;
    bool notify;         /* systemd is listening */
    bool listening;      /* the listeners are up */
    bool auth_attempted; /* the first login attempt ended */
    bool auth_ok;        /* the last one succeeded */
    bool ready_sent;
} daemon_t;

static const char *
env_either(const char *bao, const char *vault)
{
    const char *v = getenv(bao);
    return v ? v : getenv(vault);
}

static int
parse_i64(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!s[0] || *end || errno)
        return -1;
    *out = v;
    return 0;
}

/* Flag > environment > config, as vaproxyd(8) says; the log file and rotation
 * have flags but no environment variables, as in Vault. */
static int
resolve_logging(const vpd_options *opt, const vpd_config *cfg, log_settings *ls,
                char *err, size_t err_len)
{
    memset(ls, 0, sizeof *ls);
    const char *level = opt->log_level;
    if (!level)
        level = env_either("BAO_LOG_LEVEL", "VAULT_LOG_LEVEL");
    if (!level)
        level = cfg->log_level ? cfg->log_level : "info";
    if (vpd_log_level_parse(level, &ls->level) != 0) {
        snprintf(err, err_len, "unknown log level \"%s\"", level);
        return -1;
    }
    const char *format = opt->log_format;
    if (!format)
        format = env_either("BAO_LOG_FORMAT", "VAULT_LOG_FORMAT");
    if (!format)
        format = cfg->log_format ? cfg->log_format : "standard";
    if (vpd_log_format_parse(format, &ls->format) != 0) {
        snprintf(err, err_len, "unknown log format \"%s\"", format);
        return -1;
    }
    const char *file = opt->log_file ? opt->log_file : cfg->log_file;
    if (file && file[0]) {
        size_t n = strlen(file);
        /* A directory gets Vault Proxy's default file name. */
        int w = snprintf(ls->file, sizeof ls->file, "%s%s", file,
                         file[n - 1] == '/' ? "proxy.log" : "");
        if (w < 0 || (size_t)w >= sizeof ls->file) {
            snprintf(err, err_len, "log file path too long");
            return -1;
        }
    }
    int64_t v;
    ls->rotate_bytes = (uint64_t)cfg->log_rotate_bytes;
    if (opt->log_rotate_bytes) {
        if (parse_i64(opt->log_rotate_bytes, &v) != 0 || v < 0) {
            snprintf(err, err_len,
                     "--log-rotate-bytes \"%s\": expected a "
                     "number of bytes",
                     opt->log_rotate_bytes);
            return -1;
        }
        ls->rotate_bytes = (uint64_t)v;
    }
    ls->rotate_ms = cfg->log_rotate_duration_ms;
    if (opt->log_rotate_duration &&
        vpd_duration_parse(opt->log_rotate_duration, &ls->rotate_ms) != 0) {
        snprintf(err, err_len,
                 "--log-rotate-duration \"%s\": not a "
                 "duration",
                 opt->log_rotate_duration);
        return -1;
    }
    ls->max_files = cfg->log_rotate_max_files;
    if (opt->log_rotate_max_files) {
        if (parse_i64(opt->log_rotate_max_files, &v) != 0 || v < -1) {
            snprintf(err, err_len,
                     "--log-rotate-max-files \"%s\": expected "
                     "-1, 0 or a count",
                     opt->log_rotate_max_files);
            return -1;
        }
        ls->max_files = v;
    }
    return 0;
}

/* Opens (or switches) the log file; the old one stays on failure. */
static int
apply_log_file(const log_settings *ls, char *err, size_t err_len)
{
    vpd_log_file_config fc = {
        .path = ls->file[0] ? ls->file : NULL,
        .rotate_bytes = ls->rotate_bytes,
        .rotate_ms = ls->rotate_ms,
        .max_files = ls->max_files,
    };
    return vpd_log_file_configure(&fc, err, err_len);
}

/* Logins carry the proxy's namespace (VAULT_NAMESPACE, vault.namespace)
 * when the method names none of its own, as Vault Proxy does. */
static void
inherit_namespace(vpd_config *cfg)
{
    vpd_method_config *m = &cfg->auto_auth.method;
    const char *vns = cfg->vault.namespace_;
    if (cfg->auto_auth.present && (!m->namespace_ || !m->namespace_[0]) &&
        vns && vns[0]) {
        size_t n = strlen(vns);
        char *ns = malloc(n + 2);
        if (ns) {
            const char *from = vns[0] == '/' ? vns + 1 : vns;
            snprintf(ns, n + 2, "%s%s", from, vns[n - 1] == '/' ? "" : "/");
            free(m->namespace_);
            m->namespace_ = ns;
        }
    }
}

static int
load_plugins(daemon_t *d, char *err, size_t err_len)
{
    /* The operator's directories first, then the compiled-in one, so a
     * directory of extra plugins keeps the shipped ones (vaproxyd(8)). */
    return vpd_plugins_load_search_path(
        &d->plugins, d->opt->plugin_dirs, d->opt->n_plugin_dirs,
        d->opt->no_default_plugin_dir ? NULL : VP_PLUGINDIR, vpd_host_api(),
        err, err_len);
}

/* Appends the members of obj (an OBJECT node, may be NULL) to out, leaving
 * out the keys the core reads from the cache block itself (`persist`, and
 * whatever else its key table lists).  A key already in out is an error:
 * the store gets one value for each. */
static int
add_store_keys(vpd_cfg_node *out, const vpd_cfg_node *obj, const char *other,
               char *err, size_t err_len)
{
    if (!obj || obj->type != VPD_CFG_OBJECT)
        return 0;
    for (size_t i = 0; i < obj->n_members; i++) {
        const vpd_cfg_member *m = &obj->members[i];
        if (vpd_config_key_find(VPD_BLOCK_CACHE, m->key))
            continue;
        for (size_t j = 0; j < out->n_members; j++) {
            if (strcmp(out->members[j].key, m->key) == 0) {
                snprintf(err, err_len,
                         "%s:%d: cache store key \"%s\" is given both in "
                         "the cache block and in %s",
                         m->value && m->value->file ? m->value->file : "?",
                         m->line, m->key, other);
                return -1;
            }
        }
        out->members[out->n_members++] = *m;
    }
    return 0;
}

/* The store's configuration: the `config` of the `plugin "cache"` block
 * (when there is one) and the store's keys of the cache block, which is
 * checked against the store's schema like any plugin block.  The members
 * are shared with the config's trees; the instance copies them. */
static const vpd_cfg_node *
store_config(daemon_t *d, const vpd_cfg_node *cache,
             const vpd_plugin_block *store, char *err, size_t err_len)
{
    const vpd_cfg_node *own = store ? store->config : NULL;
    size_t n = (cache && cache->type == VPD_CFG_OBJECT ? cache->n_members : 0) +
               (own && own->type == VPD_CFG_OBJECT ? own->n_members : 0);
    d->cache_conf = (vpd_cfg_node){.type = VPD_CFG_OBJECT};
    if (cache) {
        d->cache_conf.file = cache->file;
        d->cache_conf.line = cache->line;
    }
    d->cache_conf.members = calloc(n + 1, sizeof *d->cache_conf.members);
    if (!d->cache_conf.members) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    char other[300];
    snprintf(other, sizeof other, "plugin \"cache\" \"%s\"",
             store ? store->name : "");
    if (add_store_keys(&d->cache_conf, own, other, err, err_len) != 0 ||
        add_store_keys(&d->cache_conf, cache, other, err, err_len) != 0)
        return NULL;
    return &d->cache_conf;
}

/* Builds the auth method instance and the chain from the config. */
static int
build_instances(daemon_t *d, char *err, size_t err_len)
{
    const vpd_config *cfg = d->cfg;
    char where[512];
    if (cfg->auto_auth.present) {
        const vpd_method_config *m = &cfg->auto_auth.method;
        snprintf(where, sizeof where, "%s:%d: auto_auth method \"%s\"",
                 m->file ? m->file : "?", m->line, m->type);
        d->auth_method =
            vpd_instance_new(&d->plugins, VP_KIND_AUTH, m->type, m->config,
                             NULL, 0, where, err, err_len);
        if (!d->auth_method)
            return -1;
        /* Sink settings are checked here too, so --check-config sees them;
         * the write check itself runs at start. */
        for (size_t i = 0; i < cfg->auto_auth.n_sinks; i++) {
            const vpd_sink_config *sc = &cfg->auto_auth.sinks[i];
            vpd_file_sink fs;
            int rc = vpd_file_sink_init(&fs, sc->config, sc->file, sc->line,
                                        err, err_len);
            vpd_file_sink_free(&fs);
            if (rc != 0)
                return -1;
        }
    }
    /* Consistency is always in the chain: "never" still applies Vault's
     * default rule of retrying a 412. */
    const char *enforce = cfg->api_proxy.enforce_consistency
                              ? cfg->api_proxy.enforce_consistency
                              : "never";
    const char *when = cfg->api_proxy.when_inconsistent
                           ? cfg->api_proxy.when_inconsistent
                           : "fail";
    vpd_conf_pair pairs[] = {{"when_inconsistent", when}};
    snprintf(where, sizeof where, "api_proxy enforce_consistency \"%s\"",
             enforce);
    vpd_instance *c =
        vpd_instance_new(&d->plugins, VP_KIND_CONSISTENCY, enforce, NULL, pairs,
                         1, where, err, err_len);
    if (!c)
        return -1;
    if (vpd_chain_add(&d->chain, c) != 0) {
        vpd_instance_free(c);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    /* Then every `plugin` block, in config order.  A cache plugin block
     * names the lease cache's store instead of the default "memory"; the
     * cache block turns the cache on. */
    const vpd_plugin_block *store = NULL;
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        const vpd_plugin_block *pb = &cfg->plugins[i];
        vp_kind_t kind = strcmp(pb->kind, "cache") == 0 ? VP_KIND_CACHE
                                                        : VP_KIND_CONSISTENCY;
        if (kind == VP_KIND_CACHE) {
            if (store) {
                snprintf(err, err_len,
                         "%s:%d: only one cache plugin block "
                         "may be given",
                         pb->file, pb->line);
                return -1;
            }
            store = pb;
            continue;
        }
        snprintf(where, sizeof where, "%s:%d: plugin \"%s\" \"%s\"", pb->file,
                 pb->line, pb->kind, pb->name);
        vpd_instance *inst =
            vpd_instance_new(&d->plugins, kind, pb->name, pb->config, NULL, 0,
                             where, err, err_len);
        if (!inst)
            return -1;
        if (vpd_chain_add(&d->chain, inst) != 0) {
            vpd_instance_free(inst);
            snprintf(err, err_len, "out of memory");
            return -1;
        }
    }
    if (store && !cfg->cache.present) {
        /* Choosing a store is not asking for a cache (vaproxyd.hcl(5)). */
        if (!vpd_plugins_find(&d->plugins, VP_KIND_CACHE, store->name, NULL)) {
            snprintf(err, err_len,
                     "%s:%d: no plugin provides cache \"%s\" (is it in a "
                     "--plugin-dir?)",
                     store->file, store->line, store->name);
            return -1;
        }
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "%s:%d: plugin \"cache\" \"%s\" has no effect without a "
                "cache block: the lease cache is off",
                store->file, store->line, store->name);
    }
    /* `cache {}` (even empty) turns the lease cache on; its keys, but for
     * the core's own (persist), are the store's configuration
     * (max_entries, max_bytes for "memory"). */
    if (cfg->cache.present) {
        int found = vpd_persist_config_parse(cfg->cache.node, &d->persist_cfg,
                                             err, err_len);
        if (found < 0)
            return -1;
        d->has_persist = found == 1;
        const vpd_cfg_node *conf =
            store_config(d, cfg->cache.node, store, err, err_len);
        if (!conf)
            return -1;
        if (store)
            snprintf(where, sizeof where, "%s:%d: plugin \"cache\" \"%s\"",
                     store->file, store->line, store->name);
        else
            snprintf(where, sizeof where, "cache");
        d->cache_store = vpd_instance_new(&d->plugins, VP_KIND_CACHE,
                                          store ? store->name : "memory", conf,
                                          NULL, 0, where, err, err_len);
        if (!d->cache_store)
            return -1;
    }
    return 0;
}

/* Releases what build_instances made (the auth method only when it is
 * still d->auth_method's to free). */
static void
free_instances(daemon_t *d)
{
    vpd_instance_free(d->auth_method);
    vpd_instance_free(d->cache_store);
    free(d->cache_conf.members);
    vpd_persist_config_free(&d->persist_cfg);
    vpd_chain_free(&d->chain);
    d->auth_method = d->cache_store = NULL;
    d->cache_conf.members = NULL;
}

/* ---- systemd --------------------------------------------------------------
 */

/* READY=1 once the listeners serve and, with auto_auth, the first login
 * attempt has ended either way (clients then find a token or a clear
 * error, not a race). */
static void
notify_state(daemon_t *d)
{
    if (!d->notify || d->stopping)
        return;
    bool auth = d->cfg->auto_auth.present;
    if (!d->ready_sent) {
        if ((d->cfg->n_listeners && !d->listening) ||
            (auth && !d->auth_attempted))
            return;
        d->ready_sent = true;
        vpd_sd_notify(!auth        ? "READY=1\nSTATUS=serving"
                      : d->auth_ok ? "READY=1\nSTATUS=serving, authenticated"
                                   : "READY=1\nSTATUS=serving, auto-auth "
                                     "failing (retrying)");
        return;
    }
    if (auth)
        vpd_sd_notify(d->auth_ok ? "STATUS=serving, authenticated"
                                 : "STATUS=serving, auto-auth failing "
                                   "(retrying)");
}

static void
on_login_done(bool ok, void *arg)
{
    daemon_t *d = arg;
    bool changed = !d->auth_attempted || d->auth_ok != ok;
    d->auth_attempted = true;
    d->auth_ok = ok;
    if (changed)
        notify_state(d);
}

/* ---- shutdown ------------------------------------------------------------ */

static void
on_auto_auth_closed(void *arg)
{
    (void)arg;
}

static void
on_server_closed(void *arg)
{
    (void)arg;
}

static void
close_everything(daemon_t *d)
{
    uv_close((uv_handle_t *)&d->drain_timer, NULL);
    uv_close((uv_handle_t *)&d->sig_term, NULL);
    uv_close((uv_handle_t *)&d->sig_int, NULL);
    uv_close((uv_handle_t *)&d->sig_hup, NULL);
    vpd_agent_mode_close(d->agent);
    d->agent = NULL;
    if (d->auto_auth) {
        vpd_auto_auth_close(d->auto_auth, on_auto_auth_closed, d);
        d->auto_auth = NULL;
    }
    /* Plugin timers and fetches close with the loop still running; the
     * instances that started them are freed after it. */
    vpd_plugin_timers_shutdown();
    vpd_plugin_fetch_shutdown();
    if (d->sinks) {
        vpd_sinks_close(d->sinks, NULL, NULL);
        d->sinks = NULL;
    }
    if (d->statics) {
        vpd_chain_set_static(&d->chain, NULL);
        vpd_sc_close(d->statics, NULL, NULL);
        d->statics = NULL;
    }
    if (d->cache) {
        vpd_lc_close(d->cache, NULL, NULL);
        d->cache = NULL;
        vpd_chain_set_cache(&d->chain, NULL, NULL);
    }
    if (d->server) {
        vpd_server_close(d->server, on_server_closed, d);
        d->server = NULL;
    }
    if (d->fwd) {
        vpd_fwd_free(d->fwd);
        d->fwd = NULL;
    }
}

/* Waits for in-flight requests to finish, bounded by DRAIN_LIMIT_MS. */
static void
on_drain_timer(uv_timer_t *t)
{
    daemon_t *d = t->data;
    bool idle = vpd_router_inflight(d->router) == 0 &&
                (!d->server || vpd_server_inflight(d->server) == 0);
    if (idle || uv_now(&d->loop) - d->drain_started > DRAIN_LIMIT_MS) {
        if (!idle)
            vpd_log(VPD_LOG_WARN, COMPONENT,
                    "giving up on %zu unfinished requests",
                    vpd_router_inflight(d->router));
        uv_timer_stop(t);
        close_everything(d);
    }
}

static void
begin_shutdown(daemon_t *d, int code)
{
    if (d->stopping)
        return;
    if (d->notify)
        vpd_sd_notify("STOPPING=1\nSTATUS=shutting down");
    d->stopping = true;
    d->exit_code = code;
    vpd_log(VPD_LOG_INFO, COMPONENT, "shutting down");
    /* Templates stop; a supervised child still running gets SIGTERM. */
    vpd_agent_mode_close(d->agent);
    d->agent = NULL;
    if (d->server)
        vpd_server_stop_accepting(d->server);
    d->drain_started = uv_now(&d->loop);
    uv_timer_start(&d->drain_timer, on_drain_timer, 0, 20);
}

static void
on_quit(void *arg)
{
    begin_shutdown(arg, 0);
}

static void
on_term_signal(uv_signal_t *s, int signum)
{
    daemon_t *d = s->data;
    vpd_log(VPD_LOG_INFO, COMPONENT, "received signal %d", signum);
    /* A supervised child gets the signal; its exit ends vaproxyd with its
     * status (Vault Agent's exec). */
    if (vpd_agent_mode_signal(d->agent, signum))
        return;
    begin_shutdown(d, 0);
}

/* ---- reload ------------------------------------------------------------- */

static void
report_restart(const char *what, void *arg)
{
    (void)arg;
    vpd_log(VPD_LOG_WARN, COMPONENT,
            "reload: %s changed: needs a restart, the running value stays",
            what);
}

/* Upstream TLS files must be readable before they replace working ones
 * (the forwarder reads them only when it connects). */
static int
check_upstream_files(const vpd_config *cfg, char *err, size_t err_len)
{
    const struct {
        const char *key, *path;
        int mode;
    } files[] = {
        {"ca_cert", cfg->vault.ca_cert, R_OK},
        {"ca_path", cfg->vault.ca_path, R_OK | X_OK},
        {"client_cert", cfg->vault.client_cert, R_OK},
        {"client_key", cfg->vault.client_key, R_OK},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (!files[i].path || !files[i].path[0] ||
            access(files[i].path, files[i].mode) == 0)
            continue;
        /* The key's position, for a message like the loader's. */
        const char *file = cfg->n_trees ? cfg->trees[0].file : "?";
        int line = 0;
        for (size_t t = 0; t < cfg->n_trees; t++) {
            const vpd_cfg_member *v = vpd_cfg_get(cfg->trees[t].root, "vault");
            const vpd_cfg_node *body = v ? v->value : NULL;
            if (body && body->type == VPD_CFG_LIST && body->n_items)
                body = body->items[0];
            const vpd_cfg_member *k = body && body->type == VPD_CFG_OBJECT
                                          ? vpd_cfg_get(body, files[i].key)
                                          : NULL;
            if (k) {
                file = cfg->trees[t].file;
                line = k->line;
            }
        }
        snprintf(err, err_len, "%s:%d: vault: %s: cannot read %s: %s", file,
                 line, files[i].key, files[i].path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Re-reads and validates the whole config the way a start does; then
 * applies what can change live (log settings, listener and upstream TLS
 * files, the auth method's block, the settings of running cache and
 * consistency instances) and warns about the rest.  Any error in the
 * config leaves everything as it was; a plugin refusing its new settings
 * keeps only that instance as it was.  Returns 0 or -1. */
static int
reload(daemon_t *d)
{
    char err[2048];
    vpd_config *fresh = vpd_config_load(
        d->opt->config_paths, d->opt->n_config_paths, err, sizeof err);
    daemon_t scratch = {.opt = d->opt, .plugins = d->plugins};
    log_settings ls;
    if (!fresh ||
        vpd_config_apply_env(fresh, (const char *(*)(const char *))getenv, err,
                             sizeof err) != 0 ||
        resolve_logging(d->opt, fresh, &ls, err, sizeof err) != 0)
        goto refuse;
    inherit_namespace(fresh);
    scratch.cfg = fresh;
    if (build_instances(&scratch, err, sizeof err) != 0 ||
        check_upstream_files(fresh, err, sizeof err) != 0)
        goto refuse;

    /* The steps that can still fail, each undone if a later one does. */
    if (apply_log_file(&ls, err, sizeof err) != 0)
        goto refuse;
    if (d->server &&
        vpd_server_reload_tls_from(d->server, fresh, err, sizeof err) != 0) {
        char ignored[512];
        apply_log_file(&d->log, ignored, sizeof ignored);
        goto refuse;
    }

    /* From here on nothing fails. */
    if (ls.level != d->log.level)
        vpd_log(VPD_LOG_INFO, COMPONENT, "reload: log level is now %s",
                ls.level == VPD_LOG_TRACE   ? "trace"
                : ls.level == VPD_LOG_DEBUG ? "debug"
                : ls.level == VPD_LOG_INFO  ? "info"
                : ls.level == VPD_LOG_WARN  ? "warn"
                                            : "error");
    vpd_log_set_level(ls.level);
    vpd_log_set_format(ls.format);
    d->log = ls;
    if (d->fwd && vpd_fwd_set_tls(d->fwd, &fresh->vault) != 0)
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "reload: out of memory: upstream TLS settings unchanged");
    size_t restart =
        vpd_config_diff_restart(d->cfg, fresh, report_restart, NULL);
    /* The running instances take the new settings in place (the lease
     * cache, the router and requests under way hold them by pointer);
     * scratch's instances are left with the old ones, freed below. */
    vpd_instances running = {d->cfg, &d->chain, d->cache_store};
    vpd_instances built = {fresh, &scratch.chain, scratch.cache_store};
    restart += vpd_reload_plugins(&running, &built);
    bool keep_fresh = false;
    if (d->auto_auth &&
        vpd_config_method_change(d->auth_cfg, fresh) == VPD_METHOD_REPLACE) {
        /* The running instance takes the new block when its plugin can
         * (it keeps a credential it read, ABI 1.2); otherwise the new
         * instance, already built and checked, replaces it.  Either way
         * auto-auth logs in with the new settings now, and the old
         * config can go. */
        if (vpd_reload_auth_method(d->auth_method, scratch.auth_method)) {
            vpd_auto_auth_replace_method(d->auto_auth, &fresh->auto_auth.method,
                                         d->auth_method);
        } else {
            vpd_auto_auth_replace_method(d->auto_auth, &fresh->auto_auth.method,
                                         scratch.auth_method);
            vpd_instance_free(d->auth_method);
            d->auth_method = scratch.auth_method;
            scratch.auth_method = NULL;
        }
        if (d->auth_cfg != d->cfg)
            vpd_config_free(d->auth_cfg);
        d->auth_cfg = fresh;
        keep_fresh = true;
    }
    free_instances(&scratch);
    if (!keep_fresh)
        vpd_config_free(fresh);
    vpd_log(VPD_LOG_INFO, COMPONENT, "reload: configuration applied%s",
            restart
                ? " (some changes need a restart or were refused, see above)"
                : "");
    return 0;

refuse:
    free_instances(&scratch);
    vpd_config_free(fresh);
    vpd_log(VPD_LOG_ERROR, COMPONENT,
            "reload refused, the running configuration stays: %s", err);
    return -1;
}

/* SIGHUP: reopen the log file (an external logrotate may have renamed
 * it), then reload the configuration.  Requests keep flowing: the reload
 * runs between two loop iterations and swaps only what is ready. */
static void
on_hup(uv_signal_t *s, int signum)
{
    (void)signum;
    daemon_t *d = s->data;
    if (d->stopping)
        return;
    if (d->notify)
        vpd_sd_notify_reloading();
    vpd_log(VPD_LOG_INFO, COMPONENT, "SIGHUP: reloading");
    vpd_agent_mode_signal(d->agent, SIGHUP);
    char err[1024];
    if (vpd_log_file_reopen(err, sizeof err) != 0)
        vpd_log(VPD_LOG_ERROR, COMPONENT, "%s", err);
    int rc = reload(d);
    if (d->notify)
        vpd_sd_notify(rc == 0 ? "READY=1\nSTATUS=serving, configuration "
                                "reloaded"
                              : "READY=1\nSTATUS=serving, reload refused "
                                "(see the log)");
}

static void
on_auth_token(const char *token, bool wrapped, void *arg)
{
    daemon_t *d = arg;
    (void)wrapped;
    if (d->sinks)
        vpd_sinks_deliver(d->sinks, token);
    vpd_agent_mode_token(d->agent);
}

/* exit_after_auth: once every sink holds the token (at once when there
 * are none), stop with status 0, as Vault Proxy's exit_after_auth does. */
static void
on_sinks_written(void *arg)
{
    daemon_t *d = arg;
    /* In agent mode exit_after_auth means "render once": the runner
     * decides when to exit. */
    if (d->exit_after_auth && !d->agent) {
        vpd_log(VPD_LOG_INFO, COMPONENT,
                "exit_after_auth: every sink has the token, exiting");
        begin_shutdown(d, 0);
    }
}

static void
on_auth_fatal(const char *why, void *arg)
{
    vpd_log(VPD_LOG_ERROR, COMPONENT, "exit_on_err: %s", why);
    begin_shutdown(arg, 1);
}

/* Agent mode is done (one-shot), gave up, or its child exited. */
static void
on_agent_exit(int code, void *arg)
{
    begin_shutdown(arg, code);
}

static int
write_pid_file(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld", (long)getpid());
    int rc = write(fd, buf, (size_t)n) == n ? 0 : -1;
    if (close(fd) != 0)
        rc = -1;
    if (rc == 0)
        rc = rename(tmp, path);
    if (rc != 0)
        unlink(tmp);
    return rc;
}

static void
parse_test_retry_env(unsigned *min_ms, unsigned *max_ms)
{
    /* VAPROXY_RETRY_WAIT_MS="MIN,MAX" shortens the jittered waits between
     * retries; the test suite uses it to keep retry tests fast. */
    const char *s = getenv("VAPROXY_RETRY_WAIT_MS");
    unsigned a, b;
    if (s && sscanf(s, "%u,%u", &a, &b) == 2 && a <= b) {
        *min_ms = a;
        *max_ms = b;
    }
}

/* Opens the persistent cache (vaproxyd.hcl(5), cache persist) and
 * restores it.  With
 * exit_on_err any failure stops the start; otherwise it is logged and the
 * cache runs in memory.  Returns 0 or -1 (stop). */
static int
restore_cache(daemon_t *d)
{
    char err[1024];
    bool strict = d->persist_cfg.exit_on_err;
    d->persist = vpd_persist_open(&d->persist_cfg, err, sizeof err);
    if (!d->persist) {
        vpd_log(VPD_LOG_ERROR, COMPONENT, "persistent cache: %s%s", err,
                strict ? " (exit_on_err is set)" : "; running without it");
        return strict ? -1 : 0;
    }
    char *token = NULL;
    if (d->statics)
        vpd_lc_set_static_restore(d->cache, vpd_sc_restore_entry, d->statics);
    int rc = vpd_lc_restore(d->cache, d->persist, &token, err, sizeof err);
    if (d->statics) {
        /* Restored entries are served at once; they are re-read and
         * their tokens checked straight away. */
        vpd_sc_set_persist(d->statics, d->persist);
        vpd_sc_refresh_all(d->statics);
        vpd_sc_check_all(d->statics);
    }
    if (rc != 0) {
        vpd_log(VPD_LOG_ERROR, COMPONENT, "persistent cache: %s%s", err,
                strict ? ": exiting with error as exit_on_err is set to true"
                       : "");
        if (strict) {
            vpd_secret_free(token);
            return -1;
        }
    }
    d->preloaded_token = token;
    return 0;
}

/* The static secret cache (cache_static_secrets), first in the chain's
 * cache phase.  Returns 0, or -1 when out of memory. */
static int
start_static_cache(daemon_t *d)
{
    const vpd_cache_config *cc = &d->cfg->cache;
    if (!cc->cache_static_secrets)
        return 0;
    vpd_sc_config scfg = {
        .refresh_ms = cc->static_refresh_ms,
        .capability_ms = cc->static_capability_refresh_ms,
        .behavior = cc->static_capability_behavior,
        .events_off = cc->static_events == VPD_STATIC_EVENTS_OFF,
    };
    d->statics = vpd_sc_new(&d->loop, d->fwd, &scfg);
    if (!d->statics) {
        vpd_log(VPD_LOG_ERROR, COMPONENT, "static secret cache: out of memory");
        return -1;
    }
    vpd_chain_set_static(&d->chain, d->statics);
    vpd_sc_start(d->statics);
    return 0;
}

/* The metrics' client connections gauge. */
static size_t
client_connections(void *arg)
{
    daemon_t *d = arg;
    return d->server ? vpd_server_connections(d->server) : 0;
}

static int
serve(daemon_t *d)
{
    char err[1024];
    uv_loop_init(&d->loop);
    vpd_plugin_timers_set_loop(&d->loop);
    vpd_plugin_fetch_set_loop(&d->loop);
    d->fwd = vpd_fwd_new(&d->loop, &d->cfg->vault, err, sizeof err);
    if (!d->fwd) {
        vpd_log(VPD_LOG_ERROR, COMPONENT, "upstream client: %s", err);
        return 1;
    }
    unsigned rmin = 1000, rmax = 1500;
    parse_test_retry_env(&rmin, &rmax);
    /* BAO_CLIENT_TIMEOUT / VAULT_CLIENT_TIMEOUT bound each upstream call,
     * retries included (Vault's documented default: 60 s). */
    const char *tmo = env_either("BAO_CLIENT_TIMEOUT", "VAULT_CLIENT_TIMEOUT");
    uint64_t tmo_ms = 0;
    long timeout_ms = 0;
    if (tmo && tmo[0]) {
        if (vpd_duration_parse(tmo, &tmo_ms) == 0 && tmo_ms > 0)
            timeout_ms = (long)tmo_ms;
        else
            vpd_log(VPD_LOG_WARN, COMPONENT,
                    "ignoring client timeout \"%s\": not a duration", tmo);
    }
    vpd_fwd_set_retry_base_ms(d->fwd, rmin, rmax);

    uv_timer_init(&d->loop, &d->drain_timer);
    d->drain_timer.data = d;
    uv_signal_t *sigs[] = {&d->sig_term, &d->sig_int, &d->sig_hup};
    for (size_t i = 0; i < 3; i++) {
        uv_signal_init(&d->loop, sigs[i]);
        sigs[i]->data = d;
    }
    uv_signal_start(&d->sig_term, on_term_signal, SIGTERM);
    uv_signal_start(&d->sig_int, on_term_signal, SIGINT);
    uv_signal_start(&d->sig_hup, on_hup, SIGHUP);

    if (d->cache_store) {
        d->cache = vpd_lease_cache_new(
            &d->loop, d->cache_store, d->fwd, &d->holder,
            d->cfg->api_proxy.use_auto_auth_token != VPD_AUTO_AUTH_TOKEN_FALSE);
        if (!d->cache) {
            vpd_log(VPD_LOG_ERROR, COMPONENT, "cache: out of memory");
            d->exit_code = 1;
            close_everything(d);
            uv_run(&d->loop, UV_RUN_DEFAULT);
            return 1;
        }
        /* disable_caching_dynamic_secrets: the lease cache still holds
         * the persisted auto-auth token but answers nothing. */
        if (!d->cfg->cache.disable_caching_dynamic_secrets)
            vpd_chain_set_cache(&d->chain, d->cache, d->cache_store);
        if (start_static_cache(d) != 0 ||
            (d->has_persist && restore_cache(d) != 0)) {
            d->exit_code = 1;
            close_everything(d);
            uv_run(&d->loop, UV_RUN_DEFAULT);
            return 1;
        }
    }
    vpd_auto_auth_events ev = {.on_token = on_auth_token,
                               .on_fatal = on_auth_fatal,
                               .arg = d,
                               .on_login_done = on_login_done};
    /* Auto-auth is built before the router, which uses it, and started
     * once the listeners and sinks are up. */
    if (d->auth_method && !(d->auto_auth = vpd_auto_auth_new(
                                &d->loop, &d->cfg->auto_auth.method,
                                d->auth_method, d->fwd, &d->holder, &ev))) {
        vpd_log(VPD_LOG_ERROR, COMPONENT, "auto_auth: out of memory");
        d->exit_code = 1;
        close_everything(d);
        uv_run(&d->loop, UV_RUN_DEFAULT);
        return 1;
    }
    vpd_router_deps deps = {
        .cfg = d->cfg,
        .fwd = d->fwd,
        .chain = &d->chain,
        .holder = &d->holder,
        .auto_auth = d->auto_auth,
        .client_connections = client_connections,
        .connections_arg = d,
        .on_quit = on_quit,
        .quit_arg = d,
        .retry_min_ms = rmin,
        .retry_max_ms = rmax,
        .timeout_ms = timeout_ms,
    };
    d->router = vpd_router_new(&d->loop, &deps);
    if (!d->router) {
        vpd_log(VPD_LOG_ERROR, COMPONENT, "router: out of memory");
        d->exit_code = 1;
        close_everything(d);
        uv_run(&d->loop, UV_RUN_DEFAULT);
        return 1;
    }
    if (vpd_agent_mode_wanted(d->cfg) &&
        !(d->agent = vpd_agent_mode_new(&d->loop, d->cfg, d->router,
                                        d->exit_after_auth, on_agent_exit, d,
                                        err, sizeof err))) {
        vpd_log(VPD_LOG_ERROR, COMPONENT, "agent: %s", err);
        d->exit_code = 1;
        close_everything(d);
        uv_run(&d->loop, UV_RUN_DEFAULT);
        return 1;
    }
    if (d->cfg->n_listeners) {
        d->server = vpd_server_start(&d->loop, d->cfg, vpd_router_handle,
                                     d->router, err, sizeof err);
        if (!d->server) {
            vpd_log(VPD_LOG_ERROR, COMPONENT, "listener: %s", err);
            d->exit_code = 1;
            close_everything(d);
            uv_run(&d->loop, UV_RUN_DEFAULT);
            return 1;
        }
        /* Bound and listening: connections queue in the kernel until the
         * loop runs, so READY=1 may go out as soon as auto-auth allows. */
        d->listening = true;
    }
    d->notify = vpd_sd_notify_init();
    if (d->notify && d->cfg->auto_auth.present)
        vpd_sd_notify("STATUS=authenticating");
    if (d->auth_method) {
        d->sinks = vpd_sinks_new(&d->loop, &d->cfg->auto_auth, d->fwd, err,
                                 sizeof err);
        if (!d->sinks) {
            vpd_log(VPD_LOG_ERROR, COMPONENT, "%s", err);
            d->exit_code = 1;
            close_everything(d);
            uv_run(&d->loop, UV_RUN_DEFAULT);
            return 1;
        }
        vpd_sinks_on_all_written(d->sinks, on_sinks_written, d);
        if (d->preloaded_token) {
            vpd_auto_auth_preload(d->auto_auth, d->preloaded_token);
            vpd_secret_free(d->preloaded_token);
            d->preloaded_token = NULL;
        }
        vpd_auto_auth_start(d->auto_auth);
    }
    if (d->cfg->pid_file && d->cfg->pid_file[0]) {
        if (write_pid_file(d->cfg->pid_file) != 0)
            vpd_log(VPD_LOG_ERROR, COMPONENT, "cannot write pid_file %s: %s",
                    d->cfg->pid_file, strerror(errno));
        else
            d->pid_written = true;
    }
    vpd_log(VPD_LOG_INFO, COMPONENT, "vaproxyd %s started, upstream %s",
            PACKAGE_VERSION, d->cfg->vault.address);
    notify_state(d);

    uv_run(&d->loop, UV_RUN_DEFAULT);
    vpd_sd_notify_close();
    if (d->pid_written)
        unlink(d->cfg->pid_file);
    return d->exit_code;
}

/* The schema flag of `key` in `schema`: 1 when VP_CONF_SECRET. */
static int
schema_says_secret(const vpd_registry *reg, vp_kind_t kind, const char *name,
                   const char *key)
{
    const vp_provide_t *p =
        name ? vpd_plugins_find(reg, kind, name, NULL) : NULL;
    for (const vp_conf_field_t *f = p ? p->schema : NULL; f && f->key; f++)
        if (strcmp(f->key, key) == 0)
            return (f->flags & VP_CONF_SECRET) != 0;
    return 0;
}

/* The name of the cache store: the `plugin "cache"` block's, or the
 * default "memory". */
static const char *
cache_store_name(const vpd_config *cfg)
{
    for (size_t i = 0; i < cfg->n_plugins; i++)
        if (strcmp(cfg->plugins[i].kind, "cache") == 0)
            return cfg->plugins[i].name;
    return "memory";
}

/* The redactor of --check-config -v: finds which plugin owns `block` and
 * asks its schema about `key`. */
static int
plugin_key_is_secret(void *ctx, const vpd_cfg_node *block, const char *key)
{
    const daemon_t *d = ctx;
    const vpd_config *cfg = d->cfg;
    const vpd_method_config *m = &cfg->auto_auth.method;
    if (cfg->auto_auth.present && block == m->config)
        return schema_says_secret(&d->plugins, VP_KIND_AUTH, m->type, key);
    if (cfg->cache.present && block == cfg->cache.node)
        return schema_says_secret(&d->plugins, VP_KIND_CACHE,
                                  cache_store_name(cfg), key);
    for (size_t i = 0; i < cfg->n_plugins; i++) {
        const vpd_plugin_block *pb = &cfg->plugins[i];
        if (block != pb->config)
            continue;
        vp_kind_t kind = strcmp(pb->kind, "cache") == 0 ? VP_KIND_CACHE
                                                        : VP_KIND_CONSISTENCY;
        return schema_says_secret(&d->plugins, kind, pb->name, key);
    }
    return 0;
}

/* The two plugin instances outside the request chain, before it in
 * --dump-chain: the auth method that logs in, and the lease cache's
 * store. */
static void
dump_auth_and_cache(const daemon_t *d, FILE *out)
{
    const vpd_instance *m = d->auth_method;
    if (m)
        fprintf(out, "auto-auth: %s (%s)\n", m->label, m->plugin->path);
    else
        fprintf(out, "auto-auth: none\n");
    /* Without a cache nothing names one, as in the phases below. */
    const vpd_instance *c = d->cache_store;
    if (c)
        fprintf(out, "cache: lease cache over %s (%s)\n", c->label,
                c->plugin->path);
}

int
vpd_daemon_run(const vpd_options *opt)
{
    daemon_t d = {.opt = opt};
    char err[2048];
    int rc = 1;

    /* Describing plugins needs no configuration: an operator runs it to
     * learn what to write. */
    if (opt->describe_plugins) {
        if (load_plugins(&d, err, sizeof err) != 0) {
            fprintf(stderr, "error loading plugins: %s\n", err);
        } else {
            rc = vpd_plugins_describe(&d.plugins, stdout) == 0 ? 0 : 1;
        }
        vpd_plugins_unload(&d.plugins);
        return rc;
    }

    d.cfg = vpd_config_load(opt->config_paths, opt->n_config_paths, err,
                            sizeof err);
    if (!d.cfg) {
        fprintf(stderr, "error loading configuration: %s\n", err);
        return 1;
    }
    d.auth_cfg = d.cfg;
    if (vpd_config_apply_env(d.cfg, (const char *(*)(const char *))getenv, err,
                             sizeof err) != 0 ||
        resolve_logging(opt, d.cfg, &d.log, err, sizeof err) != 0) {
        fprintf(stderr, "error loading configuration: %s\n", err);
        goto out;
    }
    vpd_log_set_level(d.log.level);
    vpd_log_set_format(d.log.format);
    vpd_log_set_stdout(opt->combine_logs);
    /* Checking a config creates no files: the log file opens only for a
     * real start (Vault fails the start when it cannot). */
    if (!opt->check_config && !opt->dump_chain &&
        apply_log_file(&d.log, err, sizeof err) != 0) {
        fprintf(stderr, "error setting up logging: %s\n", err);
        goto out;
    }
    d.exit_after_auth = opt->exit_after_auth >= 0 ? opt->exit_after_auth
                                                  : d.cfg->exit_after_auth;
    inherit_namespace(d.cfg);
    if (load_plugins(&d, err, sizeof err) != 0) {
        fprintf(stderr, "error loading plugins: %s\n", err);
        goto out;
    }
    if (build_instances(&d, err, sizeof err) != 0) {
        fprintf(stderr, "error validating configuration: %s\n", err);
        goto out;
    }
    if (vpd_agent_mode_check(d.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "error validating configuration: %s\n", err);
        goto out;
    }
    /* The cache phase shows in --dump-chain before any cache exists. */
    vpd_chain_set_cache(&d.chain, NULL, d.cache_store);
    if (opt->dump_chain) {
        dump_auth_and_cache(&d, stdout);
        vpd_chain_dump(&d.chain, stdout);
        rc = 0;
        goto out;
    }
    if (opt->check_config) {
        if (opt->verbose) {
            /* stdout holds only the JSON, for tools; the verdict goes to
             * stderr. */
            vpd_dump_redactor r = {plugin_key_is_secret, &d};
            rc = vpd_config_dump_redacting(d.cfg, &r, stdout) == 0 ? 0 : 1;
            fprintf(stderr, "configuration is valid\n");
            goto out;
        }
        printf("configuration is valid\n");
        rc = 0;
        goto out;
    }
    rc = serve(&d);
    uv_loop_close(&d.loop);
out:
    /* After the loop, on every path out of serve(): no request is left. */
    vpd_router_free(d.router);
    vpd_token_holder_clear(&d.holder);
    vpd_persist_close(d.persist);
    vpd_secret_free(d.preloaded_token);
    free_instances(&d);
    vpd_plugins_unload(&d.plugins);
    if (d.auth_cfg != d.cfg)
        vpd_config_free(d.auth_cfg);
    vpd_config_free(d.cfg);
    vpd_log_file_close();
    return rc;
}
