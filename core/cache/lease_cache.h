/* The lease cache, as Vault Proxy's cache block documents it: answers
 * repeated requests that created tokens or leased secrets from memory,
 * renews what it keeps, and evicts it when it is revoked, expires or is
 * cleared.  Storage is a cache plugin (vp_cache_ops_t); this file decides
 * what is cached and owns renewal.  It knows nothing of HTTP clients:
 * the proxy layer parses cache-clear requests and answers them.
 *
 * Ownership: the cache borrows the loop, store instance, forwarder and
 * token holder, which must outlive it.  A pending lookup belongs to the
 * request whose slot holds it until vpd_lc_settle. */
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

/* A request's part in the cache between its lookup and its answer: the
 * miss it is forwarding (others with the same key wait for it), or its
 * wait for an identical request under way.  Opaque; the request keeps the
 * pointer in a slot that the cache updates. */
typedef struct vpd_lc_pending vpd_lc_pending;

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

/* What a cache-clear removes (vaproxyd(8), /proxy/v1/cache-clear). */
typedef enum {
    VPD_LC_CLEAR_REQUEST_PATH, /* entries of that path in that namespace */
    VPD_LC_CLEAR_LEASE,        /* the entry of that lease */
    VPD_LC_CLEAR_TOKEN,        /* the entry of that token */
    VPD_LC_CLEAR_TOKEN_ACCESSOR,
    VPD_LC_CLEAR_ALL,
} vpd_lc_clear_type;

typedef struct {
    vpd_lc_clear_type type;
    const char *value;      /* unused for ALL; required otherwise */
    const char *namespace_; /* request_path only; NULL or "" is "root/" */
} vpd_lc_selector;

/* vpd_lc_clear's answer when a selector other than ALL has no value. */
#define VPD_LC_CLEAR_NO_VALUE (-1)

/* register_auto_auth: api_proxy.use_auto_auth_token is on, so the
 * auto-auth token counts as a managed token whose children are kept. */
vpd_lease_cache *vpd_lease_cache_new(uv_loop_t *loop, vpd_instance *store,
                                     vpd_fwd *fwd, vpd_token_holder *holder,
                                     bool register_auto_auth);

/* Called once per lookup: hit is the stored answer (the callee owns it,
 * see vpd_lc_hit_free), or NULL for a miss: the request must be sent
 * upstream and its answer given to vpd_lc_settle. */
typedef void (*vpd_lc_lookup_fn)(void *arg, vpd_lc_hit *hit);

/* Looks the request up.  *slot is set before `done` runs and must be
 * handed to vpd_lc_settle when the request ends.  `done` runs before this
 * returns unless an identical request is under way: then it runs once
 * that one has settled (a hit now, or a miss that is forwarded alongside
 * any other woken request), so a burst of identical misses reaches the
 * upstream once. */
void vpd_lc_lookup(vpd_lease_cache *lc, vp_req_t *r, vpd_lc_pending **slot,
                   vpd_lc_lookup_fn done, void *arg);

/* Ends a request's part in the cache; *slot becomes NULL (a NULL *slot is
 * fine).  With the upstream's answer (resp) the cache keeps what Vault's
 * documented caching rules say to keep and evicts on revocations; with
 * resp NULL the request gave up.  Either way the requests waiting for
 * this one look up again; a request that was still waiting just stops. */
void vpd_lc_settle(vpd_lease_cache *lc, vpd_lc_pending **slot,
                   const vp_req_t *r, const vpd_fwd_resp *resp);

/* True when other requests wait for the answer of the request holding
 * this slot (NULL is fine): abandoning its upstream call would only make
 * them send their own. */
bool vpd_lc_has_waiters(const vpd_lc_pending *slot);

void vpd_lc_hit_free(vpd_lc_hit *hit);

/* Evicts what the selector names, with the tokens and leases created from
 * it.  Returns how many entries matched, or VPD_LC_CLEAR_NO_VALUE. */
int vpd_lc_clear(vpd_lease_cache *lc, const vpd_lc_selector *sel);

typedef struct vpd_persist vpd_persist;

/* Restores the entries of a persistent store (vaproxyd.hcl(5), cache
 * persist) and keeps
 * writing every change through to it.  *auto_auth_token gets the stored
 * auto-auth token (secret; vpd_secret_free) or NULL.  Returns 0, 1 when
 * some entries could not be restored (err says how many), -1 when the
 * store cannot be read (err says why; the cache then runs without it).
 * The store must outlive the cache. */
int vpd_lc_restore(vpd_lease_cache *lc, vpd_persist *p, char **auto_auth_token,
                   char *err, size_t err_len);

/* Where vpd_lc_restore hands the static secret cache's entries
 * (vpd_persist_is_static_entry); without it they are left in the store. */
void vpd_lc_set_static_restore(vpd_lease_cache *lc,
                               int (*fn)(void *arg, const vp_cache_entry_t *e),
                               void *arg);

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
