/* The typed configuration of vaproxyd, built from one or more Vault Proxy
 * HCL/JSON files (vaproxyd.hcl(5)) and checked as Vault Proxy checks them
 * before it starts.
 *
 * Ownership: vpd_config_load returns a config that owns every string and
 * array in it; vpd_config_free releases all of it.  Plugin-specific blocks
 * (an auth method's `config = {...}`) are kept as generic trees
 * (vpd_cfg_node) so the plugin's schema can check them with file:line
 * positions.
 *
 * Optional strings are NULL when absent; an empty string in a file counts
 * as absent.  Strings with a documented default are never NULL after a
 * successful load; log_level and log_format stay NULL unless a file sets
 * them, so flags and environment can take precedence. */
#ifndef VPD_CONFIG_H
#define VPD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/duration.h"
#include "config/cfgtree.h"
#include "config/config_agent.h"

typedef enum {
    VPD_AUTO_AUTH_TOKEN_FALSE = 0,
    VPD_AUTO_AUTH_TOKEN_TRUE,
    VPD_AUTO_AUTH_TOKEN_FORCE,
} vpd_use_token_mode;

typedef struct {
    char *address; /* default "https://127.0.0.1:8200" */
    char *ca_cert;
    char *ca_path;
    char *client_cert;
    char *client_key;
    char *tls_server_name;
    bool tls_skip_verify;
    int num_retries;        /* already resolved: absent/0 => 12, -1 => 0 */
    char *namespace_;       /* [V] vault.namespace */
    size_t max_connections; /* ours: upstream connections, 0 => 256 */
} vpd_vault_config;

typedef struct {
    char *type;       /* "token_file", "approle", ... lower-cased */
    char *mount_path; /* default "auth/<type>", trailing '/' removed */
    char *namespace_; /* canonical: no leading '/', trailing '/' */
    uint64_t wrap_ttl_ms;
    uint64_t min_backoff_ms; /* default 1 s */
    uint64_t max_backoff_ms; /* default 5 min */
    bool exit_on_err;
    const vpd_cfg_node *config; /* the method's `config` map (may be NULL) */
    const char *file;           /* where the block was written, for messages */
    int line;
} vpd_method_config;

typedef struct {
    char *type; /* "file" */
    uint64_t wrap_ttl_ms;
    char *dh_type;
    char *dh_path;
    bool derive_key;
    char *aad;
    char *aad_env_var;
    const vpd_cfg_node *config;
    const char *file;
    int line;
} vpd_sink_config;

typedef struct {
    bool present;
    vpd_method_config method;
    vpd_sink_config *sinks;
    size_t n_sinks;
    bool enable_reauth_on_new_credentials;
} vpd_auto_auth_config;

typedef struct {
    bool present;
    vpd_use_token_mode use_auto_auth_token;
    char *enforce_consistency; /* "never" (default) or "always" */
    char *when_inconsistent;   /* "fail" (default), "retry", "forward" */
    bool prepend_configured_namespace;
} vpd_api_proxy_config;

/* What a failed capability check does to a token's access
 * (static_secret_token_capability_refresh_behavior). */
typedef enum {
    VPD_CAP_OPTIMISTIC = 0, /* keep access until Vault says otherwise */
    VPD_CAP_PESSIMISTIC,    /* remove access when the check cannot be made */
} vpd_cap_behavior;

/* static_secret_events: "auto" subscribes to the server's KV events when
 * it has them; "off" never tries and refreshes on the interval only. */
typedef enum {
    VPD_STATIC_EVENTS_AUTO = 0,
    VPD_STATIC_EVENTS_OFF,
} vpd_static_events_mode;

typedef struct {
    bool present;
    const vpd_cfg_node *node; /* whole block, for the cache plugin */
    /* Static secret caching (vaproxyd.hcl(5)); core keys inside the
     * plugin-owned block, removed before the store plugin sees it. */
    bool cache_static_secrets;
    bool disable_caching_dynamic_secrets;
    uint64_t static_capability_refresh_ms; /* default 5 minutes */
    vpd_cap_behavior static_capability_behavior;
    uint64_t static_refresh_ms; /* default 1 minute; 0: never */
    vpd_static_events_mode static_events;
} vpd_cache_config;

typedef enum { VPD_LISTEN_TCP = 0, VPD_LISTEN_UNIX } vpd_listener_type;

