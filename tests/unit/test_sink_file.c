/* The file sink: settings, atomic replace with mode and owner, the
 * start-up write check. */
#include "autoconf.h"

#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cfgtree.h"
#include "auth/sink_file.h"

static char dir[] = "/tmp/vp-sink-test-XXXXXX";

static vpd_cfg_tree tree;

/* Parses `config = { ... }` text and returns the config map. */
static const vpd_cfg_node *
config_of(const char *hcl)
{
    char err[256];
    ASSERT_INT_EQ(
        vpd_cfg_parse("t.hcl", hcl, strlen(hcl), &tree, err, sizeof err), 0);
    return vpd_cfg_get(tree.root, "config")->value;
}

static char *
slurp(const char *path)
{
    static char buf[256];
    int fd = open(path, O_RDONLY);
    ASSERT(fd >= 0);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    ASSERT(n >= 0);
    buf[n] = '\0';
    return buf;
}

TEST(writes_exactly_with_mode)
{
    ASSERT_NOT_NULL(mkdtemp(dir));
    umask(0);
    char hcl[1024], err[256], path[512];
    snprintf(path, sizeof path, "%s/token", dir);
    snprintf(hcl, sizeof hcl, "config = { path = \"%s\", mode = 0604 }", path);
    vpd_file_sink s;
    ASSERT_INT_EQ(
        vpd_file_sink_init(&s, config_of(hcl), "t.hcl", 1, err, sizeof err), 0);
    ASSERT_INT_EQ(vpd_file_sink_check(&s, err, sizeof err), 0);
    ASSERT_INT_EQ(vpd_file_sink_write(&s, "hvs.one", 7, err, sizeof err), 0);
    ASSERT_STR_EQ(slurp(path), "hvs.one");
    struct stat st;
    ASSERT_INT_EQ(stat(path, &st), 0);
    ASSERT_INT_EQ(st.st_mode & 07777, 0604);
    ASSERT_INT_EQ(vpd_file_sink_write(&s, "hvs.two", 7, err, sizeof err), 0);
    ASSERT_STR_EQ(slurp(path), "hvs.two");
    vpd_file_sink_free(&s);
    unlink(path);
    rmdir(dir);
}

TEST(mode_as_an_octal_string_and_default)
{
    char err[256];
    vpd_file_sink s;
    ASSERT_INT_EQ(vpd_file_sink_init(
                      &s,
                      config_of("config = { path = \"/x\", mode = \"0600\" }"),
                      "t.hcl", 1, err, sizeof err),
                  0);
    ASSERT_INT_EQ(s.mode, 0600);
    vpd_file_sink_free(&s);
    ASSERT_INT_EQ(vpd_file_sink_init(&s,
                                     config_of("config = { path = \"/x\" }"),
                                     "t.hcl", 1, err, sizeof err),
                  0);
    ASSERT_INT_EQ(s.mode, 0640);
    ASSERT(s.uid == (uid_t)-1 && s.gid == (gid_t)-1);
    vpd_file_sink_free(&s);
}

TEST(bad_settings_name_file_line_and_key)
{
    char err[256];
    vpd_file_sink s;
    ASSERT_INT_EQ(vpd_file_sink_init(
                      &s, config_of("config = {\n path = \"/x\"\n mdoe = 1 }"),
                      "t.hcl", 1, err, sizeof err),
                  -1);
    ASSERT_STR_EQ(err, "t.hcl:3: sink \"file\": unknown key \"mdoe\" (path, "
                       "mode, uid, gid)");
    vpd_file_sink_free(&s);
    ASSERT_INT_EQ(vpd_file_sink_init(&s, config_of("config = { mode = 1 }"),
                                     "t.hcl", 7, err, sizeof err),
                  -1);
    ASSERT_STR_EQ(err, "t.hcl:7: sink \"file\": 'path' not specified for "
                       "file sink");
    vpd_file_sink_free(&s);
    ASSERT_INT_EQ(vpd_file_sink_init(
                      &s,
                      config_of("config = { path = \"/x\", mode = \"rw\" }"),
                      "t.hcl", 1, err, sizeof err),
                  -1);
    ASSERT_STR_CONTAINS(err, "mode: expected a file mode");
    vpd_file_sink_free(&s);
}

TEST(write_check_fails_for_an_unwritable_directory)
{
    char err[256];
    vpd_file_sink s;
    ASSERT_INT_EQ(
        vpd_file_sink_init(
            &s, config_of("config = { path = \"/nonexistent-dir/token\" }"),
            "t.hcl", 1, err, sizeof err),
        0);
    ASSERT_INT_EQ(vpd_file_sink_check(&s, err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "error creating file sink: error during write "
                             "check");
    vpd_file_sink_free(&s);
}

TEST(owner_is_applied)
{
    if (geteuid() != 0) {
        printf("# not root: skipping chown check\n");
        return;
    }
    ASSERT_NOT_NULL(mkdtemp(dir));
    char hcl[1024], err[256], path[512];
    snprintf(path, sizeof path, "%s/owned", dir);
    snprintf(hcl, sizeof hcl,
             "config = { path = \"%s\", uid = 65534, "
             "gid = 65534 }",
             path);
    vpd_file_sink s;
    ASSERT_INT_EQ(
        vpd_file_sink_init(&s, config_of(hcl), "t.hcl", 1, err, sizeof err), 0);
    ASSERT_INT_EQ(vpd_file_sink_write(&s, "t", 1, err, sizeof err), 0);
    struct stat st;
    ASSERT_INT_EQ(stat(path, &st), 0);
    ASSERT_INT_EQ(st.st_uid, 65534);
    ASSERT_INT_EQ(st.st_gid, 65534);
    vpd_file_sink_free(&s);
    unlink(path);
    rmdir(dir);
}

int
main(void)
{
    return RUN_TESTS(
        T(writes_exactly_with_mode), T(mode_as_an_octal_string_and_default),
        T(bad_settings_name_file_line_and_key),
        T(write_check_fails_for_an_unwritable_directory), T(owner_is_applied));
}
