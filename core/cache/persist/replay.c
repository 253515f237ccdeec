/* Replaying the log of the persistent cache: applying each opened record
 * to the index in order (the state is the result), and reading the log
 * of a file on open, where a torn or damaged tail ends the log and is
 * dropped with a warning (the crash-safety argument is in
 * core/cache/persist.h).
 *
 * Ownership: records are read into a buffer owned and wiped here; the
 * index entries and the auto-auth token they produce belong to the
 * handle. */
#include "autoconf.h"

#include "cache/persist/persist_internal.h"

#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/log.h"

int
vpd_persist_apply(vpd_persist *p, const uint8_t *pl, size_t n, uint64_t off,
                  uint32_t rec_len, char *err, size_t err_len)
{
    uint8_t op = pl[0];
    vpd_persist_entry *x;
    switch (op) {
    case VPD_PERSIST_OP_PUT: {
        vp_cache_entry_t e;
        bool token = false;
        if (vpd_persist_parse_put(pl, n, &e, &token) != 0)
            break;
        if ((x = vpd_persist_idx_find(p, e.id))) {
            p->live_bytes = p->live_bytes - x->rec_len + rec_len;
        } else {
            if (!(x = vpd_persist_entry_new(e.id)) ||
                vpd_persist_idx_link(p, x) != 0) {
                vpd_persist_entry_free(x);
                return vpd_persist_fail(err, err_len, "out of memory");
            }
            p->live_bytes += rec_len;
        }
        x->off = off;
        x->rec_len = rec_len;
        x->last_renewed_ms = e.last_renewed_ms;
        x->ttl_ms = e.ttl_ms;
        x->token = token;
        if (x->token && vpd_persist_keep_auto_auth(p, e.token) != 0)
            return vpd_persist_fail(err, err_len, "out of memory");
        return 0;
    }
    case VPD_PERSIST_OP_RENEWED: {
        uint64_t lr, ttl;
        const char *id;
        if (vpd_persist_parse_renewed(pl, n, &lr, &ttl, &id) != 0)
            break;
        if ((x = vpd_persist_idx_find(p, id))) {
            x->last_renewed_ms = lr;
            x->ttl_ms = ttl;
        }
        return 0;
    }
    case VPD_PERSIST_OP_DELETE: {
        const char *id;
        if (vpd_persist_parse_delete(pl, n, &id) != 0)
            break;
        if ((x = vpd_persist_idx_find(p, id)))
            vpd_persist_idx_remove(p, x);
        return 0;
    }
    case VPD_PERSIST_OP_CLEAR:
        vpd_persist_idx_clear(p);
        return 0;
    case VPD_PERSIST_OP_AUTOAUTH: {
        const char *tok;
        if (vpd_persist_parse_autoauth(pl, n, &tok) != 0)
            break;
        if (vpd_persist_keep_auto_auth(p, tok) != 0)
            return vpd_persist_fail(err, err_len, "out of memory");
        return 0;
    }
    default:
        break;
    }
    /* Authentic but not understood: written by another version. */
    return vpd_persist_fail(err, err_len,
                            "%s: unsupported record (type %u) in the "
                            "persistent cache; was it written by a newer "
                            "vaproxyd?",
                            p->db_path, (unsigned)op);
}

/* Reads the log after the header; stops at the first record that is
 * incomplete, fails its tag or breaks the seq chain (a torn tail). */
int
vpd_persist_replay(vpd_persist *p, uint64_t size, char *err, size_t err_len)
{
    uint64_t off = VPD_PERSIST_HDR_LEN, seq = 1;
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    while (off < size &&
           size - off >= VPD_PERSIST_REC_HDR + VPD_PERSIST_TAG_LEN + 1) {
        uint8_t h[VPD_PERSIST_REC_HDR];
        if (vpd_persist_pread_all(p->fd, h, VPD_PERSIST_REC_HDR, off) !=
            VPD_PERSIST_REC_HDR) {
            rc = vpd_persist_fail(err, err_len, "cannot read %s: %s",
                                  p->db_path, strerror(errno));
            break;
        }
        uint32_t n = vpd_persist_be32_get(h);
        if (n == 0 || n > VPD_PERSIST_MAX_PAYLOAD ||
            vpd_persist_be64_get(h + 4) != seq ||
            (uint64_t)n + VPD_PERSIST_REC_HDR + VPD_PERSIST_TAG_LEN >
                size - off)
            break;
        uint32_t len = n + VPD_PERSIST_REC_HDR + VPD_PERSIST_TAG_LEN;
        if (vpd_persist_load_record(p, off, len, &buf, &cap) != 0)
            break;
        rc = vpd_persist_apply(p, buf + VPD_PERSIST_REC_HDR, n, off, len, err,
                               err_len);
        OPENSSL_cleanse(buf, len);
        if (rc != 0)
            break;
        off += len;
        seq++;
    }
    vpd_persist_wipe_free(buf, cap);
    if (rc != 0)
        return -1;
    if (off < size) {
        p->torn_bytes = size - off;
        vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                "%s: dropped the last %llu bytes "
                "(an incomplete or damaged write); restoring the state "
                "before it",
                p->db_path, (unsigned long long)(size - off));
    }
    p->end = off;
    p->seq = seq;
    return 0;
}
