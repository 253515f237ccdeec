/* Atomic replace: readers of the sink file see the old token or the new
 * one, never a partial write.  The temp file is created with the mode and
 * gets its owner before it is renamed, so there is no moment with looser
 * permissions. */
#include "autoconf.h"

#include "auth/sink_file.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
node_int(const vpd_cfg_node *v, int base, long long *out)
{
    if (v->type == VPD_CFG_NUMBER && !v->is_float) {
        *out = v->num;
        return 0;
    }
    if (v->type != VPD_CFG_STRING || !v->str[0])
        return -1;
    char *end;
    errno = 0;
    long long n = strtoll(v->str, &end, base);
    if (errno || *end)
        return -1;
    *out = n;
    return 0;
}

int
vpd_file_sink_init(vpd_file_sink *s, const vpd_cfg_node *config,
                   const char *file, int line, char *err, size_t err_len)
{
    memset(s, 0, sizeof *s);
    s->mode = 0640;
    s->uid = (uid_t)-1;
    s->gid = (gid_t)-1;
    for (size_t i = 0; config && i < config->n_members; i++) {
        const vpd_cfg_member *m = &config->members[i];
        long long n = 0;
        if (strcmp(m->key, "path") == 0) {
            if (m->value->type != VPD_CFG_STRING || !m->value->str[0]) {
                snprintf(err, err_len,
                         "%s:%d: sink \"file\": path: expected "
                         "a non-empty string",
                         file, m->line);
                return -1;
            }
            free(s->path);
            s->path = strdup(m->value->str);
        } else if (strcmp(m->key, "mode") == 0) {
            /* HCL's 0640 is octal already; "0640" in JSON is read as octal
             * too (hashicorp/vault#9404). */
            if (node_int(m->value, 8, &n) != 0 || n < 0 || n > 07777) {
                snprintf(err, err_len,
                         "%s:%d: sink \"file\": mode: expected "
                         "a file mode such as 0640 or \"0640\"",
                         file, m->line);
                return -1;
            }
            s->mode = (mode_t)n;
        } else if (strcmp(m->key, "uid") == 0 || strcmp(m->key, "gid") == 0) {
            if (node_int(m->value, 10, &n) != 0 || n < 0 || n > 0x7fffffff) {
                snprintf(err, err_len,
                         "%s:%d: sink \"file\": %s: expected a "
                         "numeric id",
                         file, m->line, m->key);
                return -1;
            }
            if (m->key[0] == 'u')
                s->uid = (uid_t)n;
            else
                s->gid = (gid_t)n;
        } else {
            snprintf(err, err_len,
                     "%s:%d: sink \"file\": unknown key \"%s\" "
                     "(path, mode, uid, gid)",
                     file, m->line, m->key);
            return -1;
        }
    }
    if (!s->path) {
        snprintf(err, err_len,
                 "%s:%d: sink \"file\": 'path' not specified "
                 "for file sink",
                 file, line);
        return -1;
    }
    return 0;
}

static int
write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes to "<path>.tmp.<random>"; renames over path unless only_check. */
static int
write_file(const vpd_file_sink *s, const char *data, size_t len,
           bool only_check, char *err, size_t err_len)
{
    unsigned char rnd[4];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        memset(rnd, 0, sizeof rnd);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%02x%02x%02x%02x", s->path, rnd[0],
             rnd[1], rnd[2], rnd[3]);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  s->mode);
    if (fd < 0) {
        snprintf(err, err_len, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    /* The mode is given to open(2) only, so the process umask still
     * narrows it, as Vault's file sink does. */
    const char *step = "write";
    int rc = write_all(fd, data, len);
    if (rc == 0 && (s->uid != (uid_t)-1 || s->gid != (gid_t)-1) &&
        (step = "fchown", fchown(fd, s->uid, s->gid)) != 0)
        rc = -1;
    if (rc == 0 && (step = "fsync", fsync(fd)) != 0)
        rc = -1;
    int e = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        e = errno;
        step = "close";
    }
    if (rc == 0 && !only_check && rename(tmp, s->path) != 0) {
        rc = -1;
        e = errno;
        step = "rename";
    }
    if (rc != 0 || only_check)
        unlink(tmp);
    if (rc != 0)
        snprintf(err, err_len, "%s %s: %s", step, s->path, strerror(e));
    return rc;
}

int
vpd_file_sink_write(const vpd_file_sink *s, const char *data, size_t len,
                    char *err, size_t err_len)
{
    return write_file(s, data, len, false, err, err_len);
}

int
vpd_file_sink_check(const vpd_file_sink *s, char *err, size_t err_len)
{
    char why[512];
    if (write_file(s, "write check", 11, true, why, sizeof why) != 0) {
        snprintf(err, err_len,
                 "error creating file sink: error during write "
                 "check: %s",
                 why);
        return -1;
    }
    return 0;
}

void
vpd_file_sink_free(vpd_file_sink *s)
{
    free(s->path);
    s->path = NULL;
}
