/* The key tables.  Each block's keys are listed in the order the dump
 * shows them; the loader suggests the first closest name on a typo, so
 * the order of near-homonyms matters too. */
#include "autoconf.h"

#include "config/config_keys.h"

#include <stdio.h>
#include <string.h>

#include "config/config.h"

/* Enums are read through an int. */
_Static_assert(sizeof(vpd_use_token_mode) == sizeof(int), "int-sized enum");
_Static_assert(sizeof(vpd_listener_type) == sizeof(int), "int-sized enum");
_Static_assert(sizeof(vpd_cap_behavior) == sizeof(int), "int-sized enum");
_Static_assert(sizeof(vpd_static_events_mode) == sizeof(int), "int-sized enum");

/* KD: a key stored in a field of `type`; KX: a key with no field of its
 * own (or one its loader code fills).  Both take the options of
 * vpd_config_key after the reload class. */
#define KD(n, rd, ft, type, member, rl, ...)                                   \
    {                                                                          \
        .name = n, .read = rd, .field = ft, .off = offsetof(type, member),     \
        .reload = rl, __VA_ARGS__                                              \
    }
#define KX(n, rd, rl, ...)                                                     \
    {                                                                          \
        .name = n, .read = rd, .reload = rl, __VA_ARGS__                       \
    }
#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

/* Short names for the table's columns. */
#define STR VPD_READ_STR
#define BOOL_ VPD_READ_BOOL
#define RBOOL VPD_READ_RBOOL
#define DUR VPD_READ_DUR
#define OBJ VPD_READ_OBJ
#define INT_CHK VPD_READ_INT_CHK
#define STR_CHK VPD_READ_STR_CHK
#define IGNORE VPD_READ_IGNORE
#define CUSTOM VPD_READ_CUSTOM
#define F_STR VPD_FIELD_STR
#define F_BOOL VPD_FIELD_BOOL
#define F_MS VPD_FIELD_MS
#define F_INT VPD_FIELD_INT
#define F_I64 VPD_FIELD_I64
#define F_SIZE VPD_FIELD_SIZE
#define F_ENUM VPD_FIELD_ENUM
#define F_NODE VPD_FIELD_NODE
#define LIVE VPD_RELOAD_LIVE
#define RESTART VPD_RELOAD_RESTART
#define PLUGIN VPD_RELOAD_PLUGIN

static const char *const disable_names[] = {"auto-auth", "proxying"};
static const char *const use_token_names[] = {"false", "true", "force"};
static const char *const listener_type_names[] = {"tcp", "unix"};
static const char *const role_names[] = {"default", "metrics_only"};
static const char *const cap_behavior_names[] = {"optimistic", "pessimistic"};
static const char *const static_events_names[] = {"auto", "off"};

/* A BLOCK or BLOCKS key's class is that of adding or removing the block;
 * the block's own keys say what happens when they change. */
