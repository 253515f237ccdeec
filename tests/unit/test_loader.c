/* The plugin loader: good plugins load and resolve by kind and name; every
 * kind of broken plugin is refused with its path and the reason. */
#include "autoconf.h"

#include "test.h"

#include "host_api.h"
#include "plugin_loader.h"

static int
load(const char *dir, const char *name, char *err, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    vpd_registry reg = {0};
    int rc = vpd_plugins_load_file(&reg, path, err, len);
    vpd_plugins_unload(&reg);
    return rc;
}

TEST(shipped_plugins_load_and_resolve)
{
    vpd_registry reg = {0};
    char err[1024] = "";
    int rc = vpd_plugins_load_dir(&reg, VP_BUILD_PLUGINDIR, err, sizeof err);
    if (rc != 0)
        printf("# %s\n", err);
    ASSERT_INT_EQ(rc, 0);
    vpd_plugin *owner = NULL;
    ASSERT_NOT_NULL(vpd_plugins_find(&reg, VP_KIND_AUTH, "token_file", &owner));
    ASSERT_STR_EQ(owner->desc->name, "auth_token_file");
    ASSERT_NOT_NULL(vpd_plugins_find(&reg, VP_KIND_CONSISTENCY, "always", NULL));
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
    snprintf(want, sizeof want, "built for ABI %d.%d, this vaproxyd speaks "
             "ABI %d.%d", VP_ABI_MAJOR + 1, VP_ABI_MINOR, VP_ABI_MAJOR,
             VP_ABI_MINOR);
    ASSERT_STR_CONTAINS(err, want);
}

TEST(abi_minor_newer_is_refused)
{
    char err[1024];
    ASSERT_INT_EQ(load(VP_TEST_PLUGINDIR, "abi_minor", err, sizeof err), -1);
    char want[128];
    snprintf(want, sizeof want, "built for ABI %d.%d, newer than this "
             "vaproxyd", VP_ABI_MAJOR, VP_ABI_MINOR + 1);
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
    ASSERT_INT_EQ(load(VP_TEST_PLUGINDIR, "undefined_symbol", err,
                       sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "cannot be loaded");
    ASSERT_STR_CONTAINS(err, "vp_symbol_nobody_defines");
}

TEST(failing_init_is_refused_with_its_reason)
{
    char err[1024];
    ASSERT_INT_EQ(load(VP_TEST_PLUGINDIR, "init_fails", err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "init failed (-4): the test plugin always fails");
}

TEST(duplicate_implementation_is_refused)
{
    vpd_registry reg = {0};
    char err[1024];
    ASSERT_INT_EQ(vpd_plugins_load_file(&reg, VP_BUILD_PLUGINDIR
                                        "/consistency_vault", err,
                                        sizeof err), 0);
    ASSERT_INT_EQ(vpd_plugins_load_file(&reg, VP_TEST_PLUGINDIR "/dup_never",
                                        err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "consistency \"never\" is already provided by "
                             VP_BUILD_PLUGINDIR "/consistency_vault");
    vpd_plugins_unload(&reg);
}

TEST(same_plugin_twice_is_refused)
{
    vpd_registry reg = {0};
    char err[1024];
    ASSERT_INT_EQ(vpd_plugins_load_file(&reg, VP_TEST_PLUGINDIR "/trace", err,
                                        sizeof err), 0);
    ASSERT_INT_EQ(vpd_plugins_load_file(&reg, VP_TEST_PLUGINDIR "/trace.la",
                                        err, sizeof err), -1);
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
    ASSERT_INT_EQ(vpd_plugins_load_dir(&reg, VP_TEST_PLUGINDIR, err,
                                       sizeof err), -1);
    /* Name order: abi_major comes first and is refused. */
    ASSERT_STR_CONTAINS(err, "abi_major refused");
    vpd_plugins_unload(&reg);
}

TEST(unreadable_directory_is_an_error)
{
    vpd_registry reg = {0};
    char err[1024];
    ASSERT_INT_EQ(vpd_plugins_load_dir(&reg, "/nonexistent/plugins", err,
                                       sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "plugin directory /nonexistent/plugins: cannot "
                             "be read");
}

TEST(instance_config_is_checked_against_the_schema)
{
    vpd_registry reg = {0};
    char err[1024];
    ASSERT_INT_EQ(vpd_plugins_load_file(&reg, VP_BUILD_PLUGINDIR
                                        "/consistency_vault", err,
                                        sizeof err), 0);
    vpd_conf_pair bad[] = {{"when_inconsistent", "sometimes"}};
    vpd_instance *i = vpd_instance_new(&reg, VP_KIND_CONSISTENCY, "always",
                                       NULL, bad, 1, "api_proxy", err,
                                       sizeof err);
    ASSERT_NULL(i);
    ASSERT_STR_CONTAINS(err, "Unknown api_proxy setting for "
                             "when_inconsistent: \"sometimes\"");
    i = vpd_instance_new(&reg, VP_KIND_CONSISTENCY, "sometimes", NULL, NULL,
                         0, "api_proxy", err, sizeof err);
    ASSERT_NULL(i);
    ASSERT_STR_CONTAINS(err, "no plugin provides consistency \"sometimes\"");
    vpd_conf_pair good[] = {{"when_inconsistent", "retry"}};
    i = vpd_instance_new(&reg, VP_KIND_CONSISTENCY, "always", NULL, good, 1,
                         "api_proxy", err, sizeof err);
    ASSERT_NOT_NULL(i);
    vpd_instance_free(i);
    vpd_plugins_unload(&reg);
}

int
main(void)
{
    return RUN_TESTS(T(shipped_plugins_load_and_resolve),
                     T(bad_magic_is_refused),
                     T(abi_major_mismatch_is_refused),
                     T(abi_minor_newer_is_refused),
                     T(missing_descriptor_is_refused),
                     T(missing_symbol_is_refused_at_load),
                     T(failing_init_is_refused_with_its_reason),
                     T(duplicate_implementation_is_refused),
                     T(same_plugin_twice_is_refused),
                     T(missing_file_is_refused),
                     T(directory_with_a_bad_plugin_fails),
                     T(unreadable_directory_is_an_error),
                     T(instance_config_is_checked_against_the_schema));
}
