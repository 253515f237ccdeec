/* The static secret cache's parts, shared by its files, lowest first:
 * static_store.c (storing an answer, the write-race check),
 * static_persist.c (the persistent store and eviction), static_calls.c
 * (the bounded queue of upstream calls), static_mounts.c (which mounts
 * are KV), static_refresh.c (re-reads), capability_check.c, and
 * static_cache.c on top (lookup, eviction on writes, timers, events).  A
 * file calls only files below it (test_layers.py checks there is no
 * cycle).  Nothing outside core/cache/static_* includes this.
 *
 * Ownership: everything here belongs to the vpd_static_cache. */
#ifndef VPD_STATIC_CACHE_IMPL_H
#define VPD_STATIC_CACHE_IMPL_H

#include "cache/static_pack.h"
#include "cache/static_cache.h"
#include "cache/static_table.h"
#include "cache/static_tokens.h"

/* How many recent write evictions are remembered to refuse an answer
 * that left Vault before the write (a read racing a write). */
#define VPD_SC_RECENT 64

typedef struct vpd_sc_call vpd_sc_call;
typedef struct vpd_sc_mount vpd_sc_mount;
typedef struct vpd_sc_mount_wait vpd_sc_mount_wait;

struct vpd_static_cache {
    uv_loop_t *loop;
    vpd_fwd *fwd;
    vpd_sc_config cfg;
    vpd_st_registry *tokens;
    vpd_se_table *table;
    vpd_static_packer *pack;
    vpd_sc_counters counters;
    /* Write evictions: a global count and the names of the last few. */
    uint64_t epoch;
    struct {
        uint64_t hash, epoch;
    } recent[VPD_SC_RECENT];
    unsigned recent_next;
    /* Upstream calls: running ones and the queue (static_calls.c). */
    vpd_sc_call *running, *queue_head, *queue_tail;
    unsigned n_running;
    /* What is known of mounts, and the lookups under way. */
    vpd_sc_mount *mounts;
    vpd_sc_mount_wait *mount_waits;
    uv_timer_t refresh_timer, capability_timer;
    bool timers_started, closing;
    int open_handles;
    bool events_active, said_no_events;
    vpd_persist *persist; /* borrowed; NULL: in memory only */
    void (*closed)(void *);
    void *closed_arg;
};

/* ---- static_cache.c ---------------------------------------------------- */

uint64_t vpd_sc_wall_ms(void);

/* A hash of a name (namespace + path) for the recent-writes ring. */
uint64_t vpd_sc_name_hash(const char *ns, const char *path);

/* True when no write evicted (ns, path) since `epoch` (or when the ring
 * no longer reaches back that far, false). */
bool vpd_sc_unwritten_since(const vpd_static_cache *sc, const char *ns,
                            const char *path, uint64_t epoch);

/* The answer's qualities, from its JSON: a static KV answer has no
 * lease_id, auth or wrap_info.  *mount_type: 1 "kv", 0 another, -1 the
 * field is absent. */
bool vpd_sc_answer_is_static(const char *body, size_t len, int *mount_type);

/* Stores an answer for token (the answer's tokens say who may read it).
 * Returns 0 or -1. */
int vpd_sc_store(vpd_static_cache *sc, const char *ns, const char *path,
                 const char *query, const char *token, int status,
                 const vpd_hdrs *headers, const char *body, size_t len);

/* Replaces an entry's answer after a re-read (its tokens stay); *e moves
 * (vpd_se_set_answer). */
int vpd_sc_replace(vpd_static_cache *sc, vpd_se_entry **e, int status,
                   const vpd_hdrs *headers, const char *body, size_t len);

void vpd_sc_evict(vpd_static_cache *sc, vpd_se_entry *e);

/* ---- static_calls.c ---------------------------------------------------- */

typedef void (*vpd_sc_call_fn)(vpd_static_cache *sc, vpd_fwd_resp *resp,
                               void *arg);

/* Queues one upstream call with token (and namespace, "" for the root);
 * at most cfg.max_parallel run at once.  cb runs once, with
 * VPD_FWD_CANCELLED when the cache closes first.  Returns 0 or -1 (cb
 * will not run). */
int vpd_sc_call_send(vpd_static_cache *sc, const char *method,
                     const char *target, const char *token, const char *ns,
                     const char *body, vpd_sc_call_fn cb, void *arg);

/* Cancels every call (their callbacks run before this returns). */
void vpd_sc_calls_cancel(vpd_static_cache *sc);

/* ---- static_refresh.c -------------------------------------------------- */

/* Re-reads e with its tokens in turn (unless one is under way). */
void vpd_sc_reread(vpd_static_cache *sc, vpd_se_entry *e);

/* ---- static_mounts.c --------------------------------------------------- */

/* 1: path is on a KV mount; 0: on another; -1: not known yet. */
int vpd_sc_mount_kind(const vpd_static_cache *sc, const char *ns,
                      const char *path);

/* Asks the server for path's mount with token, then stores the answer
 * (copied here) when the mount is KV and no write came in between. */
void vpd_sc_store_after_mount_lookup(vpd_static_cache *sc, const char *ns,
                                     const char *path, const char *query,
                                     const char *token, uint64_t epoch,
                                     const vpd_fwd_resp *resp);

void vpd_sc_mounts_free(vpd_static_cache *sc);

/* ---- static_persist.c -------------------------------------------------- */

/* Writes e (answer and token set) through to the persistent store. */
void vpd_sc_persist_put(vpd_static_cache *sc, const vpd_se_entry *e);
void vpd_sc_persist_delete(vpd_static_cache *sc, const vpd_se_entry *e);

/* ---- capability_check.c ------------------------------------------------ */

/* One capability check per (token, namespace) over the paths it may read
 * from the cache. */
void vpd_sc_check_capabilities(vpd_static_cache *sc);

#endif