static const vpd_config_key top_keys[] = {
    KD("vault", CUSTOM, VPD_FIELD_BLOCK, vpd_config, vault, LIVE,
       .sub = VPD_BLOCK_VAULT),
    KD("auto_auth", CUSTOM, VPD_FIELD_BLOCK, vpd_config, auto_auth, RESTART,
       .sub = VPD_BLOCK_AUTO_AUTH),
    KD("api_proxy", CUSTOM, VPD_FIELD_BLOCK, vpd_config, api_proxy, RESTART,
       .sub = VPD_BLOCK_API_PROXY),
    KD("cache", CUSTOM, VPD_FIELD_BLOCK, vpd_config, cache, RESTART,
       .sub = VPD_BLOCK_CACHE),
    KD("listener", CUSTOM, VPD_FIELD_BLOCKS, vpd_config, listeners, RESTART,
       .off2 = offsetof(vpd_config, n_listeners), .sub = VPD_BLOCK_LISTENER),
    KD("telemetry", CUSTOM, VPD_FIELD_BLOCK, vpd_config, telemetry_conf,
       RESTART, .sub = VPD_BLOCK_TELEMETRY),
    /* Ours: extra chain instances. */
    KD("plugin", CUSTOM, VPD_FIELD_BLOCKS, vpd_config, plugins, RESTART,
       .off2 = offsetof(vpd_config, n_plugins), .sub = VPD_BLOCK_PLUGIN),
    /* Agent mode: fixed when the runner starts. */
    KD("template", CUSTOM, VPD_FIELD_BLOCKS, vpd_config, templates, RESTART,
       .off2 = offsetof(vpd_config, n_templates), .sub = VPD_BLOCK_TEMPLATE),
    KD("template_config", CUSTOM, VPD_FIELD_BLOCK, vpd_config, template_config,
       RESTART, .sub = VPD_BLOCK_TEMPLATE_CONFIG),
    KD("exec", CUSTOM, VPD_FIELD_BLOCK, vpd_config, exec, RESTART,
       .sub = VPD_BLOCK_EXEC),
    KD("env_template", CUSTOM, VPD_FIELD_BLOCKS, vpd_config, env_templates,
       RESTART, .off2 = offsetof(vpd_config, n_env_templates),
       .sub = VPD_BLOCK_ENV_TEMPLATE),
    KD("pid_file", STR, F_STR, vpd_config, pid_file, RESTART),
    KD("exit_after_auth", BOOL_, F_BOOL, vpd_config, exit_after_auth, RESTART),
    KD("disable_idle_connections", CUSTOM, VPD_FIELD_FLAGS2, vpd_config,
       disable_idle_connections_auto_auth, RESTART,
       .off2 = offsetof(vpd_config, disable_idle_connections_proxying),
       .names = disable_names),
    KD("disable_keep_alives", CUSTOM, VPD_FIELD_FLAGS2, vpd_config,
       disable_keep_alives_auto_auth, RESTART,
       .off2 = offsetof(vpd_config, disable_keep_alives_proxying),
       .names = disable_names),
    /* Flags and environment take precedence over these (daemon.c). */
    KD("log_level", STR, F_STR, vpd_config, log_level, LIVE,
       .dump_default = "info"),
    KD("log_format", STR, F_STR, vpd_config, log_format, LIVE,
       .dump_default = "standard"),
    KD("log_file", STR, F_STR, vpd_config, log_file, LIVE),
    /* Log rotation (log_file.h); the integers are range-checked by the
     * loader. */
    KD("log_rotate_bytes", CUSTOM, F_I64, vpd_config, log_rotate_bytes, LIVE),
    KD("log_rotate_duration", DUR, F_MS, vpd_config, log_rotate_duration_ms,
       LIVE, .dump_default = "24h"),
    KD("log_rotate_max_files", CUSTOM, F_I64, vpd_config, log_rotate_max_files,
       LIVE),
    /* Must be true: there is nothing to lock, so nothing changes. */
    KX("disable_mlock", CUSTOM, LIVE),
    /* Only a telemetry label in Vault; accepted, unused. */
    KX("cluster_name", STR_CHK, LIVE),
    /* Keys of Vault's shared server parser that Vault Proxy parses and
     * ignores; accepted so Vault configurations load unchanged.  Ignored
     * keys change nothing, so a reload takes them as they are. */
    KX("default_max_request_duration", IGNORE, LIVE),
    KX("user_lockout", IGNORE, LIVE),
    KX("seal", IGNORE, LIVE),
    KX("hsm", IGNORE, LIVE),
    KX("kms", IGNORE, LIVE),
    KX("entropy", IGNORE, LIVE),
    KX("administrative_namespace_path", IGNORE, LIVE),
};

/* The upstream's TLS files and verification are applied live (the
 * forwarder takes them for its next connection); the address, server
 * name, namespace and retries are fixed when it is created. */
static const vpd_config_key vault_keys[] = {
    KD("address", STR, F_STR, vpd_vault_config, address, RESTART),
    KD("ca_cert", STR, F_STR, vpd_vault_config, ca_cert, LIVE),
    KD("ca_path", STR, F_STR, vpd_vault_config, ca_path, LIVE),
    KD("client_cert", STR, F_STR, vpd_vault_config, client_cert, LIVE),
    /* A path, shown like the other file names. */
    KD("client_key", STR, F_STR, vpd_vault_config, client_key, LIVE),
    KD("tls_server_name", STR, F_STR, vpd_vault_config, tls_server_name,
       RESTART),
    KD("tls_skip_verify", RBOOL, F_BOOL, vpd_vault_config, tls_skip_verify,
       LIVE),
    KD("namespace", STR, F_STR, vpd_vault_config, namespace_, RESTART),
    /* Ours: the bound on upstream connections, fixed with the forwarder. */
    KD("max_connections", CUSTOM, F_SIZE, vpd_vault_config, max_connections,
       RESTART),
    KX("retry", CUSTOM, LIVE, .field = VPD_FIELD_BLOCK, .off = 0,
       .sub = VPD_BLOCK_RETRY),
};

/* Stored in the vault block's struct. */
static const vpd_config_key retry_keys[] = {
    KD("num_retries", CUSTOM, F_INT, vpd_vault_config, num_retries, RESTART),
};

static const vpd_config_key auto_auth_keys[] = {
    /* Exactly one; its keys say what a reload does. */
    KD("method", CUSTOM, VPD_FIELD_BLOCK, vpd_auto_auth_config, method, LIVE,
       .sub = VPD_BLOCK_METHOD),
    KD("sink", CUSTOM, VPD_FIELD_BLOCKS, vpd_auto_auth_config, sinks, RESTART,
       .off2 = offsetof(vpd_auto_auth_config, n_sinks), .sub = VPD_BLOCK_SINK,
       .dump_name = "sinks"),
    /* The `sinks { sink {...} }` wrapper fills the same list. */
    KD("sinks", CUSTOM, VPD_FIELD_BLOCKS, vpd_auto_auth_config, sinks, RESTART,
       .off2 = offsetof(vpd_auto_auth_config, n_sinks), .sub = VPD_BLOCK_SINK,
       .alias = true),
    KD("enable_reauth_on_new_credentials", BOOL_, F_BOOL, vpd_auto_auth_config,
       enable_reauth_on_new_credentials, RESTART),
};

