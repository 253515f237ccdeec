/* The typed configuration: defaults, every error message, merging,
 * directories, durations, environment overrides, the validation rules of
 * what Vault Proxy refuses at start, the seed configuration and HCL/JSON
 * equivalence. */
#include "autoconf.h"

/* nftw(3), to remove the scratch directories. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "config/config.h"
#include "test.h"

#include <ftw.h>
#include <stdarg.h>
#include <sys/stat.h>

#define CFGDIR VP_TEST_DATADIR "/config"

/* A fresh directory per test (each test runs in its own process), under
 * one root that main removes at the end. */
static char rootdir[64];
static char tmpdir[128];
static char path_buf[256];

static const char *
tmp_path(const char *name)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof(tmpdir), "%s/%ld", rootdir, (long)getpid());
        if (mkdir(tmpdir, 0700) != 0)
            TEST_FAIL_("mkdir %s failed", tmpdir);
    }
    snprintf(path_buf, sizeof(path_buf), "%s/%s", tmpdir, name);
    return path_buf;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
write_file(const char *name, const char *text)
{
    FILE *f = fopen(tmp_path(name), "w");
    if (!f)
        TEST_FAIL_("cannot write %s", name);
    fputs(text, f);
    fclose(f);
}

static char err[1024];

static vpd_config *
load_paths(const char *const *paths, size_t n)
{
    err[0] = '\0';
    vpd_config *cfg = vpd_config_load(paths, n, err, sizeof(err));
    if (!cfg)
        TEST_FAIL_("load failed: %s", err);
    return cfg;
}

static vpd_config *
load_one(const char *path)
{
    return load_paths(&path, 1);
}

/* Loads text written to <tmp>/p.hcl (or p.json). */
static vpd_config *
load_text(const char *text)
{
    const char *name = text[0] == '{' ? "p.json" : "p.hcl";
    write_file(name, text);
    return load_one(tmp_path(name));
}

/* Asserts that text fails with "<file>:<expected>". */
static void
expect_err_(const char *text, const char *expected, int line)
{
    const char *name = text[0] == '{' ? "p.json" : "p.hcl";
    write_file(name, text);
    const char *p = tmp_path(name);
    err[0] = '\0';
    vpd_config *cfg = vpd_config_load(&p, 1, err, sizeof(err));
    if (cfg)
        TEST_FAIL_("line %d: load succeeded, expected an error", line);
    char want[1024];
    snprintf(want, sizeof(want), "%s:%s", p, expected);
    if (strcmp(err, want) != 0)
        TEST_FAIL_("line %d: got \"%s\", expected \"%s\"", line, err, want);
    ASSERT(strchr(err, '\n') == NULL);
}

#define EXPECT_ERR(text, expected) expect_err_((text), (expected), __LINE__)

/* A listener that makes a configuration valid on its own. */
#define LISTENER "listener \"tcp\" {\n  tls_disable = true\n}\n"

/* ---- the seed and the spec examples ------------------------------------- */

TEST(seed_directory_loads)
{
    vpd_config *cfg = load_one(CFGDIR "/seed");
    ASSERT_INT_EQ(cfg->n_trees, 2);
    ASSERT(cfg->api_proxy.present);
    ASSERT_INT_EQ(cfg->api_proxy.use_auto_auth_token,
                  VPD_AUTO_AUTH_TOKEN_FORCE);
    ASSERT_STR_EQ(cfg->api_proxy.enforce_consistency, "always");
    ASSERT_STR_EQ(cfg->api_proxy.when_inconsistent, "fail");
    ASSERT_INT_EQ(cfg->n_listeners, 1);
    ASSERT_INT_EQ(cfg->listeners[0].type, VPD_LISTEN_TCP);
    ASSERT_STR_EQ(cfg->listeners[0].address, "127.0.0.1:8100");
    ASSERT(cfg->listeners[0].tls_disable);
    ASSERT_STR_EQ(cfg->listeners[0].file, CFGDIR "/seed/proxy.hcl");
    ASSERT_INT_EQ(cfg->listeners[0].line, 5);
    ASSERT(cfg->auto_auth.present);
    ASSERT_STR_EQ(cfg->auto_auth.method.type, "token_file");
    ASSERT_STR_EQ(cfg->auto_auth.method.mount_path, "auth/token_file");
    ASSERT_INT_EQ(cfg->auto_auth.n_sinks, 0);
    const vpd_cfg_member *m =
        vpd_cfg_get(cfg->auto_auth.method.config, "token_file_path");
    ASSERT_NOT_NULL(m);
    ASSERT_STR_EQ(m->value->str, "/tmp/t");
    ASSERT_STR_EQ(cfg->vault.address, "https://127.0.0.1:8200");
    vpd_config_free(cfg);
}

TEST(seed_file_alone_fails_as_in_vault)
{
    const char *p = CFGDIR "/seed/proxy.hcl";
    ASSERT_NULL(vpd_config_load(&p, 1, err, sizeof(err)));
    ASSERT_STR_EQ(err,
                  CFGDIR "/seed/proxy.hcl:2: api_proxy.use_auto_auth_token "
                         "is true but auto_auth not configured");
}

static void
check_full(const vpd_config *cfg)
{
    ASSERT_STR_EQ(cfg->pid_file, "/run/bao-proxy.pid");
    ASSERT(!cfg->exit_after_auth);
    ASSERT(cfg->disable_idle_connections_proxying);
    ASSERT(!cfg->disable_idle_connections_auto_auth);
    ASSERT_STR_EQ(cfg->vault.address, "https://bao.example:8200");
    ASSERT_STR_EQ(cfg->vault.ca_cert, "/etc/bao/ca.pem");
    ASSERT_INT_EQ(cfg->vault.num_retries, 5);

    const vpd_method_config *m = &cfg->auto_auth.method;
    ASSERT_STR_EQ(m->type, "approle");
    ASSERT_STR_EQ(m->mount_path, "auth/approle");
    ASSERT_STR_EQ(m->namespace_, "team-a/");
    ASSERT_INT_EQ(m->min_backoff_ms, 2000);
    ASSERT_INT_EQ(m->max_backoff_ms, 60000);
    ASSERT_INT_EQ(m->wrap_ttl_ms, 0);
    ASSERT_STR_EQ(vpd_cfg_get(m->config, "secret_id_file_path")->value->str,
                  "/etc/bao/secret-id");

    ASSERT_INT_EQ(cfg->auto_auth.n_sinks, 2);
    const vpd_sink_config *s0 = &cfg->auto_auth.sinks[0];
    const vpd_sink_config *s1 = &cfg->auto_auth.sinks[1];
    ASSERT_STR_EQ(s0->type, "file");
    /* 0640 in HCL is octal: the same 416 that JSON must spell out. */
    ASSERT_INT_EQ(vpd_cfg_get(s0->config, "mode")->value->num, 416);
    ASSERT_STR_EQ(vpd_cfg_get(s0->config, "path")->value->str,
                  "/run/bao/token");
    ASSERT_INT_EQ(s1->wrap_ttl_ms, 300000);
    ASSERT_STR_EQ(s1->dh_type, "curve25519");
    ASSERT_STR_EQ(s1->dh_path, "/run/bao/client-pub.json");
    ASSERT(s1->derive_key);
    ASSERT_NULL(s1->aad);
    ASSERT_STR_EQ(s1->aad_env_var, "BAO_SINK_AAD");

    ASSERT_INT_EQ(cfg->api_proxy.use_auto_auth_token,
                  VPD_AUTO_AUTH_TOKEN_FORCE);
    ASSERT(cfg->cache.present);
    const vpd_cfg_member *persist = vpd_cfg_get(cfg->cache.node, "persist");
    ASSERT_NOT_NULL(persist);

    ASSERT_INT_EQ(cfg->n_listeners, 3);
    const vpd_listener_config *l = cfg->listeners;
    ASSERT_INT_EQ(l[0].type, VPD_LISTEN_UNIX);
    ASSERT_STR_EQ(l[0].address, "/run/bao/proxy.sock");
    ASSERT(l[0].enable_quit);
    ASSERT(!l[0].require_request_header);
    ASSERT_INT_EQ(l[1].type, VPD_LISTEN_TCP);
    ASSERT_STR_EQ(l[1].address, "127.0.0.1:8100");
    ASSERT(l[1].require_request_header);
    ASSERT(!l[1].enable_quit);
    ASSERT(!l[1].metrics_only);
    ASSERT_STR_EQ(l[2].address, "127.0.0.1:9102");
    ASSERT(l[2].metrics_only);
    for (int i = 0; i < 3; i++)
        ASSERT(l[i].tls_disable);

    ASSERT_NOT_NULL(cfg->telemetry);
    ASSERT_STR_EQ(
        vpd_cfg_get(cfg->telemetry, "prometheus_retention_time")->value->str,
        "30s");
}

