/* The plugin loader: good plugins load and resolve by kind and name; every
 * kind of broken plugin is refused with its path and the reason. */
#include "autoconf.h"

#include "test.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cfgtree.h"
#include "plugin/host_table.h"
#include "plugin/plugin_instance.h"
#include "plugin/plugin_layout.h"
#include "plugin/plugin_loader.h"
#include "../plugins/schema_wide.h"

static int
load(const char *dir, const char *name, char *err, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    vpd_registry reg = {0};
    int rc = vpd_plugins_load_file(&reg, path, vpd_host_api(), err, len);
    vpd_plugins_unload(&reg);
    return rc;
}

TEST(shipped_plugins_load_and_resolve)
{
    vpd_registry reg = {0};
    char err[1024] = "";
    int rc = vpd_plugins_load_dir(&reg, VP_BUILD_PLUGINDIR, vpd_host_api(), err,
                                  sizeof err);
    if (rc != 0)
        printf("# %s\n", err);
    ASSERT_INT_EQ(rc, 0);
    vpd_plugin *owner = NULL;
    ASSERT_NOT_NULL(vpd_plugins_find(&reg, VP_KIND_AUTH, "token_file", &owner));
    ASSERT_STR_EQ(owner->desc->name, "auth_token_file");
    ASSERT_NOT_NULL(
        vpd_plugins_find(&reg, VP_KIND_CONSISTENCY, "always", NULL));
    ASSERT_NOT_NULL(vpd_plugins_find(&reg, VP_KIND_CONSISTENCY, "never", NULL));
    ASSERT_NULL(vpd_plugins_find(&reg, VP_KIND_AUTH, "always", NULL));
    vpd_plugins_unload(&reg);
}