/* A changed method block is applied live by building a new instance and
 * handing it to auto-auth; another type needs a restart. */
static const vpd_config_key method_keys[] = {
    KD("type", CUSTOM, F_STR, vpd_method_config, type, RESTART),
    KD("mount_path", STR, F_STR, vpd_method_config, mount_path, LIVE),
    KD("namespace", STR, F_STR, vpd_method_config, namespace_, LIVE),
    KD("wrap_ttl", DUR, F_MS, vpd_method_config, wrap_ttl_ms, LIVE),
    KD("min_backoff", DUR, F_MS, vpd_method_config, min_backoff_ms, LIVE),
    KD("max_backoff", DUR, F_MS, vpd_method_config, max_backoff_ms, LIVE),
    KD("exit_on_err", BOOL_, F_BOOL, vpd_method_config, exit_on_err, LIVE),
    KD("config", OBJ, F_NODE, vpd_method_config, config, LIVE),
};

/* Sinks are opened at start. */
static const vpd_config_key sink_keys[] = {
    KD("type", CUSTOM, F_STR, vpd_sink_config, type, RESTART),
    KD("wrap_ttl", DUR, F_MS, vpd_sink_config, wrap_ttl_ms, RESTART),
    KD("dh_type", STR, F_STR, vpd_sink_config, dh_type, RESTART),
    KD("dh_path", STR, F_STR, vpd_sink_config, dh_path, RESTART),
    KD("derive_key", BOOL_, F_BOOL, vpd_sink_config, derive_key, RESTART),
    /* Additional authenticated data: part of the key material. */
    KD("aad", STR, F_STR, vpd_sink_config, aad, RESTART, .secret = true),
    KD("aad_env_var", STR, F_STR, vpd_sink_config, aad_env_var, RESTART),
    KD("config", OBJ, F_NODE, vpd_sink_config, config, RESTART),
};

/* Its sinks are stored in auto_auth's list. */
static const vpd_config_key sinks_wrapper_keys[] = {
    KX("sink", CUSTOM, RESTART),
};

/* The policy instance is built from enforce_consistency (another value is
 * another implementation); when_inconsistent is its setting. */
static const vpd_config_key api_proxy_keys[] = {
    KD("use_auto_auth_token", CUSTOM, F_ENUM, vpd_api_proxy_config,
       use_auto_auth_token, RESTART, .names = use_token_names),
    KD("enforce_consistency", CUSTOM, F_STR, vpd_api_proxy_config,
       enforce_consistency, RESTART),
    KD("when_inconsistent", CUSTOM, F_STR, vpd_api_proxy_config,
       when_inconsistent, PLUGIN),
    KD("prepend_configured_namespace", BOOL_, F_BOOL, vpd_api_proxy_config,
       prepend_configured_namespace, RESTART),
};

/* The cache block belongs to the store plugin's schema, which its
 * reconfigure op applies; `persist` is the core's, opened once at
 * start. */
static const vpd_config_key cache_keys[] = {
    KD("persist", CUSTOM, VPD_FIELD_MEMBERS, vpd_cache_config, node, RESTART),
    /* Static secret caching: core keys, read by the loader and removed
     * before the store plugin checks the rest.  The static cache is built
     * once at start, so every change needs a restart. */
    KD("cache_static_secrets", BOOL_, F_BOOL, vpd_cache_config,
       cache_static_secrets, RESTART),
    KD("disable_caching_dynamic_secrets", BOOL_, F_BOOL, vpd_cache_config,
       disable_caching_dynamic_secrets, RESTART),
    KD("static_secret_token_capability_refresh_interval", DUR, F_MS,
       vpd_cache_config, static_capability_refresh_ms, RESTART,
       .dump_default = "5m"),
    KD("static_secret_token_capability_refresh_behavior", CUSTOM, F_ENUM,
       vpd_cache_config, static_capability_behavior, RESTART,
       .names = cap_behavior_names),
    /* Ours (extensions): the re-read period and the event stream. */
    KD("static_secret_refresh_interval", DUR, F_MS, vpd_cache_config,
       static_refresh_ms, RESTART),
    /* The event stream starts and stops on SIGHUP (vaproxyd(8)). */
    KD("static_secret_events", CUSTOM, F_ENUM, vpd_cache_config, static_events,
       LIVE, .names = static_events_names),
};