TEST(spec_hcl_example)
{
    vpd_config *cfg = load_one(CFGDIR "/full.hcl");
    check_full(cfg);
    vpd_config_free(cfg);
}

static bool
str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Same values, ignoring positions. */
static bool
node_eq(const vpd_cfg_node *a, const vpd_cfg_node *b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case VPD_CFG_STRING:
        return strcmp(a->str, b->str) == 0;
    case VPD_CFG_NUMBER:
        return a->num == b->num && a->fnum == b->fnum;
    case VPD_CFG_BOOL:
        return a->boolean == b->boolean;
    case VPD_CFG_NULL:
        return true;
    case VPD_CFG_LIST:
        if (a->n_items != b->n_items)
            return false;
        for (size_t i = 0; i < a->n_items; i++)
            if (!node_eq(a->items[i], b->items[i]))
                return false;
        return true;
    case VPD_CFG_OBJECT:
        if (a->n_members != b->n_members)
            return false;
        for (size_t i = 0; i < a->n_members; i++)
            if (strcmp(a->members[i].key, b->members[i].key) != 0 ||
                !node_eq(a->members[i].value, b->members[i].value))
                return false;
        return true;
    }
    return false;
}

#define SAME_STR(f) ASSERT(str_eq(a->f, b->f))
#define SAME(f) ASSERT_INT_EQ(a->f, b->f)

TEST(spec_json_example_is_equivalent)
{
    vpd_config *a = load_one(CFGDIR "/full.hcl");
    vpd_config *b = load_one(CFGDIR "/full.json");
    check_full(b);
    SAME_STR(pid_file);
    SAME(exit_after_auth);
    SAME(disable_idle_connections_proxying);
    SAME_STR(vault.address);
    SAME_STR(vault.ca_cert);
    SAME(vault.num_retries);
    SAME(vault.tls_skip_verify);
    SAME_STR(auto_auth.method.type);
    SAME_STR(auto_auth.method.mount_path);
    SAME_STR(auto_auth.method.namespace_);
    SAME(auto_auth.method.min_backoff_ms);
    SAME(auto_auth.method.max_backoff_ms);
    ASSERT(node_eq(a->auto_auth.method.config, b->auto_auth.method.config));
    SAME(auto_auth.n_sinks);
    for (size_t i = 0; i < a->auto_auth.n_sinks; i++) {
        SAME_STR(auto_auth.sinks[i].type);
        SAME(auto_auth.sinks[i].wrap_ttl_ms);
        SAME_STR(auto_auth.sinks[i].dh_type);
        SAME_STR(auto_auth.sinks[i].dh_path);
        SAME(auto_auth.sinks[i].derive_key);
        SAME_STR(auto_auth.sinks[i].aad_env_var);
        ASSERT(node_eq(a->auto_auth.sinks[i].config,
                       b->auto_auth.sinks[i].config));
    }
    SAME(api_proxy.use_auto_auth_token);
    SAME_STR(api_proxy.enforce_consistency);
    SAME(cache.present);
    SAME(n_listeners);
    for (size_t i = 0; i < a->n_listeners; i++) {
        SAME(listeners[i].type);
        SAME_STR(listeners[i].address);
        SAME(listeners[i].metrics_only);
        SAME(listeners[i].require_request_header);
        SAME(listeners[i].enable_quit);
        SAME(listeners[i].tls_disable);
        SAME_STR(listeners[i].tls_min_version);
        SAME(listeners[i].max_body_bytes);
    }
    ASSERT(node_eq(a->telemetry, b->telemetry));
    /* `persist "kubernetes" {}` and `"persist": {"type": ...}` differ in
     * shape; the cache plugin reads both. */
    ASSERT_NOT_NULL(vpd_cfg_get(b->cache.node, "persist"));
    vpd_config_free(a);
    vpd_config_free(b);
}

/* ---- defaults ----------------------------------------------------------- */

TEST(defaults)
{
    vpd_config *cfg = load_text(LISTENER);
    ASSERT_STR_EQ(cfg->vault.address, "https://127.0.0.1:8200");
    ASSERT_INT_EQ(cfg->vault.num_retries, 12);
    ASSERT(!cfg->vault.tls_skip_verify);
    ASSERT_NULL(cfg->vault.ca_cert);
    ASSERT_NULL(cfg->vault.namespace_);
    ASSERT(!cfg->auto_auth.present);
    ASSERT(!cfg->api_proxy.present);
    ASSERT_INT_EQ(cfg->api_proxy.use_auto_auth_token,
                  VPD_AUTO_AUTH_TOKEN_FALSE);
    ASSERT_STR_EQ(cfg->api_proxy.enforce_consistency, "never");
    ASSERT_STR_EQ(cfg->api_proxy.when_inconsistent, "fail");
    ASSERT(!cfg->cache.present);
    ASSERT_NULL(cfg->telemetry);
    ASSERT_NULL(cfg->pid_file);
    ASSERT_NULL(cfg->log_level);
    ASSERT(!cfg->exit_after_auth);
    const vpd_listener_config *l = &cfg->listeners[0];
    ASSERT_STR_EQ(l->address, "127.0.0.1:8200");
    ASSERT_STR_EQ(l->tls_min_version, "tls12");
    ASSERT_STR_EQ(l->tls_max_version, "tls13");
    ASSERT(!l->metrics_only);
    ASSERT(!l->enable_quit);
    ASSERT(!l->require_request_header);
    ASSERT_INT_EQ(l->max_header_bytes, 64 * 1024);
    ASSERT_INT_EQ(l->max_body_bytes, 32 * 1024 * 1024);
    ASSERT_INT_EQ(l->max_connections, 4096);
    ASSERT_INT_EQ(l->read_timeout_ms, 30000);
    ASSERT_INT_EQ(l->idle_timeout_ms, 300000);
    ASSERT_INT_EQ(l->line, 1);
    vpd_config_free(cfg);
}

TEST(num_retries)
{
    static const struct {
        const char *v;
        int want;
    } cases[] = {{"0", 12}, {"-1", 0}, {"3", 3}, {"\"7\"", 7}};
    for (size_t i = 0; i < 4; i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "vault {\n  retry {\n    num_retries = %s\n  }\n}\n" LISTENER,
                 cases[i].v);
        vpd_config *cfg = load_text(text);
        ASSERT_INT_EQ(cfg->vault.num_retries, cases[i].want);
        vpd_config_free(cfg);
    }
    /* A vault block without retry gets 12 as well. */
    vpd_config *cfg =
        load_text("vault { address = \"http://x:1\" }\n" LISTENER);
    ASSERT_INT_EQ(cfg->vault.num_retries, 12);
    ASSERT_STR_EQ(cfg->vault.address, "http://x:1");
    vpd_config_free(cfg);
    EXPECT_ERR("vault {\n  retry {\n    num_retries = -2\n  }\n}\n" LISTENER,
               "3: vault.retry: num_retries: must be -1 (no retries), 0 (the "
               "default, 12) or a positive count");
    EXPECT_ERR("vault {\n  retry { num_retries = 1 }\n  retry { "
               "num_retries = 2 }\n}\n" LISTENER,
               "3: vault: one and only one \"retry\" block is required");
}

