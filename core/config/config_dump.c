/* The dump is built as a json-c tree from the typed config (so defaults
 * show) plus the generic trees of plugin-owned blocks (method and sink
 * `config`, cache, telemetry, plugin blocks), redacted on the way. */
#include "autoconf.h"

#include "config/config_dump.h"

#include <ctype.h>
#include <json.h>
#include <string.h>
#include <strings.h>

#define REDACTED "<redacted>"

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool
vpd_config_key_is_secret(const char *key)
{
    char k[128];
    size_t i = 0;
    for (; key[i] && i + 1 < sizeof k; i++)
        k[i] = (char)tolower((unsigned char)key[i]);
    k[i] = '\0';
    /* Names of files and variables are not the secrets they hold. */
    static const char *const shown[] = {"_file",    "_path", "_dir", "_env",
                                        "_env_var", "_ttl",  "_type"};
    for (size_t j = 0; j < sizeof shown / sizeof shown[0]; j++)
        if (ends_with(k, shown[j]))
            return false;
    static const char *const secret[] = {
        "token",      "secret",  "jwt", "role_id", "password", "passwd",
        "credential", "private", "aad", "api_key", "apikey",   "auth_key"};
    for (size_t j = 0; j < sizeof secret / sizeof secret[0]; j++)
        if (strstr(k, secret[j]))
            return true;
    return strcmp(k, "key") == 0 || ends_with(k, "_key") ||
           strncmp(k, "key_", 4) == 0;
}

static json_object *
jstr(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

static void
put(json_object *o, const char *key, json_object *v)
{
    if (v)
        json_object_object_add(o, key, v);
}

/* Go-style duration text: "1h30m0s", "300ms", "0s". */
static json_object *
jdur(uint64_t ms)
{
    char buf[64];
    if (ms == 0)
        return json_object_new_string("0s");
    if (ms < 1000) {
        snprintf(buf, sizeof buf, "%llums", (unsigned long long)ms);
        return json_object_new_string(buf);
    }
    uint64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60,
             frac = ms % 1000;
    size_t n = 0;
    if (h)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%lluh",
                              (unsigned long long)h);
    if (h || m)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%llum",
                              (unsigned long long)m);
    if (frac)
        snprintf(buf + n, sizeof buf - n, "%llu.%03llus", (unsigned long long)s,
                 (unsigned long long)frac);
    else
        snprintf(buf + n, sizeof buf - n, "%llus", (unsigned long long)s);
    return json_object_new_string(buf);
}

/* A generic tree, with values under secret keys redacted (whole
 * sub-trees included: a secret block hides everything in it). */
static json_object *
node_json(const vpd_cfg_node *n, bool secret)
{
    if (!n)
        return NULL;
    if (secret && n->type != VPD_CFG_BOOL && n->type != VPD_CFG_NULL)
        return json_object_new_string(REDACTED);
    switch (n->type) {
    case VPD_CFG_STRING:
        return json_object_new_string(n->str ? n->str : "");
    case VPD_CFG_NUMBER:
        return n->is_float ? json_object_new_double(n->fnum)
                           : json_object_new_int64(n->num);
    case VPD_CFG_BOOL:
        return json_object_new_boolean(n->boolean);
    case VPD_CFG_NULL:
        return NULL;
    case VPD_CFG_LIST: {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < n->n_items; i++) {
            json_object *v = node_json(n->items[i], false);
            json_object_array_add(a, v);
        }
        return a;
    }
    case VPD_CFG_OBJECT: {
        json_object *o = json_object_new_object();
        for (size_t i = 0; i < n->n_members; i++) {
            const vpd_cfg_member *m = &n->members[i];
            put(o, m->key,
                node_json(m->value, vpd_config_key_is_secret(m->key)));
        }
        return o;
    }
    }
    return NULL;
}

