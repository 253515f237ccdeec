/* The store's file and its lifetime: opening (the directory lock, the
 * key material, the removal of an unfinished rewrite, creating a new
 * store or checking the header and replaying an existing one), closing,
 * syncing, and discarding a store that cannot be read.
 *
 * Ownership: a vpd_persist owns its copy of the configuration, the file
 * descriptors (closing the directory's releases the lock), the keys
 * (wiped when freed), the index and the auto-auth token copy. */
#include "autoconf.h"

#include "cache/persist/persist_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <vaproxy/errors.h>

#include "base/log.h"
#include "base/secmem.h"

static char *
xstrdup_opt(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

void
vpd_persist_free(vpd_persist *p)
{
    vpd_persist_retry_stop(p);
    if (p->fd >= 0)
        close(p->fd);
    if (p->dirfd >= 0)
        close(p->dirfd); /* releases the lock */
    OPENSSL_cleanse(p->dk, sizeof p->dk);
    vpd_secret_free(p->ikm);
    vpd_secret_free(p->auto_auth);
    vpd_persist_idx_clear(p);
    free(p->buckets);
    free(p->db_path);
    vpd_persist_config_free(&p->cfg);
    free(p);
}

vpd_persist *
vpd_persist_open(const vpd_persist_config *c, char *err, size_t err_len)
{
    if (!c || !c->path ||
        (c->kind != VPD_PERSIST_FILE && c->kind != VPD_PERSIST_KUBERNETES) ||
        (c->kind == VPD_PERSIST_FILE && !c->key_file) ||
        (c->kind == VPD_PERSIST_KUBERNETES && !c->service_account_token_file)) {
        vpd_persist_fail(err, err_len,
                         "persistent cache: incomplete configuration");
        return NULL;
    }
    vpd_persist *p = calloc(1, sizeof *p);
    if (!p) {
        vpd_persist_fail(err, err_len, "out of memory");
        return NULL;
    }
    p->fd = p->dirfd = -1;
    bool oom = false;
    p->cfg = *c;
    p->cfg.type = xstrdup_opt(c->type, &oom);
    p->cfg.path = xstrdup_opt(c->path, &oom);
    p->cfg.key_file = xstrdup_opt(c->key_file, &oom);
    p->cfg.service_account_token_file =
        xstrdup_opt(c->service_account_token_file, &oom);
    size_t plen = strlen(c->path) + sizeof(VPD_PERSIST_FILE_NAME) + 2;
    if (oom || !(p->db_path = malloc(plen))) {
        vpd_persist_fail(err, err_len, "out of memory");
        goto fail_out;
    }
    snprintf(p->db_path, plen, "%s/%s", c->path, VPD_PERSIST_FILE_NAME);
    if (vpd_persist_load_ikm(&p->cfg, &p->ikm, &p->ikm_len, err, err_len) != 0)
        goto fail_out;

    p->dirfd = open(c->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->dirfd < 0) {
        vpd_persist_fail(err, err_len,
                         "cannot open the persistent cache directory %s: "
                         "%s",
                         c->path, strerror(errno));
        goto fail_out;
    }
    /* Like Vault's 1 s bolt lock timeout: a predecessor that is exiting
     * gets a moment to let go. */
    int locked, tries = 0;
    while ((locked = flock(p->dirfd, LOCK_EX | LOCK_NB)) != 0 &&
           (errno == EWOULDBLOCK || errno == EINTR) && tries++ < 20)
        usleep(50 * 1000);
    if (locked != 0 && errno == EWOULDBLOCK) {
        vpd_persist_fail(err, err_len,
                         "%s: the persistent cache is in use by another "
                         "process",
                         p->db_path);
        goto fail_out;
    }
    if (locked != 0) /* a file system without flock on directories */
        vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                "cannot lock %s (%s); make sure "
                "no other vaproxyd uses it",
                c->path, strerror(errno));
    /* A compaction that was cut off; the store itself is intact. */
    if (unlinkat(p->dirfd, VPD_PERSIST_TMP_NAME, 0) == 0)
        vpd_log(VPD_LOG_INFO, VPD_PERSIST_COMPONENT,
                "removed an unfinished rewrite of "
                "%s",
                p->db_path);

    p->fd = openat(p->dirfd, VPD_PERSIST_FILE_NAME,
                   O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (p->fd < 0 && errno == ENOENT) {
        /* New store: a first generation with nothing but the header. */
        if (vpd_persist_rewrite(p, err, err_len) != 0)
            goto fail_out;
        p->existed = false;
        return p;
    }
    if (p->fd < 0) {
        vpd_persist_fail(err, err_len, "cannot open %s: %s", p->db_path,
                         strerror(errno));
        goto fail_out;
    }
    p->existed = true;
    struct stat st;
    if (fstat(p->fd, &st) != 0) {
        vpd_persist_fail(err, err_len, "cannot stat %s: %s", p->db_path,
                         strerror(errno));
        goto fail_out;
    }
    if (!S_ISREG(st.st_mode)) {
        vpd_persist_fail(err, err_len, "%s: not a regular file", p->db_path);
        goto fail_out;
    }
    if (st.st_mode & 077) {
        vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                "%s had mode %04o; set to 0600", p->db_path,
                (unsigned)(st.st_mode & 07777));
        if (fchmod(p->fd, 0600) != 0)
            vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT, "chmod %s: %s",
                    p->db_path, strerror(errno));
    }
    uint8_t h[VPD_PERSIST_HDR_LEN];
    ssize_t got = vpd_persist_pread_all(p->fd, h, VPD_PERSIST_HDR_LEN, 0);
    if (got < 0) {
        vpd_persist_fail(err, err_len, "cannot read %s: %s", p->db_path,
                         strerror(errno));
        goto fail_out;
    }
    if (got < VPD_PERSIST_HDR_LEN) {
        vpd_persist_fail(err, err_len, "%s: %s", p->db_path,
                         VPD_PERSIST_WRONG_KEY);
        goto fail_out;
    }
    if (vpd_persist_read_header(p->cfg.kind, p->ikm, p->ikm_len, p->db_path, h,
                                p->dk, err, err_len) != 0)
        goto fail_out;
    if (vpd_persist_replay(p, (uint64_t)st.st_size, err, err_len) != 0)
        goto fail_out;
    return p;
