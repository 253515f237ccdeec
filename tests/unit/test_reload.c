/* The daemon's reload decisions, without a daemon: which changes a SIGHUP
 * applies live, which it logs as needing a restart, which it hands to a
 * plugin's reconfigure op, what it does with the auth method, and that a
 * refused reload leaves the running config as it was.  Also checks the
 * key table itself: every key has a reload class, and every secret key is
 * hidden by the dump. */
#include "autoconf.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "config/config.h"
#include "config/config_diff.h"
#include "config/config_dump.h"
#include "config/config_keys.h"
#include "test.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>

static char dir[64];

static const char *
path(const char *name)
{
    static char buf[4][256];
    static int next;
    char *b = buf[next++ & 3];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/vp_test_reload.%ld", (long)getpid());
        mkdir(dir, 0700);
    }
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static void
write_text(const char *name, const char *text)
{
    FILE *f = fopen(path(name), "w");
    if (!f)
        TEST_FAIL_("cannot write %s", name);
    fputs(text, f);
    fclose(f);
}

static char err[1024];

static vpd_config *
try_load(const char *name, const char *text)
{
    write_text(name, text);
    const char *p = path(name);
    return vpd_config_load(&p, 1, err, sizeof err);
}

static vpd_config *
load(const char *name, const char *text)
{
    vpd_config *cfg = try_load(name, text);
    if (!cfg)
        TEST_FAIL_("load %s: %s", name, err);
    return cfg;
}

/* A config every change below starts from; each %s is one slot a change
 * fills (or leaves empty). */
#define BASE                                                                   \
    "vault {\n address = \"https://v:8200\"\n%s}\n"                            \
    "auto_auth {\n method \"approle\" {\n  config = { role_id_file_path = "    \
    "\"/r\" }\n%s }\n sink \"file\" { config = { path = \"/s\" } }\n}\n"       \
    "listener \"tcp\" {\n address = \"127.0.0.1:8100\"\n tls_disable = "       \
    "true\n%s}\n"                                                              \
    "cache {\n%s}\n"                                                           \
    "api_proxy {\n enforce_consistency = \"always\"\n%s}\n%s"

typedef struct {
    const char *vault, *method, *listener, *cache, *api_proxy, *top;
} slots;

static vpd_config *
load_slots(const char *name, slots s)
{
    char text[2048];
    snprintf(text, sizeof text, BASE, s.vault ? s.vault : "",
             s.method ? s.method : "", s.listener ? s.listener : "",
             s.cache ? s.cache : " max_entries = 5\n",
             s.api_proxy ? s.api_proxy : "", s.top ? s.top : "");
    return load(name, text);
}

static char reported[2048];

static void
report(const char *what, void *arg)
{
    (void)arg;
    strncat(reported, what, sizeof reported - strlen(reported) - 2);
    strcat(reported, ";");
}

static size_t
diff(const vpd_config *a, const vpd_config *b)
{
    reported[0] = '\0';
    return vpd_config_diff_restart(a, b, report, NULL);
}

/* Changes the daemon applies itself: logging, the upstream's TLS files,
 * the listener's TLS files, the method's settings, ignored keys. */
TEST(live_changes_are_not_reported)
{
    const slots live[] = {
        {.top = "log_level = \"debug\"\nlog_format = \"json\"\n"},
        {.top = "log_rotate_bytes = 100\nlog_rotate_duration = \"1h\"\n"},
        {.vault = " ca_cert = \"/ca.pem\"\n tls_skip_verify = true\n"},
        {.method = "  min_backoff = \"2s\"\n  mount_path = \"auth/x\"\n"},
        {.listener = " max_request_duration = \"1s\"\n"},
        {.top = "cluster_name = \"c\"\n"},
    };
    vpd_config *base = load_slots("base.hcl", (slots){0});
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++) {
        vpd_config *c = load_slots("live.hcl", live[i]);
        if (diff(base, c) != 0)
            TEST_FAIL_("change %zu reported as needing a restart: %s", i,
                       reported);
        vpd_config_free(c);
    }
    vpd_config_free(base);
}