static json_object *
vault_json(const vpd_vault_config *v)
{
    json_object *o = json_object_new_object();
    put(o, "address", jstr(v->address));
    put(o, "ca_cert", jstr(v->ca_cert));
    put(o, "ca_path", jstr(v->ca_path));
    put(o, "client_cert", jstr(v->client_cert));
    put(o, "client_key", jstr(v->client_key)); /* a path */
    put(o, "tls_server_name", jstr(v->tls_server_name));
    put(o, "tls_skip_verify", json_object_new_boolean(v->tls_skip_verify));
    put(o, "namespace", jstr(v->namespace_));
    json_object *r = json_object_new_object();
    put(r, "num_retries", json_object_new_int(v->num_retries));
    put(o, "retry", r);
    return o;
}

static json_object *
auto_auth_json(const vpd_auto_auth_config *a)
{
    json_object *o = json_object_new_object();
    const vpd_method_config *m = &a->method;
    json_object *mo = json_object_new_object();
    put(mo, "type", jstr(m->type));
    put(mo, "mount_path", jstr(m->mount_path));
    put(mo, "namespace", jstr(m->namespace_));
    put(mo, "wrap_ttl", jdur(m->wrap_ttl_ms));
    put(mo, "min_backoff", jdur(m->min_backoff_ms));
    put(mo, "max_backoff", jdur(m->max_backoff_ms));
    put(mo, "exit_on_err", json_object_new_boolean(m->exit_on_err));
    put(mo, "config", node_json(m->config, false));
    put(o, "method", mo);
    json_object *sinks = json_object_new_array();
    for (size_t i = 0; i < a->n_sinks; i++) {
        const vpd_sink_config *s = &a->sinks[i];
        json_object *so = json_object_new_object();
        put(so, "type", jstr(s->type));
        put(so, "wrap_ttl", jdur(s->wrap_ttl_ms));
        put(so, "dh_type", jstr(s->dh_type));
        put(so, "dh_path", jstr(s->dh_path));
        put(so, "derive_key", json_object_new_boolean(s->derive_key));
        if (s->aad)
            put(so, "aad", json_object_new_string(REDACTED));
        put(so, "aad_env_var", jstr(s->aad_env_var));
        put(so, "config", node_json(s->config, false));
        json_object_array_add(sinks, so);
    }
    put(o, "sinks", sinks);
    put(o, "enable_reauth_on_new_credentials",
        json_object_new_boolean(a->enable_reauth_on_new_credentials));
    return o;
}

static json_object *
listener_json(const vpd_listener_config *l)
{
    json_object *o = json_object_new_object();
    put(o, "type", jstr(l->type == VPD_LISTEN_UNIX ? "unix" : "tcp"));
    put(o, "address", jstr(l->address));
    put(o, "role", jstr(l->metrics_only ? "metrics_only" : "default"));
    put(o, "require_request_header",
        json_object_new_boolean(l->require_request_header));
    put(o, "enable_quit", json_object_new_boolean(l->enable_quit));
    put(o, "tls_disable", json_object_new_boolean(l->tls_disable));
    if (!l->tls_disable) {
        put(o, "tls_cert_file", jstr(l->tls_cert_file));
        put(o, "tls_key_file", jstr(l->tls_key_file));
        put(o, "tls_min_version", jstr(l->tls_min_version));
        put(o, "tls_max_version", jstr(l->tls_max_version));
        put(o, "tls_cipher_suites", jstr(l->tls_cipher_suites));
        put(o, "tls_require_and_verify_client_cert",
            json_object_new_boolean(l->tls_require_and_verify_client_cert));
        put(o, "tls_client_ca_file", jstr(l->tls_client_ca_file));
        put(o, "tls_disable_client_certs",
            json_object_new_boolean(l->tls_disable_client_certs));
    }
    put(o, "socket_mode", jstr(l->socket_mode));
    put(o, "socket_user", jstr(l->socket_user));
    put(o, "socket_group", jstr(l->socket_group));
    put(o, "max_request_header_bytes",
        json_object_new_int64((int64_t)l->max_header_bytes));
    put(o, "max_request_size",
        json_object_new_int64(
            l->max_body_bytes == SIZE_MAX ? -1 : (int64_t)l->max_body_bytes));
    put(o, "max_connections",
        json_object_new_int64((int64_t)l->max_connections));
    put(o, "http_read_timeout", jdur(l->read_timeout_ms));
    put(o, "http_idle_timeout", jdur(l->idle_timeout_ms));
    if (l->file) {
        char at[512];
        snprintf(at, sizeof at, "%s:%d", l->file, l->line);
        put(o, "defined_at", json_object_new_string(at));
    }
    return o;
}

