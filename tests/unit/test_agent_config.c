/* The agent-mode blocks of the configuration: template, template_config,
 * exec and env_template, their defaults and the errors they give (with
 * file, line and key). */
#include "autoconf.h"

#include "config/config.h"
#include "test.h"

#include <signal.h>
#include <sys/stat.h>

static char dir[64];
static char cfg_path[128];
static char err[1024];

static const char *
write_cfg(const char *text)
{
    snprintf(cfg_path, sizeof cfg_path, "%s/a.hcl", dir);
    FILE *f = fopen(cfg_path, "w");
    if (!f)
        TEST_FAIL_("cannot write %s", cfg_path);
    fputs(text, f);
    fclose(f);
    return cfg_path;
}

static vpd_config *
load(const char *text)
{
    const char *p = write_cfg(text);
    vpd_config *cfg = vpd_config_load(&p, 1, err, sizeof err);
    if (!cfg)
        TEST_FAIL_("load failed: %s", err);
    return cfg;
}

static void
expect_err_(const char *text, const char *expected, int line)
{
    const char *p = write_cfg(text);
    vpd_config *cfg = vpd_config_load(&p, 1, err, sizeof err);
    if (cfg)
        TEST_FAIL_("line %d: load succeeded, expected an error", line);
    char want[1024];
    snprintf(want, sizeof want, "%s:%s", p, expected);
    if (strcmp(err, want) != 0)
        TEST_FAIL_("line %d: got \"%s\", expected \"%s\"", line, err, want);
}

#define EXPECT_ERR(text, expected) expect_err_((text), (expected), __LINE__)

/* Lines 1-3: an auto_auth block without sinks. */
#define AUTH                                                                   \
    "auto_auth {\n method \"token_file\" {\n config = { token_file_path = "    \
    "\"/t\" } } }\n"

TEST(template_defaults)
{
    vpd_config *cfg =
        load(AUTH "template {\n contents = \"x\"\n destination = \"/d\"\n}\n");
    ASSERT_INT_EQ(cfg->n_templates, 1);
    vpd_template_config *t = &cfg->templates[0];
    ASSERT_STR_EQ(t->contents, "x");
    ASSERT_STR_EQ(t->destination, "/d");
    ASSERT(t->create_dest_dirs);
    ASSERT_INT_EQ(t->mode, 0644);
    ASSERT_INT_EQ(t->command_timeout_ms, 30000);
    ASSERT(!t->backup);
    ASSERT(!t->error_on_missing_key);
    ASSERT_NULL(t->command);
    ASSERT_INT_EQ(t->wait.min_ms, 0);
    ASSERT_INT_EQ(t->line, 4);
    /* No template_config block: its defaults are still what the runner
     * reads only when present. */
    ASSERT(!cfg->template_config.present);
    vpd_config_free(cfg);
}

TEST(template_all_keys)
{
    vpd_config *cfg = load(
        AUTH
        "template {\n source = \"/s.tpl\"\n destination = \"/d\"\n"
        " create_dest_dirs = false\n perms = \"0600\"\n user = \"nobody\"\n"
        " group = \"nogroup\"\n backup = true\n command = \"echo hi\"\n"
        " command_timeout = \"5s\"\n error_on_missing_key = true\n"
        " left_delimiter = \"[[\"\n right_delimiter = \"]]\"\n"
        " sandbox_path = \"/sb\"\n wait {\n min = \"2s\"\n }\n}\n"
        "template {\n contents = \"y\"\n destination = \"/e\"\n"
        " exec {\n command = [\"touch\", \"/f\"]\n timeout = \"1s\"\n }\n"
        "}\n");
    ASSERT_INT_EQ(cfg->n_templates, 2);
    vpd_template_config *t = &cfg->templates[0];
    ASSERT_STR_EQ(t->source, "/s.tpl");
    ASSERT(!t->create_dest_dirs);
    ASSERT_INT_EQ(t->mode, 0600);
    ASSERT_STR_EQ(t->user, "nobody");
    ASSERT_STR_EQ(t->group, "nogroup");
    ASSERT(t->backup);
    ASSERT_INT_EQ(t->n_command, 1);
    ASSERT(t->command_is_shell);
    ASSERT_STR_EQ(t->command[0], "echo hi");
    ASSERT_INT_EQ(t->command_timeout_ms, 5000);
    ASSERT(t->error_on_missing_key);
    ASSERT_STR_EQ(t->left_delimiter, "[[");
    ASSERT_STR_EQ(t->right_delimiter, "]]");
    ASSERT_STR_EQ(t->sandbox_path, "/sb");
    ASSERT_INT_EQ(t->wait.min_ms, 2000);
    ASSERT_INT_EQ(t->wait.max_ms, 8000); /* four times min */
    t = &cfg->templates[1];
    ASSERT_INT_EQ(t->exec.n_command, 2);
    ASSERT_STR_EQ(t->exec.command[1], "/f");
    ASSERT_INT_EQ(t->exec.timeout_ms, 1000);
    vpd_config_free(cfg);
}

