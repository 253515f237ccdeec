/* The operator-facing modules that need no daemon: the log file's rotation
 * and pruning, the reload comparison (what needs a restart), the
 * redaction rule of --check-config -v, and the log_rotate_* keys. */
#include "autoconf.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include "config/config.h"
#include "config/config_diff.h"
#include "config/config_dump.h"
#include "base/log_file.h"
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
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static int
count_archives(const char *stem)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    size_t sl = strlen(stem);
    while (d && (e = readdir(d)) != NULL)
        if (strncmp(e->d_name, stem, sl) == 0 && e->d_name[sl] == '-')
            n++;
    if (d)
        closedir(d);
    return n;
}

static void
fresh_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/vp_test_ops.%ld", (long)getpid());
    mkdir(dir, 0700);
}

static void
write_lines(int n)
{
    for (int i = 0; i < n; i++)
        vpd_log_file_write("0123456789abcdef0123456789abcdef\n", 33);
}

TEST(log_file_created_0600_and_rotated_by_size)
{
    fresh_dir();
    char err[256];
    vpd_log_file_config c = {.path = path("proxy.log"), .rotate_bytes = 100};
    ASSERT_INT_EQ(vpd_log_file_configure(&c, err, sizeof err), 0);
    struct stat st;
    ASSERT_INT_EQ(stat(path("proxy.log"), &st), 0);
    ASSERT_INT_EQ(st.st_mode & 0777, 0600);
    /* 33-byte lines: the file is rotated before the write that finds it
     * at 100 bytes or more (Vault's rule), so after the 5th line. */
    write_lines(4);
    ASSERT_INT_EQ(count_archives("proxy"), 0);
    write_lines(1);
    ASSERT_INT_EQ(count_archives("proxy"), 1);
    write_lines(8);
    ASSERT_INT_EQ(count_archives("proxy"), 3); /* 0: every archive kept */
    vpd_log_file_close();
}

TEST(log_file_max_files_and_minus_one)
{
    fresh_dir();
    char err[256];
    vpd_log_file_config c = {
        .path = path("app"), .rotate_bytes = 40, .max_files = 2};
    ASSERT_INT_EQ(vpd_log_file_configure(&c, err, sizeof err), 0);
    write_lines(10);
    /* No extension: archives are app-<ns>.log, as Vault names them. */
    ASSERT_INT_EQ(count_archives("app"), 2);
    c.max_files = -1;
    ASSERT_INT_EQ(vpd_log_file_configure(&c, err, sizeof err), 0);
    ASSERT_INT_EQ(count_archives("app"), 0); /* pruned when opened */
    write_lines(10);
    ASSERT_INT_EQ(count_archives("app"), 0);
    vpd_log_file_close();
}

