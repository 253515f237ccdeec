/* The static secret cache (vaproxyd.hcl(5): cache_static_secrets): KV v1
 * and v2 answers kept once for every token Vault gave them to, served to
 * those tokens only, evicted by writes through the proxy and kept fresh by
 * re-reads (on KV events, and every static_secret_refresh_interval) and
 * capability checks (every static_secret_token_capability_refresh_interval).
 *
 * A token never receives a cached answer for a key unless Vault answered
 * that key to that same token: a hit needs the request's token in the
 * entry's token set, and tokens join a set only through a 2xx answer.
 *
 * The event stream is another module's; it reports through
 * vpd_sc_events_connected, vpd_sc_events_event and
 * vpd_sc_events_unavailable, which have the shape of its callbacks.
 *
 * Ownership: the cache borrows the loop and the forwarder, which must
 * outlive it (vpd_sc_close runs before the forwarder is freed).  It owns
 * its entries, token copies (secret memory) and timers. */
#ifndef VPD_STATIC_CACHE_H
#define VPD_STATIC_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cache/lease_cache.h"
#include "cache/persist.h"
#include "config/config.h"
#include "plugin/request.h"
#include "upstream/forward.h"

typedef struct vpd_static_cache vpd_static_cache;

typedef struct {
    uint64_t refresh_ms;    /* 0: no periodic re-reads */
    uint64_t capability_ms; /* 0: no capability checks */
    vpd_cap_behavior behavior;
    bool events_off;       /* static_secret_events = "off" */
    unsigned max_parallel; /* upstream calls at once; 0: 4 */
} vpd_sc_config;

/* What the metrics show (proxy_metrics.h). */
typedef struct {
    uint64_t hits, misses, stored, refreshes, refresh_failures,
        capability_checks, capability_removals, events_received;
    uint64_t entries, bytes, tokens; /* gauges, filled by the getter */
    bool events_connected;
} vpd_sc_counters;

/* A request's part in the static cache between its lookup and its
 * answer.  Zero is "nothing to do". */
typedef struct {
    uint8_t kind; /* vpd_sp_kind */
    uint64_t epoch;
} vpd_sc_ticket;

/* fwd NULL: nothing is ever re-read or checked (unit tests). */
vpd_static_cache *vpd_sc_new(uv_loop_t *loop, vpd_fwd *fwd,
                             const vpd_sc_config *cfg);

/* Starts the refresh and capability timers. */
void vpd_sc_start(vpd_static_cache *sc);

/* Looks the request up.  Returns true with *hit filled (headers with
 * X-Cache: HIT and Age; the caller frees it with vpd_lc_hit_free's
 * contract) when the request's token may be served the stored answer.
 * A write evicts its names here, before it is forwarded.  *ticket is the
 * request's until vpd_sc_settle. */
bool vpd_sc_lookup(vpd_static_cache *sc, const vp_req_t *r, vpd_lc_hit *hit,
                   vpd_sc_ticket *ticket);

/* The request's answer (resp NULL: it ended without one).  A write evicts
 * its names again; a read's qualifying answer is stored for its token. */
void vpd_sc_settle(vpd_static_cache *sc, vpd_sc_ticket *ticket,
                   const vp_req_t *r, const vpd_fwd_resp *resp);

/* cache-clear: entries whose namespace is ns (NULL or "" is the root) and
 * whose path starts with prefix; prefix NULL clears everything.  Returns
 * how many entries were removed. */
int vpd_sc_clear(vpd_static_cache *sc, const char *ns, const char *prefix);

/* The event stream's reports.  connected: the stream is up (every entry
 * is re-read once; the refresh interval becomes a tenfold safety net).
 * event: a KV write at path ("secret/data/foo", "secret/metadata/foo",
 * ...) in namespace ns; only modified events re-read.  unavailable: the
 * server has no event stream (logged once; the interval is back). */
void vpd_sc_events_connected(void *sc);
void vpd_sc_events_event(void *sc, const char *ns, const char *path,
                         bool modified);
void vpd_sc_events_unavailable(void *sc);
/* The stream broke (it reconnects by itself): until it is back the
 * refresh interval runs at its own period again. */
void vpd_sc_events_disconnected(void *sc);

/* Re-reads every entry, then checks every token's capabilities (after a
 * restore from the persistent cache). */
void vpd_sc_refresh_all(vpd_static_cache *sc);
void vpd_sc_check_all(vpd_static_cache *sc);

/* Persistence (the cache block's `persist`): entries and their token
 * sets are kept in the lease cache's encrypted store.  restore_entry is
 * the lease cache's restore hook (vpd_lc_set_static_restore): it takes an
 * entry back, served at once.  set_persist makes every later change write
 * through (p borrowed; NULL stops). */
int vpd_sc_restore_entry(void *sc, const vp_cache_entry_t *e);
void vpd_sc_set_persist(vpd_static_cache *sc, vpd_persist *p);

const vpd_sc_counters *vpd_sc_counters_get(vpd_static_cache *sc);

/* Cancels what is under way and frees the cache once its handles are
 * closed; then done (may be NULL) runs. */
void vpd_sc_close(vpd_static_cache *sc, void (*done)(void *), void *arg);

#endif