TEST(template_errors)
{
    EXPECT_ERR(AUTH "template {\n destination = \"/d\"\n}\n",
               "4: template: one of source or contents is required");
    EXPECT_ERR(AUTH "template {\n source = \"/s\"\n contents = \"x\"\n"
                    " destination = \"/d\"\n}\n",
               "4: template: only one of source or contents can be "
               "specified");
    EXPECT_ERR(AUTH "template {\n contents = \"x\"\n}\n",
               "4: template: destination is required");
    EXPECT_ERR(AUTH "template {\n contents = \"x\"\n destination = \"/d\"\n"
                    " perms = \"rw\"\n}\n",
               "7: template: perms: expected an octal file mode such as "
               "\"0600\", got \"rw\"");
    EXPECT_ERR(AUTH "template {\n contents = \"x\"\n destination = \"/d\"\n"
                    " destinaton = \"/e\"\n}\n",
               "7: unknown key \"destinaton\" in template (did you mean "
               "\"destination\"?)");
    EXPECT_ERR(AUTH "template {\n contents = \"x\"\n destination = \"/d\"\n"
                    " wait {\n min = \"5s\"\n max = \"1s\"\n }\n}\n",
               "7: template.wait: min cannot be greater than max");
    EXPECT_ERR(AUTH "template {\n contents = \"x\"\n destination = \"/d\"\n"
                    " command = \"a\"\n exec {\n command = [\"b\"]\n }\n}\n",
               "4: template: command and exec cannot both be specified "
               "(exec replaces command)");
    EXPECT_ERR(AUTH "template {\n contents = \"x\"\n destination = \"/d\"\n"
                    " command = []\n}\n",
               "7: template: command: the command cannot be empty");
    EXPECT_ERR("template {\n contents = \"x\"\n destination = \"/d\"\n}\n",
               "1: template: requires an auto_auth block (secrets are read "
               "with its token)");
}

TEST(template_config_block)
{
    vpd_config *cfg = load(AUTH "template_config {\n"
                                " static_secret_render_interval = \"10s\"\n"
                                " exit_on_retry_failure = true\n"
                                " max_connections_per_host = 3\n"
                                " lease_renewal_threshold = 0.5\n}\n"
                                "template {\n contents = \"x\"\n"
                                " destination = \"/d\"\n}\n");
    ASSERT(cfg->template_config.present);
    ASSERT_INT_EQ(cfg->template_config.static_secret_render_interval_ms, 10000);
    ASSERT(cfg->template_config.exit_on_retry_failure);
    ASSERT_INT_EQ(cfg->template_config.max_connections_per_host, 3);
    ASSERT(cfg->template_config.lease_threshold == 0.5);
    vpd_config_free(cfg);
    cfg =
        load(AUTH "template_config {\n}\n"
                  "template {\n contents = \"x\"\n destination = \"/d\"\n}\n");
    ASSERT_INT_EQ(cfg->template_config.static_secret_render_interval_ms,
                  300000);
    ASSERT_INT_EQ(cfg->template_config.max_connections_per_host, 10);
    ASSERT(cfg->template_config.lease_threshold == 0.9);
    vpd_config_free(cfg);
    EXPECT_ERR(AUTH "template_config {\n lease_renewal_threshold = 2\n}\n"
                    "template {\n contents = \"x\"\n destination = \"/d\"\n}\n",
               "5: template_config: lease_renewal_threshold: must be a number "
               "above 0 and at most 1");
    EXPECT_ERR(AUTH "template_config {\n max_connections_per_host = 0\n}\n",
               "5: template_config: max_connections_per_host: must be a "
               "positive integer");
    EXPECT_ERR(AUTH "template_config {\n}\ntemplate_config {\n}\n",
               "6: at most one \"template_config\" block is allowed");
}

