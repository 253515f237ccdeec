/* Compaction of the persistent cache: the live state rewritten as a new
 * generation (new data key, new salt) into a temp file that is renamed
 * over the store, either at once on the calling thread or with the heavy
 * part on a libuv worker while appends go on to the old file, whose
 * records appended meanwhile are then re-sealed onto the new one.
 *
 * A rewrite is also how the store heals after a failed write: entries
 * that could not be written are pending in the index (their payloads in
 * memory), the snapshot copies those payloads, and a rewrite whose
 * snapshot came after the last unwritten change makes the file whole.
 *
 * Ownership: a job owns its snapshot (offsets, renewal values, copies of
 * the pending payloads, the data key, the key material and the auto-auth
 * token, a dup of the store's fd) and, until the rename, the temp file; the
 * handle points at the job under way (p->job) and the job back at the handle,
 * until one of them finishes it. */
#include "autoconf.h"

#include "cache/persist/persist_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <vaproxy/errors.h>

#include "base/log.h"
#include "base/secmem.h"

/* Written to the temp file in pieces of this size, so a large store does
 * not need its whole new generation in memory. */
#define FLUSH_BYTES (256u * 1024u)

/* A compaction has three steps, so that the heavy middle one can run on a
 * libuv worker thread while the loop goes on appending to the old file:
 *
 *  1. snapshot (loop): the live entries' record offsets and renewal
 *     values, the auto-auth token, the data key and a dup of the fd -
 *     an immutable picture of the state at the current end of the log;
 *  2. write (any thread): a new generation in the temp file: header,
 *     every snapshot record re-sealed under a new data key, the auto-auth
 *     record; fsync.  It reads only the old file below the snapshot's end,
 *     which appends never touch;
 *  3. finish (loop): the records appended to the old file since the
 *     snapshot are re-sealed, in order, onto the end of the temp file,
 *     which is then renamed over the store, and the index is pointed at
 *     the new offsets.
 *
 * Crash safety is that of the synchronous rewrite: until the rename the
 * store is the old file (complete, and still receiving every append);
 * after it the new one, which holds the snapshot plus every later record,
 * in their order.  A kill -9 between the steps leaves the old file and a
 * temp file that open removes.  The tail records of step 3 are not
 * fsynced (no appends are), so a power loss may lose them like any recent
 * append: an older state.  The directory is fsynced after a synchronous
 * rewrite at once, after a background one by the next sync, close or
 * compaction. */