fail_out:
    vpd_persist_free(p);
    return NULL;
}

void
vpd_persist_close(vpd_persist *p)
{
    if (!p)
        return;
    char why[512];
    if (vpd_persist_job_settle(p, why, sizeof why) != 0)
        vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                "cannot compact the persistent "
                "cache: %s",
                why);
    /* What a full disk kept in memory gets one last chance. */
    vpd_persist_retry_last(p);
    if (p->fd >= 0 && !p->inert && fdatasync(p->fd) != 0)
        vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT, "fdatasync %s: %s",
                p->db_path, strerror(errno));
    if (p->dir_dirty)
        fsync(p->dirfd);
    vpd_persist_free(p);
}

int
vpd_persist_discard(const vpd_persist_config *c, char *err, size_t err_len)
{
    if (!c || !c->path) {
        vpd_persist_fail(err, err_len, "persistent cache: no path");
        return VP_EINVAL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", c->path, VPD_PERSIST_FILE_NAME);
    if (unlink(path) != 0 && errno != ENOENT) {
        vpd_persist_fail(err, err_len, "cannot remove %s: %s", path,
                         strerror(errno));
        return VP_EIO;
    }
    return 0;
}

int
vpd_persist_sync(vpd_persist *p)
{
    if (!p || p->inert || p->fd < 0)
        return 0;
    if (p->dir_dirty && fsync(p->dirfd) == 0)
        p->dir_dirty = false;
    return fdatasync(p->fd) == 0 ? 0 : VP_EIO;
}

bool
vpd_persist_active(const vpd_persist *p)
{
    return p && !p->inert;
}

bool
vpd_persist_whole(const vpd_persist *p)
{
    return p && !p->behind;
}

size_t
vpd_persist_count(const vpd_persist *p)
{
    return p ? p->count : 0;
}