TEST(exec_and_env_templates)
{
    vpd_config *cfg = load(AUTH "env_template \"FOO\" {\n contents = \"a\"\n}\n"
                                "env_template \"BAR\" {\n source = \"/b\"\n"
                                " error_on_missing_key = true\n}\n"
                                "exec {\n command = [\"./app\", \"x\"]\n}\n");
    ASSERT_INT_EQ(cfg->n_env_templates, 2);
    ASSERT_STR_EQ(cfg->env_templates[0].name, "FOO");
    ASSERT_STR_EQ(cfg->env_templates[1].name, "BAR");
    ASSERT(cfg->env_templates[1].error_on_missing_key);
    ASSERT(cfg->exec.present);
    ASSERT_INT_EQ(cfg->exec.n_command, 2);
    ASSERT_STR_EQ(cfg->exec.command[0], "./app");
    ASSERT_STR_EQ(cfg->exec.restart_on_secret_changes, "always");
    ASSERT_STR_EQ(cfg->exec.restart_stop_signal, "SIGTERM");
    ASSERT_INT_EQ(cfg->exec.stop_signal, SIGTERM);
    vpd_config_free(cfg);

    cfg = load(AUTH "env_template \"FOO\" {\n contents = \"a\"\n}\n"
                    "exec {\n command = [\"./app\"]\n"
                    " restart_on_secret_changes = \"never\"\n"
                    " restart_stop_signal = \"SIGINT\"\n}\n");
    ASSERT_STR_EQ(cfg->exec.restart_on_secret_changes, "never");
    ASSERT_INT_EQ(cfg->exec.stop_signal, SIGINT);
    vpd_config_free(cfg);
}

TEST(exec_and_env_template_errors)
{
    EXPECT_ERR(AUTH "env_template \"FOO\" {\n contents = \"a\"\n}\n",
               "4: env_template: requires an exec block (the variables go to "
               "its child)");
    EXPECT_ERR(AUTH "env_template {\n contents = \"a\"\n}\n"
                    "exec {\n command = [\"x\"]\n}\n",
               "4: env_template: the environment variable name is required, "
               "as in env_template \"NAME\" { ... }");
    EXPECT_ERR(AUTH "env_template \"FOO\" {\n contents = \"a\"\n"
                    " destination = \"/d\"\n}\nexec {\n command = [\"x\"]\n}\n",
               "6: env_template \"FOO\": destination: not allowed in an "
               "env_template (its value goes to exec's environment)");
    EXPECT_ERR(AUTH
               "env_template \"FOO\" {\n}\nexec {\n command = [\"x\"]\n}\n",
               "4: env_template \"FOO\": one of source or contents is "
               "required");
    EXPECT_ERR(AUTH "env_template \"FOO\" {\n contents = \"a\"\n}\n"
                    "env_template \"FOO\" {\n contents = \"b\"\n}\n"
                    "exec {\n command = [\"x\"]\n}\n",
               "7: env_template \"FOO\": defined twice");
    EXPECT_ERR(AUTH "env_template \"FOO\" {\n contents = \"a\"\n}\n"
                    "template {\n contents = \"x\"\n destination = \"/d\"\n}\n"
                    "exec {\n command = [\"x\"]\n}\n",
               "7: template: cannot be used with env_template (exec mode "
               "renders to the environment only)");
    EXPECT_ERR(AUTH "exec {\n restart_on_secret_changes = \"never\"\n}\n",
               "4: exec: command is required");
    EXPECT_ERR(AUTH "exec {\n command = \"x\"\n}\n",
               "5: exec: command: expected a list of strings, got a string");
    EXPECT_ERR(AUTH "exec {\n command = [\"x\"]\n"
                    " restart_on_secret_changes = \"sometimes\"\n}\n",
               "6: exec: restart_on_secret_changes: must be \"always\" or "
               "\"never\", got \"sometimes\"");
    EXPECT_ERR(AUTH "exec {\n command = [\"x\"]\n"
                    " restart_stop_signal = \"SIGFOO\"\n}\n",
               "6: exec: restart_stop_signal: unknown signal \"SIGFOO\"");
}