struct vpd_persist_job {
    uv_work_t req;
    vpd_persist *p; /* NULL once the job was finished without
                       its after-work callback */
    /* the snapshot */
    size_t n;
    uint64_t *offs;     /* old offsets in; new offsets out */
    uint32_t *lens;     /* 0 out: could not be read, dropped */
    uint64_t *lr, *ttl; /* renewal values at snapshot time */
    uint8_t **pend;     /* copies of pending payloads (secret), or NULL */
    uint64_t mark;      /* p->unsaved at snapshot time */
    char *auto_auth;    /* secret copy */
    uint8_t old_dk[VPD_PERSIST_KEY_LEN];
    int old_fd;
    uint64_t snap_end;
    bool sync_dir; /* fsync the directory first */
    /* the key material: a copy, refreshed from the SA token file */
    char *ikm;
    size_t ikm_len;
    bool ikm_changed;
    /* the result */
    uint8_t dk[VPD_PERSIST_KEY_LEN];
    int tfd;
    uint64_t end, seq; /* of the new file */
    int rc;
    char err[512];
    /* for a caller that must wait for the worker (close, compact) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool written;
};

static void
job_free(vpd_persist_job *j)
{
    if (!j)
        return;
    if (j->old_fd >= 0)
        close(j->old_fd);
    if (j->tfd >= 0) /* never handed over: an unfinished rewrite */
        close(j->tfd);
    for (size_t i = 0; j->pend && i < j->n; i++)
        if (j->pend[i]) { /* lens[i] is its whole record's length */
            OPENSSL_cleanse(j->pend[i], j->lens[i] - VPD_PERSIST_REC_HDR -
                                            VPD_PERSIST_TAG_LEN);
            free(j->pend[i]);
        }
    free(j->pend);
    vpd_secret_free(j->auto_auth);
    vpd_secret_free(j->ikm);
    OPENSSL_cleanse(j->old_dk, sizeof j->old_dk);
    OPENSSL_cleanse(j->dk, sizeof j->dk);
    free(j->offs);
    free(j->lens);
    free(j->lr);
    free(j->ttl);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* Step 1.  Returns the job, or NULL with a message. */
static vpd_persist_job *
snapshot(vpd_persist *p, char *err, size_t err_len)
{
    vpd_persist_job *j = calloc(1, sizeof *j);
    if (!j) {
        vpd_persist_fail(err, err_len, "out of memory");
        return NULL;
    }
    j->old_fd = j->tfd = -1;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->p = p;
    j->n = p->count;
    size_t n = j->n ? j->n : 1;
    j->offs = calloc(n, sizeof *j->offs);
    j->lens = calloc(n, sizeof *j->lens);
    j->lr = calloc(n, sizeof *j->lr);
    j->ttl = calloc(n, sizeof *j->ttl);
    j->pend = calloc(n, sizeof *j->pend);
    j->ikm = vpd_secret_dup(p->ikm, p->ikm_len);
    j->ikm_len = p->ikm_len;
    bool oom = !j->offs || !j->lens || !j->lr || !j->ttl || !j->pend || !j->ikm;
    if (p->auto_auth &&
        !(j->auto_auth = vpd_secret_dup(p->auto_auth, strlen(p->auto_auth))))
        oom = true;
    if (oom) {
        job_free(j);
        vpd_persist_fail(err, err_len, "out of memory");
        return NULL;
    }
    if (p->fd >= 0 && (j->old_fd = fcntl(p->fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        vpd_persist_fail(err, err_len, "cannot compact %s: %s", p->db_path,
                         strerror(errno));
        job_free(j);
        return NULL;
    }
    size_t i = 0;
    for (vpd_persist_entry *x = p->head; x; x = x->next, i++) {
        x->snap_idx = (uint32_t)i;
        j->offs[i] = x->off;
        j->lens[i] = x->rec_len;
        j->lr[i] = x->last_renewed_ms;
        j->ttl[i] = x->ttl_ms;
        if (!x->pending)
            continue;
        /* Its payload, not its old record (if any), is what it holds. */
        j->lens[i] = (uint32_t)(VPD_PERSIST_REC_HDR + x->pending_len +
                                VPD_PERSIST_TAG_LEN);
        if (!(j->pend[i] = malloc(x->pending_len))) {
            job_free(j);
            vpd_persist_fail(err, err_len, "out of memory");
            return NULL;
        }
        memcpy(j->pend[i], x->pending, x->pending_len);
    }
    memcpy(j->old_dk, p->dk, VPD_PERSIST_KEY_LEN);
    j->mark = p->unsaved;
    j->snap_end = p->end;
    j->sync_dir = p->dir_dirty;
    return j;
}

static int
flush_out(int fd, vpd_persist_wbuf *out, uint64_t *written)
{
    if (out->oom)
        return -1;
    if (vpd_persist_pwrite_all(fd, out->p, out->n, *written) != 0)
        return -1;
    *written += out->n;
    out->n = 0;
    return 0;
}

/* Step 2: the new generation in the temp file, fsynced, not renamed.
 * Touches nothing but the job and the store's immutable parts (config,
 * directory fd, path), so it may run on a worker thread.  Sets j->rc. */
static void
write_generation(const vpd_persist *p, vpd_persist_job *j)
{
    uint8_t hdr[VPD_PERSIST_HDR_LEN], *buf = NULL;
    size_t cap = 0;
    vpd_persist_wbuf out = {0}, pl = {0};
    const char *step = "write";
    j->rc = -1;
    if (j->sync_dir)
        fsync(p->dirfd);
    /* A rotated service-account token seals the next generation. */
    if (p->cfg.kind == VPD_PERSIST_KUBERNETES) {
        char *ikm = NULL, e[64];
        size_t len = 0;
        if (vpd_persist_load_ikm(&p->cfg, &ikm, &len, e, sizeof e) == 0) {
            if (len != j->ikm_len || CRYPTO_memcmp(ikm, j->ikm, len) != 0) {
                vpd_secret_free(j->ikm);
                j->ikm = ikm;
                j->ikm_len = len;
                j->ikm_changed = true;
            } else {
                vpd_secret_free(ikm);
            }
        } /* else keep sealing with the one we have */
    }
    if (RAND_bytes(j->dk, VPD_PERSIST_KEY_LEN) != 1 ||
        vpd_persist_make_header(p->cfg.kind, j->ikm, j->ikm_len, j->dk, hdr) !=
            0) {
        vpd_persist_fail(j->err, sizeof j->err, "cannot make a key for %s",
                         p->db_path);
        goto done;
    }
    for (int tries = 0; j->tfd < 0 && tries < 2; tries++) {
        j->tfd =
            openat(p->dirfd, VPD_PERSIST_TMP_NAME,
                   O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (j->tfd < 0 && errno == EEXIST)
            unlinkat(p->dirfd, VPD_PERSIST_TMP_NAME, 0);
        else if (j->tfd < 0)
            break;
    }
    if (j->tfd < 0) {
        vpd_persist_fail(j->err, sizeof j->err, "cannot create %s.tmp: %s",
                         p->db_path, strerror(errno));
        goto done;
    }
    /* The umask only narrows; make it exactly 0600 all the same. */
    if (fchmod(j->tfd, 0600) != 0) {
        step = "fchmod";
        goto io_fail;
    }
    uint64_t written = 0, pos = VPD_PERSIST_HDR_LEN, seq = 1;
    vpd_persist_wb_put(&out, hdr, VPD_PERSIST_HDR_LEN);
    for (size_t i = 0; i < j->n; i++) {
        uint32_t len = j->lens[i];
        uint8_t *payload;
        if (j->pend[i]) {
            payload = j->pend[i]; /* never written: the copy in memory */
        } else if (vpd_persist_load_record_at(j->old_fd, j->old_dk, j->offs[i],
                                              len, &buf, &cap) != 0) {
            /* Damaged since it was read: left out (finish says so). */
            j->lens[i] = 0;
            continue;
        } else {
            payload = buf + VPD_PERSIST_REC_HDR;
        }
        size_t n = len - VPD_PERSIST_REC_HDR - VPD_PERSIST_TAG_LEN;
        vpd_persist_put_set_times(payload, j->lr[i], j->ttl[i]);
        size_t at = out.n;
        vpd_persist_wb_put(&out, NULL, len);
        if (out.oom) {
            OPENSSL_cleanse(buf, cap);
            vpd_persist_fail(j->err, sizeof j->err, "out of memory");
            goto done;
        }
        int sealed =
            vpd_persist_seal_record(j->dk, seq, payload, n, out.p + at);
        if (!j->pend[i])
            OPENSSL_cleanse(buf, len);
        if (sealed != 0) {
            vpd_persist_fail(j->err, sizeof j->err,
                             "cannot encrypt the persistent cache");
            goto done;
        }
        j->offs[i] = pos;
        pos += len;
        seq++;
        if (out.n >= FLUSH_BYTES && flush_out(j->tfd, &out, &written) != 0)
            goto io_fail;
    }
    /* Last, so it wins over the token entries' own tokens on replay. */
    vpd_persist_encode_autoauth(&pl, j->auto_auth);
    if (pl.oom) {
        vpd_persist_fail(j->err, sizeof j->err, "out of memory");
        goto done;
    }
    size_t at = out.n;
    vpd_persist_wb_put(&out, NULL,
                       VPD_PERSIST_REC_HDR + pl.n + VPD_PERSIST_TAG_LEN);
    if (out.oom ||
        vpd_persist_seal_record(j->dk, seq, pl.p, pl.n, out.p + at) != 0) {
        vpd_persist_fail(j->err, sizeof j->err,
                         "cannot encrypt the persistent cache");
        goto done;
    }
    pos += VPD_PERSIST_REC_HDR + pl.n + VPD_PERSIST_TAG_LEN;
    seq++;
    if (flush_out(j->tfd, &out, &written) != 0)
        goto io_fail;
    step = "fsync";
    if (fsync(j->tfd) != 0)
        goto io_fail;
    j->end = pos;
    j->seq = seq;
    j->rc = 0;
    goto done;
io_fail:
    vpd_persist_fail(j->err, sizeof j->err, "%s %s.tmp: %s", step, p->db_path,
                     strerror(errno));
done:
    if (j->rc != 0 && j->tfd >= 0) {
        close(j->tfd);
        j->tfd = -1;
        unlinkat(p->dirfd, VPD_PERSIST_TMP_NAME, 0);
    }
    vpd_persist_wipe_free(buf, cap);
    vpd_persist_wb_free(&out);
    vpd_persist_wb_free(&pl);
}

/* Drops the temp file of a job that will not be finished. */
static void
job_abandon(vpd_persist *p, vpd_persist_job *j)
{
    if (j->tfd >= 0) {
        close(j->tfd);
        j->tfd = -1;
        unlinkat(p->dirfd, VPD_PERSIST_TMP_NAME, 0);
    }
}

/* Step 3 (on the loop): carries the records appended since the snapshot
 * over, renames, switches the store to the new file.  On failure the old
 * file and state are unchanged.  Returns 0 or -1 with a message. */
static int
finish(vpd_persist *p, vpd_persist_job *j, bool sync_dir, char *err,
       size_t err_len)
{
    if (j->rc != 0) {
        vpd_persist_fail(err, err_len, "%s", j->err);
        return -1;
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    uint64_t off = j->snap_end;
    const char *step = "write";
    /* The appends made meanwhile: whole, authentic records (p->end only
     * moves past records that were written in full). */
    while (off < p->end) {
        uint8_t h[VPD_PERSIST_REC_HDR];
        if (vpd_persist_pread_all(p->fd, h, VPD_PERSIST_REC_HDR, off) !=
            VPD_PERSIST_REC_HDR)
            goto io_fail;
        uint32_t n = vpd_persist_be32_get(h);
        uint32_t len = n + VPD_PERSIST_REC_HDR + VPD_PERSIST_TAG_LEN;
        if (n == 0 || n > VPD_PERSIST_MAX_PAYLOAD || off + len > p->end ||
            vpd_persist_load_record(p, off, len, &buf, &cap) != 0) {
            errno = EIO;
            goto io_fail;
        }
        uint8_t *rec = malloc(len);
        if (!rec ||
            vpd_persist_seal_record(j->dk, j->seq, buf + VPD_PERSIST_REC_HDR, n,
                                    rec) != 0) {
            free(rec);
            errno = ENOMEM;
            goto io_fail;
        }
        OPENSSL_cleanse(buf, len);
        int w = vpd_persist_pwrite_all(j->tfd, rec, len, j->end);
        free(rec); /* ciphertext */
        if (w != 0)
            goto io_fail;
        j->seq++;
        j->end += len;
        off += len;
    }
    step = "rename";
    if (renameat(p->dirfd, VPD_PERSIST_TMP_NAME, p->dirfd,
                 VPD_PERSIST_FILE_NAME) != 0)
        goto io_fail;
    vpd_persist_wipe_free(buf, cap);
    /* From here on the new generation is the store. */
    if (sync_dir) {
        if (fsync(p->dirfd) != 0)
            vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                    "fsync of the directory of %s: %s", p->db_path,
                    strerror(errno));
        p->dir_dirty = false;
    } else {
        p->dir_dirty = true;
    }
    if (p->fd >= 0)
        close(p->fd);
    p->fd = j->tfd;
    j->tfd = -1;
    memcpy(p->dk, j->dk, VPD_PERSIST_KEY_LEN);
    p->seq = j->seq;
    uint64_t shift_from = j->snap_end,
             new_tail = j->end - (p->end - j->snap_end);
    p->end = j->end;
    p->compactions++;
    if (j->ikm_changed) {
        vpd_log(VPD_LOG_INFO, VPD_PERSIST_COMPONENT,
                "the service-account token "
                "changed; the persistent cache is sealed with the new one");
        vpd_secret_free(p->ikm);
        p->ikm = j->ikm;
        p->ikm_len = j->ikm_len;
        j->ikm = NULL;
    }
    unsigned dropped = 0;
    for (vpd_persist_entry *x = p->head, *nx; x; x = nx) {
        nx = x->next;
        if (x->pending) {
            /* Written now if the snapshot had this very payload; one that
             * became pending later waits for the next rewrite. */
            if (x->pending_mark <= j->mark && x->snap_idx < j->n &&
                j->pend[x->snap_idx]) {
                vpd_persist_entry_drop_pending(x);
                x->off = j->offs[x->snap_idx];
                x->rec_len = j->lens[x->snap_idx];
                p->live_bytes += x->rec_len;
            }
        } else if (x->off >= shift_from) {
            x->off = x->off - shift_from + new_tail; /* appended meanwhile */
        } else if (x->snap_idx < j->n && j->lens[x->snap_idx]) {
            x->off = j->offs[x->snap_idx];
        } else {
            dropped++;
            vpd_persist_idx_remove(p, x);
        }
    }
    if (dropped)
        vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                "%s: %u entr%s could not be read back and %s dropped",
                p->db_path, dropped, dropped == 1 ? "y" : "ies",
                dropped == 1 ? "is" : "are");
    if (p->behind && p->unsaved == j->mark) {
        p->behind = false;
        vpd_log(
            VPD_LOG_INFO, VPD_PERSIST_COMPONENT,
            "the persistent cache %s is whole again: every change kept "
            "in memory since the failed write (%llu ms ago) is written",
            p->db_path,
            (unsigned long long)(vpd_persist_mono_ms() - p->episode_start_ms));
    }
    return 0;
io_fail:
    vpd_persist_fail(err, err_len, "%s %s.tmp: %s", step, p->db_path,
                     strerror(errno));
    vpd_persist_wipe_free(buf, cap);
    job_abandon(p, j);
    return -1;
}

/* Writes the live state as a new generation and renames it over the
 * store, all on the calling thread.  On failure the old file and state
 * are unchanged. */
int
vpd_persist_rewrite(vpd_persist *p, char *err, size_t err_len)
{
    vpd_persist_job *j = snapshot(p, err, err_len);
    if (!j)
        return -1;
    write_generation(p, j);
    int rc = finish(p, j, true, err, err_len);
    job_free(j);
    return rc;
}

static void
job_work(uv_work_t *req)
{
    vpd_persist_job *j = req->data;
    write_generation(j->p, j);
    pthread_mutex_lock(&j->mu);
    j->written = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void
job_done(uv_work_t *req, int status)
{
    vpd_persist_job *j = req->data;
    vpd_persist *p = j->p;
    if (!p) { /* finished already by vpd_persist_close or _compact */
        job_free(j);
        return;
    }
    p->job = NULL;
    char why[512];
    /* While the store is behind, the failure episode was logged once and
     * the retry timer owns what happens next: a failed try is a detail. */
    vpd_log_level level = p->behind ? VPD_LOG_DEBUG : VPD_LOG_WARN;
    if (status != 0) {
        job_abandon(p, j);
        vpd_log(level, VPD_PERSIST_COMPONENT,
                "cannot compact the persistent "
                "cache: %s",
                uv_strerror(status));
    } else if (finish(p, j, false, why, sizeof why) != 0) {
        vpd_log(level, VPD_PERSIST_COMPONENT,
                "cannot compact the persistent "
                "cache: %s",
                why);
    }
    job_free(j);
}

/* Step 1 now, step 2 on a worker, step 3 when it is done. */
void
vpd_persist_job_start(vpd_persist *p)
{
    char why[512];
    vpd_persist_job *j = snapshot(p, why, sizeof why);
    if (!j) {
        vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                "cannot compact the persistent "
                "cache: %s",
                why);
        return;
    }
    j->req.data = j;
    int rc = uv_queue_work(p->loop, &j->req, job_work, job_done);
    if (rc != 0) {
        vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                "cannot compact the persistent "
                "cache: %s",
                uv_strerror(rc));
        job_free(j);
        return;
    }
    p->job = j;
}

/* Waits for the worker of the job under way and finishes it here (the
 * job's after-work callback then only frees it). */
int
vpd_persist_job_settle(vpd_persist *p, char *err, size_t err_len)
{
    vpd_persist_job *j = p->job;
    if (!j)
        return 0;
    pthread_mutex_lock(&j->mu);
    while (!j->written)
        pthread_cond_wait(&j->cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
    p->job = NULL;
    int rc = finish(p, j, true, err, err_len);
    j->p = NULL;
    return rc;
}

int
vpd_persist_compact(vpd_persist *p, char *err, size_t err_len)
{
    if (!p || !p->restored) {
        vpd_persist_fail(err, err_len,
                         "the persistent cache is not restored yet");
        return VP_EINVAL;
    }
    if (p->inert)
        return 0;
    char why[512];
    if (vpd_persist_job_settle(p, why, sizeof why) != 0)
        vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                "cannot compact the persistent "
                "cache: %s",
                why);
    return vpd_persist_rewrite(p, err, err_len) == 0 ? 0 : VP_EIO;
}

int
vpd_persist_compact_start(vpd_persist *p)
{
    if (!p || !p->restored || !p->loop)
        return VP_EINVAL;
    if (p->inert || p->job)
        return 0;
    vpd_persist_job_start(p);
    return p->job ? 0 : VP_EIO;
}

bool
vpd_persist_compacting(const vpd_persist *p)
{
    return p && p->job;
}

unsigned
vpd_persist_compactions(const vpd_persist *p)
{
    return p ? p->compactions : 0;
}

/* The threshold keeps a store whose dead records are few or small from
 * being rewritten: a rewrite costs the live bytes plus two fsyncs.  The
 * auto-auth record counts as live (its length plus roughly a record's
 * overhead). */
void
vpd_persist_compact_if_due(vpd_persist *p)
{
    uint64_t live =
        p->live_bytes + (p->auto_auth ? strlen(p->auto_auth) + 40u : 0u);
    uint64_t used = p->end - VPD_PERSIST_HDR_LEN;
    uint64_t dead = used > live ? used - live : 0;
    if (dead <= VPD_PERSIST_COMPACT_MIN_BYTES || dead <= live || p->job)
        return;
    if (p->loop) {
        vpd_persist_job_start(p); /* off the loop (see the three steps above) */
        return;
    }
    char why[512];
    if (vpd_persist_rewrite(p, why, sizeof why) != 0)
        vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                "cannot compact the persistent "
                "cache: %s",
                why);
}
