/* The writes of the persistent cache: every call that changes the state
 * appends exactly one sealed record with one pwrite(2) at the end of the
 * good log, keeps the index in step, and may start a compaction.  After
 * a failed write the next one first rewrites the store as a new
 * generation (recover), so a torn record is never overwritten under the
 * same key and nonce.
 *
 * Ownership: entries passed in are copied into the file; the index
 * entries and the auto-auth token copy belong to the handle; payload
 * buffers are wiped and freed here. */
#include "autoconf.h"

#include "cache/persist/persist_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vaproxy/errors.h>

#include "base/log.h"

/* A full disk must not turn every write into a whole rewrite. */
#define RECOVER_INTERVAL_MS 2000u

static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* 0: go on; 1: the store is off (restored without keep_after_import, or
 * its restore rewrite failed), so the write succeeds doing nothing, as
 * the cache must not fail for it; else a VP_E* code. */
static int
write_gate(vpd_persist *p)
{
    if (!p)
        return VP_EINVAL;
    if (p->inert)
        return 1;
    if (!p->restored)
        return VP_EINVAL;
    return 0;
}

/* After a failed write, the next write starts a new generation (nonces
 * are never reused and the torn bytes go away); tried at most every
 * RECOVER_INTERVAL_MS so a full disk does not rewrite on every call. */
static int
recover(vpd_persist *p)
{
    if (p->job) {
        /* The job's new generation replaces the damaged log when it is
         * done; until then writes fail (their entries are not stored). */
        p->failed_during_job = true;
        return -1;
    }
    uint64_t now = mono_ms();
    if (p->last_recover_ms && now - p->last_recover_ms < RECOVER_INTERVAL_MS)
        return -1;
    p->last_recover_ms = now;
    char why[512];
    if (vpd_persist_rewrite(p, why, sizeof why) != 0) {
        vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                "cannot rewrite the persistent "
                "cache: %s",
                why);
        return -1;
    }
    vpd_log(VPD_LOG_INFO, VPD_PERSIST_COMPONENT,
            "the persistent cache is written again");
    return 0;
}

/* Appends one sealed record with one write.  Returns 0 or a VP_E* code;
 * off/len (may be NULL) get where it went. */
static int
append(vpd_persist *p, const vpd_persist_wbuf *pl, uint64_t *off, uint32_t *len)
{
    if (pl->oom)
        return VP_ENOMEM;
    if (pl->n > VPD_PERSIST_MAX_PAYLOAD)
        return VP_EINVAL;
    if (p->broken && recover(p) != 0)
        return VP_EIO;
    size_t total = VPD_PERSIST_REC_HDR + pl->n + VPD_PERSIST_TAG_LEN;
    uint8_t *rec = malloc(total);
    if (!rec)
        return VP_ENOMEM;
    uint64_t seq = p->seq++; /* never reused, even if the write fails */
    if (vpd_persist_seal_record(p->dk, seq, pl->p, pl->n, rec) != 0) {
        free(rec);
        p->broken = true; /* keep the seq chain whole: new generation */
        if (p->job)
            p->failed_during_job = true;
        return VP_EIO;
    }
    int rc = vpd_persist_pwrite_all(p->fd, rec, total, p->end);
    int e = errno;
    free(rec);
    if (rc != 0) {
        if (ftruncate(p->fd, (off_t)p->end) != 0) {
            /* The torn bytes stay; restore drops them, and the next write
             * starts a new generation anyway. */
        }
        p->broken = true;
        if (p->job)
            p->failed_during_job = true;
        vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                "cannot append to %s: %s; the "
                "next write rewrites it",
                p->db_path, strerror(e));
        return e == ENOSPC || e == EDQUOT ? VP_EFULL : VP_EIO;
    }
    if (off)
        *off = p->end;
    if (len)
        *len = (uint32_t)total;
    p->end += total;
    return 0;
}