/* Vault's configutil.Telemetry keys.  Those of external sinks and of
 * server-only metrics are type-checked and ignored; the metrics endpoint
 * is set up at start, so every change needs a restart. */
static const vpd_config_key telemetry_keys[] = {
    KD("prometheus_retention_time", CUSTOM, F_MS, vpd_telemetry_config,
       prometheus_retention_ms, RESTART),
    KD("metrics_prefix", STR, F_STR, vpd_telemetry_config, metrics_prefix,
       RESTART),
    KD("disable_hostname", BOOL_, F_BOOL, vpd_telemetry_config,
       disable_hostname, RESTART),
    KD("enable_hostname_label", BOOL_, F_BOOL, vpd_telemetry_config,
       enable_hostname_label, RESTART),
    KD("filter_default", CUSTOM, F_BOOL, vpd_telemetry_config, filter_default,
       RESTART),
    KD("prefix_filter", CUSTOM, VPD_FIELD_STRS, vpd_telemetry_config,
       prefix_filter, RESTART,
       .off2 = offsetof(vpd_telemetry_config, n_prefix_filter)),
    KX("statsite_address", CUSTOM, RESTART),
    KX("statsd_address", CUSTOM, RESTART),
    KX("dogstatsd_addr", CUSTOM, RESTART),
    KX("dogstatsd_tags", CUSTOM, RESTART),
    KX("circonus_api_token", CUSTOM, RESTART, .secret = true),
    KX("circonus_submission_url", CUSTOM, RESTART),
    KX("circonus_api_app", STR_CHK, RESTART),
    KX("circonus_api_url", STR_CHK, RESTART),
    KX("circonus_submission_interval", STR_CHK, RESTART),
    KX("circonus_check_id", STR_CHK, RESTART),
    KX("circonus_check_force_metric_activation", STR_CHK, RESTART),
    KX("circonus_check_instance_id", STR_CHK, RESTART),
    KX("circonus_check_search_tag", STR_CHK, RESTART),
    KX("circonus_check_tags", STR_CHK, RESTART),
    KX("circonus_check_display_name", STR_CHK, RESTART),
    KX("circonus_broker_id", STR_CHK, RESTART),
    KX("circonus_broker_select_tag", STR_CHK, RESTART),
    KX("stackdriver_project_id", CUSTOM, RESTART),
    KX("stackdriver_location", STR_CHK, RESTART),
    KX("stackdriver_namespace", STR_CHK, RESTART),
    KX("stackdriver_debug_logs", CUSTOM, RESTART),
    KX("usage_gauge_period", CUSTOM, RESTART),
    KX("maximum_gauge_cardinality", INT_CHK, RESTART),
    KX("lease_metrics_epsilon", CUSTOM, RESTART),
    KX("num_lease_metrics_buckets", INT_CHK, RESTART),
    KX("add_lease_metrics_namespace_labels", CUSTOM, RESTART),
    KX("add_mount_point_rollback_metrics", CUSTOM, RESTART), /* [V] */
};

/* What is fixed when the socket is opened, or read by request handling
 * from the running config, needs a restart; the TLS files and policy are
 * reloaded live by the server. */