TEST(function_denylist_and_deprecated_owner_ids)
{
    vpd_config *cfg = load(AUTH "template {\n contents = \"x\"\n"
                                " destination = \"/d\"\n"
                                " function_denylist = [\"secret\", \"env\"]\n"
                                " uid = 1000\n gid = \"100\"\n}\n");
    vpd_template_config *t = &cfg->templates[0];
    ASSERT_INT_EQ(t->n_function_denylist, 2);
    ASSERT_STR_EQ(t->function_denylist[0], "secret");
    ASSERT_STR_EQ(t->function_denylist[1], "env");
    ASSERT_NULL(t->function_denylist[2]);
    ASSERT_STR_EQ(t->user, "1000");
    ASSERT_STR_EQ(t->group, "100");
    vpd_config_free(cfg);

    cfg = load(AUTH "env_template \"FOO\" {\n contents = \"a\"\n"
                    " function_denylist = \"file\"\n}\n"
                    "exec {\n command = [\"./app\"]\n}\n");
    ASSERT_INT_EQ(cfg->env_templates[0].n_function_denylist, 1);
    ASSERT_STR_EQ(cfg->env_templates[0].function_denylist[0], "file");
    ASSERT_NULL(cfg->env_templates[0].function_denylist[1]);
    vpd_config_free(cfg);

    EXPECT_ERR(AUTH "template {\n contents = \"x\"\n destination = \"/d\"\n"
                    " user = \"app\"\n uid = 1000\n}\n",
               "8: template: uid: cannot be set together with user (uid is "
               "its deprecated numeric spelling)");
    EXPECT_ERR(AUTH "template {\n contents = \"x\"\n destination = \"/d\"\n"
                    " gid = 5\n group = \"app\"\n}\n",
               "7: template: gid: cannot be set together with group (gid is "
               "its deprecated numeric spelling)");
    EXPECT_ERR(AUTH "template {\n contents = \"x\"\n destination = \"/d\"\n"
                    " uid = -1\n}\n",
               "7: template: uid: expected a user or group id, got -1");
    EXPECT_ERR(AUTH "template {\n contents = \"x\"\n destination = \"/d\"\n"
                    " function_denylist = [1]\n}\n",
               "7: template: function_denylist: expected a list of strings, "
               "got a number in the list");
}

TEST(exit_after_auth_and_sinkless_auto_auth)
{
    /* Templates use the token, so auto_auth needs no sink with them. */
    vpd_config *cfg =
        load(AUTH "exit_after_auth = true\n"
                  "template {\n contents = \"x\"\n destination = \"/d\"\n}\n");
    ASSERT(cfg->exit_after_auth);
    vpd_config_free(cfg);
}

int
main(void)
{
    /* One scratch directory for every test (each runs in a child). */
    snprintf(dir, sizeof dir, "/tmp/vp_test_agent_config.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc =
        RUN_TESTS(T(template_defaults), T(template_all_keys),
                  T(template_errors), T(template_config_block),
                  T(exec_and_env_templates), T(exec_and_env_template_errors),
                  T(function_denylist_and_deprecated_owner_ids),
                  T(exit_after_auth_and_sinkless_auto_auth));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (dir[0] && system(cmd) != 0)
        rc = 1;
    return rc;
}