TEST(method_defaults_and_canonical_forms)
{
    vpd_config *cfg =
        load_text("auto_auth {\n"
                  "  method \"AppRole\" {\n"
                  "    mount_path = \"auth/custom/\"\n"
                  "    namespace = \"/ns1/ns2\"\n"
                  "    exit_on_err = true\n"
                  "    wrap_ttl = 30\n"
                  "  }\n"
                  "  sink \"file\" { config = { path = \"/tmp/x\" } }\n"
                  "}\n");
    const vpd_method_config *m = &cfg->auto_auth.method;
    ASSERT_STR_EQ(m->type, "approle");
    ASSERT_STR_EQ(m->mount_path, "auth/custom");
    ASSERT_STR_EQ(m->namespace_, "ns1/ns2/");
    ASSERT(m->exit_on_err);
    ASSERT_INT_EQ(m->wrap_ttl_ms, 30000);
    ASSERT_INT_EQ(m->min_backoff_ms, 1000);
    ASSERT_INT_EQ(m->max_backoff_ms, 300000);
    ASSERT_INT_EQ(m->line, 2);
    ASSERT_NULL(m->config);
    ASSERT(!cfg->auto_auth.enable_reauth_on_new_credentials);
    vpd_config_free(cfg);

    /* `type` wins over the label; unlabelled method. */
    cfg = load_text("auto_auth {\n"
                    "  method {\n"
                    "    type = \"Kubernetes\"\n"
                    "    config = { role = \"r\", anything = [1, 2] }\n"
                    "  }\n"
                    "  enable_reauth_on_new_credentials = true\n"
                    "}\n"
                    "api_proxy { use_auto_auth_token = true }\n" LISTENER);
    ASSERT_STR_EQ(cfg->auto_auth.method.type, "kubernetes");
    ASSERT_STR_EQ(cfg->auto_auth.method.mount_path, "auth/kubernetes");
    ASSERT_NULL(cfg->auto_auth.method.namespace_);
    ASSERT(cfg->auto_auth.enable_reauth_on_new_credentials);
    vpd_config_free(cfg);
}

TEST(method_errors)
{
    EXPECT_ERR("auto_auth {\n  method \"jwt\" {\n    min_backoff = \"5m\"\n  "
               "}\n  sink \"file\" {}\n}\n",
               "2: auto_auth.method \"jwt\": min_backoff cannot be greater "
               "than max_backoff");
    EXPECT_ERR("auto_auth {\n  method \"jwt\" {\n    min_backoff = \"10s\"\n"
               "    max_backoff = 10\n  }\n  sink \"file\" {}\n}\n",
               "2: auto_auth.method \"jwt\": min_backoff cannot be greater "
               "than max_backoff");
    EXPECT_ERR("auto_auth {\n  sink \"file\" {}\n}\n",
               "1: auto_auth: one and only one \"method\" block is required");
    EXPECT_ERR("auto_auth {\n  method \"a\" {}\n  method \"b\" {}\n}\n",
               "3: auto_auth: one and only one \"method\" block is required");
    EXPECT_ERR("auto_auth {\n  method {\n    config = {}\n  }\n}\n",
               "2: auto_auth: method type must be specified");
    EXPECT_ERR("auto_auth {\n  method \"jwt\" {\n    max_backof = \"1m\"\n  "
               "}\n}\n",
               "3: unknown key \"max_backof\" in auto_auth.method \"jwt\" "
               "(did you mean \"max_backoff\"?)");
    EXPECT_ERR("auto_auth {\n  method \"jwt\" {\n    min_backoff = \"soon\"\n"
               "  }\n}\n",
               "3: auto_auth.method \"jwt\": min_backoff: invalid duration "
               "\"soon\"");
    EXPECT_ERR("auto_auth {\n  method \"jwt\" {\n    config = \"x\"\n  }\n}\n",
               "3: auto_auth.method \"jwt\": config: expected an object, got "
               "a string");
    EXPECT_ERR("auto_auth {\n  method \"jwt\" {\n    exit_on_err = \"true\"\n"
               "  }\n}\n",
               "3: auto_auth.method \"jwt\": exit_on_err: expected a bool, "
               "got a string");
    EXPECT_ERR("auto_auth {}\nauto_auth {}\n",
               "2: at most one \"auto_auth\" block is allowed");
}

/* ---- key and type errors ------------------------------------------------ */

TEST(unknown_keys_with_suggestions)
{
    EXPECT_ERR("listener \"tcp\" {\n  tls_disable = true\n  addres = "
               "\"127.0.0.1:8100\"\n}\n",
               "3: unknown key \"addres\" in listener \"tcp\" (did you mean "
               "\"address\"?)");
    EXPECT_ERR(LISTENER "pid_fil = \"/x\"\n",
               "4: unknown key \"pid_fil\" (did you mean \"pid_file\"?)");
    EXPECT_ERR(LISTENER "completely_unknown = 1\n",
               "4: unknown key \"completely_unknown\"");
    EXPECT_ERR("vault {\n  adress = \"x\"\n}\n" LISTENER,
               "2: unknown key \"adress\" in vault (did you mean "
               "\"address\"?)");
    EXPECT_ERR("api_proxy {\n  use_auto_auth_tokn = true\n}\n" LISTENER,
               "2: unknown key \"use_auto_auth_tokn\" in api_proxy (did you "
               "mean \"use_auto_auth_token\"?)");
    EXPECT_ERR("listener \"tcp\" {\n  tls_disable = true\n  proxy_api {\n    "
               "enable_quitt = true\n  }\n}\n",
               "4: unknown key \"enable_quitt\" in listener \"tcp\" proxy_api "
               "(did you mean \"enable_quit\"?)");
    EXPECT_ERR("auto_auth {\n  method \"jwt\" {}\n  sink \"file\" {\n    "
               "dh_typ = \"x\"\n  }\n}\n",
               "4: unknown key \"dh_typ\" in auto_auth.sink \"file\" (did you "
               "mean \"dh_type\"?)");
    EXPECT_ERR("auto_auth {\n  method \"jwt\" {}\n  sinks {\n    snk {}\n  "
               "}\n}\n",
               "4: unknown key \"snk\" in auto_auth.sinks (did you mean "
               "\"sink\"?)");
    /* JSON positions too. */
    EXPECT_ERR("{\n  \"listener\": {\"tcp\": {\n    \"tls_disable\": true,\n"
               "    \"adress\": \"x\"}}\n}\n",
               "4: unknown key \"adress\" in listener \"tcp\" (did you mean "
               "\"address\"?)");
}

TEST(ignored_vault_keys_are_accepted)
{
    vpd_config *cfg =
        load_text("cluster_name = \"c\"\n"
                  "default_max_request_duration = \"90s\"\n"
                  "user_lockout \"all\" { lockout_threshold = 5 }\n"
                  "log_rotate_bytes = 1024\n"
                  "log_rotate_duration = \"24h\"\n"
                  "log_rotate_max_files = -1\n"
                  "log_file = \"/var/log/\"\n"
                  "disable_mlock = true\n"
                  "listener \"tcp\" {\n"
                  "  tls_disable = true\n"
                  "  http_write_timeout = \"10s\"\n"
                  "  max_request_duration = \"90s\"\n"
                  "  cors_enabled = true\n"
                  "  cors_allowed_origins = [\"*\"]\n"
                  "  x_forwarded_for_authorized_addrs = \"10.0.0.0/8\"\n"
                  "  custom_response_headers { default = { X = [\"y\"] } }\n"
                  "  telemetry { unauthenticated_metrics_access = true }\n"
                  "  agent_api { enable_quit = true }\n"
                  "}\n");
    ASSERT(cfg->listeners[0].enable_quit);
    /* A directory gets the default file name. */
    ASSERT_STR_EQ(cfg->log_file, "/var/log/proxy.log");
    vpd_config_free(cfg);
}