TEST(bad_magic_is_refused)
{
    char err[1024];
    ASSERT_INT_EQ(load(VP_TEST_PLUGINDIR, "bad_magic", err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "plugin " VP_TEST_PLUGINDIR "/bad_magic refused");
    ASSERT_STR_CONTAINS(err, "bad magic 0x12345678");
}

TEST(abi_major_mismatch_is_refused)
{
    char err[1024];
    ASSERT_INT_EQ(load(VP_TEST_PLUGINDIR, "abi_major", err, sizeof err), -1);
    char want[128];
    snprintf(want, sizeof want,
             "built for ABI %d.%d, this vaproxyd speaks "
             "ABI %d.%d",
             VP_ABI_MAJOR + 1, VP_ABI_MINOR, VP_ABI_MAJOR, VP_ABI_MINOR);
    ASSERT_STR_CONTAINS(err, want);
}

TEST(abi_minor_newer_is_refused)
{
    char err[1024];
    ASSERT_INT_EQ(load(VP_TEST_PLUGINDIR, "abi_minor", err, sizeof err), -1);
    char want[128];
    snprintf(want, sizeof want,
             "built for ABI %d.%d, newer than this "
             "vaproxyd",
             VP_ABI_MAJOR, VP_ABI_MINOR + 1);
    ASSERT_STR_CONTAINS(err, want);
}

TEST(missing_descriptor_is_refused)
{
    char err[1024];
    ASSERT_INT_EQ(load(VP_TEST_PLUGINDIR, "no_descriptor", err, sizeof err),
                  -1);
    ASSERT_STR_CONTAINS(err, "no descriptor: neither "
                             "no_descriptor_LTX_vaproxy_plugin nor "
                             "vaproxy_plugin is exported");
}

TEST(missing_symbol_is_refused_at_load)
{
    char err[1024];
    ASSERT_INT_EQ(load(VP_TEST_PLUGINDIR, "undefined_symbol", err, sizeof err),
                  -1);
    ASSERT_STR_CONTAINS(err, "cannot be loaded");
    ASSERT_STR_CONTAINS(err, "vp_symbol_nobody_defines");
}

TEST(failing_init_is_refused_with_its_reason)
{
    char err[1024];
    ASSERT_INT_EQ(load(VP_TEST_PLUGINDIR, "init_fails", err, sizeof err), -1);
    ASSERT_STR_CONTAINS(
        err, "init failed (-4, input/output error): the test plugin always "
             "fails");
}

TEST(duplicate_implementation_is_refused)
{
    vpd_registry reg = {0};
    char err[1024];
    ASSERT_INT_EQ(vpd_plugins_load_file(&reg,
                                        VP_BUILD_PLUGINDIR "/consistency_vault",
                                        vpd_host_api(), err, sizeof err),
                  0);
    ASSERT_INT_EQ(vpd_plugins_load_file(&reg, VP_TEST_PLUGINDIR "/dup_never",
                                        vpd_host_api(), err, sizeof err),
                  -1);
    ASSERT_STR_CONTAINS(
        err, "consistency \"never\" is already provided by " VP_BUILD_PLUGINDIR
             "/consistency_vault");
    vpd_plugins_unload(&reg);
}

TEST(same_plugin_twice_is_refused)
{
    vpd_registry reg = {0};
    char err[1024];
    ASSERT_INT_EQ(vpd_plugins_load_file(&reg, VP_TEST_PLUGINDIR "/trace",
                                        vpd_host_api(), err, sizeof err),
                  0);
    ASSERT_INT_EQ(vpd_plugins_load_file(&reg, VP_TEST_PLUGINDIR "/trace.la",
                                        vpd_host_api(), err, sizeof err),
                  -1);
    ASSERT_STR_CONTAINS(err, "already provided by");
    vpd_plugins_unload(&reg);
}

TEST(missing_file_is_refused)
{
    char err[1024];
    ASSERT_INT_EQ(load(VP_TEST_PLUGINDIR, "does_not_exist", err, sizeof err),
                  -1);
    ASSERT_STR_CONTAINS(err, "does_not_exist refused: cannot be loaded");
}

TEST(directory_with_a_bad_plugin_fails)
{
    vpd_registry reg = {0};
    char err[1024];
    ASSERT_INT_EQ(vpd_plugins_load_dir(&reg, VP_TEST_PLUGINDIR, vpd_host_api(),
                                       err, sizeof err),
                  -1);
    /* Name order: abi_major comes first and is refused. */
    ASSERT_STR_CONTAINS(err, "abi_major refused");
    vpd_plugins_unload(&reg);
}

TEST(unreadable_directory_is_an_error)
{
    vpd_registry reg = {0};
    char err[1024];
    ASSERT_INT_EQ(vpd_plugins_load_dir(&reg, "/nonexistent/plugins",
                                       vpd_host_api(), err, sizeof err),
                  -1);
    ASSERT_STR_CONTAINS(err, "plugin directory /nonexistent/plugins: cannot "
                             "be read");
}

TEST(instance_config_is_checked_against_the_schema)
{
    vpd_registry reg = {0};
    char err[1024];
    ASSERT_INT_EQ(vpd_plugins_load_file(&reg,
                                        VP_BUILD_PLUGINDIR "/consistency_vault",
                                        vpd_host_api(), err, sizeof err),
                  0);
    vpd_conf_pair bad[] = {{"when_inconsistent", "sometimes"}};
    vpd_instance *i =
        vpd_instance_new(&reg, VP_KIND_CONSISTENCY, "always", NULL, bad, 1,
                         "api_proxy", err, sizeof err);
    ASSERT_NULL(i);
    ASSERT_STR_CONTAINS(err, "Unknown api_proxy setting for "
                             "when_inconsistent: \"sometimes\"");
    i = vpd_instance_new(&reg, VP_KIND_CONSISTENCY, "sometimes", NULL, NULL, 0,
                         "api_proxy", err, sizeof err);
    ASSERT_NULL(i);
    ASSERT_STR_CONTAINS(err, "no plugin provides consistency \"sometimes\"");
    vpd_conf_pair good[] = {{"when_inconsistent", "retry"}};
    i = vpd_instance_new(&reg, VP_KIND_CONSISTENCY, "always", NULL, good, 1,
                         "api_proxy", err, sizeof err);
    ASSERT_NOT_NULL(i);
    vpd_instance_free(i);
    vpd_plugins_unload(&reg);
}

/* ---- reconfigure (ABI 1.1) --------------------------------------------- */

static void
load_for_reconfigure(vpd_registry *reg)
{
    char err[1024] = "";
    int rc = vpd_plugins_load_dir(reg, VP_BUILD_PLUGINDIR, vpd_host_api(), err,
                                  sizeof err);
    if (rc == 0)
        rc = vpd_plugins_load_file(reg, VP_TEST_PLUGINDIR "/reconf",
                                   vpd_host_api(), err, sizeof err);
    if (rc == 0)
        rc = vpd_plugins_load_file(reg, VP_TEST_PLUGINDIR "/abi_old",
                                   vpd_host_api(), err, sizeof err);
    if (rc != 0)
        TEST_FAIL_("%s", err);
}

static vpd_instance *
make(vpd_registry *reg, vp_kind_t kind, const char *name, const char *key,
     const char *value)
{
    char err[1024];
    vpd_conf_pair pair = {key, value};
    vpd_instance *vi = vpd_instance_new(reg, kind, name, NULL, &pair,
                                        key ? 1 : 0, "t", err, sizeof err);
    if (!vi)
        TEST_FAIL_("%s \"%s\": %s", vpd_kind_name(kind), name, err);
    return vi;
}

static const char *
label_of(const vpd_instance *vi)
{
    const char *label = NULL;
    int rc = vpd_host_api()->conf_string(&vi->pub, "label", &label);
    if (rc != 0)
        TEST_FAIL_("conf_string label: %d", rc);
    return label;
}

TEST(reconfigure_op_only_where_the_plugin_has_it)
{
    vpd_registry reg = {0};
    load_for_reconfigure(&reg);
    struct {
        vp_kind_t kind;
        const char *name, *key, *value;
        int has;
    } cases[] = {
        {VP_KIND_CONSISTENCY, "reconf", "label", "a", 1},
        {VP_KIND_CONSISTENCY, "always", "when_inconsistent", "fail", 1},
        {VP_KIND_CONSISTENCY, "never", NULL, NULL, 1},
        {VP_KIND_CACHE, "memory", NULL, NULL, 1},
        /* auth methods are swapped, never reconfigured */
        {VP_KIND_AUTH, "token_file", "token_file_path", "/nonexistent", 0},
        /* built against 1.0: a 1.0 table, and one padded to 1.1's size */
        {VP_KIND_CONSISTENCY, "abi_old", "label", "a", 0},
        {VP_KIND_CONSISTENCY, "abi_old_padded", "label", "a", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vpd_instance *vi = make(&reg, cases[i].kind, cases[i].name,
                                cases[i].key, cases[i].value);
        if ((vpd_instance_reconfigure_op(vi) != NULL) != cases[i].has)
            TEST_FAIL_("%s: reconfigure op %s", cases[i].name,
                       cases[i].has ? "missing" : "found");
        vpd_instance_free(vi);
    }
    vpd_plugins_unload(&reg);
}

TEST(a_1_0_plugin_is_never_reconfigured)
{
    vpd_registry reg = {0};
    load_for_reconfigure(&reg);
    const char *names[] = {"abi_old", "abi_old_padded"};
    for (size_t i = 0; i < 2; i++) {
        vpd_instance *vi =
            make(&reg, VP_KIND_CONSISTENCY, names[i], "label", "old");
        vpd_instance *next =
            make(&reg, VP_KIND_CONSISTENCY, names[i], "label", "new");
        void *data = vi->pub.data;
        char err[1024] = "";
        ASSERT_INT_EQ(vpd_instance_reconfigure(vi, next, err, sizeof err),
                      VP_ENOTSUP);
        ASSERT_STR_CONTAINS(err, "cannot be reconfigured");
        /* The trap behind the table would have swapped the data. */
        ASSERT(vi->pub.data == data);
        ASSERT_STR_EQ((const char *)vi->pub.data, "old");
        ASSERT_STR_EQ(label_of(vi), "old");
        vpd_instance_free(next);
        vpd_instance_free(vi);
    }
    vpd_plugins_unload(&reg);
}

static vpd_cfg_tree
parse(const char *file, const char *text)
{
    vpd_cfg_tree t;
    char err[512];
    if (vpd_cfg_parse(file, text, strlen(text), &t, err, sizeof err) != 0)
        TEST_FAIL_("parse: %s", err);
    return t;
}

static const vpd_cfg_node *
config_of(const vpd_cfg_tree *t)
{
    const vpd_cfg_member *m = vpd_cfg_get(t->root, "config");
    ASSERT_NOT_NULL(m);
    return m->value;
}

TEST(reconfigure_moves_the_new_config_in_or_keeps_the_old)
{
    vpd_registry reg = {0};
    load_for_reconfigure(&reg);
    char err[1024];

    /* An instance outlives the tree it was configured from. */
    vpd_cfg_tree t1 = parse("one.hcl", "config = { label = \"one\" }\n");
    vpd_instance *vi =
        vpd_instance_new(&reg, VP_KIND_CONSISTENCY, "reconf", config_of(&t1),
                         NULL, 0, "t", err, sizeof err);
    ASSERT_NOT_NULL(vi);
    vpd_cfg_tree t1b =
        parse("elsewhere.hcl", "\n\nconfig = {\n label = \"one\"\n}\n");
    vpd_instance *same =
        vpd_instance_new(&reg, VP_KIND_CONSISTENCY, "reconf", config_of(&t1b),
                         NULL, 0, "t", err, sizeof err);
    ASSERT_NOT_NULL(same);
    ASSERT(vpd_instance_same_config(vi, same));
    vpd_instance_free(same);
    vpd_cfg_tree_free(&t1b);
    vpd_cfg_tree_free(&t1);
    ASSERT_STR_EQ(label_of(vi), "one");

    /* Applied: the running instance reads the new value, after the new
     * tree and `next` are gone too. */
    vpd_cfg_tree t2 = parse("two.hcl", "config = { label = \"two\" }\n");
    vpd_instance *next =
        vpd_instance_new(&reg, VP_KIND_CONSISTENCY, "reconf", config_of(&t2),
                         NULL, 0, "t", err, sizeof err);
    ASSERT_NOT_NULL(next);
    ASSERT(!vpd_instance_same_config(vi, next));
    ASSERT_INT_EQ(vpd_instance_reconfigure(vi, next, err, sizeof err), 0);
    ASSERT_STR_EQ(label_of(next), "one"); /* next holds the old one now */
    vpd_instance_free(next);
    vpd_cfg_tree_free(&t2);
    ASSERT_STR_EQ(label_of(vi), "two");

    /* Refused: the plugin's reason, and the running config stays. */
    vpd_cfg_tree t3 =
        parse("three.hcl", "config = { label = \"refuse-me\" }\n");
    next = vpd_instance_new(&reg, VP_KIND_CONSISTENCY, "reconf", config_of(&t3),
                            NULL, 0, "t", err, sizeof err);
    ASSERT_NOT_NULL(next);
    int rc = vpd_instance_reconfigure(vi, next, err, sizeof err);
    ASSERT_INT_EQ(rc, VP_EINVAL);
    ASSERT_STR_CONTAINS(err, "consistency \"reconf\": label \"refuse-me\" is "
                             "refused on reload");
    vpd_instance_free(next);
    vpd_cfg_tree_free(&t3);
    ASSERT_STR_EQ(label_of(vi), "two");

    /* Another implementation is never paired. */
    next = make(&reg, VP_KIND_CONSISTENCY, "abi_old", "label", "x");
    ASSERT(!vpd_instance_same_config(vi, next));
    ASSERT_INT_EQ(vpd_instance_reconfigure(vi, next, err, sizeof err),
                  VP_ENOTSUP);
    vpd_instance_free(next);
    ASSERT_STR_EQ(label_of(vi), "two");
    vpd_instance_free(vi);
    vpd_plugins_unload(&reg);
}

/* A host table the test owns: the daemon's, with set_error replaced by one
 * that records what it was told. */
static int set_error_calls;
static char set_error_text[256];

static void recording_set_error(const vp_instance_t *inst, const char *fmt, ...)
    VP_PRINTF(2, 3);

static void
recording_set_error(const vp_instance_t *inst, const char *fmt, ...)
{
    (void)inst;
    set_error_calls++;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(set_error_text, sizeof set_error_text, fmt, ap);
    va_end(ap);
}

TEST(the_loader_hands_plugins_the_table_it_is_given)
{
    vp_host_api_t mine = *vpd_host_api();
    mine.set_error = recording_set_error;
    set_error_calls = 0;
    char err[1024];
    vpd_registry reg = {0};
    ASSERT_INT_EQ(vpd_plugins_load_file(&reg, VP_TEST_PLUGINDIR "/init_fails",
                                        &mine, err, sizeof err),
                  -1);
    /* init called our set_error, not the daemon's, so the loader heard no
     * reason and gives only the code. */
    ASSERT_INT_EQ(set_error_calls, 1);
    ASSERT_STR_EQ(set_error_text, "the test plugin always fails");
    ASSERT_STR_CONTAINS(err, "init failed (-4, input/output error)");
    ASSERT(strstr(err, "always fails") == NULL);
    vpd_plugins_unload(&reg);

    ASSERT_INT_EQ(vpd_plugins_load_file(&reg, VP_TEST_PLUGINDIR "/trace", &mine,
                                        err, sizeof err),
                  0);
    ASSERT(reg.v[0].host == &mine);
    vpd_conf_pair pair = {"label", "x"};
    vpd_instance *vi = vpd_instance_new(&reg, VP_KIND_CONSISTENCY, "trace",
                                        NULL, &pair, 1, "t", err, sizeof err);
    ASSERT_NOT_NULL(vi);
    ASSERT(vi->pub.host == &mine);
    vpd_instance_free(vi);
    vpd_plugins_unload(&reg);
}

/* Every code by name, with the text errors.h gives it: a renumbered or
 * re-worded code, or one missing from VP_ERRNO_MAP, fails here. */
TEST(vp_strerror_names_every_code)
{
    static const struct {
        int code;
        const char *text;
    } codes[] = {
        {VP_OK, "success"},
        {VP_ERROR, "failed"},
        {VP_EINVAL, "invalid argument"},
        {VP_ENOENT, "not found"},
        {VP_EIO, "input/output error"},
        {VP_EPROTO, "unexpected answer from the server"},
        {VP_ENOTSUP, "not supported"},
        {VP_EEXIST, "already exists"},
        {VP_EFULL, "no room left"},
        {VP_EAUTH, "authentication failed"},
        {VP_ENOMEM, "out of memory"},
    };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        ASSERT_STR_EQ(vp_strerror(codes[i].code), codes[i].text);
        for (size_t j = 0; j < i; j++)
            ASSERT(codes[i].code != codes[j].code);
    }
    /* VP_ENOMEM no longer shares -1 with VP_ERROR. */
    ASSERT_INT_EQ(VP_ENOMEM, -10);
    ASSERT_STR_EQ(vp_strerror(-11), "unknown error");
    ASSERT_STR_EQ(vp_strerror(1), "unknown error");
    ASSERT_STR_EQ(vp_strerror(-1000), "unknown error");
}

/* A plugin that records the minor it needs loads into a daemon of that
 * minor; one that records the headers' minor does not. */
TEST(a_plugin_targeting_an_older_minor_loads_into_that_daemon)
{
    vp_host_api_t older = *vpd_host_api();
    older.abi_minor = 1;
    vpd_registry reg = {0};
    char err[1024] = "";
    int rc = vpd_plugins_load_file(&reg, VP_TEST_PLUGINDIR "/abi_target",
                                   &older, err, sizeof err);
    if (rc != 0)
        printf("# %s\n", err);
    ASSERT_INT_EQ(rc, 0);
    ASSERT_INT_EQ(reg.v[0].desc->abi_minor, 1);
    ASSERT_NOT_NULL(
        vpd_plugins_find(&reg, VP_KIND_CONSISTENCY, "abi_target", NULL));
    vpd_plugins_unload(&reg);

    ASSERT_INT_EQ(vpd_plugins_load_file(&reg, VP_TEST_PLUGINDIR "/trace",
                                        &older, err, sizeof err),
                  -1);
    char want[128];
    snprintf(want, sizeof want,
             "built for ABI %d.%d, newer than this vaproxyd's ABI %d.1",
             VP_ABI_MAJOR, VP_ABI_MINOR, VP_ABI_MAJOR);
    ASSERT_STR_CONTAINS(err, want);
    vpd_plugins_unload(&reg);

    /* The daemon of the headers' minor loads it too. */
    ASSERT_INT_EQ(load(VP_TEST_PLUGINDIR, "abi_target", err, sizeof err), 0);
}

/* ---- schema layouts (ABI 1.2 records the element sizes) ---------------- */

/* The schema the test plugins schema10 and schema12 declare. */
#define WIDE_FIELD(key, type, flags, def, help)                                \
    VP_CONF_FIELD(key, type, flags, def, help),
static const vp_conf_field_t wide_fields[] = {SCHEMA_WIDE_FIELDS(WIDE_FIELD)
                                                  VP_CONF_END};

static void
assert_same_field(const vp_conf_field_t *got, const vp_conf_field_t *want)
{
    ASSERT_STR_EQ(got->key, want->key);
    ASSERT_INT_EQ(got->type, want->type);
    ASSERT_INT_EQ(got->flags, want->flags);
    if (want->default_value)
        ASSERT_STR_EQ(got->default_value, want->default_value);
    else
        ASSERT_NULL(got->default_value);
    ASSERT_STR_EQ(got->help, want->help);
    ASSERT_INT_EQ(got->size, sizeof(vp_conf_field_t));
}

/* An instance of `impl` configured by the HCL object text `conf`: NULL
 * with the daemon's message in err when the check refuses it. */
static vpd_instance *
configured(vpd_registry *reg, const char *impl, const char *conf, char *err,
           size_t err_len)
{
    char text[512];
    snprintf(text, sizeof text, "config = {\n%s\n}\n", conf);
    vpd_cfg_tree tree = {0};
    if (vpd_cfg_parse("t.hcl", text, strlen(text), &tree, err, err_len) != 0)
        TEST_FAIL_("%s", err);
    const vpd_cfg_member *m = vpd_cfg_get(tree.root, "config");
    vpd_instance *vi = vpd_instance_new(reg, VP_KIND_CONSISTENCY, impl,
                                        m->value, NULL, 0, "t", err, err_len);
    vpd_cfg_tree_free(&tree);
    return vi;
}

static void
assert_refused(vpd_registry *reg, const char *impl, const char *conf,
               const char *want)
{
    char err[1024] = "";
    vpd_instance *vi = configured(reg, impl, conf, err, sizeof err);
    if (vi)
        TEST_FAIL_("%s: accepted %s", impl, conf);
    ASSERT_STR_CONTAINS(err, want);
}

static void
check_wide_plugin(const char *module, uint32_t desc_size)
{
    char path[512], err[1024] = "", narrow[64];
    snprintf(path, sizeof path, "%s/%s", VP_TEST_PLUGINDIR, module);
    snprintf(narrow, sizeof narrow, "%s_narrow", module);
    vpd_registry reg = {0};
    if (vpd_plugins_load_file(&reg, path, vpd_host_api(), err, sizeof err))
        TEST_FAIL_("%s", err);
    vpd_plugin *owner = NULL;
    const vp_provide_t *p =
        vpd_plugins_find(&reg, VP_KIND_CONSISTENCY, module, &owner);
    ASSERT_NOT_NULL(p);
    ASSERT_INT_EQ(owner->desc->size, desc_size);

    /* The host's copy holds every field, in the host's layout. */
    size_t n = 0;
    for (; p->schema[n].key; n++) {
        ASSERT(n < sizeof wide_fields / sizeof wide_fields[0] - 1);
        assert_same_field(&p->schema[n], &wide_fields[n]);
    }
    ASSERT_INT_EQ(n, sizeof wide_fields / sizeof wide_fields[0] - 1);
    const vp_provide_t *q =
        vpd_plugins_find(&reg, VP_KIND_CONSISTENCY, narrow, NULL);
    ASSERT_NOT_NULL(q);
    ASSERT_STR_EQ(q->schema[0].key, "only");
    ASSERT_INT_EQ(q->schema[0].type, VP_CONF_INT);
    ASSERT_INT_EQ(q->schema[0].flags, VP_CONF_REQUIRED);
    ASSERT_NULL(q->schema[1].key);

    /* The daemon checks every field by its type. */
    static const struct {
        const char *conf, *want;
    } bad[] = {
        {"address = 5", "address: expected a string, got number"},
        {"address = \"a\"\nca_file = true",
         "ca_file: expected a string, got bool"},
        {"address = \"a\"\nretries = \"many\"",
         "retries: expected an integer, got string"},
        {"address = \"a\"\nverify = \"maybe\"",
         "verify: expected a bool, got string"},
        {"address = \"a\"\ninterval = \"soon\"",
         "interval: expected a duration"},
        {"address = \"a\"\nfile_mode = \"0999\"",
         "file_mode: expected a file mode"},
        {"address = \"a\"\napi_key = [1]",
         "api_key: expected a string, got list"},
        {"address = \"a\"\napi_kee = \"k\"",
         "unknown key \"api_kee\" (did you mean \"api_key\"?)"},
        {"retries = 2", "missing required key \"address\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_refused(&reg, module, bad[i].conf, bad[i].want);
    assert_refused(&reg, narrow, "", "missing required key \"only\"");

    /* And reads every field back through the host table. */
    vpd_instance *vi =
        configured(&reg, module,
                   "address = \"h\"\nretries = 5\nverify = \"false\"\n"
                   "interval = \"2m\"\nfile_mode = 0600\napi_key = \"k\"",
                   err, sizeof err);
    if (!vi)
        TEST_FAIL_("%s", err);
    const vp_host_api_t *h = vpd_host_api();
    const char *str = NULL;
    int64_t num = 0;
    int b = 1;
    uint64_t ms = 0;
    ASSERT_INT_EQ(h->conf_string(&vi->pub, "address", &str), 0);
    ASSERT_STR_EQ(str, "h");
    ASSERT_INT_EQ(h->conf_string(&vi->pub, "ca_file", &str), 0);
    ASSERT_STR_EQ(str, "/etc/ssl/ca.pem");
    ASSERT_INT_EQ(h->conf_int(&vi->pub, "retries", &num), 0);
    ASSERT_INT_EQ(num, 5);
    ASSERT_INT_EQ(h->conf_bool(&vi->pub, "verify", &b), 0);
    ASSERT_INT_EQ(b, 0);
    ASSERT_INT_EQ(h->conf_duration_ms(&vi->pub, "interval", &ms), 0);
    ASSERT_INT_EQ(ms, 120000);
    ASSERT_INT_EQ(h->conf_int(&vi->pub, "file_mode", &num), 0);
    ASSERT_INT_EQ(num, 0600);
    ASSERT_INT_EQ(h->conf_string(&vi->pub, "api_key", &str), 0);
    ASSERT_STR_EQ(str, "k");
    vpd_instance_free(vi);
    vpd_plugins_unload(&reg);
}

/* A plugin built with the 1.0 headers has smaller schema fields than the
 * daemon: read with the daemon's stride, its second field would start in
 * the middle of the first. */
TEST(every_schema_field_reads_alike_in_the_1_0_and_1_2_layouts)
{
    check_wide_plugin("schema10",
                      (uint32_t)offsetof(vp_plugin_t, provide_size));
    check_wide_plugin("schema12", (uint32_t)sizeof(vp_plugin_t));
}

/* A field as a later minor might grow it: the copy takes what the host
 * knows and skips the rest. */
typedef struct {
    vp_conf_field_t known;
    const char *appended;
} future_field;

static const vp_consistency_ops_t layout_ops = {.size = sizeof layout_ops};

TEST(the_layout_copy_follows_the_recorded_strides_and_refuses_bad_ones)
{
    static const future_field future[] = {
        {VP_CONF_FIELD("one", VP_CONF_INT, 0, "1", "first"), "x"},
        {{.key = "two", .type = VP_CONF_BOOL, .help = "second"}, "y"},
        {VP_CONF_END, NULL},
    };
    vp_provide_t provides[] = {
        {VP_KIND_CONSISTENCY, "future", &layout_ops,
         (const vp_conf_field_t *)(const void *)future},
        {0, NULL, NULL, NULL},
    };
    vp_plugin_t d = {VP_PLUGIN_HEADER(future), .provides = provides};
    d.conf_field_size = (uint32_t)sizeof(future_field);
    vpd_layout l;
    char why[512] = "";
    ASSERT_INT_EQ(vpd_layout_copy(&d, &l, why, sizeof why), -1);
    ASSERT_STR_CONTAINS(why, "key \"one\" says its size is");

    /* Fields that leave size 0 are read with the descriptor's stride. */
    future_field unsized[3];
    memcpy(unsized, future, sizeof unsized);
    unsized[0].known.size = 0;
    provides[0].schema = (const vp_conf_field_t *)(const void *)unsized;
    ASSERT_INT_EQ(vpd_layout_copy(&d, &l, why, sizeof why), 0);
    ASSERT_INT_EQ(l.n_provides, 1);
    ASSERT_STR_EQ(l.provides[0].name, "future");
    const vp_conf_field_t *f = l.provides[0].schema;
    ASSERT_STR_EQ(f[0].key, "one");
    ASSERT_STR_EQ(f[0].default_value, "1");
    ASSERT_STR_EQ(f[1].key, "two");
    ASSERT_INT_EQ(f[1].type, VP_CONF_BOOL);
    ASSERT_INT_EQ(f[1].size, sizeof(vp_conf_field_t));
    ASSERT_NULL(f[2].key);
    ASSERT_NULL(l.provides[1].name);
    vpd_layout_free(&l);

    /* A descriptor large enough to have the sizes must fill them. */
    d.conf_field_size = 0;
    ASSERT_INT_EQ(vpd_layout_copy(&d, &l, why, sizeof why), -1);
    ASSERT_STR_CONTAINS(why, "conf_field_size 0 is not a valid ABI 1.x size");
    ASSERT_STR_CONTAINS(why, "VP_PLUGIN_HEADER");
    d.conf_field_size = (uint32_t)sizeof(vp_conf_field_t);
    d.provide_size = 12;
    ASSERT_INT_EQ(vpd_layout_copy(&d, &l, why, sizeof why), -1);
    ASSERT_STR_CONTAINS(why, "provide_size 12 is not a valid ABI 1.x size");
}

static void
copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    ASSERT_NOT_NULL(in);
    ASSERT_NOT_NULL(out);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ASSERT_INT_EQ(fwrite(buf, 1, n, out), n);
    fclose(in);
    ASSERT_INT_EQ(fclose(out), 0);
}

/* Anyone who can write a plugin file or its directory could make the
 * daemon run their code: both are refused, with the path and the mode. */
TEST(a_world_writable_plugin_or_directory_is_refused)
{
    char dir[] = "/tmp/vp-loader-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char so[256];
    snprintf(so, sizeof so, "%s/trace.so", dir);
    copy_file(VP_TEST_PLUGINDIR "/.libs/trace.so", so);
    char err[1024];

    ASSERT_INT_EQ(chmod(so, 0644), 0);
    ASSERT_INT_EQ(chmod(dir, 0777), 0);
    ASSERT_INT_EQ(load(dir, "trace.so", err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "refused: directory ");
    ASSERT_STR_CONTAINS(err, dir);
    ASSERT_STR_CONTAINS(err, "is writable by every user (mode 0777)");

    ASSERT_INT_EQ(chmod(dir, 0755), 0);
    ASSERT_INT_EQ(chmod(so, 0666), 0);
    ASSERT_INT_EQ(load(dir, "trace.so", err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, ": file ");
    ASSERT_STR_CONTAINS(err, "trace.so is writable by every user (mode 0666)");
    vpd_registry reg = {0};
    ASSERT_INT_EQ(
        vpd_plugins_load_dir(&reg, dir, vpd_host_api(), err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "is writable by every user");
    vpd_plugins_unload(&reg);

    ASSERT_INT_EQ(chmod(so, 0644), 0);
    ASSERT_INT_EQ(load(dir, "trace.so", err, sizeof err), 0);
    unlink(so);
    rmdir(dir);
}

/* --plugin-dir directories come first, then the default one; the first
 * module of a name wins, and a missing default directory only matters
 * when nothing else was named. */
TEST(plugin_directories_are_searched_in_order_then_the_default)
{
    char dir[] = "/tmp/vp-search-XXXXXX";
    ASSERT_NOT_NULL(mkdtemp(dir));
    char so[256], vault[256];
    snprintf(so, sizeof so, "%s/trace.so", dir);
    snprintf(vault, sizeof vault, "%s/consistency_vault.so", dir);
    copy_file(VP_TEST_PLUGINDIR "/.libs/trace.so", so);
    copy_file(VP_BUILD_PLUGINDIR "/.libs/consistency_vault.so", vault);
    const char *dirs[] = {dir};
    char err[1024] = "";
    vpd_registry reg = {0};

    int rc = vpd_plugins_load_search_path(&reg, dirs, 1, VP_BUILD_PLUGINDIR,
                                          vpd_host_api(), err, sizeof err);
    if (rc != 0)
        printf("# %s\n", err);
    ASSERT_INT_EQ(rc, 0);
    vpd_plugin *owner = NULL;
    ASSERT_NOT_NULL(vpd_plugins_find(&reg, VP_KIND_CONSISTENCY, "trace", NULL));
    ASSERT_NOT_NULL(
        vpd_plugins_find(&reg, VP_KIND_CONSISTENCY, "always", &owner));
    ASSERT_STR_CONTAINS(owner->path, dir); /* the given directory's copy */
    ASSERT_NOT_NULL(vpd_plugins_find(&reg, VP_KIND_AUTH, "token_file", &owner));
    ASSERT_STR_CONTAINS(owner->path, VP_BUILD_PLUGINDIR);
    vpd_plugins_unload(&reg);

    /* Only the given directories. */
    ASSERT_INT_EQ(vpd_plugins_load_search_path(&reg, dirs, 1, NULL,
                                               vpd_host_api(), err, sizeof err),
                  0);
    ASSERT_NULL(vpd_plugins_find(&reg, VP_KIND_AUTH, "token_file", NULL));
    vpd_plugins_unload(&reg);

    ASSERT_INT_EQ(vpd_plugins_load_search_path(&reg, dirs, 1, "/nonexistent",
                                               vpd_host_api(), err, sizeof err),
                  0);
    vpd_plugins_unload(&reg);
    ASSERT_INT_EQ(vpd_plugins_load_search_path(&reg, NULL, 0, "/nonexistent",
                                               vpd_host_api(), err, sizeof err),
                  -1);
    ASSERT_STR_CONTAINS(err, "plugin directory /nonexistent: cannot be read");
    vpd_plugins_unload(&reg);
    unlink(so);
    unlink(vault);
    rmdir(dir);
}

int
main(void)
{
    return RUN_TESTS(
        T(shipped_plugins_load_and_resolve), T(bad_magic_is_refused),
        T(abi_major_mismatch_is_refused), T(abi_minor_newer_is_refused),
        T(missing_descriptor_is_refused), T(missing_symbol_is_refused_at_load),
        T(failing_init_is_refused_with_its_reason),
        T(duplicate_implementation_is_refused), T(same_plugin_twice_is_refused),
        T(missing_file_is_refused), T(directory_with_a_bad_plugin_fails),
        T(reconfigure_op_only_where_the_plugin_has_it),
        T(a_1_0_plugin_is_never_reconfigured),
        T(reconfigure_moves_the_new_config_in_or_keeps_the_old),
        T(unreadable_directory_is_an_error),
        T(instance_config_is_checked_against_the_schema),
        T(the_loader_hands_plugins_the_table_it_is_given),
        T(vp_strerror_names_every_code),
        T(a_plugin_targeting_an_older_minor_loads_into_that_daemon),
        T(a_world_writable_plugin_or_directory_is_refused),
        T(plugin_directories_are_searched_in_order_then_the_default),
        T(every_schema_field_reads_alike_in_the_1_0_and_1_2_layouts),
        T(the_layout_copy_follows_the_recorded_strides_and_refuses_bad_ones));
}
