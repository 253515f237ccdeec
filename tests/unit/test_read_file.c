/* host->read_file and read_file_opts: the daemon's host table and the
 * SDK's mock host (which share core/plugin/file_read.c) accept, refuse and
 * word every case alike.  A FIFO must be refused at once, never waited
 * on: an alarm turns a blocked open into a failed test. */
#include "autoconf.h"

#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mock_host.h"
#include "plugin/host_table.h"
#include "plugin/plugin_instance.h"

static char dir[64];

static const char *
in_dir(const char *name)
{
    static char path[4][128];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    return p;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    ASSERT_INT_EQ(fclose(f), 0);
    ASSERT_INT_EQ(chmod(path, mode), 0);
}

/* One call on both hosts: the same code, value and error text. */
typedef struct {
    int rc;
    char value[64];
    char error[1024];
} outcome;

static outcome
call(const vp_host_api_t *host, vp_instance_t *inst, const char *err_text,
     const char *path, const vp_read_opts_t *opts)
{
    outcome o = {0};
    char *out = NULL;
    size_t len = 0;
    if (opts)
        o.rc = host->read_file_opts(inst, path, opts, &out, &len);
    else
        o.rc = host->read_file(inst, path, 1, &out, &len);
    if (out) {
        snprintf(o.value, sizeof o.value, "%.*s", (int)len, out);
        host->secret_free(out);
    }
    snprintf(o.error, sizeof o.error, "%s", err_text);
    return o;
}

static outcome
both(const char *path, const vp_read_opts_t *opts, const char *prepare)
{
    vpd_instance vi = {.kind = VP_KIND_AUTH};
    vi.pub.host = vpd_host_api();
    vi.pub.name = "t";
    mock_instance *mi = mock_instance_new("t", NULL, NULL);
    ASSERT_NOT_NULL(mi);
    if (prepare)
        write_file(path, prepare, 0600);
    outcome d = call(vpd_host_api(), &vi.pub, "", path, opts);
    snprintf(d.error, sizeof d.error, "%s", vi.last_error);
    if (prepare)
        write_file(path, prepare, 0600);
    outcome m = call(mock_host(), &mi->pub, "", path, opts);
    snprintf(m.error, sizeof m.error, "%s", mi->error);
    mock_instance_free(mi);
    ASSERT_INT_EQ(m.rc, d.rc);
    ASSERT_STR_EQ(m.value, d.value);
    ASSERT_STR_EQ(m.error, d.error);
    return d;
}

TEST(a_regular_file_is_read_and_trimmed)
{
    write_file(in_dir("plain"), "  s3cret\n", 0600);
    outcome o = both(in_dir("plain"), NULL, NULL);
    ASSERT_INT_EQ(o.rc, 0);
    ASSERT_STR_EQ(o.value, "s3cret");
    vp_read_opts_t raw = {.size = sizeof raw};
    o = both(in_dir("plain"), &raw, NULL);
    ASSERT_STR_EQ(o.value, "  s3cret\n");
    o = both(in_dir("missing"), NULL, NULL);
    ASSERT_INT_EQ(o.rc, VP_ENOENT);
    ASSERT_STR_CONTAINS(o.error, "No such file or directory");
}

TEST(a_fifo_or_a_directory_is_refused_without_blocking)
{
    ASSERT_INT_EQ(mkfifo(in_dir("fifo"), 0600), 0);
    alarm(10);
    outcome o = both(in_dir("fifo"), NULL, NULL);
    alarm(0);
    ASSERT_INT_EQ(o.rc, VP_EIO);
    char want[256];
    snprintf(want, sizeof want, "cannot read %s: not a regular file",
             in_dir("fifo"));
    ASSERT_STR_EQ(o.error, want);
    o = both(dir, NULL, NULL);
    ASSERT_INT_EQ(o.rc, VP_EIO);
    ASSERT_STR_CONTAINS(o.error, "not a regular file");
}

TEST(no_follow_refuses_a_symbolic_link)
{
    write_file(in_dir("target"), "t", 0600);
    ASSERT_INT_EQ(symlink(in_dir("target"), in_dir("link")), 0);
    vp_read_opts_t follow = {.size = sizeof follow};
    ASSERT_STR_EQ(both(in_dir("link"), &follow, NULL).value, "t");
    vp_read_opts_t nofollow = {.size = sizeof nofollow,
                               .flags = VP_READ_NOFOLLOW};
    outcome o = both(in_dir("link"), &nofollow, NULL);
    ASSERT_INT_EQ(o.rc, VP_EIO);
    ASSERT_STR_CONTAINS(o.error, "link: a symbolic link");
}

TEST(deny_mode_refuses_loose_permissions)
{
    write_file(in_dir("loose"), "x", 0644);
    vp_read_opts_t private_ = {.size = sizeof private_, .deny_mode = 0077};
    outcome o = both(in_dir("loose"), &private_, NULL);
    ASSERT_INT_EQ(o.rc, VP_EIO);
    ASSERT_STR_CONTAINS(o.error, "loose has mode 0644: it must not have the "
                                 "permissions 0044");
    ASSERT_INT_EQ(chmod(in_dir("loose"), 0600), 0);
    o = both(in_dir("loose"), &private_, NULL);
    ASSERT_INT_EQ(o.rc, 0);
    ASSERT_STR_EQ(o.value, "x");
}

TEST(remove_deletes_the_file_once_read)
{
    vp_read_opts_t rm = {.size = sizeof rm,
                         .flags = VP_READ_REMOVE | VP_READ_TRIM};
    outcome o = both(in_dir("once"), &rm, "jwt-value\n");
    ASSERT_INT_EQ(o.rc, 0);
    ASSERT_STR_EQ(o.value, "jwt-value");
    ASSERT(access(in_dir("once"), F_OK) != 0 && errno == ENOENT);
    /* A refused file stays. */
    rm.deny_mode = 0077;
    write_file(in_dir("kept"), "v", 0640);
    ASSERT_INT_EQ(both(in_dir("kept"), &rm, NULL).rc, VP_EIO);
    ASSERT_INT_EQ(access(in_dir("kept"), F_OK), 0);
}

TEST(bad_options_are_refused)
{
    vp_read_opts_t small = {.size = 1};
    outcome o = both(in_dir("plain"), &small, NULL);
    ASSERT_INT_EQ(o.rc, VP_EINVAL);
    ASSERT_STR_EQ(o.error, "read_file_opts: options too small");
    vp_read_opts_t unknown = {.size = sizeof unknown, .flags = 0x100};
    o = both(in_dir("plain"), &unknown, NULL);
    ASSERT_INT_EQ(o.rc, VP_EINVAL);
    ASSERT_STR_EQ(o.error, "read_file_opts: unknown flags");
    ASSERT(VP_HOST_HAS(vpd_host_api(), read_file_opts));
    ASSERT(VP_HOST_HAS(mock_host(), read_file_opts));
}

int
main(void)
{
    snprintf(dir, sizeof dir, "/tmp/vp-read-XXXXXX");
    if (!mkdtemp(dir))
        return 99;
    int rc = RUN_TESTS(T(a_regular_file_is_read_and_trimmed),
                       T(a_fifo_or_a_directory_is_refused_without_blocking),
                       T(no_follow_refuses_a_symbolic_link),
                       T(deny_mode_refuses_loose_permissions),
                       T(remove_deletes_the_file_once_read),
                       T(bad_options_are_refused));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