/* Changes that need a restart, each with the one name it is logged by. */
TEST(restart_changes_are_reported_by_name)
{
    static const struct {
        slots s;
        const char *what;
    } restart[] = {
        {{.vault = " address = \"https://w:8200\"\n"}, "vault address;"},
        {{.vault = " namespace = \"ns\"\n"}, "vault namespace;"},
        {{.vault = " retry { num_retries = 3 }\n"}, "vault retry;"},
        {{.listener = " max_connections = 10\n"},
         "listener 1 (127.0.0.1:8100);"},
        {{.listener = " proxy_api { enable_quit = true }\n"},
         "listener 1 (127.0.0.1:8100);"},
        {{.api_proxy = " use_auto_auth_token = true\n"}, "api_proxy;"},
        {{.top = "pid_file = \"/run/p\"\n"}, "pid_file;"},
        {{.top = "exit_after_auth = true\n"}, "exit_after_auth;"},
        {{.top = "disable_keep_alives = \"proxying\"\n"},
         "disable_keep_alives;"},
        {{.top = "telemetry {\n statsd_address = \"s:1\"\n}\n"}, "telemetry;"},
        {{.cache = " persist \"kubernetes\" { path = \"/p\" }\n"},
         "cache persist;"},
        {{.top = "listener \"unix\" {\n address = \"/run/s\"\n"
                 " tls_disable = true\n}\n"},
         "the number of listeners;"},
        {{.top = "plugin \"consistency\" \"hello\" {}\n"}, "plugin blocks;"},
    };
    vpd_config *base = load_slots("base.hcl", (slots){0});
    for (size_t i = 0; i < sizeof restart / sizeof restart[0]; i++) {
        vpd_config *c = load_slots("restart.hcl", restart[i].s);
        size_t n = diff(base, c);
        if (n != 1 || strcmp(reported, restart[i].what) != 0)
            TEST_FAIL_("change %zu: expected \"%s\", got %zu: \"%s\"", i,
                       restart[i].what, n, reported);
        /* Reported the other way round too: the comparison is symmetric. */
        if (diff(c, base) != 1)
            TEST_FAIL_("change %zu is not reported backwards", i);
        vpd_config_free(c);
    }
    vpd_config_free(base);
}

/* The settings of running plugin instances are theirs to take: the diff
 * leaves them to reload_plugins.c. */
TEST(plugin_settings_are_left_to_reconfigure)
{
    vpd_config *a = load_slots(
        "pa.hcl",
        (slots){.api_proxy = " when_inconsistent = \"fail\"\n",
                .top = "plugin \"consistency\" \"hello\" {\n config = { "
                       "greeting = \"hi\" }\n}\n"});
    vpd_config *b = load_slots(
        "pb.hcl",
        (slots){.api_proxy = " when_inconsistent = \"retry\"\n",
                .top = "plugin \"consistency\" \"hello\" {\n config = { "
                       "greeting = \"ho\" }\n}\n",
                .cache = " max_entries = 2\n max_bytes = 100000\n"});
    ASSERT_INT_EQ((int)diff(a, b), 0);
    ASSERT(vpd_config_plugin_blocks_match(a, b));
    vpd_config_free(a);
    vpd_config_free(b);
}

TEST(auth_method_kept_replaced_or_restarted)
{
    vpd_config *base = load_slots("base.hcl", (slots){0});
    vpd_config *same = load_slots("same.hcl", (slots){.top = "\n\n"});
    vpd_config *tuned =
        load_slots("tuned.hcl", (slots){.method = "  exit_on_err = true\n"});
    ASSERT_INT_EQ(vpd_config_method_change(base, same), VPD_METHOD_KEEP);
    ASSERT_INT_EQ(vpd_config_method_change(base, tuned), VPD_METHOD_REPLACE);

    const char *other_type =
        "auto_auth {\n method \"token_file\" {\n  config = { "
        "token_file_path = \"/t\" }\n }\n sink \"file\" { config = { path = "
        "\"/s\" } }\n}\nlistener \"tcp\" {\n tls_disable = true\n}\n";
    vpd_config *other = load("other.hcl", other_type);
    ASSERT_INT_EQ(vpd_config_method_change(base, other), VPD_METHOD_RESTART);
    ASSERT_INT_EQ((int)diff(base, other) > 0, 1);
    ASSERT_STR_CONTAINS(reported, "auto_auth method type;");

    vpd_config *none =
        load("none.hcl", "listener \"tcp\" {\n tls_disable = true\n}\n"
                         "cache {}\n");
    ASSERT_INT_EQ(vpd_config_method_change(base, none), VPD_METHOD_RESTART);
    diff(base, none);
    ASSERT_STR_CONTAINS(reported, "auto_auth;");
    vpd_config_free(base);
    vpd_config_free(same);
    vpd_config_free(tuned);
    vpd_config_free(other);
    vpd_config_free(none);
}

/* A reload reads the whole config first: a broken file gives nothing to
 * apply, and the running config is untouched, value for value. */