TEST(log_file_bad_path_keeps_the_old_file)
{
    fresh_dir();
    char err[256];
    vpd_log_file_config c = {.path = path("keep.log")};
    ASSERT_INT_EQ(vpd_log_file_configure(&c, err, sizeof err), 0);
    vpd_log_file_config bad = {.path = "/nonexistent-dir/x.log"};
    ASSERT_INT_EQ(vpd_log_file_configure(&bad, err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "/nonexistent-dir/x.log");
    vpd_log_file_write("still here\n", 11);
    struct stat st;
    ASSERT_INT_EQ(stat(path("keep.log"), &st), 0);
    ASSERT_INT_EQ((int)st.st_size, 11);
    /* Renamed away and reopened: a new file under the name. */
    ASSERT_INT_EQ(rename(path("keep.log"), path("keep.old")), 0);
    ASSERT_INT_EQ(vpd_log_file_reopen(err, sizeof err), 0);
    vpd_log_file_write("new\n", 4);
    ASSERT_INT_EQ(stat(path("keep.log"), &st), 0);
    ASSERT_INT_EQ((int)st.st_size, 4);
    vpd_log_file_close();
}

TEST(redaction_rule)
{
    const char *secret[] = {
        "token",   "client_token",       "secret_id", "jwt",
        "role_id", "password",           "key",       "private_key",
        "aad",     "circonus_api_token", "api_key"};
    const char *shown[] = {"token_file_path",
                           "role_id_file_path",
                           "key_file",
                           "ca_path",
                           "aad_env_var",
                           "dh_path",
                           "token_ttl",
                           "dh_type",
                           "address",
                           "mount_path",
                           "service_account_token_file"};
    for (size_t i = 0; i < sizeof secret / sizeof *secret; i++)
        if (!vpd_config_key_is_secret(secret[i]))
            TEST_FAIL_("%s must be redacted", secret[i]);
    for (size_t i = 0; i < sizeof shown / sizeof *shown; i++)
        if (vpd_config_key_is_secret(shown[i]))
            TEST_FAIL_("%s must be shown", shown[i]);
}

static vpd_config *
load(const char *name, const char *text)
{
    FILE *f = fopen(path(name), "w");
    fputs(text, f);
    fclose(f);
    const char *p = path(name);
    char err[512];
    vpd_config *cfg = vpd_config_load(&p, 1, err, sizeof err);
    if (!cfg)
        TEST_FAIL_("load %s: %s", name, err);
    return cfg;
}

static char reported[1024];

static void
report(const char *what, void *arg)
{
    (void)arg;
    strncat(reported, what, sizeof reported - strlen(reported) - 2);
    strcat(reported, ";");
}

#define BASE                                                                   \
    "log_level = \"%s\"\n"                                                     \
    "auto_auth {\n method \"approle\" {\n  config = { role_id_file_path = "    \
    "\"%s\" }\n }\n sink \"file\" { config = { path = \"/s\" } }\n}\n"         \
    "listener \"tcp\" {\n address = \"%s\"\n tls_disable = true\n}\n%s"

static vpd_config *
load_base(const char *name, const char *level, const char *role,
          const char *addr, const char *extra)
{
    char text[1024];
    snprintf(text, sizeof text, BASE, level, role, addr, extra);
    return load(name, text);
}

TEST(reload_diff)
{
    fresh_dir();
    vpd_config *a = load_base("a.hcl", "info", "/r1", "127.0.0.1:1", "");
    /* Log level and the method's config are live; nothing to restart. */
    vpd_config *b = load_base("b.hcl", "debug", "/r2", "127.0.0.1:1", "");
    reported[0] = '\0';
    ASSERT_INT_EQ((int)vpd_config_diff_restart(a, b, report, NULL), 0);
    ASSERT(
        !vpd_config_method_equal(&a->auto_auth.method, &b->auto_auth.method));
    /* Same values in another file (other lines): equal. */
    vpd_config *a2 = load_base("a2.hcl", "info", "/r1", "127.0.0.1:1", "\n\n");
    ASSERT(
        vpd_config_method_equal(&a->auto_auth.method, &a2->auto_auth.method));
    /* A listener address and a cache block need a restart. */
    vpd_config *c =
        load_base("c.hcl", "info", "/r1", "127.0.0.1:2", "cache {}\n");
    reported[0] = '\0';
    ASSERT_INT_EQ((int)vpd_config_diff_restart(a, c, report, NULL), 2);
    ASSERT_STR_CONTAINS(reported, "listener 1");
    ASSERT_STR_CONTAINS(reported, "cache");
    vpd_config_free(a);
    vpd_config_free(a2);
    vpd_config_free(b);
    vpd_config_free(c);
}

/* What reload_plugins.c applies live is not reported here: the cache
 * store's keys, a plugin block's config map, when_inconsistent.  Cache
 * on/off, persist, the rest of api_proxy and plugin blocks added, removed
 * or renamed still need a restart. */
TEST(reload_diff_leaves_plugin_settings_to_reconfigure)
{
    fresh_dir();
    const char *plugin_a = "plugin \"consistency\" \"hello\" {\n"
                           " config = { greeting = \"hi\" }\n}\n";
    const char *plugin_b = "plugin \"consistency\" \"hello\" {\n"
                           " config = { greeting = \"ho\" }\n}\n";
    const char *plugin_c = "plugin \"consistency\" \"other\" {\n"
                           " config = { greeting = \"hi\" }\n}\n";
    char extra[1024];
    snprintf(extra, sizeof extra,
             "cache {\n max_entries = 5\n persist \"kubernetes\" {\n"
             "  path = \"/p1\"\n }\n}\napi_proxy {\n"
             " enforce_consistency = \"always\"\n"
             " when_inconsistent = \"fail\"\n}\n%s",
             plugin_a);
    vpd_config *a = load_base("pa.hcl", "info", "/r", "127.0.0.1:1", extra);
    snprintf(extra, sizeof extra,
             "cache {\n max_entries = 2\n max_bytes = 100000\n"
             " persist \"kubernetes\" {\n  path = \"/p1\"\n }\n}\n"
             "api_proxy {\n enforce_consistency = \"always\"\n"
             " when_inconsistent = \"retry\"\n}\n%s",
             plugin_b);
    vpd_config *b = load_base("pb.hcl", "info", "/r", "127.0.0.1:1", extra);
    reported[0] = '\0';
    ASSERT_INT_EQ((int)vpd_config_diff_restart(a, b, report, NULL), 0);
    ASSERT_STR_EQ(reported, "");
    ASSERT(vpd_config_plugin_blocks_match(a, b));

    snprintf(extra, sizeof extra,
             "cache {\n max_entries = 5\n persist \"kubernetes\" {\n"
             "  path = \"/p2\"\n }\n}\napi_proxy {\n"
             " enforce_consistency = \"never\"\n"
             " when_inconsistent = \"fail\"\n}\n%s",
             plugin_c);
    vpd_config *c = load_base("pc.hcl", "info", "/r", "127.0.0.1:1", extra);
    reported[0] = '\0';
    ASSERT_INT_EQ((int)vpd_config_diff_restart(a, c, report, NULL), 3);
    ASSERT_STR_CONTAINS(reported, "cache persist;");
    ASSERT_STR_CONTAINS(reported, "api_proxy;");
    ASSERT_STR_CONTAINS(reported, "plugin \"consistency\" \"hello\";");
    ASSERT(!vpd_config_plugin_blocks_match(a, c));

    snprintf(extra, sizeof extra,
             "cache {\n max_entries = 5\n persist \"kubernetes\" {\n"
             "  path = \"/p1\"\n }\n}\napi_proxy {\n"
             " enforce_consistency = \"always\"\n"
             " when_inconsistent = \"fail\"\n}\n%s%s",
             plugin_a, plugin_c);
    vpd_config *d = load_base("pd.hcl", "info", "/r", "127.0.0.1:1", extra);
    reported[0] = '\0';
    ASSERT_INT_EQ((int)vpd_config_diff_restart(a, d, report, NULL), 1);
    ASSERT_STR_EQ(reported, "plugin blocks;");
    ASSERT(!vpd_config_plugin_blocks_match(a, d));
    vpd_config_free(a);
    vpd_config_free(b);
    vpd_config_free(c);
    vpd_config_free(d);
}

TEST(log_rotate_keys)
{
    fresh_dir();
    vpd_config *cfg = load_base("r.hcl", "info", "/r", "127.0.0.1:1",
                                "log_rotate_bytes = 1024\n"
                                "log_rotate_duration = \"90s\"\n"
                                "log_rotate_max_files = -1\n");
    ASSERT_INT_EQ((int)cfg->log_rotate_bytes, 1024);
    ASSERT_INT_EQ((int)cfg->log_rotate_duration_ms, 90000);
    ASSERT_INT_EQ((int)cfg->log_rotate_max_files, -1);
    vpd_config_free(cfg);
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
    int rc = RUN_TESTS(T(log_file_created_0600_and_rotated_by_size),
                       T(log_file_max_files_and_minus_one),
                       T(log_file_bad_path_keeps_the_old_file),
                       T(redaction_rule), T(reload_diff),
                       T(reload_diff_leaves_plugin_settings_to_reconfigure),
                       T(log_rotate_keys));
    DIR *d = opendir("/tmp");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "vp_test_ops.", 12) == 0) {
            char p[300];
            snprintf(p, sizeof p, "/tmp/%s", e->d_name);
            nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
    }
    if (d)
        closedir(d);
    return rc;
}