int
vpd_persist_put(vpd_persist *p, const vp_cache_entry_t *e)
{
    int g = write_gate(p);
    if (g != 0 || !e || !e->id || !e->id[0])
        return g > 0 ? 0 : VP_EINVAL;
    bool token = vpd_persist_is_token_entry(e);
    vpd_persist_entry *x = vpd_persist_idx_find(p, e->id), *fresh = NULL;
    if (!x && !(fresh = vpd_persist_entry_new(e->id)))
        return VP_ENOMEM;
    vpd_persist_wbuf pl = {0};
    vpd_persist_encode_put(&pl, e, token);
    uint64_t off = 0;
    uint32_t len = 0;
    int rc = append(p, &pl, &off, &len);
    vpd_persist_wb_free(&pl);
    if (rc != 0) {
        /* The old record no longer says what the cache holds. */
        vpd_persist_entry_free(fresh);
        if (x)
            vpd_persist_idx_remove(p, x);
        if (token)
            vpd_persist_keep_auto_auth(p, e->token);
        return rc;
    }
    if (fresh) {
        x = fresh;
        if (vpd_persist_idx_link(p, x) != 0) {
            vpd_persist_entry_free(x);
            /* Written but not indexed: the next compaction drops it. */
            return VP_ENOMEM;
        }
    }
    p->live_bytes = p->live_bytes - x->rec_len + len;
    x->off = off;
    x->rec_len = len;
    x->last_renewed_ms = e->last_renewed_ms;
    x->ttl_ms = e->ttl_ms;
    x->token = token;
    if (token && vpd_persist_keep_auto_auth(p, e->token) != 0)
        return VP_ENOMEM;
    vpd_persist_compact_if_due(p);
    return 0;
}

/* The last step of every write but a put: the record goes out, its
 * buffer is freed, and a threshold compaction may start. */
static int
append_op(vpd_persist *p, vpd_persist_wbuf *pl)
{
    int rc = append(p, pl, NULL, NULL);
    vpd_persist_wb_free(pl);
    if (rc == 0)
        vpd_persist_compact_if_due(p);
    return rc;
}

int
vpd_persist_renewed(vpd_persist *p, const char *id, uint64_t last_renewed_ms,
                    uint64_t ttl_ms)
{
    int g = write_gate(p);
    if (g != 0 || !id)
        return g > 0 ? 0 : VP_EINVAL;
    vpd_persist_entry *x = vpd_persist_idx_find(p, id);
    if (!x)
        return VP_ENOENT;
    /* The index first: a later compaction writes these values even if
     * this append fails. */
    x->last_renewed_ms = last_renewed_ms;
    x->ttl_ms = ttl_ms;
    vpd_persist_wbuf pl = {0};
    vpd_persist_encode_renewed(&pl, last_renewed_ms, ttl_ms, id);
    return append_op(p, &pl);
}

int
vpd_persist_delete(vpd_persist *p, const char *id)
{
    int g = write_gate(p);
    if (g != 0 || !id)
        return g > 0 ? 0 : VP_EINVAL;
    vpd_persist_entry *x = vpd_persist_idx_find(p, id);
    if (!x)
        return VP_ENOENT;
    vpd_persist_idx_remove(p, x);
    vpd_persist_wbuf pl = {0};
    vpd_persist_encode_delete(&pl, id);
    return append_op(p, &pl);
}

int
vpd_persist_clear(vpd_persist *p)
{
    int g = write_gate(p);
    if (g != 0)
        return g > 0 ? 0 : g;
    vpd_persist_idx_clear(p);
    vpd_persist_wbuf pl = {0};
    vpd_persist_encode_clear(&pl);
    return append_op(p, &pl);
}

int
vpd_persist_set_auto_auth_token(vpd_persist *p, const char *token)
{
    int g = write_gate(p);
    if (g != 0)
        return g > 0 ? 0 : g;
    if (vpd_persist_keep_auto_auth(p, token) != 0)
        return VP_ENOMEM;
    vpd_persist_wbuf pl = {0};
    vpd_persist_encode_autoauth(&pl, p->auto_auth);
    return append_op(p, &pl);
}
