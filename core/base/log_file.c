/* Log file output with rotation.  Archive naming and the pruning rule
 * follow Vault's (NAME-<unix ns>.EXT, newest kept), so operators' cleanup
 * scripts written for Vault keep working. */
#include "autoconf.h"

#include "base/log_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *path;
    char *dir;  /* "." when the path has no directory */
    char *stem; /* file name without its extension */
    char *ext;  /* ".log" when the name has none */
    uint64_t rotate_bytes;
    uint64_t rotate_ms;
    int64_t max_files;
    int fd;
    uint64_t bytes;     /* in the current file */
    uint64_t opened_ms; /* monotonic */
    uint64_t retry_ms;  /* when a failed open may be tried again */
    bool failing;       /* a write or open failed; reported once */
    bool regular;       /* only regular files are rotated */
} log_file;

static log_file lf = {.fd = -1};

static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Says on stderr (never through the logger: that would recurse) that the
 * file is failing, once until it works again. */
static void
report(const char *what, int e)
{
    if (lf.failing)
        return;
    lf.failing = true;
    char line[1200];
    int n = snprintf(line, sizeof line,
                     "vaproxyd: log file %s: %s: %s (lines go to stderr "
                     "only until it works again)\n",
                     lf.path ? lf.path : "?", what, strerror(e));
    if (n > 0) {
        ssize_t w =
            write(STDERR_FILENO, line,
                  (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)w;
    }
}

/* O_NONBLOCK: a FIFO without a reader fails at once instead of hanging
 * the loop; it changes nothing for regular files. */
static int
open_path(const char *path, uint64_t *size, bool *regular)
{
    int fd = open(
        path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
        0600);
    if (fd < 0)
        return -1;
    struct stat st;
    bool ok = fstat(fd, &st) == 0;
    *size = ok ? (uint64_t)st.st_size : 0;
    /* A device or a pipe (/dev/stdout, a FIFO to a collector) is
     * written, never renamed. */
    *regular = ok && S_ISREG(st.st_mode);
    return fd;
}

static bool
is_archive(const char *name)
{
    size_t sl = strlen(lf.stem), el = strlen(lf.ext), n = strlen(name);
    if (n <= sl + 1 + el || strncmp(name, lf.stem, sl) != 0 ||
        name[sl] != '-' || strcmp(name + n - el, lf.ext) != 0)
        return false;
    for (size_t i = sl + 1; i < n - el; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return true;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes the oldest archives beyond max_files (all with -1).  Archive
 * names differ only in equally long time stamps, so name order is age
 * order. */
static void
prune(void)
{
    if (lf.max_files == 0)
        return;
    DIR *d = opendir(lf.dir);
    if (!d)
        return;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_archive(de->d_name))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn)
                break;
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(de->d_name)))
            break;
        n++;
    }
    closedir(d);
    if (n > 1) /* qsort must not be given the NULL of an empty list */
        qsort(names, n, sizeof *names, cmp_str);
    size_t keep = lf.max_files < 0 ? 0 : (size_t)lf.max_files;
    for (size_t i = 0; i < n; i++) {
        if (i + keep < n) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", lf.dir, names[i]);
            unlink(path);
        }
        free(names[i]);
    }
    free(names);
}

static void
rotate(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char archive[4096];
    snprintf(archive, sizeof archive, "%s/%s-%lld%09ld%s", lf.dir, lf.stem,
             (long long)ts.tv_sec, (long)ts.tv_nsec, lf.ext);
    close(lf.fd);
    lf.fd = -1;
    /* With -1 no archive is kept: removing the file at once leaves no
     * moment with an archive on disk.  The file may also have been
     * removed behind our back: then a fresh one is opened all the same. */
    int rc = lf.max_files < 0 ? unlink(lf.path) : rename(lf.path, archive);
    if (rc != 0 && errno != ENOENT)
        report("cannot rotate", errno);
    prune();
    uint64_t size = 0;
    lf.fd = open_path(lf.path, &size, &lf.regular);
    lf.opened_ms = mono_ms();
    if (lf.fd < 0) {
        report("cannot open", errno);
        lf.retry_ms = lf.opened_ms + 1000;
        return;
    }
    lf.bytes = size;
}