TEST(wrong_types)
{
    EXPECT_ERR("listener \"tcp\" {\n  address = \"a\"\n  tls_disable = "
               "[\"x\"]\n}\n",
               "3: listener \"tcp\": tls_disable: expected a bool, got a "
               "list");
    EXPECT_ERR("listener \"tcp\" {\n  tls_disable = \"maybe\"\n}\n",
               "2: listener \"tcp\": tls_disable: expected a bool, got "
               "\"maybe\"");
    EXPECT_ERR(LISTENER "pid_file = { a = 1 }\n",
               "4: pid_file: expected a string, got an object");
    EXPECT_ERR(LISTENER "exit_after_auth = \"true\"\n",
               "4: exit_after_auth: expected a bool, got a string");
    EXPECT_ERR("vault = \"x\"\n" LISTENER,
               "1: vault: expected a block, got a string");
    EXPECT_ERR("listener = [1]\n",
               "1: listener: expected a block, got a number in a list");
    EXPECT_ERR("vault {\n  retry { num_retries = 1.5 }\n}\n" LISTENER,
               "2: vault.retry: num_retries: expected an integer, got a "
               "float");
    EXPECT_ERR("listener \"tcp\" {\n  tls_disable = true\n  http_read_timeout "
               "= true\n}\n",
               "3: listener \"tcp\": http_read_timeout: expected a duration, "
               "got a bool");
    EXPECT_ERR(LISTENER "log_rotate_bytes = \"lots\"\n",
               "4: log_rotate_bytes: expected an integer, got \"lots\"");
}

TEST(bool_strings_follow_go_parsebool)
{
    static const char *const yes[] = {"true",     "\"1\"",    "\"t\"",
                                      "\"T\"",    "\"TRUE\"", "\"true\"",
                                      "\"True\"", "1"};
    static const char *const no[] = {"false",     "\"0\"",     "\"f\"",
                                     "\"F\"",     "\"FALSE\"", "\"false\"",
                                     "\"False\"", "0"};
    for (size_t i = 0; i < 8; i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "listener \"tcp\" {\n  tls_disable = true\n  "
                 "require_request_header = %s\n}\n",
                 yes[i]);
        vpd_config *cfg = load_text(text);
        ASSERT(cfg->listeners[0].require_request_header);
        vpd_config_free(cfg);
        snprintf(text, sizeof(text),
                 "listener \"tcp\" {\n  tls_disable = true\n  "
                 "require_request_header = %s\n}\n",
                 no[i]);
        cfg = load_text(text);
        ASSERT(!cfg->listeners[0].require_request_header);
        vpd_config_free(cfg);
    }
    EXPECT_ERR("listener \"tcp\" {\n  tls_disable = true\n  "
               "require_request_header = \"yes\"\n}\n",
               "3: listener \"tcp\": require_request_header: expected a bool, "
               "got \"yes\"");
}

/* ---- listeners ---------------------------------------------------------- */

TEST(listener_forms_and_limits)
{
    vpd_config *cfg =
        load_text("listener {\n"
                  "  type = \"TCP\"\n"
                  "  address = \"0.0.0.0:8200\"\n"
                  "  tls_disable = 1\n"
                  "  max_request_header_bytes = 8192\n"
                  "  max_request_size = 1024\n"
                  "  max_connections = 10\n"
                  "  http_read_timeout = \"5s\"\n"
                  "  http_idle_timeout = 60\n"
                  "}\n"
                  "listener \"unix\" {\n"
                  "  address = \"/tmp/s.sock\"\n"
                  "  tls_disable = true\n"
                  "  socket_mode = 0600\n"
                  "  socket_user = \"1000\"\n"
                  "  socket_group = \"vault\"\n"
                  "  max_request_size = -1\n"
                  "}\n"
                  "listener \"tcp\" {\n"
                  "  address = \"127.0.0.1:8300\"\n"
                  "  tls_cert_file = \"/c.pem\"\n"
                  "  tls_key_file = \"/k.pem\"\n"
                  "  tls_min_version = \"tls13\"\n"
                  "  tls_cipher_suites = \"TLS_AES_128_GCM_SHA256\"\n"
                  "  tls_require_and_verify_client_cert = \"true\"\n"
                  "  tls_client_ca_file = \"/ca.pem\"\n"
                  "  max_request_size = 0\n"
                  "}\n");
    ASSERT_INT_EQ(cfg->n_listeners, 3);
    const vpd_listener_config *l = cfg->listeners;
    ASSERT_INT_EQ(l[0].type, VPD_LISTEN_TCP);
    ASSERT_STR_EQ(l[0].address, "0.0.0.0:8200");
    ASSERT_INT_EQ(l[0].max_header_bytes, 8192);
    ASSERT_INT_EQ(l[0].max_body_bytes, 1024);
    ASSERT_INT_EQ(l[0].max_connections, 10);
    ASSERT_INT_EQ(l[0].read_timeout_ms, 5000);
    ASSERT_INT_EQ(l[0].idle_timeout_ms, 60000);
    ASSERT_INT_EQ(l[1].type, VPD_LISTEN_UNIX);
    /* The raw text of an octal number, applied on its own. */
    ASSERT_STR_EQ(l[1].socket_mode, "0600");
    ASSERT_STR_EQ(l[1].socket_user, "1000");
    ASSERT_STR_EQ(l[1].socket_group, "vault");
    ASSERT(l[1].max_body_bytes == SIZE_MAX);
    ASSERT(!l[2].tls_disable);
    ASSERT_STR_EQ(l[2].tls_cert_file, "/c.pem");
    ASSERT_STR_EQ(l[2].tls_key_file, "/k.pem");
    ASSERT_STR_EQ(l[2].tls_min_version, "tls13");
    ASSERT_STR_EQ(l[2].tls_max_version, "tls13");
    ASSERT_STR_EQ(l[2].tls_cipher_suites, "TLS_AES_128_GCM_SHA256");
    ASSERT(l[2].tls_require_and_verify_client_cert);
    ASSERT_STR_EQ(l[2].tls_client_ca_file, "/ca.pem");
    ASSERT_INT_EQ(l[2].max_body_bytes, 32 * 1024 * 1024);
    ASSERT_INT_EQ(l[2].line, 19);
    vpd_config_free(cfg);
}

TEST(listener_errors)
{
    EXPECT_ERR("listener \"tcp\" {\n  address = \"127.0.0.1:8100\"\n}\n",
               "1: listener \"tcp\": TLS is enabled (tls_disable is false) but "
               "tls_cert_file and tls_key_file are not both set");
    EXPECT_ERR("listener \"tcp\" {\n  tls_cert_file = \"/c\"\n}\n",
               "1: listener \"tcp\": TLS is enabled (tls_disable is false) but "
               "tls_cert_file and tls_key_file are not both set");
    EXPECT_ERR("listener \"tcp\" {\n  tls_cert_file = \"/c\"\n  tls_key_file = "
               "\"/k\"\n  tls_require_and_verify_client_cert = true\n  "
               "tls_disable_client_certs = true\n}\n",
               "1: listener \"tcp\": 'tls_disable_client_certs' and "
               "'tls_require_and_verify_client_cert' are mutually exclusive");
    /* With TLS off, Vault never looks at the TLS settings. */
    vpd_config *cfg = load_text("listener \"tcp\" {\n  tls_disable = true\n"
                                "  tls_min_version = \"tls9\"\n"
                                "  tls_require_and_verify_client_cert = true\n"
                                "  tls_disable_client_certs = true\n}\n");
    ASSERT_STR_EQ(cfg->listeners[0].tls_min_version, "tls9");
    vpd_config_free(cfg);
#define CERTS "  tls_cert_file = \"/c\"\n  tls_key_file = \"/k\"\n"
    EXPECT_ERR("listener \"tcp\" {\n" CERTS "  tls_min_version = \"tls9\"\n}\n",
               "4: listener \"tcp\": tls_min_version: \"tls9\" is not "
               "supported, use one of tls10, tls11, tls12, tls13");
    EXPECT_ERR("listener \"tcp\" {\n" CERTS
               "  tls_max_version = \"tls11\"\n}\n",
               "1: listener \"tcp\": tls_max_version \"tls11\" is lower than "
               "tls_min_version \"tls12\"");
    EXPECT_ERR("listener \"udp\" {\n  tls_disable = true\n}\n",
               "1: unsupported listener type \"udp\"");
    EXPECT_ERR("listener {\n  tls_disable = true\n}\n",
               "1: listener type must be specified");
    EXPECT_ERR("listener \"tcp\" {\n  tls_disable = true\n  role = "
               "\"admin\"\n}\n",
               "3: listener \"tcp\": unsupported listener role \"admin\"");
    EXPECT_ERR("listener \"unix\" {\n  tls_disable = true\n}\n",
               "1: listener \"unix\": address: a socket path is required");
    EXPECT_ERR("listener \"tcp\" {\n  tls_disable = true\n  max_connections "
               "= 0\n}\n",
               "3: listener \"tcp\": max_connections: must be a positive "
               "integer");
    EXPECT_ERR("listener \"tcp\" {\n  tls_disable = true\n  "
               "max_request_header_bytes = -5\n}\n",
               "3: listener \"tcp\": max_request_header_bytes: must be a "
               "positive integer");
    EXPECT_ERR("listener \"tcp\" {\n  tls_disable = true\n  proxy_api {\n    "
               "enable_quit = \"yes\"\n  }\n}\n",
               "4: listener \"tcp\" proxy_api: enable_quit: expected a bool, "
               "got a string");
}

