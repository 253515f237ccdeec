/* Handing the stored entries to the lease cache: vpd_persist_restore
 * reads every live entry back from the file (token entries first, each
 * group in creation order), drops the expired and the refused, and then
 * keeps or deletes the file as keep_after_import says; vpd_persist_decode
 * does the same over payloads that are already opened, for the fuzzer.
 *
 * Ownership: entries handed to the callback point into a buffer owned
 * here and are borrowed for the call; the buffer is wiped after each. */
#include "autoconf.h"

#include "cache/persist/persist_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <vaproxy/errors.h>

#include "base/log.h"
#include "base/secmem.h"

/* Whole seconds, as Vault's hasExpired compares them: an entry restored
 * within its last second of life is still restored. */
static bool
expired(uint64_t now, const vpd_persist_entry *x)
{
    return now >= x->last_renewed_ms &&
           (now - x->last_renewed_ms) / 1000u > x->ttl_ms / 1000u;
}

int
vpd_persist_restore(vpd_persist *p, uint64_t now_wall_ms,
                    int (*fn)(void *arg, const vp_cache_entry_t *e), void *arg,
                    char **auto_auth_token, vpd_persist_restore_stats *stats,
                    char *err, size_t err_len)
{
    vpd_persist_restore_stats st = {0};
    if (auto_auth_token)
        *auto_auth_token = NULL;
    if (stats)
        *stats = st;
    if (!p || !fn || p->restored) {
        vpd_persist_fail(err, err_len, "persistent cache: %s",
                         p && p->restored ? "restored already"
                                          : "invalid arguments");
        return VP_EINVAL;
    }
    st.existed = p->existed;
    st.torn_bytes = p->torn_bytes;
    if (auto_auth_token && p->auto_auth &&
        !(*auto_auth_token =
              vpd_secret_dup(p->auto_auth, strlen(p->auto_auth)))) {
        vpd_persist_fail(err, err_len, "out of memory");
        return VP_ENOMEM;
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (vpd_persist_entry *x = p->head, *nx; x; x = nx) {
            nx = x->next;
            if (x->token != (pass == 0))
                continue;
            vp_cache_entry_t e;
            bool token;
            size_t used = x->rec_len; /* x may be freed below */
            if (vpd_persist_load_record(p, x->off, x->rec_len, &buf, &cap) !=
                    0 ||
                vpd_persist_parse_put(buf + VPD_PERSIST_REC_HDR,
                                      x->rec_len - VPD_PERSIST_REC_HDR -
                                          VPD_PERSIST_TAG_LEN,
                                      &e, &token) != 0) {
                vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                        "%s: an entry could not be "
                        "read back and is dropped",
                        p->db_path);
                st.failed++;
                vpd_persist_idx_remove(p, x);
                if (buf)
                    OPENSSL_cleanse(buf, used < cap ? used : cap);
                continue;
            }
            e.last_renewed_ms = x->last_renewed_ms;
            e.ttl_ms = x->ttl_ms;
            if (!x->token && expired(now_wall_ms, x)) {
                st.expired++;
                vpd_persist_idx_remove(p, x);
            } else if (fn(arg, &e) != 0) {
                st.failed++;
                vpd_persist_idx_remove(p, x);
            } else {
                st.restored++;
            }
            OPENSSL_cleanse(buf, used);
        }
    }
    vpd_persist_wipe_free(buf, cap);
    p->restored = true;
    if (p->existed && !p->cfg.keep_after_import) {
        /* Vault: import once, then run without persistence. */
        close(p->fd);
        p->fd = -1;
        if (unlinkat(p->dirfd, VPD_PERSIST_FILE_NAME, 0) != 0)
            vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT, "cannot remove %s: %s",
                    p->db_path, strerror(errno));
        else
            st.deleted = true;
        fsync(p->dirfd);
        p->inert = true;
        vpd_log(VPD_LOG_INFO, VPD_PERSIST_COMPONENT,
                "restored %u entries from %s and "
                "removed it (keep_after_import is false); the cache is not "
                "persisted for the rest of this run",
                st.restored, p->db_path);
    } else if (p->existed) {
        char why[512];
        if (vpd_persist_rewrite(p, why, sizeof why) != 0) {
            vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
                    "restored %u entries, but "
                    "cannot rewrite the persistent cache (%s); the cache is "
                    "not persisted for the rest of this run",
                    st.restored, why);
            p->inert = true;
        } else {
            vpd_log(VPD_LOG_INFO, VPD_PERSIST_COMPONENT,
                    "restored %u entries from %s "
                    "(%u expired, %u not restored)",
                    st.restored, p->db_path, st.expired, st.failed);
        }
    }
    if (stats)
        *stats = st;
    return (int)st.restored;
}

int
vpd_persist_decode(const uint8_t *const *pl, const size_t *len, size_t n,
                   int (*fn)(void *arg, const vp_cache_entry_t *e), void *arg,
                   char *err, size_t err_len)
{
    vpd_persist *p = calloc(1, sizeof *p);
    if (!p || !(p->db_path = strdup("(decoded payloads)"))) {
        free(p);
        return vpd_persist_fail(err, err_len, "out of memory");
    }
    p->fd = p->dirfd = -1;
    int rc = 0, handed = 0;
    /* The record index stands in for the offset: restore reads a live
     * entry back from its latest PUT, here pl[x->off]. */
    for (size_t i = 0; i < n && rc == 0; i++)
        if (len[i] > 0 && len[i] <= VPD_PERSIST_MAX_PAYLOAD)
            rc = vpd_persist_apply(p, pl[i], len[i], i, (uint32_t)len[i], err,
                                   err_len);
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (vpd_persist_entry *x = p->head; x; x = x->next) {
            vp_cache_entry_t e;
            bool token;
            if (x->token != (pass == 0) ||
                vpd_persist_parse_put(pl[x->off], len[x->off], &e, &token) != 0)
                continue;
            e.last_renewed_ms = x->last_renewed_ms;
            e.ttl_ms = x->ttl_ms;
            if (fn(arg, &e) == 0)
                handed++;
        }
    }
    vpd_persist_free(p);
    return rc != 0 ? -1 : handed;
}