static const vpd_config_key listener_keys[] = {
    KD("type", CUSTOM, F_ENUM, vpd_listener_config, type, RESTART,
       .names = listener_type_names),
    KD("address", STR, F_STR, vpd_listener_config, address, RESTART),
    KD("role", CUSTOM, F_BOOL, vpd_listener_config, metrics_only, RESTART,
       .names = role_names),
    KD("require_request_header", RBOOL, F_BOOL, vpd_listener_config,
       require_request_header, RESTART),
    /* The proxy reads proxy_api, the agent agent_api; either enables the
     * quit endpoint here. */
    KD("proxy_api", CUSTOM, F_BOOL, vpd_listener_config, enable_quit, RESTART,
       .dump_name = "enable_quit"),
    KD("agent_api", CUSTOM, F_BOOL, vpd_listener_config, enable_quit, RESTART,
       .alias = true),
    KD("tls_disable", RBOOL, F_BOOL, vpd_listener_config, tls_disable, RESTART),
    KD("tls_cert_file", STR, F_STR, vpd_listener_config, tls_cert_file, LIVE,
       .tls_only = true),
    KD("tls_key_file", STR, F_STR, vpd_listener_config, tls_key_file, LIVE,
       .tls_only = true),
    KD("tls_min_version", STR, F_STR, vpd_listener_config, tls_min_version,
       LIVE, .tls_only = true),
    KD("tls_max_version", STR, F_STR, vpd_listener_config, tls_max_version,
       LIVE, .tls_only = true),
    KD("tls_cipher_suites", STR, F_STR, vpd_listener_config, tls_cipher_suites,
       LIVE, .tls_only = true),
    KD("tls_require_and_verify_client_cert", RBOOL, F_BOOL, vpd_listener_config,
       tls_require_and_verify_client_cert, LIVE, .tls_only = true),
    KD("tls_client_ca_file", STR, F_STR, vpd_listener_config,
       tls_client_ca_file, LIVE, .tls_only = true),
    KD("tls_disable_client_certs", RBOOL, F_BOOL, vpd_listener_config,
       tls_disable_client_certs, LIVE, .tls_only = true),
    KD("http2_prior_knowledge", RBOOL, F_BOOL, vpd_listener_config,
       http2_prior_knowledge, RESTART),
    KD("socket_mode", STR, F_STR, vpd_listener_config, socket_mode, RESTART),
    KD("socket_user", STR, F_STR, vpd_listener_config, socket_user, RESTART),
    KD("socket_group", STR, F_STR, vpd_listener_config, socket_group, RESTART),
    /* Our limits; max_request_size is Vault's server key, honoured here. */
    KD("max_request_header_bytes", CUSTOM, F_SIZE, vpd_listener_config,
       max_header_bytes, RESTART),
    KD("max_request_size", CUSTOM, F_SIZE, vpd_listener_config, max_body_bytes,
       RESTART),
    KD("max_connections", CUSTOM, F_SIZE, vpd_listener_config, max_connections,
       RESTART),
    KD("http_read_timeout", DUR, F_MS, vpd_listener_config, read_timeout_ms,
       RESTART),
    KD("http_idle_timeout", DUR, F_MS, vpd_listener_config, idle_timeout_ms,
       RESTART),
    KD("http_read_header_timeout", DUR, F_MS, vpd_listener_config,
       read_header_timeout_ms, RESTART),
    /* Keys of Vault's shared listener parser that Vault Proxy parses and
     * ignores; accepted so Vault configurations load unchanged.
     * tls_auto_reload and ACME are OpenBao server features the proxy
     * replaces with a reload on SIGHUP. */
    KX("purpose", IGNORE, LIVE),
    KX("cluster_address", IGNORE, LIVE),
    KX("max_request_duration", IGNORE, LIVE),
    KX("max_request_json_memory", IGNORE, LIVE),
    KX("max_request_json_strings", IGNORE, LIVE),
    KX("http_write_timeout", IGNORE, LIVE),
    KX("tls_key_exchange_preferences", IGNORE, LIVE),
    KX("tls_prefer_server_cipher_suites", IGNORE, LIVE),
    KX("tls_auto_reload", IGNORE, LIVE),
    KX("tls_auto_reload_interval", IGNORE, LIVE),
    KX("tls_acme_cache_path", IGNORE, LIVE),
    KX("tls_acme_ca_directory", IGNORE, LIVE),
    KX("tls_acme_test_ca_directory", IGNORE, LIVE),
    KX("tls_acme_ca_root", IGNORE, LIVE),
    KX("tls_acme_eab_key_id", IGNORE, LIVE),
    /* Never stored, so never shown either. */
    KX("tls_acme_eab_mac_key", IGNORE, LIVE, .secret = true),
    KX("tls_acme_key_type", IGNORE, LIVE),
    KX("tls_acme_email", IGNORE, LIVE),
    KX("tls_acme_domains", IGNORE, LIVE),
    KX("tls_acme_disable_http_challenge", IGNORE, LIVE),
    KX("tls_acme_disable_alpn_challenge", IGNORE, LIVE),
    KX("proxy_protocol_behavior", IGNORE, LIVE),
    KX("proxy_protocol_authorized_addrs", IGNORE, LIVE),
    KX("x_forwarded_for_authorized_addrs", IGNORE, LIVE),
    KX("x_forwarded_for_hop_skips", IGNORE, LIVE),
    KX("x_forwarded_for_reject_not_present", IGNORE, LIVE),
    KX("x_forwarded_for_reject_not_authorized", IGNORE, LIVE),
    KX("x_forwarded_for_client_cert_header", IGNORE, LIVE),
    KX("x_forwarded_for_client_cert_header_decoders", IGNORE, LIVE),
    KX("x_forwarded_for_client_cert_decoders", IGNORE, LIVE),
    KX("x_forwarded_for_client_cert_keep_not_forwarded", IGNORE, LIVE),
    KX("x_forwarded_for_client_cert_keep_unauthorized", IGNORE, LIVE),
    KX("telemetry", IGNORE, LIVE),
    KX("profiling", IGNORE, LIVE),
    KX("inflight_requests_logging", IGNORE, LIVE),
    KX("cors_enabled", IGNORE, LIVE),
    KX("cors_allowed_origins", IGNORE, LIVE),
    KX("cors_allowed_headers", IGNORE, LIVE),
    KX("cors_allow_credentials", IGNORE, LIVE),
    KX("custom_response_headers", IGNORE, LIVE),
    KX("chroot_namespace", IGNORE, LIVE),
    KX("redact_addresses", IGNORE, LIVE),
    KX("redact_cluster_name", IGNORE, LIVE),
    KX("redact_version", IGNORE, LIVE),
    KX("disable_replication_status_endpoints", IGNORE, LIVE),
    KX("disable_request_limiter", IGNORE, LIVE),
    KX("max_json_depth", IGNORE, LIVE),
    KX("max_json_string_value_length", IGNORE, LIVE),
    KX("max_json_object_entry_count", IGNORE, LIVE),
    KX("max_json_array_element_count", IGNORE, LIVE),
    KX("max_json_token", IGNORE, LIVE),
    KX("max_token_header_size", IGNORE, LIVE),
    KX("disable_unauthed_rekey_endpoints", IGNORE, LIVE),
    KX("disable_unauthed_generate_root_endpoints", IGNORE, LIVE),
};