/* ---- api_proxy ---------------------------------------------------------- */

TEST(use_auto_auth_token_values)
{
    static const struct {
        const char *v;
        vpd_use_token_mode want;
    } cases[] = {
        {"true", VPD_AUTO_AUTH_TOKEN_TRUE},
        {"\"true\"", VPD_AUTO_AUTH_TOKEN_TRUE},
        {"\"T\"", VPD_AUTO_AUTH_TOKEN_TRUE},
        {"\"force\"", VPD_AUTO_AUTH_TOKEN_FORCE},
        {"\"FoRcE\"", VPD_AUTO_AUTH_TOKEN_FORCE},
        {"false", VPD_AUTO_AUTH_TOKEN_FALSE},
        {"\"0\"", VPD_AUTO_AUTH_TOKEN_FALSE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "api_proxy {\n  use_auto_auth_token = %s\n}\n"
                 "auto_auth {\n  method \"jwt\" {}\n  sink \"file\" "
                 "{}\n}\n" LISTENER,
                 cases[i].v);
        vpd_config *cfg = load_text(text);
        ASSERT_INT_EQ(cfg->api_proxy.use_auto_auth_token, cases[i].want);
        vpd_config_free(cfg);
    }
    EXPECT_ERR("api_proxy {\n  use_auto_auth_token = \"always\"\n}\n" LISTENER,
               "2: api_proxy: value of 'use_auto_auth_token' can be either "
               "true/false/force, \"always\" is an invalid option");
    EXPECT_ERR("api_proxy {\n  use_auto_auth_token = [true]\n}\n" LISTENER,
               "2: api_proxy: use_auto_auth_token: expected a bool, got a "
               "list");
}

TEST(consistency_settings)
{
    vpd_config *cfg = load_text("api_proxy {\n  enforce_consistency = "
                                "\"ALWAYS\"\n  when_inconsistent = \"retry\"\n"
                                "  prepend_configured_namespace = true\n}\n"
                                "vault { namespace = \"ns1\" }\n" LISTENER);
    ASSERT_STR_EQ(cfg->api_proxy.enforce_consistency, "always");
    ASSERT_STR_EQ(cfg->api_proxy.when_inconsistent, "retry");
    ASSERT(cfg->api_proxy.prepend_configured_namespace);
    ASSERT_STR_EQ(cfg->vault.namespace_, "ns1");
    vpd_config_free(cfg);
    cfg = load_text(
        "api_proxy {\n  when_inconsistent = \"forward\"\n}\n" LISTENER);
    ASSERT_STR_EQ(cfg->api_proxy.when_inconsistent, "forward");
    ASSERT_STR_EQ(cfg->api_proxy.enforce_consistency, "never");
    vpd_config_free(cfg);
    EXPECT_ERR(
        "api_proxy {\n  enforce_consistency = \"sometimes\"\n}\n" LISTENER,
        "2: api_proxy: Unknown api_proxy setting for "
        "enforce_consistency: \"sometimes\"");
    EXPECT_ERR("api_proxy {\n  when_inconsistent = \"panic\"\n}\n" LISTENER,
               "2: api_proxy: Unknown api_proxy setting for "
               "when_inconsistent: \"panic\"");
    EXPECT_ERR("api_proxy {}\napi_proxy {}\n" LISTENER,
               "2: one and only one \"api_proxy\" block is required");
}

/* ---- top-level scalars -------------------------------------------------- */

TEST(disable_lists_and_top_scalars)
{
    vpd_config *cfg = load_text("disable_idle_connections = [\"auto-auth\", "
                                "\"caching\", \"\"]\n"
                                "disable_keep_alives = [\"proxying\"]\n"
                                "log_level = \"WARN\"\n"
                                "log_format = \"json\"\n"
                                "exit_after_auth = true\n" LISTENER);
    ASSERT(cfg->disable_idle_connections_auto_auth);
    ASSERT(cfg->disable_idle_connections_proxying);
    ASSERT(!cfg->disable_keep_alives_auto_auth);
    ASSERT(cfg->disable_keep_alives_proxying);
    ASSERT_STR_EQ(cfg->log_level, "WARN");
    ASSERT_STR_EQ(cfg->log_format, "json");
    ASSERT(cfg->exit_after_auth);
    vpd_config_free(cfg);
    EXPECT_ERR(LISTENER "disable_idle_connections = [\"auto-auth\",\n  "
                        "\"templating\"]\n",
               "5: unknown disable_idle_connections value: templating");
    EXPECT_ERR(LISTENER "disable_keep_alives = [\"x\"]\n",
               "4: unknown disable_keep_alives value: x");
    EXPECT_ERR(LISTENER "disable_keep_alives = [1]\n",
               "4: disable_keep_alives: expected a list of strings, got a "
               "number in the list");
    EXPECT_ERR(LISTENER "disable_mlock = false\n",
               "4: disable_mlock: only true is supported (memory locking is "
               "not implemented)");
    EXPECT_ERR(LISTENER "log_level = \"loud\"\n",
               "4: log_level: unknown log level \"loud\" (use trace, debug, "
               "info, warn or error)");
    EXPECT_ERR(LISTENER "log_format = \"xml\"\n",
               "4: log_format: unknown log format \"xml\" (use standard or "
               "json)");
    EXPECT_ERR("vault {}\nvault {}\n" LISTENER,
               "2: one and only one \"vault\" block is required");
}

/* ---- sinks and wrapping ------------------------------------------------- */

#define AA_HEAD "auto_auth {\n  method \"jwt\" {}\n"

TEST(sink_forms)
{
    vpd_config *cfg =
        load_text(AA_HEAD "  sink \"file\" { config = { path = \"/a\" } }\n"
                          "  sink {\n    type = \"FILE\"\n"
                          "    config = { path = \"/b\" }\n  }\n"
                          "  sinks {\n"
                          "    sink \"file\" { config = { path = \"/c\" } }\n"
                          "    sink { type = \"file\" }\n"
                          "  }\n"
                          "}\n");
    ASSERT_INT_EQ(cfg->auto_auth.n_sinks, 4);
    ASSERT_STR_EQ(
        vpd_cfg_get(cfg->auto_auth.sinks[0].config, "path")->value->str, "/a");
    ASSERT_STR_EQ(cfg->auto_auth.sinks[1].type, "file");
    ASSERT_STR_EQ(
        vpd_cfg_get(cfg->auto_auth.sinks[2].config, "path")->value->str, "/c");
    ASSERT_NULL(cfg->auto_auth.sinks[3].config);
    ASSERT_INT_EQ(cfg->auto_auth.sinks[1].line, 4);
    ASSERT_INT_EQ(cfg->auto_auth.sinks[3].line, 10);
    vpd_config_free(cfg);

    /* JSON: "sinks": [{"sink": {...}}] and "sink": [...]. */
    cfg =
        load_text("{\"auto_auth\": {\"method\": {\"jwt\": {}},\n"
                  " \"sinks\": [{\"sink\": {\"type\": \"file\"}},\n"
                  "             {\"sink\": {\"file\": {\"aad\": \"x\", "
                  "\"dh_type\": \"curve25519\", \"dh_path\": \"/p\"}}}],\n"
                  " \"sink\": [{\"type\": \"file\", \"wrap_ttl\": \"1m\"}]}}");
    ASSERT_INT_EQ(cfg->auto_auth.n_sinks, 3);
    ASSERT_STR_EQ(cfg->auto_auth.sinks[1].aad, "x");
    ASSERT_INT_EQ(cfg->auto_auth.sinks[2].wrap_ttl_ms, 60000);
    ASSERT_STR_EQ(cfg->auto_auth.method.type, "jwt");
    vpd_config_free(cfg);
}