void
vpd_log_file_write(const char *line, size_t len)
{
    if (!lf.path)
        return;
    uint64_t now = mono_ms();
    if (lf.fd < 0) {
        /* The last open failed: try again at most once a second. */
        if (now < lf.retry_ms)
            return;
        uint64_t size = 0;
        lf.fd = open_path(lf.path, &size, &lf.regular);
        if (lf.fd < 0) {
            lf.retry_ms = now + 1000;
            return;
        }
        lf.bytes = size;
        lf.opened_ms = now;
    }
    if (lf.regular && ((lf.rotate_bytes && lf.bytes >= lf.rotate_bytes) ||
                       now - lf.opened_ms >= lf.rotate_ms)) {
        rotate();
        if (lf.fd < 0)
            return;
    }
    ssize_t w = write(lf.fd, line, len);
    if (w < 0) {
        report("write failed", errno);
        return;
    }
    lf.bytes += (uint64_t)w;
    if ((size_t)w == len)
        lf.failing = false;
}

static void
clear_names(void)
{
    free(lf.path);
    free(lf.dir);
    free(lf.stem);
    free(lf.ext);
    lf.path = lf.dir = lf.stem = lf.ext = NULL;
}

void
vpd_log_file_close(void)
{
    if (lf.fd >= 0)
        close(lf.fd);
    lf.fd = -1;
    clear_names();
    lf.failing = false;
}

int
vpd_log_file_active(void)
{
    return lf.path != NULL;
}

int
vpd_log_file_configure(const vpd_log_file_config *c, char *err, size_t err_len)
{
    if (!c->path || !c->path[0]) {
        vpd_log_file_close();
        return 0;
    }
    const char *slash = strrchr(c->path, '/');
    const char *name = slash ? slash + 1 : c->path;
    if (!name[0]) {
        snprintf(err, err_len, "log_file %s: names a directory", c->path);
        return -1;
    }
    const char *dot = strrchr(name, '.');
    char *path = strdup(c->path);
    char *dir =
        slash
            ? strndup(c->path, slash == c->path ? 1 : (size_t)(slash - c->path))
            : strdup(".");
    char *stem = dot ? strndup(name, (size_t)(dot - name)) : strdup(name);
    char *ext = strdup(dot ? dot : ".log");
    if (!path || !dir || !stem || !ext) {
        free(path);
        free(dir);
        free(stem);
        free(ext);
        snprintf(err, err_len, "log_file: out of memory");
        return -1;
    }
    uint64_t size = 0;
    bool regular = false;
    int fd = open_path(path, &size, &regular);
    if (fd < 0) {
        snprintf(err, err_len, "log_file %s: cannot open: %s", path,
                 strerror(errno));
        free(path);
        free(dir);
        free(stem);
        free(ext);
        return -1;
    }
    /* The same file again (a reload that kept log_file): its age goes on,
     * so SIGHUPs do not postpone a rotation by duration. */
    uint64_t opened = mono_ms();
    struct stat a, b;
    if (lf.fd >= 0 && fstat(lf.fd, &a) == 0 && fstat(fd, &b) == 0 &&
        a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        opened = lf.opened_ms;
    if (lf.fd >= 0)
        close(lf.fd);
    clear_names();
    lf.path = path;
    lf.dir = dir;
    lf.stem = stem;
    lf.ext = ext;
    lf.fd = fd;
    lf.regular = regular;
    lf.bytes = size;
    lf.opened_ms = opened;
    lf.rotate_bytes = c->rotate_bytes;
    lf.rotate_ms = c->rotate_ms ? c->rotate_ms : VPD_LOG_FILE_DEFAULT_ROTATE_MS;
    lf.max_files = c->max_files;
    lf.failing = false;
    prune();
    return 0;
}

int
vpd_log_file_reopen(char *err, size_t err_len)
{
    if (!lf.path)
        return 0;
    uint64_t size = 0;
    bool regular = false;
    int fd = open_path(lf.path, &size, &regular);
    if (fd < 0) {
        snprintf(err, err_len, "log_file %s: cannot reopen: %s", lf.path,
                 strerror(errno));
        return -1;
    }
    /* After a rename by logrotate this is a new file: its age starts
     * over.  The same file keeps its age. */
    struct stat a, b;
    if (!(lf.fd >= 0 && fstat(lf.fd, &a) == 0 && fstat(fd, &b) == 0 &&
          a.st_dev == b.st_dev && a.st_ino == b.st_ino))
        lf.opened_ms = mono_ms();
    if (lf.fd >= 0)
        close(lf.fd);
    lf.fd = fd;
    lf.regular = regular;
    lf.bytes = size;
    lf.failing = false;
    return 0;
}
