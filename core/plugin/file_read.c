/* Reading plugin files: see file_read.h.
 *
 * This file has a second user: the SDK's mock host (tests/host/mock_host.c)
 * includes it, and `make install` ships it beside mock_host.c as
 * plugin/file_read.c, so that a plugin tested on the mock host meets the
 * daemon's rules and messages.  There it must stand alone: the mock
 * defines VPD_FILE_READ_STATIC first, which makes vpd_file_read static and
 * skips the core's headers.  Keep it to POSIX and the SDK's headers. */
#ifndef VPD_FILE_READ_STATIC
#include "autoconf.h"

#include "plugin/file_read.h"
#define VPD_FILE_READ_LINKAGE
#else
#define VPD_FILE_READ_LINKAGE static
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vaproxy/host.h>

/* Zeroes memory the compiler may not optimise the stores away from. */
static void
file_read_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

/* Checks what was opened: a regular file (never block on a FIFO or a
 * device), none of the denied permission bits, not too large. */
static int
file_read_check(int fd, const char *path, unsigned deny_mode, size_t max,
                char *why, size_t why_len)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
        return VP_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "cannot read %s: not a regular file", path);
        return VP_EIO;
    }
    unsigned bad = (unsigned)st.st_mode & deny_mode & 07777u;
    if (bad) {
        snprintf(why, why_len,
                 "%s has mode %04o: it must not have the permissions %04o",
                 path, (unsigned)(st.st_mode & 07777), bad);
        return VP_EIO;
    }
    if ((unsigned long long)st.st_size > (unsigned long long)max) {
        snprintf(why, why_len, "%s is larger than %zu MiB", path, max >> 20);
        return VP_EIO;
    }
    return 0;
}

VPD_FILE_READ_LINKAGE int
vpd_file_read(const char *path, unsigned flags, unsigned deny_mode, size_t max,
              char **out, size_t *out_len, char *why, size_t why_len)
{
    *out = NULL;
    why[0] = '\0';
    int oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (flags & VP_READ_NOFOLLOW)
        oflags |= O_NOFOLLOW;
    int fd = open(path, oflags);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP && (flags & VP_READ_NOFOLLOW))
            snprintf(why, why_len, "cannot read %s: a symbolic link", path);
        else
            snprintf(why, why_len, "cannot read %s: %s", path, strerror(e));
        return e == ENOENT ? VP_ENOENT : VP_EIO;
    }
    int rc = file_read_check(fd, path, deny_mode, max, why, why_len);
    /* One byte more than allowed tells a file that grew since fstat. */
    char *buf = rc == 0 ? malloc(max + 1) : NULL;
    if (rc == 0 && !buf)
        rc = VP_ENOMEM;
    size_t len = 0;
    while (rc == 0) {
        ssize_t n = read(fd, buf + len, max + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
            rc = VP_EIO;
        } else if (n == 0) {
            break;
        } else if ((len += (size_t)n) > max) {
            snprintf(why, why_len, "%s is larger than %zu MiB", path,
                     max >> 20);
            rc = VP_EIO;
        }
    }
    close(fd);
    if (rc != 0) {
        if (buf) {
            file_read_wipe(buf, max + 1);
            free(buf);
        }
        return rc;
    }
    buf[len] = '\0';
    /* Vault's remove_*_after_reading: the value was read, so a failed
     * removal is only worth a warning. */
    if ((flags & VP_READ_REMOVE) && unlink(path) != 0)
        snprintf(why, why_len, "cannot remove %s after reading it: %s", path,
                 strerror(errno));
    *out = buf;
    *out_len = len;
    return 0;
}
