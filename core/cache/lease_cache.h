/* The lease cache (spec 2.5-2.11): answers repeated requests that created
 * tokens or leased secrets from memory, renews what it keeps, and evicts
 * it when it is revoked, expires or is cleared.  Storage is a cache plugin
 * (vp_cache_ops_t); this file decides what is cached and owns renewal.
 *
 * Ownership: the cache borrows the loop, store instance, forwarder and
 * token holder, which must outlive it.  A ticket belongs to the request
 * that got it until vpd_lc_done. */
#ifndef VPD_LEASE_CACHE_H
#define VPD_LEASE_CACHE_H

#include <stdbool.h>
#include <uv.h>

#include "upstream/forward.h"
#include "plugin/plugin_instance.h"
#include "http/http.h"
#include "plugin/request.h"
#include "auth/token_holder.h"

typedef struct vpd_lease_cache vpd_lease_cache;
typedef struct vpd_lc_ticket vpd_lc_ticket;

typedef enum {
    VPD_LC_FORWARD = 0, /* a miss: send it upstream, then vpd_lc_done */
    VPD_LC_HIT,         /* answered from the cache: see the hit */
    VPD_LC_WAIT,        /* an identical request is under way: resume()
                           runs when it is done; look up again then */
} vpd_lc_verdict;

typedef struct {
    int status;
    vpd_hdrs headers; /* owned: free with vpd_hdrs_free */
    char *body;       /* owned: free() */
    size_t body_len;
} vpd_lc_hit;

typedef struct {
    uint64_t hits, misses, stored, refused_full, evicted, renewals,
        renewal_failures;
    uint64_t watchers; /* a gauge: entries being renewed now */
} vpd_lc_counters;

/* register_auto_auth: api_proxy.use_auto_auth_token is on, so the
 * auto-auth token counts as a managed token (spec 2.7). */
vpd_lease_cache *vpd_lease_cache_new(uv_loop_t *loop, vpd_instance *store,
                                     vpd_fwd *fwd, vpd_token_holder *holder,
                                     bool register_auto_auth);

/* resume NULL: a request that already waited once; it never waits again
 * and nobody waits for it, so woken requests that still miss forward in
 * parallel (spec 2.5). */
vpd_lc_verdict vpd_lc_lookup(vpd_lease_cache *lc, vp_req_t *r,
                             vpd_lc_ticket **ticket, vpd_lc_hit *hit,
                             void (*resume)(void *arg), void *arg);

/* After the upstream answered (resp) or the request gave up (resp NULL):
 * caches what spec 2.6 says to, evicts on revocations (spec 2.9), and
 * wakes the requests that waited for this one.  Frees the ticket. */
void vpd_lc_done(vpd_lease_cache *lc, vpd_lc_ticket *ticket, vp_req_t *r,
                 const vpd_fwd_resp *resp);

/* Drops a waiter registered by a VPD_LC_WAIT (its request ended). */
void vpd_lc_forget_waiter(vpd_lease_cache *lc, void *arg);

/* POST/PUT /proxy/v1/cache-clear (spec 2.11): *status and a JSON body
 * (malloc'd, may be NULL) to answer with. */
void vpd_lc_clear(vpd_lease_cache *lc, const vpd_http_req *http, int *status,
                  char **body);

typedef struct vpd_persist vpd_persist;

/* Restores the entries of a persistent store (spec 2.13) and keeps
 * writing every change through to it.  *auto_auth_token gets the stored
 * auto-auth token (secret; vpd_secret_free) or NULL.  Returns 0, 1 when
 * some entries could not be restored (err says how many), -1 when the
 * store cannot be read (err says why; the cache then runs without it).
 * The store must outlive the cache. */
int vpd_lc_restore(vpd_lease_cache *lc, vpd_persist *p, char **auto_auth_token,
                   char *err, size_t err_len);

const vpd_lc_counters *vpd_lc_counters_get(const vpd_lease_cache *lc);

/* Stops renewals without evicting (shutdown keeps entries intact for a
 * persistent store) and frees the cache once every handle is closed; then
 * `done` runs.  The forwarder must still exist during this call. */
void vpd_lc_close(vpd_lease_cache *lc, void (*done)(void *), void *arg);

/* Reads a stored answer's text (vpd_resp_unpack's result, NUL-terminated
 * at len) into hit, taking the text: on success hit->body is text, moved
 * to its start; on failure the text is wiped and freed.  hit->headers
 * must start empty and are the caller's to free either way.  Returns 0 or
 * -1.  Public within the core for the fuzz target (tests/fuzz). */
int vpd_lc_parse_stored(char *text, size_t len, vpd_lc_hit *hit);

#endif