static json_object *
disable_list(bool auto_auth, bool proxying)
{
    json_object *a = json_object_new_array();
    if (auto_auth)
        json_object_array_add(a, json_object_new_string("auto-auth"));
    if (proxying)
        json_object_array_add(a, json_object_new_string("proxying"));
    return a;
}

int
vpd_config_dump(const vpd_config *cfg, FILE *out)
{
    json_object *root = json_object_new_object();
    if (!root)
        return -1;
    json_object *files = json_object_new_array();
    for (size_t i = 0; i < cfg->n_trees; i++)
        json_object_array_add(files, jstr(cfg->trees[i].file));
    put(root, "config_files", files);
    put(root, "vault", vault_json(&cfg->vault));
    if (cfg->auto_auth.present)
        put(root, "auto_auth", auto_auth_json(&cfg->auto_auth));
    if (cfg->api_proxy.present) {
        static const char *const modes[] = {"false", "true", "force"};
        json_object *o = json_object_new_object();
        put(o, "use_auto_auth_token",
            jstr(modes[cfg->api_proxy.use_auto_auth_token]));
        put(o, "enforce_consistency", jstr(cfg->api_proxy.enforce_consistency));
        put(o, "when_inconsistent", jstr(cfg->api_proxy.when_inconsistent));
        put(o, "prepend_configured_namespace",
            json_object_new_boolean(
                cfg->api_proxy.prepend_configured_namespace));
        put(root, "api_proxy", o);
    }
    if (cfg->cache.present) {
        json_object *c = node_json(cfg->cache.node, false);
        put(root, "cache", c ? c : json_object_new_object());
    }
    json_object *ls = json_object_new_array();
    for (size_t i = 0; i < cfg->n_listeners; i++)
        json_object_array_add(ls, listener_json(&cfg->listeners[i]));
    put(root, "listener", ls);
    if (cfg->n_plugins) {
        json_object *ps = json_object_new_array();
        for (size_t i = 0; i < cfg->n_plugins; i++) {
            const vpd_plugin_block *pb = &cfg->plugins[i];
            json_object *o = json_object_new_object();
            put(o, "kind", jstr(pb->kind));
            put(o, "name", jstr(pb->name));
            put(o, "config", node_json(pb->config, false));
            json_object_array_add(ps, o);
        }
        put(root, "plugin", ps);
    }
    put(root, "telemetry", node_json(cfg->telemetry, false));
    put(root, "pid_file", jstr(cfg->pid_file));
    put(root, "exit_after_auth", json_object_new_boolean(cfg->exit_after_auth));
    put(root, "disable_idle_connections",
        disable_list(cfg->disable_idle_connections_auto_auth,
                     cfg->disable_idle_connections_proxying));
    put(root, "disable_keep_alives",
        disable_list(cfg->disable_keep_alives_auto_auth,
                     cfg->disable_keep_alives_proxying));
    put(root, "log_level", jstr(cfg->log_level ? cfg->log_level : "info"));
    put(root, "log_format",
        jstr(cfg->log_format ? cfg->log_format : "standard"));
    put(root, "log_file", jstr(cfg->log_file));
    put(root, "log_rotate_bytes", json_object_new_int64(cfg->log_rotate_bytes));
    put(root, "log_rotate_duration",
        jdur(cfg->log_rotate_duration_ms ? cfg->log_rotate_duration_ms
                                         : 24ull * 3600ull * 1000ull));
    put(root, "log_rotate_max_files",
        json_object_new_int64(cfg->log_rotate_max_files));
    const char *text = json_object_to_json_string_ext(
        root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                  JSON_C_TO_STRING_NOSLASHESCAPE);
    int rc = text && fprintf(out, "%s\n", text) >= 0 ? 0 : -1;
    json_object_put(root);
    return rc;
}