/* Stored in the enclosing listener's struct. */
static const vpd_config_key quit_api_keys[] = {
    KD("enable_quit", CUSTOM, F_BOOL, vpd_listener_config, enable_quit,
       RESTART),
};

/* Another kind or name is another instance in the chain; the config map
 * is the instance's setting, handed to its reconfigure op. */
static const vpd_config_key plugin_keys[] = {
    KD("kind", CUSTOM, F_STR, vpd_plugin_block, kind, RESTART),
    KD("name", CUSTOM, F_STR, vpd_plugin_block, name, RESTART),
    KD("config", CUSTOM, F_NODE, vpd_plugin_block, config, PLUGIN),
};

/* ---- agent mode (config_agent.h) ---------------------------------------
 * Templates, the supervised child and its environment are set up once at
 * start: every change needs a restart. */
static const vpd_config_key template_keys[] = {
    KD("source", STR, F_STR, vpd_template_config, source, RESTART),
    KD("contents", STR, F_STR, vpd_template_config, contents, RESTART),
    KD("destination", STR, F_STR, vpd_template_config, destination, RESTART),
    KD("create_dest_dirs", BOOL_, F_BOOL, vpd_template_config, create_dest_dirs,
       RESTART),
    KD("perms", CUSTOM, F_STR, vpd_template_config, perms, RESTART,
       .dump_default = "0644"),
    KD("user", STR, F_STR, vpd_template_config, user, RESTART),
    KD("group", STR, F_STR, vpd_template_config, group, RESTART),
    /* Vault Agent's deprecated numeric spellings of user and group; the
     * loader stores them there. */
    KX("uid", CUSTOM, RESTART),
    KX("gid", CUSTOM, RESTART),
    KD("backup", BOOL_, F_BOOL, vpd_template_config, backup, RESTART),
    KD("command", CUSTOM, VPD_FIELD_STRS, vpd_template_config, command, RESTART,
       .off2 = offsetof(vpd_template_config, n_command)),
    KD("command_timeout", DUR, F_MS, vpd_template_config, command_timeout_ms,
       RESTART),
    KD("exec", CUSTOM, VPD_FIELD_BLOCK, vpd_template_config, exec, RESTART,
       .sub = VPD_BLOCK_TEMPLATE_EXEC),
    KD("error_on_missing_key", BOOL_, F_BOOL, vpd_template_config,
       error_on_missing_key, RESTART),
    KD("left_delimiter", STR, F_STR, vpd_template_config, left_delimiter,
       RESTART),
    KD("right_delimiter", STR, F_STR, vpd_template_config, right_delimiter,
       RESTART),
    KD("function_denylist", CUSTOM, VPD_FIELD_STRS, vpd_template_config,
       function_denylist, RESTART,
       .off2 = offsetof(vpd_template_config, n_function_denylist)),
    KD("sandbox_path", STR, F_STR, vpd_template_config, sandbox_path, RESTART),
    KD("wait", CUSTOM, VPD_FIELD_BLOCK, vpd_template_config, wait, RESTART,
       .sub = VPD_BLOCK_TEMPLATE_WAIT),
};

static const vpd_config_key template_wait_keys[] = {
    KD("min", DUR, F_MS, vpd_wait_config, min_ms, RESTART),
    KD("max", DUR, F_MS, vpd_wait_config, max_ms, RESTART),
};

static const vpd_config_key template_exec_keys[] = {
    KD("command", CUSTOM, VPD_FIELD_STRS, vpd_tmpl_exec_config, command,
       RESTART, .off2 = offsetof(vpd_tmpl_exec_config, n_command)),
    KD("timeout", DUR, F_MS, vpd_tmpl_exec_config, timeout_ms, RESTART),
};

static const vpd_config_key template_config_keys[] = {
    KD("static_secret_render_interval", DUR, F_MS, vpd_template_settings,
       static_secret_render_interval_ms, RESTART),
    KD("exit_on_retry_failure", BOOL_, F_BOOL, vpd_template_settings,
       exit_on_retry_failure, RESTART),
    KD("max_connections_per_host", CUSTOM, F_SIZE, vpd_template_settings,
       max_connections_per_host, RESTART),
    KD("lease_renewal_threshold", CUSTOM, F_STR, vpd_template_settings,
       lease_renewal_threshold, RESTART, .dump_default = "0.9"),
};