typedef struct vpd_listener_config {
    vpd_listener_type type;
    char *address;     /* tcp "host:port" (default 127.0.0.1:8200), unix path */
    bool metrics_only; /* role = "metrics_only" */
    bool require_request_header;
    bool enable_quit; /* proxy_api { enable_quit } or agent_api */
    bool tls_disable;
    char *tls_cert_file;
    char *tls_key_file;
    char *tls_min_version; /* "tls12" default */
    char *tls_max_version; /* "tls13" default */
    char *tls_cipher_suites;
    bool tls_require_and_verify_client_cert;
    char *tls_client_ca_file;
    bool tls_disable_client_certs;
    /* Ours: a plain listener also takes HTTP/2 from a client that starts
     * with the connection preface (h2c with prior knowledge). */
    bool http2_prior_knowledge;
    char *socket_mode; /* octal string, applied on its own */
    char *socket_user;
    char *socket_group;
    /* Our limits (not in Vault); sane defaults. */
    size_t max_header_bytes;  /* default 64 KiB */
    size_t max_body_bytes;    /* default 32 MiB */
    size_t max_connections;   /* default 4096 */
    uint64_t read_timeout_ms; /* whole request read, default 30 s */
    uint64_t idle_timeout_ms; /* keep-alive idle, default 5 min */
    /* Vault's http_read_header_timeout: request head, default 10 s. */
    uint64_t read_header_timeout_ms;
    const char *file;
    int line;
} vpd_listener_config;

/* telemetry { } (vaproxyd.hcl(5)), what the metrics endpoint needs.  The keys
 * of external sinks (statsd, statsite, dogstatsd, circonus, stackdriver) and of
 * server-only metrics are checked and otherwise ignored: vaproxyd serves
 * metrics, it does not push them. */
typedef struct {
    bool present;                     /* a telemetry block was given */
    const vpd_cfg_node *node;         /* the block as written */
    uint64_t prometheus_retention_ms; /* 24 h by default with a block; 0
                                         (no block, or "0") disables */
    char *metrics_prefix;             /* NULL: the binary's default, "vault" */
    bool disable_hostname;
    bool enable_hostname_label;
    bool filter_default;        /* true unless set to false */
    const char **prefix_filter; /* "+prefix" / "-prefix"; the array is
                                   owned, the strings live in `trees` */
    size_t n_prefix_filter;
    int n_sinks; /* sinks Vault would start, Prometheus
                    included: with two or more, go-metrics
                    puts the host name in gauge names */
} vpd_telemetry_config;

/* vaproxy's own block: an extra plugin instance in the chain,
 *     plugin "consistency" "hello" { config = { ... } }
 * (or plugin { kind = "consistency" name = "hello" config = {...} }).
 * Blocks from every file are appended, in order. */
typedef struct {
    char *kind;                 /* "consistency" or "cache" */
    char *name;                 /* implementation name */
    const vpd_cfg_node *config; /* may be NULL */
    const char *file;
    int line;
} vpd_plugin_block;

typedef struct {
    vpd_cfg_tree *trees; /* parsed files, owned; nodes point in here */
    size_t n_trees;

    vpd_vault_config vault;
    vpd_auto_auth_config auto_auth;
    vpd_api_proxy_config api_proxy;
    vpd_cache_config cache;
    vpd_listener_config *listeners;
    size_t n_listeners;
    const vpd_cfg_node *telemetry; /* the raw block, or NULL */
    vpd_telemetry_config telemetry_conf;
    vpd_plugin_block *plugins;
    size_t n_plugins;

    /* Agent mode (config_agent.h): templates rendered to files, and a
     * supervised child whose environment comes from env_template blocks. */
    vpd_template_config *templates;
    size_t n_templates;
    vpd_template_settings template_config;
    vpd_exec_config exec;
    vpd_env_template_config *env_templates;
    size_t n_env_templates;

    char *pid_file;
    bool exit_after_auth;
    char *log_level;
    char *log_format;
    char *log_file;                  /* a trailing '/' already got proxy.log */
    int64_t log_rotate_bytes;        /* 0: no size limit */
    uint64_t log_rotate_duration_ms; /* 0: the default, 24 h */
    int64_t log_rotate_max_files;    /* 0 keep all, -1 delete archives, N */
    bool disable_idle_connections_auto_auth;
    bool disable_idle_connections_proxying;
    bool disable_keep_alives_auto_auth;
    bool disable_keep_alives_proxying;
} vpd_config;

/* Loads and merges every path (a file, or a directory of .hcl/.json files)
 * in order, then validates.  On error returns NULL and writes one line
 * "FILE:LINE: KEY: what is wrong" into err (NUL-terminated). */
vpd_config *vpd_config_load(const char *const *paths, size_t n_paths, char *err,
                            size_t err_len);

/* Applies VAULT_ and BAO_ environment overrides to the vault block (see
 * vaproxyd(8)), and {BAO,VAULT}_PROXY_DISABLE_IDLE_CONNECTIONS and
 * _DISABLE_KEEP_ALIVES, which replace the configured lists.  `getenv_fn`
 * is getenv in production, a fake in tests.  Returns 0 or -1 with a
 * message in err. */
int vpd_config_apply_env(vpd_config *cfg,
                         const char *(*getenv_fn)(const char *), char *err,
                         size_t err_len);

void vpd_config_free(vpd_config *cfg);

#endif