TEST(refused_reload_keeps_the_running_config)
{
    vpd_config *running =
        load_slots("run.hcl", (slots){.top = "log_level = \"warn\"\n"});
    vpd_config *broken = try_load(
        "run.hcl", "log_level = \"debug\"\nlistener \"tcp\" {\n adress = "
                   "\"127.0.0.1:1\"\n}\n");
    ASSERT_NULL(broken);
    ASSERT_STR_CONTAINS(err, "run.hcl:3: unknown key \"adress\"");
    ASSERT_STR_EQ(running->log_level, "warn");
    vpd_config *again =
        load_slots("again.hcl", (slots){.top = "log_level = \"warn\"\n"});
    ASSERT_INT_EQ((int)diff(running, again), 0);
    ASSERT(vpd_config_method_equal(&running->auto_auth.method,
                                   &again->auto_auth.method));
    ASSERT_STR_EQ(running->listeners[0].address, "127.0.0.1:8100");
    vpd_config_free(running);
    vpd_config_free(again);
}

TEST(every_key_has_a_reload_class)
{
    size_t n = 0;
    for (int b = 0; b < VPD_BLOCK_COUNT; b++) {
        const vpd_config_block *blk = &vpd_config_blocks[b];
        ASSERT(blk->n_keys > 0);
        for (size_t i = 0; i < blk->n_keys; i++, n++) {
            const vpd_config_key *k = &blk->keys[i];
            if (k->reload != VPD_RELOAD_LIVE &&
                k->reload != VPD_RELOAD_RESTART &&
                k->reload != VPD_RELOAD_PLUGIN)
                TEST_FAIL_("%s.%s has no reload class",
                           blk->name ? blk->name : "(top)", k->name);
            /* A key is found by its name in its own block. */
            if (!k->alias && vpd_config_key_find(b, k->name) != k)
                TEST_FAIL_("%s is listed twice", k->name);
        }
    }
    ASSERT(n > 150);
}

/* Where each block with a secret key is written: `@` stands for the
 * key's name. */
static const struct {
    vpd_block_id block;
    const char *text;
} secret_homes[] = {
    {VPD_BLOCK_SINK,
     "auto_auth {\n method \"approle\" {\n  config = { role_id_file_path = "
     "\"/r\" }\n }\n sink \"file\" {\n dh_type = \"curve25519\"\n dh_path = "
     "\"/dh\"\n @ = \"SECRET-@\"\n config = { path = \"/s\" }\n }\n}\n"
     "listener \"tcp\" {\n tls_disable = true\n}\n"},
    {VPD_BLOCK_TELEMETRY, "telemetry {\n @ = \"SECRET-@\"\n}\n"
                          "listener \"tcp\" {\n tls_disable = true\n}\n"},
    {VPD_BLOCK_LISTENER, "listener \"tcp\" {\n tls_disable = true\n"
                         " @ = \"SECRET-@\"\n}\n"},
};

/* Every key the table calls secret, set in a config: its value never
 * appears in `--check-config -v`. */
TEST(every_secret_key_is_redacted_in_the_dump)
{
    size_t checked = 0;
    for (int b = 0; b < VPD_BLOCK_COUNT; b++) {
        const vpd_config_block *blk = &vpd_config_blocks[b];
        for (size_t i = 0; i < blk->n_keys; i++) {
            const vpd_config_key *k = &blk->keys[i];
            if (!k->secret)
                continue;
            const char *home = NULL;
            for (size_t h = 0; h < sizeof secret_homes / sizeof *secret_homes;
                 h++)
                if (secret_homes[h].block == (vpd_block_id)b)
                    home = secret_homes[h].text;
            if (!home)
                TEST_FAIL_("no test config for the secret key %s", k->name);
            char text[1024];
            size_t at = 0;
            for (const char *p = home; *p && at + 64 < sizeof text; p++) {
                if (*p == '@')
                    at += (size_t)snprintf(text + at, sizeof text - at, "%s",
                                           k->name);
                else
                    text[at++] = *p;
            }
            text[at] = '\0';
            vpd_config *cfg = load("secret.hcl", text);
            char *out = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&out, &len);
            ASSERT_INT_EQ(vpd_config_dump(cfg, f), 0);
            fclose(f);
            if (strstr(out, "SECRET-"))
                TEST_FAIL_("the dump shows %s:\n%s", k->name, out);
            free(out);
            vpd_config_free(cfg);
            checked++;
        }
    }
    ASSERT(checked >= 3);
}

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Each test runs in its own process (and directory, by pid); the
 * directories are removed at the end. */
int
main(void)
{
    int rc = RUN_TESTS(T(live_changes_are_not_reported),
                       T(restart_changes_are_reported_by_name),
                       T(plugin_settings_are_left_to_reconfigure),
                       T(auth_method_kept_replaced_or_restarted),
                       T(refused_reload_keeps_the_running_config),
                       T(every_key_has_a_reload_class),
                       T(every_secret_key_is_redacted_in_the_dump));
    DIR *d = opendir("/tmp");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "vp_test_reload.", 15) == 0) {
            char p[300];
            snprintf(p, sizeof p, "/tmp/%s", e->d_name);
            nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
    }
    if (d)
        closedir(d);
    return rc;
}