TEST(sink_rules)
{
    EXPECT_ERR(AA_HEAD "  sink \"file\" {\n    dh_type = \"curve448\"\n    "
                       "dh_path = \"/p\"\n  }\n}\n",
               "3: auto_auth.sink \"file\": invalid value for 'dh_type'");
    EXPECT_ERR(AA_HEAD "  sink \"file\" {\n    dh_type = \"curve25519\"\n  "
                       "}\n}\n",
               "3: auto_auth.sink \"file\": 'dh_type' and 'dh_path' must be "
               "specified together");
    EXPECT_ERR(AA_HEAD "  sink \"file\" {\n    dh_path = \"/p\"\n  }\n}\n",
               "3: auto_auth.sink \"file\": 'dh_type' and 'dh_path' must be "
               "specified together");
    EXPECT_ERR(AA_HEAD "  sink \"file\" {\n    aad = \"secret\"\n  }\n}\n",
               "3: auto_auth.sink \"file\": specifying AAD data without "
               "'dh_type' does not make sense");
    EXPECT_ERR(AA_HEAD "  sink \"file\" {\n    aad_env_var = \"X\"\n  }\n}\n",
               "3: auto_auth.sink \"file\": specifying AAD data without "
               "'dh_type' does not make sense");
    EXPECT_ERR(AA_HEAD "  sink \"file\" {\n    derive_key = true\n  }\n}\n",
               "3: auto_auth.sink \"file\": specifying 'derive_key' data "
               "without 'dh_type' does not make sense");
    EXPECT_ERR(AA_HEAD "  sink \"memory\" {}\n}\n",
               "3: auto_auth.sink \"memory\": unknown sink type \"memory\" "
               "(only \"file\" is supported)");
    EXPECT_ERR(AA_HEAD "  sink {}\n}\n",
               "3: auto_auth: sink type must be specified");
    /* The secret itself never appears in a message. */
    EXPECT_ERR(AA_HEAD "  sink \"file\" {\n    aad = [\"s3cr3t\"]\n  }\n}\n",
               "4: auto_auth.sink \"file\": aad: expected a string, got a "
               "list");
}

TEST(wrapping_rules)
{
    EXPECT_ERR("auto_auth {\n  method \"jwt\" { wrap_ttl = \"5m\" }\n}\n",
               "1: auto_auth: wrapping enabled on auth method and 0 or many "
               "sinks defined");
    EXPECT_ERR("auto_auth {\n  method \"jwt\" { wrap_ttl = \"5m\" }\n"
               "  sink \"file\" {}\n  sink \"file\" {}\n}\n",
               "1: auto_auth: wrapping enabled on auth method and 0 or many "
               "sinks defined");
    EXPECT_ERR("auto_auth {\n  method \"jwt\" { wrap_ttl = \"5m\" }\n"
               "  sink \"file\" { wrap_ttl = 60 }\n}\n",
               "1: auto_auth: wrapping enabled both on auth method and sink");
    vpd_config *cfg = load_text("auto_auth {\n  method \"jwt\" { wrap_ttl = "
                                "\"5m\" }\n  sink \"file\" {}\n}\n");
    ASSERT_INT_EQ(cfg->auto_auth.method.wrap_ttl_ms, 300000);
    vpd_config_free(cfg);
}

/* ---- validation: what Vault Proxy refuses at start ------------------------
 */

TEST(validation_rules)
{
    /* 1 */
    EXPECT_ERR("auto_auth {\n  method \"jwt\" {}\n  sink \"file\" {}\n}\n"
               "cache {}\n",
               "5: enabling the cache requires at least 1 listener to be "
               "defined");
    /* 2 */
    EXPECT_ERR("auto_auth {\n  method \"jwt\" {}\n  sink \"file\" {}\n}\n"
               "api_proxy {\n  use_auto_auth_token = false\n}\n",
               "5: configuring the api_proxy requires at least 1 listener to "
               "be defined");
    /* 3 */
    EXPECT_ERR("api_proxy {\n\n  use_auto_auth_token = true\n}\n" LISTENER,
               "3: api_proxy.use_auto_auth_token is true but auto_auth not "
               "configured");
    /* 4 */
    EXPECT_ERR("api_proxy {\n  use_auto_auth_token = \"force\"\n}\n"
               "auto_auth {\n  method \"jwt\" { wrap_ttl = 10 }\n"
               "  sink \"file\" {}\n}\n" LISTENER,
               "2: api_proxy.use_auto_auth_token is true and auto_auth uses "
               "wrapping");
    /* 5 */
    EXPECT_ERR(LISTENER "auto_auth {\n  method \"jwt\" {}\n}\n",
               "4: auto_auth requires at least one sink or "
               "api_proxy.use_auto_auth_token=true");
    /* 6: no line, the first path. */
    write_file("empty.hcl", "# nothing\npid_file = \"/x\"\n");
    const char *p = tmp_path("empty.hcl");
    char want[512];
    snprintf(want, sizeof(want),
             "%s: no auto_auth, cache, or listener block found in config", p);
    ASSERT_NULL(vpd_config_load(&p, 1, err, sizeof(err)));
    ASSERT_STR_EQ(err, want);
    /* Each alone is enough. */
    vpd_config *cfg = load_text("auto_auth {\n  method \"jwt\" {}\n  sink "
                                "\"file\" {}\n}\n");
    vpd_config_free(cfg);
    cfg = load_text("cache {}\n" LISTENER);
    ASSERT(cfg->cache.present);
    vpd_config_free(cfg);
}

TEST(plugin_blocks_are_not_checked)
{
    vpd_config *cfg =
        load_text("auto_auth {\n"
                  "  method \"approle\" {\n"
                  "    config = { anything = { goes = [1, \"here\"] } }\n"
                  "  }\n"
                  "  sink \"file\" { config = { not_a_file_sink_key = 1 } }\n"
                  "}\n"
                  "cache {\n  persist = { type = \"kubernetes\" }\n"
                  "  whatever = true\n}\n" LISTENER);
    ASSERT_NOT_NULL(vpd_cfg_get(cfg->auto_auth.method.config, "anything"));
    ASSERT_NOT_NULL(vpd_cfg_get(cfg->cache.node, "whatever"));
    ASSERT_INT_EQ(vpd_cfg_get(cfg->cache.node, "whatever")->line, 9);
    vpd_config_free(cfg);
}

TEST(syntax_errors_come_through)
{
    EXPECT_ERR("listener \"tcp\" {\n  tls_disable = true\n\n  addres "
               "\"x\"\n  tls_min_version = \"tls12\"\n}\n",
               "4: expected '=' or '{' after key \"addres\"");
    EXPECT_ERR("{\n  \"listener\": [\n}\n",
               "3: invalid JSON: unexpected character");
    const char *p = "/nonexistent/proxy.hcl";
    ASSERT_NULL(vpd_config_load(&p, 1, err, sizeof(err)));
    ASSERT_STR_EQ(err, "/nonexistent/proxy.hcl: cannot read: No such file or "
                       "directory");
}

/* ---- merging and directories -------------------------------------------- */