static const vpd_config_key exec_keys[] = {
    KD("command", CUSTOM, VPD_FIELD_STRS, vpd_exec_config, command, RESTART,
       .off2 = offsetof(vpd_exec_config, n_command)),
    KD("restart_on_secret_changes", CUSTOM, F_STR, vpd_exec_config,
       restart_on_secret_changes, RESTART),
    KD("restart_stop_signal", CUSTOM, F_STR, vpd_exec_config,
       restart_stop_signal, RESTART),
};

static const vpd_config_key env_template_keys[] = {
    KD("source", STR, F_STR, vpd_env_template_config, source, RESTART),
    KD("contents", STR, F_STR, vpd_env_template_config, contents, RESTART),
    KD("error_on_missing_key", BOOL_, F_BOOL, vpd_env_template_config,
       error_on_missing_key, RESTART),
    KD("left_delimiter", STR, F_STR, vpd_env_template_config, left_delimiter,
       RESTART),
    KD("right_delimiter", STR, F_STR, vpd_env_template_config, right_delimiter,
       RESTART),
    KD("function_denylist", CUSTOM, VPD_FIELD_STRS, vpd_env_template_config,
       function_denylist, RESTART,
       .off2 = offsetof(vpd_env_template_config, n_function_denylist)),
};

static void
template_label(const void *elem, size_t index, char *buf, size_t len)
{
    const vpd_template_config *t = elem;
    snprintf(buf, len, "template %zu (%s)", index + 1,
             t->destination ? t->destination : "?");
}

static void
env_template_label(const void *elem, size_t index, char *buf, size_t len)
{
    const vpd_env_template_config *e = elem;
    (void)index;
    snprintf(buf, len, "env_template \"%s\"", e->name ? e->name : "?");
}

static void
listener_label(const void *elem, size_t index, char *buf, size_t len)
{
    const vpd_listener_config *l = elem;
    snprintf(buf, len, "listener %zu (%s)", index + 1,
             l->address ? l->address : "?");
}

static void
plugin_label(const void *elem, size_t index, char *buf, size_t len)
{
    const vpd_plugin_block *pb = elem;
    (void)index;
    snprintf(buf, len, "plugin \"%s\" \"%s\"", pb->kind, pb->name);
}

#define KEYS(t) .keys = t, .n_keys = NKEYS(t)

