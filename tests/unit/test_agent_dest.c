/* Destination files of agent templates: written only on a change,
 * atomically, with the exact mode, a backup when asked, directories
 * created only when asked, and commands run with their timeout. */
#include "autoconf.h"

#include "agent/command.h"
#include "agent/dest_file.h"
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>

static char dir[64];
static char err[512];

static const char *
path(const char *name)
{
    static char buf[4][256];
    static int next;
    char *b = buf[next++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static char *
slurp(const char *p)
{
    static char buf[4096];
    FILE *f = fopen(p, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

TEST(written_only_when_changed)
{
    vpd_agent_dest d = {.path = path("a.txt"), .mode = 0600};
    mode_t old = umask(077);
    ASSERT_INT_EQ(vpd_agent_dest_write(&d, "one", 3, err, sizeof err), 1);
    ASSERT_STR_EQ(slurp(d.path), "one");
    struct stat st1, st2;
    ASSERT_INT_EQ(stat(d.path, &st1), 0);
    ASSERT_INT_EQ(st1.st_mode & 07777, 0600);
    ASSERT_INT_EQ(vpd_agent_dest_write(&d, "one", 3, err, sizeof err), 0);
    ASSERT_INT_EQ(stat(d.path, &st2), 0);
    ASSERT_INT_EQ(st1.st_ino, st2.st_ino); /* untouched */
    /* The mode is exact whatever the umask. */
    d.mode = 0664;
    ASSERT_INT_EQ(vpd_agent_dest_write(&d, "two", 3, err, sizeof err), 1);
    ASSERT_INT_EQ(stat(d.path, &st2), 0);
    ASSERT_INT_EQ(st2.st_mode & 07777, 0664);
    ASSERT(st1.st_ino != st2.st_ino); /* renamed over, not rewritten */
    umask(old);
}

TEST(backup_keeps_the_previous_contents)
{
    vpd_agent_dest d = {.path = path("b.txt"), .mode = 0644, .backup = true};
    ASSERT_INT_EQ(vpd_agent_dest_write(&d, "old", 3, err, sizeof err), 1);
    ASSERT_NULL(slurp(path("b.txt.bak")));
    ASSERT_INT_EQ(vpd_agent_dest_write(&d, "new", 3, err, sizeof err), 1);
    ASSERT_STR_EQ(slurp(path("b.txt")), "new");
    ASSERT_STR_EQ(slurp(path("b.txt.bak")), "old");
}

TEST(directories_only_when_asked)
{
    vpd_agent_dest d = {.path = path("x/y/c.txt"), .mode = 0644};
    ASSERT_INT_EQ(vpd_agent_dest_write(&d, "c", 1, err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "x/y/c.txt");
    d.create_dirs = true;
    ASSERT_INT_EQ(vpd_agent_dest_write(&d, "c", 1, err, sizeof err), 1);
    ASSERT_STR_EQ(slurp(d.path), "c");
}

TEST(unknown_owner_is_an_error)
{
    vpd_agent_dest d = {
        .path = path("d.txt"), .mode = 0644, .user = "no-such-user-vaproxy"};
    ASSERT_INT_EQ(vpd_agent_dest_write(&d, "d", 1, err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "unknown user \"no-such-user-vaproxy\"");
    /* One past the largest uid: read as a number it would wrap to 0, root. */
    d.user = "4294967296";
    ASSERT_INT_EQ(vpd_agent_dest_write(&d, "d", 1, err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "unknown user \"4294967296\"");
    d.user = NULL;
    d.group = "no-such-group-vaproxy";
    ASSERT_INT_EQ(vpd_agent_dest_write(&d, "d", 1, err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "unknown group \"no-such-group-vaproxy\"");
}

static int cmd_status = -100;

static void
on_done(int status, void *arg)
{
    (void)arg;
    cmd_status = status;
}

static int
run_cmd(const char *const *argv, size_t n, bool shell, uint64_t timeout)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    cmd_status = -100;
    if (vpd_agent_command_run(&loop, argv, n, shell, timeout, on_done, NULL,
                              err, sizeof err) != 0) {
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return -200;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    return cmd_status;
}

TEST(commands_status_shell_and_timeout)
{
    const char *exit3[] = {"/bin/sh", "-c", "exit 3"};
    ASSERT_INT_EQ(run_cmd(exit3, 3, false, 5000), 3);
    const char *shell[] = {"exit 4"};
    ASSERT_INT_EQ(run_cmd(shell, 1, true, 5000), 4);
    const char *slow[] = {"/bin/sleep", "5"};
    ASSERT_INT_EQ(run_cmd(slow, 2, false, 100), -1);
    const char *missing[] = {"/nonexistent/vaproxy-cmd"};
    ASSERT_INT_EQ(run_cmd(missing, 1, false, 100), -200);
    ASSERT_STR_CONTAINS(err, "cannot start /nonexistent/vaproxy-cmd");
}

int
main(void)
{
    snprintf(dir, sizeof dir, "/tmp/vp_test_agent_dest.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = RUN_TESTS(
        T(written_only_when_changed), T(backup_keeps_the_previous_contents),
        T(directories_only_when_asked), T(unknown_owner_is_an_error),
        T(commands_status_shell_and_timeout));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
