/* Writing a destination file (dest_file.h). */
#include "autoconf.h"

#include "agent/dest_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/sink_file.h"
#include "base/sys_ids.h"

/* 1 when path holds exactly data, 0 when not (or absent), -1 on a read
 * error other than absence. */
static int
same_contents(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (size_t)st.st_size == len) {
        char *buf = malloc(len + 1);
        size_t got = 0;
        while (buf && got < len) {
            ssize_t n = read(fd, buf + got, len - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        rc = buf && got == len && memcmp(buf, data, len) == 0;
        free(buf);
    }
    close(fd);
    return rc;
}

/* mkdir -p of path's directory. */
static int
make_parents(const char *path, char *err, size_t err_len)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            goto fail;
        *p = '/';
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        goto fail;
    return 0;
fail:
    snprintf(err, err_len, "cannot create directory %s: %s", dir,
             strerror(errno));
    return -1;
}

static int
copy_to_backup(const char *path, char *err, size_t err_len)
{
    char bak[4096];
    snprintf(bak, sizeof bak, "%s.bak", path);
    /* A hard link keeps the old inode as the backup; the rename that
     * follows puts the new one in place. */
    unlink(bak);
    if (link(path, bak) != 0 && errno != ENOENT) {
        snprintf(err, err_len, "cannot back up %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int
vpd_agent_dest_write(const vpd_agent_dest *d, const char *data, size_t len,
                     char *err, size_t err_len)
{
    int same = same_contents(d->path, data, len);
    if (same == 1)
        return 0;
    if (d->create_dirs && make_parents(d->path, err, err_len) != 0)
        return -1;
    vpd_file_sink sink = {.path = (char *)d->path,
                          .mode = (mode_t)d->mode,
                          .uid = (uid_t)-1,
                          .gid = (gid_t)-1};
    if (d->user && vpd_user_id(d->user, &sink.uid) != 0) {
        snprintf(err, err_len, "unknown user \"%s\"", d->user);
        return -1;
    }
    if (d->group && vpd_group_id(d->group, &sink.gid) != 0) {
        snprintf(err, err_len, "unknown group \"%s\"", d->group);
        return -1;
    }
    if (d->backup && copy_to_backup(d->path, err, err_len) != 0)
        return -1;
    if (vpd_file_sink_write(&sink, data, len, err, err_len) != 0)
        return -1;
    if (chmod(d->path, (mode_t)d->mode) != 0) {
        snprintf(err, err_len, "chmod %s: %s", d->path, strerror(errno));
        return -1;
    }
    return 1;
}