const vpd_config_block vpd_config_blocks[VPD_BLOCK_COUNT] = {
    [VPD_BLOCK_TOP] = {.name = NULL,
                       KEYS(top_keys),
                       .elem_size = sizeof(vpd_config),
                       .present_off = VPD_NO_FIELD,
                       .raw_off = VPD_NO_FIELD,
                       .diff_name = ""},
    [VPD_BLOCK_VAULT] = {.name = "vault",
                         KEYS(vault_keys),
                         .elem_size = sizeof(vpd_vault_config),
                         .present_off = VPD_NO_FIELD,
                         .raw_off = VPD_NO_FIELD,
                         .diff_name = "vault"},
    [VPD_BLOCK_RETRY] = {.name = "vault.retry",
                         KEYS(retry_keys),
                         .elem_size = sizeof(vpd_vault_config),
                         .present_off = VPD_NO_FIELD,
                         .raw_off = VPD_NO_FIELD,
                         .diff_name = "vault retry",
                         .diff_whole = true},
    [VPD_BLOCK_AUTO_AUTH] = {.name = "auto_auth",
                             KEYS(auto_auth_keys),
                             .elem_size = sizeof(vpd_auto_auth_config),
                             .present_off =
                                 offsetof(vpd_auto_auth_config, present),
                             .raw_off = VPD_NO_FIELD,
                             .diff_name = "auto_auth"},
    [VPD_BLOCK_METHOD] = {.name = "auto_auth.method",
                          KEYS(method_keys),
                          .elem_size = sizeof(vpd_method_config),
                          .present_off = VPD_NO_FIELD,
                          .raw_off = VPD_NO_FIELD,
                          .diff_name = "auto_auth method"},
    [VPD_BLOCK_SINK] = {.name = "auto_auth.sink",
                        KEYS(sink_keys),
                        .elem_size = sizeof(vpd_sink_config),
                        .present_off = VPD_NO_FIELD,
                        .raw_off = VPD_NO_FIELD,
                        .diff_name = "auto_auth sinks",
                        .diff_whole = true,
                        .count_name = "auto_auth sinks"},
    [VPD_BLOCK_SINKS] = {.name = "auto_auth.sinks",
                         KEYS(sinks_wrapper_keys),
                         .present_off = VPD_NO_FIELD,
                         .raw_off = VPD_NO_FIELD,
                         .diff_name = "auto_auth sinks"},
    [VPD_BLOCK_API_PROXY] = {.name = "api_proxy",
                             KEYS(api_proxy_keys),
                             .elem_size = sizeof(vpd_api_proxy_config),
                             .present_off =
                                 offsetof(vpd_api_proxy_config, present),
                             .raw_off = VPD_NO_FIELD,
                             .diff_name = "api_proxy",
                             .diff_whole = true},
    [VPD_BLOCK_CACHE] = {.name = "cache",
                         KEYS(cache_keys),
                         .elem_size = sizeof(vpd_cache_config),
                         .present_off = offsetof(vpd_cache_config, present),
                         .raw_off = offsetof(vpd_cache_config, node),
                         .diff_name = "cache"},
    [VPD_BLOCK_TELEMETRY] = {.name = "telemetry",
                             KEYS(telemetry_keys),
                             .elem_size = sizeof(vpd_telemetry_config),
                             .present_off =
                                 offsetof(vpd_telemetry_config, present),
                             .raw_off = offsetof(vpd_telemetry_config, node),
                             .diff_name = "telemetry",
                             .diff_whole = true},
    [VPD_BLOCK_LISTENER] = {.name = "listener",
                            KEYS(listener_keys),
                            .elem_size = sizeof(vpd_listener_config),
                            .present_off = VPD_NO_FIELD,
                            .raw_off = VPD_NO_FIELD,
                            .diff_name = "listener",
                            .diff_whole = true,
                            .count_name = "the number of listeners",
                            .label = listener_label},
    [VPD_BLOCK_QUIT_API] = {.name = "listener proxy_api",
                            KEYS(quit_api_keys),
                            .present_off = VPD_NO_FIELD,
                            .raw_off = VPD_NO_FIELD,
                            .diff_name = "listener"},
    [VPD_BLOCK_PLUGIN] = {.name = "plugin",
                          KEYS(plugin_keys),
                          .elem_size = sizeof(vpd_plugin_block),
                          .present_off = VPD_NO_FIELD,
                          .raw_off = VPD_NO_FIELD,
                          .diff_name = "plugin",
                          .diff_whole = true,
                          .count_name = "plugin blocks",
                          .label = plugin_label},
    [VPD_BLOCK_TEMPLATE] = {.name = "template",
                            KEYS(template_keys),
                            .elem_size = sizeof(vpd_template_config),
                            .present_off = VPD_NO_FIELD,
                            .raw_off = VPD_NO_FIELD,
                            .diff_name = "template",
                            .diff_whole = true,
                            .count_name = "the number of templates",
                            .label = template_label},
    [VPD_BLOCK_TEMPLATE_WAIT] = {.name = "template.wait",
                                 KEYS(template_wait_keys),
                                 .elem_size = sizeof(vpd_wait_config),
                                 .present_off = VPD_NO_FIELD,
                                 .raw_off = VPD_NO_FIELD,
                                 .diff_name = "template wait",
                                 .diff_whole = true},
    [VPD_BLOCK_TEMPLATE_EXEC] = {.name = "template.exec",
                                 KEYS(template_exec_keys),
                                 .elem_size = sizeof(vpd_tmpl_exec_config),
                                 .present_off = VPD_NO_FIELD,
                                 .raw_off = VPD_NO_FIELD,
                                 .diff_name = "template exec",
                                 .diff_whole = true},
    [VPD_BLOCK_TEMPLATE_CONFIG] = {.name = "template_config",
                                   KEYS(template_config_keys),
                                   .elem_size = sizeof(vpd_template_settings),
                                   .present_off =
                                       offsetof(vpd_template_settings, present),
                                   .raw_off = VPD_NO_FIELD,
                                   .diff_name = "template_config",
                                   .diff_whole = true},
    [VPD_BLOCK_EXEC] = {.name = "exec",
                        KEYS(exec_keys),
                        .elem_size = sizeof(vpd_exec_config),
                        .present_off = offsetof(vpd_exec_config, present),
                        .raw_off = VPD_NO_FIELD,
                        .diff_name = "exec",
                        .diff_whole = true},
    [VPD_BLOCK_ENV_TEMPLATE] = {.name = "env_template",
                                KEYS(env_template_keys),
                                .elem_size = sizeof(vpd_env_template_config),
                                .present_off = VPD_NO_FIELD,
                                .raw_off = VPD_NO_FIELD,
                                .diff_name = "env_template",
                                .diff_whole = true,
                                .count_name = "env_template blocks",
                                .label = env_template_label},
};

const vpd_config_key *
vpd_config_key_find(vpd_block_id b, const char *name)
{
    const vpd_config_block *blk = &vpd_config_blocks[b];
    for (size_t i = 0; i < blk->n_keys; i++)
        if (strcmp(blk->keys[i].name, name) == 0)
            return &blk->keys[i];
    return NULL;
}