TEST(merge_two_files)
{
    const char *paths[] = {CFGDIR "/merge1.hcl", CFGDIR "/merge2.hcl"};
    vpd_config *cfg = load_paths(paths, 2);
    /* Scalars: the later non-empty value. */
    ASSERT_STR_EQ(cfg->pid_file, "/run/one.pid");
    ASSERT_STR_EQ(cfg->log_level, "debug");
    ASSERT_STR_EQ(cfg->log_format, "json");
    /* OR-ed booleans. */
    ASSERT(cfg->exit_after_auth);
    ASSERT(cfg->disable_keep_alives_auto_auth);
    ASSERT(cfg->disable_keep_alives_proxying);
    /* Whole blocks replace: tls_skip_verify of the first vault is gone. */
    ASSERT_STR_EQ(cfg->vault.address, "https://two.example:8200");
    ASSERT(!cfg->vault.tls_skip_verify);
    ASSERT_STR_EQ(cfg->auto_auth.method.type, "approle");
    ASSERT_STR_EQ(cfg->auto_auth.method.file, CFGDIR "/merge2.hcl");
    ASSERT_INT_EQ(cfg->auto_auth.n_sinks, 2);
    ASSERT_STR_EQ(
        vpd_cfg_get(cfg->auto_auth.sinks[1].config, "path")->value->str,
        "/tmp/two-b");
    /* api_proxy only in the first file: kept. */
    ASSERT_INT_EQ(cfg->api_proxy.use_auto_auth_token, VPD_AUTO_AUTH_TOKEN_TRUE);
    /* Listeners are appended. */
    ASSERT_INT_EQ(cfg->n_listeners, 2);
    ASSERT_STR_EQ(cfg->listeners[0].address, "127.0.0.1:8101");
    ASSERT_STR_EQ(cfg->listeners[0].file, CFGDIR "/merge1.hcl");
    ASSERT_INT_EQ(cfg->listeners[1].type, VPD_LISTEN_UNIX);
    ASSERT_STR_EQ(cfg->listeners[1].file, CFGDIR "/merge2.hcl");
    ASSERT_INT_EQ(cfg->listeners[1].line, 28);
    ASSERT_INT_EQ(cfg->n_trees, 2);
    vpd_config_free(cfg);

    /* The error of a later file names that file. */
    write_file("bad.hcl", "listener \"tcp\" {\n  tls_disable = 2.5x\n}\n");
    const char *paths2[] = {CFGDIR "/merge1.hcl", tmp_path("bad.hcl")};
    char want[512];
    snprintf(want, sizeof(want), "%s:2: invalid number", paths2[1]);
    ASSERT_NULL(vpd_config_load(paths2, 2, err, sizeof(err)));
    ASSERT_STR_EQ(err, want);
}

TEST(directory_sorted_and_temporary_files_skipped)
{
    write_file("20-second.json", "{\"pid_file\": \"/run/second.pid\", "
                                 "\"listener\": {\"tcp\": {\"address\": "
                                 "\"127.0.0.1:2\", \"tls_disable\": true}}}");
    write_file("10-first.hcl", "pid_file = \"/run/first.pid\"\n"
                               "listener \"tcp\" {\n  address = "
                               "\"127.0.0.1:1\"\n  tls_disable = true\n}\n");
    /* Editor leftovers, other extensions and sub-directories: all invalid
     * if they were read. */
    write_file("30-backup.hcl~", "this is { not valid");
    write_file(".#40-lock.hcl", "this is { not valid");
    write_file("#50-autosave.hcl#", "this is { not valid");
    write_file("notes.txt", "this is { not valid");
    write_file("60-not-hcl.hcl.bak", "this is { not valid");
    mkdir(tmp_path("70-dir.hcl"), 0700);
    write_file("70-dir.hcl/inner.hcl", "this is { not valid");
    char dir[128];
    snprintf(dir, sizeof(dir), "%s", tmpdir);
    vpd_config *cfg = load_one(dir);
    ASSERT_INT_EQ(cfg->n_trees, 2);
    ASSERT_INT_EQ(cfg->n_listeners, 2);
    /* Sorted by name: 10-first, then 20-second, whose pid_file wins. */
    ASSERT_STR_EQ(cfg->listeners[0].address, "127.0.0.1:1");
    ASSERT_STR_EQ(cfg->listeners[1].address, "127.0.0.1:2");
    ASSERT_STR_EQ(cfg->pid_file, "/run/second.pid");
    char want[256];
    snprintf(want, sizeof(want), "%s/20-second.json", tmpdir);
    ASSERT_STR_EQ(cfg->listeners[1].file, want);
    vpd_config_free(cfg);

    /* An empty directory: nothing configured (rule 6). */
    char empty[256];
    snprintf(empty, sizeof(empty), "%s/70-dir.hcl", tmpdir);
    write_file("70-dir.hcl/inner.hcl~", "x");
    remove(tmp_path("70-dir.hcl/inner.hcl"));
    const char *p = empty;
    ASSERT_NULL(vpd_config_load(&p, 1, err, sizeof(err)));
    char want2[512];
    snprintf(want2, sizeof(want2),
             "%s: no auto_auth, cache, or listener block found in config",
             empty);
    ASSERT_STR_EQ(err, want2);
}

/* ---- durations ---------------------------------------------------------- */

TEST(durations)
{
    static const struct {
        const char *in;
        uint64_t ms;
    } ok[] = {
        {"", 0},
        {"0", 0},
        {"10", 10000},
        {"+5", 5000},
        {"2d", 172800000},
        {"0d", 0},
        {"300ms", 300},
        {"1h30m", 5400000},
        {"1.5s", 1500},
        {"5m", 300000},
        {"1h", 3600000},
        {"2500us", 2},
        {"2500\xc2\xb5s", 2},
        {"2500\xce\xbcs", 2},
        {"5000000ns", 5},
        {".5s", 500},
        {"1.s", 1000},
        {"0s", 0},
        {"1m0.5s", 60500},
        {"-0s", 0},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t ms = 12345;
        if (vpd_duration_parse(ok[i].in, &ms) != 0)
            TEST_FAIL_("\"%s\" refused", ok[i].in);
        if (ms != ok[i].ms)
            TEST_FAIL_("\"%s\": got %" PRIu64 ", expected %" PRIu64, ok[i].in,
                       ms, ok[i].ms);
    }
    static const char *const bad[] = {
        "abc",
        "5x",
        "-5",
        "-1s",
        "1.5d",
        "d",
        "s",
        "1h30",
        "5S",
        "1.5",
        ".s",
        "5 s",
        "1e3s",
        "--1",
        "+",
        "9999999999999h",
        "99999999999999999999",
        "1ss",
        "3.d",
        NULL,
    };
    for (size_t i = 0; bad[i]; i++) {
        uint64_t ms;
        if (vpd_duration_parse(bad[i], &ms) == 0)
            TEST_FAIL_("\"%s\" accepted as %" PRIu64, bad[i], ms);
    }
    uint64_t ms;
    ASSERT_INT_EQ(vpd_duration_parse(NULL, &ms), -1);
}

/* ---- environment -------------------------------------------------------- */

static const char *const *fake_env;

static const char *
fake_getenv(const char *name)
{
    for (size_t i = 0; fake_env[i]; i += 2)
        if (strcmp(fake_env[i], name) == 0)
            return fake_env[i + 1];
    return NULL;
}

static int
apply(vpd_config *cfg, const char *const *env)
{
    fake_env = env;
    err[0] = '\0';
    return vpd_config_apply_env(cfg, fake_getenv, err, sizeof(err));
}

