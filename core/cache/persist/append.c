/* The writes of the persistent cache: every call that changes the state
 * updates the index and appends exactly one sealed record with one
 * pwrite(2) at the end of the good log, and may start a compaction.
 *
 * A write that fails (a full disk) loses nothing: the index keeps the
 * change (a put keeps its payload as pending), the torn bytes are cut
 * off, and the store is behind: it appends nothing more (a torn record
 * must never be overwritten under the same key and nonce) until a
 * rewrite as a new generation, retried with a backoff (retry.c), writes
 * the whole index.  The episode is logged once when it starts and once
 * when the store is whole again.  So a write returns an error only when
 * the change is not in the store at all (out of memory, bad arguments).
 *
 * Ownership: entries passed in are copied into the file or into a
 * pending payload owned by the index; the index entries and the
 * auto-auth token copy belong to the handle; payload buffers are wiped
 * and freed here or handed to the index. */
#include "autoconf.h"

#include "cache/persist/persist_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vaproxy/errors.h>

#include "base/log.h"

/* The waits between rewrite tries while the store is behind: short at
 * first (space often comes back at once), never longer than a few
 * seconds so that a restart soon after loses as little as possible. */
#define RETRY_MIN_MS 200u
#define RETRY_MAX_MS 5000u

/* What append returns when the change stayed in memory. */
#define KEPT_IN_MEMORY 1

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

/* A change that is in the index but not in the file.  The first one of
 * an episode says why, once; the rest only count. */
static void
note_unsaved(vpd_persist *p, int err)
{
    p->unsaved++;
    if (p->behind)
        return;
    p->behind = true;
    p->episode_start_ms = vpd_persist_mono_ms();
    /* A rewrite right after the disk refused a write would fail too. */
    vpd_backoff_init(&p->retry, RETRY_MIN_MS, RETRY_MAX_MS);
    p->retry_at_ms = p->episode_start_ms + vpd_backoff_next(&p->retry);
    vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
            "cannot write the persistent cache %s: %s; the cache keeps "
            "serving, changes are kept in memory and the file is rewritten "
            "with all of them as soon as it can be",
            p->db_path, strerror(err));
}

/* Appends one sealed record with one write.  Returns 0 (off/len, which
 * may be NULL, get where it went), KEPT_IN_MEMORY when the store is
 * behind or the write failed (the caller keeps the change in the index
 * and calls vpd_persist_retry_kick), or a VP_E* code. */
static int
append(vpd_persist *p, const vpd_persist_wbuf *pl, uint64_t *off, uint32_t *len)
{
    if (pl->oom)
        return VP_ENOMEM;
    if (pl->n > VPD_PERSIST_MAX_PAYLOAD)
        return VP_EINVAL;
    if (p->behind) {
        note_unsaved(p, 0);
        return KEPT_IN_MEMORY;
    }
    size_t total = VPD_PERSIST_REC_HDR + pl->n + VPD_PERSIST_TAG_LEN;
    uint8_t *rec = malloc(total);
    if (!rec)
        return VP_ENOMEM;
    uint64_t seq = p->seq++; /* never reused, even if the write fails */
    if (vpd_persist_seal_record(p->dk, seq, pl->p, pl->n, rec) != 0) {
        free(rec);
        note_unsaved(p, EIO); /* keep the seq chain whole: new generation */
        return KEPT_IN_MEMORY;
    }
    int rc = vpd_persist_pwrite_all(p->fd, rec, total, p->end);
    int e = errno;
    free(rec);
    if (rc != 0) {
        if (ftruncate(p->fd, (off_t)p->end) != 0) {
            /* The torn bytes stay; restore drops them, and nothing is
             * appended after them before a new generation anyway. */
        }
        note_unsaved(p, e);
        return KEPT_IN_MEMORY;
    }
    if (off)
        *off = p->end;
    if (len)
        *len = (uint32_t)total;
    p->end += total;
    return 0;
}

/* The put that could not be written: x takes the payload as pending
 * (its old record, if any, no longer says what the cache holds). */
static void
keep_pending(vpd_persist *p, vpd_persist_entry *x, vpd_persist_wbuf *pl)
{
    vpd_persist_entry_drop_pending(x);
    p->live_bytes -= x->rec_len;
    x->off = 0;
    x->rec_len = 0;
    x->pending = pl->p;
    x->pending_len = pl->n;
    x->pending_cap = pl->cap;
    x->pending_mark = p->unsaved;
    memset(pl, 0, sizeof *pl);
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
    if (rc < 0) {
        /* Not stored at all.  An old version must not come back on a
         * restart: it leaves the index, and the next rewrite the file. */
        vpd_persist_wb_free(&pl);
        vpd_persist_entry_free(fresh);
        if (x) {
            vpd_persist_idx_remove(p, x);
            note_unsaved(p, rc == VP_ENOMEM ? ENOMEM : EINVAL);
            vpd_persist_retry_kick(p);
        }
        return rc;
    }
    if (fresh) {
        x = fresh;
        if (vpd_persist_idx_link(p, x) != 0) {
            /* Written but not indexed: the next compaction drops it. */
            vpd_persist_entry_free(x);
            vpd_persist_wb_free(&pl);
            vpd_persist_retry_kick(p);
            return VP_ENOMEM;
        }
    }
    x->last_renewed_ms = e->last_renewed_ms;
    x->ttl_ms = e->ttl_ms;
    x->token = token;
    if (rc == KEPT_IN_MEMORY) {
        keep_pending(p, x, &pl);
    } else {
        vpd_persist_wb_free(&pl);
        vpd_persist_entry_drop_pending(x);
        p->live_bytes = p->live_bytes - x->rec_len + len;
        x->off = off;
        x->rec_len = len;
    }
    if (token && vpd_persist_keep_auto_auth(p, e->token) != 0)
        return VP_ENOMEM;
    if (rc == KEPT_IN_MEMORY)
        vpd_persist_retry_kick(p);
    else
        vpd_persist_compact_if_due(p);
    return 0;
}

/* The last step of every write but a put, whose change the index already
 * has: the record goes out, its buffer is freed, and a threshold
 * compaction may start.  A record that cannot be written or even built
 * leaves the change to the next rewrite, so the write still succeeds. */
static int
append_op(vpd_persist *p, vpd_persist_wbuf *pl)
{
    int rc = append(p, pl, NULL, NULL);
    vpd_persist_wb_free(pl);
    if (rc == 0) {
        vpd_persist_compact_if_due(p);
        return 0;
    }
    if (rc < 0)
        note_unsaved(p, rc == VP_ENOMEM ? ENOMEM : EINVAL);
    vpd_persist_retry_kick(p);
    return 0;
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