TEST(env_overrides)
{
    vpd_config *cfg = load_text("vault {\n  address = \"https://file:8200\"\n"
                                "  ca_cert = \"/file/ca.pem\"\n  ca_path = "
                                "\"/file/cas\"\n  tls_server_name = \"file\"\n"
                                "  retry { num_retries = 3 }\n}\n" LISTENER);
    /* Nothing set: nothing changes. */
    static const char *const none[] = {NULL};
    ASSERT_INT_EQ(apply(cfg, none), 0);
    ASSERT_STR_EQ(cfg->vault.address, "https://file:8200");
    ASSERT_INT_EQ(cfg->vault.num_retries, 3);

    static const char *const env[] = {
        "VAULT_ADDR",
        "https://vault:8200",
        "BAO_ADDR",
        "https://bao:8200", /* BAO_ wins */
        "VAULT_CACERT",
        "/vault/ca.pem", /* fallback */
        "BAO_CAPATH",
        "", /* empty BAO_ still wins */
        "VAULT_CAPATH",
        "/vault/cas",
        "VAULT_CLIENT_CERT",
        "/c.pem",
        "VAULT_CLIENT_KEY",
        "/k.pem",
        "BAO_TLS_SERVER_NAME",
        "bao.example",
        "VAULT_SKIP_VERIFY",
        "false", /* any non-empty is true */
        "VAULT_MAX_RETRIES",
        "0",
        "VAULT_NAMESPACE",
        "ns1/",
        NULL,
    };
    ASSERT_INT_EQ(apply(cfg, env), 0);
    ASSERT_STR_EQ(cfg->vault.address, "https://bao:8200");
    ASSERT_STR_EQ(cfg->vault.ca_cert, "/vault/ca.pem");
    ASSERT_NULL(cfg->vault.ca_path);
    ASSERT_STR_EQ(cfg->vault.client_cert, "/c.pem");
    ASSERT_STR_EQ(cfg->vault.client_key, "/k.pem");
    ASSERT_STR_EQ(cfg->vault.tls_server_name, "bao.example");
    ASSERT(cfg->vault.tls_skip_verify);
    ASSERT_INT_EQ(cfg->vault.num_retries, 0);
    ASSERT_STR_EQ(cfg->vault.namespace_, "ns1/");

    static const char *const env2[] = {
        "BAO_ADDR",
        "", /* set but empty: the default */
        "BAO_SKIP_VERIFY",
        "", /* set but empty: false */
        "VAULT_SKIP_VERIFY",
        "1",
        "BAO_MAX_RETRIES",
        "-1",
        "VAULT_PROXY_DISABLE_IDLE_CONNECTIONS",
        " Auto-Auth , proxying",
        "BAO_PROXY_DISABLE_KEEP_ALIVES",
        "caching",
        NULL,
    };
    ASSERT_INT_EQ(apply(cfg, env2), 0);
    ASSERT_STR_EQ(cfg->vault.address, "https://127.0.0.1:8200");
    ASSERT(!cfg->vault.tls_skip_verify);
    ASSERT_INT_EQ(cfg->vault.num_retries, 0);
    ASSERT(cfg->disable_idle_connections_auto_auth);
    ASSERT(cfg->disable_idle_connections_proxying);
    ASSERT(!cfg->disable_keep_alives_auto_auth);
    ASSERT(cfg->disable_keep_alives_proxying);

    static const char *const env3[] = {"VAULT_MAX_RETRIES", "7", NULL};
    ASSERT_INT_EQ(apply(cfg, env3), 0);
    ASSERT_INT_EQ(cfg->vault.num_retries, 7);

    static const char *const bad1[] = {"BAO_MAX_RETRIES", "many", NULL};
    ASSERT_INT_EQ(apply(cfg, bad1), -1);
    ASSERT_STR_EQ(err, "BAO_MAX_RETRIES: expected an integer of -1 or more");
    static const char *const bad2[] = {"VAULT_MAX_RETRIES", "-2", NULL};
    ASSERT_INT_EQ(apply(cfg, bad2), -1);
    ASSERT_STR_EQ(err, "VAULT_MAX_RETRIES: expected an integer of -1 or more");
    static const char *const bad3[] = {"BAO_PROXY_DISABLE_KEEP_ALIVES",
                                       "auto-auth,bogus", NULL};
    ASSERT_INT_EQ(apply(cfg, bad3), -1);
    ASSERT_STR_EQ(err, "BAO_PROXY_DISABLE_KEEP_ALIVES: unknown "
                       "disable_keep_alives value: bogus");
    vpd_config_free(cfg);
}

/* ---- telemetry { } ------------------------------------------------------ */

TEST(telemetry_settings)
{
    /* No block: Prometheus off. */
    vpd_config *cfg = load_text(LISTENER);
    ASSERT(!cfg->telemetry_conf.present);
    ASSERT_INT_EQ(cfg->telemetry_conf.prometheus_retention_ms, 0);
    vpd_config_free(cfg);
    /* An empty block: 24 h, as Vault defaults it. */
    cfg = load_text(LISTENER "telemetry {}\n");
    ASSERT(cfg->telemetry_conf.present);
    ASSERT_INT_EQ(cfg->telemetry_conf.prometheus_retention_ms, 86400000);
    ASSERT(cfg->telemetry_conf.filter_default);
    ASSERT_INT_EQ(cfg->telemetry_conf.n_sinks, 1);
    vpd_config_free(cfg);
    cfg = load_text(LISTENER
                    "telemetry {\n"
                    "  prometheus_retention_time = \"0\"\n"
                    "  metrics_prefix = \"px\"\n"
                    "  disable_hostname = true\n"
                    "  enable_hostname_label = true\n"
                    "  filter_default = false\n"
                    "  prefix_filter = [\"+px.agent\", \"-px.agent.cache\"]\n"
                    "  statsd_address = \"127.0.0.1:8125\"\n"
                    "  dogstatsd_addr = \"127.0.0.1:8126\"\n"
                    "  dogstatsd_tags = [\"a:b\"]\n"
                    "  circonus_api_token = \"t\"\n"
                    "  circonus_submission_url = \"u\"\n"
                    "  usage_gauge_period = \"none\"\n"
                    "  lease_metrics_epsilon = \"1h\"\n"
                    "  maximum_gauge_cardinality = 100\n"
                    "  stackdriver_debug_logs = false\n"
                    "}\n");
    const vpd_telemetry_config *t = &cfg->telemetry_conf;
    ASSERT_INT_EQ(t->prometheus_retention_ms, 0);
    ASSERT_STR_EQ(t->metrics_prefix, "px");
    ASSERT(t->disable_hostname);
    ASSERT(t->enable_hostname_label);
    ASSERT(!t->filter_default);
    ASSERT_INT_EQ(t->n_prefix_filter, 2);
    ASSERT_STR_EQ(t->prefix_filter[1], "-px.agent.cache");
    /* statsd, dogstatsd, circonus (one sink for both keys); no Prometheus */
    ASSERT_INT_EQ(t->n_sinks, 3);
    vpd_config_free(cfg);
    cfg = load_text(LISTENER "telemetry { prometheus_retention_time = 30 }\n");
    ASSERT_INT_EQ(cfg->telemetry_conf.prometheus_retention_ms, 30000);
    vpd_config_free(cfg);

    EXPECT_ERR(LISTENER "telemetry {\n  statsd_adress = \"x\"\n}\n",
               "5: unknown key \"statsd_adress\" in telemetry (did you mean "
               "\"statsd_address\"?)");
    EXPECT_ERR(LISTENER
               "telemetry {\n  prometheus_retention_time = \"1x\"\n}\n",
               "5: telemetry: prometheus_retention_time: invalid duration "
               "\"1x\"");
    EXPECT_ERR(LISTENER "telemetry {\n  disable_hostname = \"yes\"\n}\n",
               "5: telemetry: disable_hostname: expected a bool, got a string");
    EXPECT_ERR(LISTENER "telemetry {\n  prefix_filter = [\"vault.x\"]\n}\n",
               "5: telemetry: prefix_filter: filter rule must begin with "
               "either '+' or '-': \"vault.x\"");
    EXPECT_ERR(LISTENER "telemetry {\n  usage_gauge_period = \"soon\"\n}\n",
               "5: telemetry: usage_gauge_period: invalid duration \"soon\"");
}

int
main(void)
{
    strcpy(rootdir, "/tmp/vp_test_config.XXXXXX");
    if (!mkdtemp(rootdir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = RUN_TESTS(
        T(seed_directory_loads), T(seed_file_alone_fails_as_in_vault),
        T(spec_hcl_example), T(spec_json_example_is_equivalent), T(defaults),
        T(num_retries), T(method_defaults_and_canonical_forms),
        T(method_errors), T(unknown_keys_with_suggestions),
        T(ignored_vault_keys_are_accepted), T(wrong_types),
        T(bool_strings_follow_go_parsebool), T(listener_forms_and_limits),
        T(listener_errors), T(use_auto_auth_token_values),
        T(consistency_settings), T(disable_lists_and_top_scalars),
        T(sink_forms), T(sink_rules), T(wrapping_rules), T(validation_rules),
        T(plugin_blocks_are_not_checked), T(syntax_errors_come_through),
        T(merge_two_files), T(directory_sorted_and_temporary_files_skipped),
        T(durations), T(env_overrides), T(telemetry_settings));
    nftw(rootdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
