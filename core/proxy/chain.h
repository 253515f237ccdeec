/* The chain: what every proxied request passes through, as data built
 * from the config.  Phases, in order:
 *
 *   request:  consistency.on_request (chain order) -> cache lookup
 *   forward:  the upstream call (the router)
 *   response: consistency.on_response (reverse order; VP_RETRY goes back
 *             to forward, bounded) -> cache store
 *
 * A request hook may answer early (VP_DONE): later request hooks, the
 * cache, the forward and every response hook are skipped.  A cache hit
 * answers too: the forward and the response phase are skipped.  The cache
 * phase is the static secret cache (cache/static_cache.h), when
 * cache_static_secrets is on, then the lease cache (cache/lease_cache.h),
 * present when the config has a cache block; its storage is a cache
 * plugin instance, which the dump names.  The static cache answers only
 * the tokens Vault gave its answers to; everything else goes on to the
 * lease cache, and its store step sees every answer.
 *
 * Ownership: the chain owns its consistency instances and frees them; it
 * borrows the static cache, the lease cache and its store, which the
 * daemon owns. */
#ifndef VPD_CHAIN_H
#define VPD_CHAIN_H

#include <stdio.h>

#include "cache/lease_cache.h"
#include "cache/static_cache.h"
#include "plugin/plugin_instance.h"
#include "plugin/request.h"

typedef struct {
    vpd_instance **consistency;
    size_t n_consistency;
    const vpd_instance *cache_store; /* borrowed; NULL: no cache phase */
    vpd_lease_cache *cache;          /* borrowed; NULL until it runs */
    vpd_static_cache *statics;       /* borrowed; NULL: none */
} vpd_chain;

/* Appends a consistency instance to the chain, which then owns it.
 * Returns 0, or -1 (out of memory, or not a consistency instance: cache
 * stores join through vpd_chain_set_cache, auth methods run beside the
 * chain). */
int vpd_chain_add(vpd_chain *chain, vpd_instance *inst);

/* Makes the lease cache over `store` the chain's cache phase (both
 * borrowed).  A store without a cache yet (--dump-chain builds no loop)
 * is shown but looks nothing up; (NULL, NULL) removes the phase. */
void vpd_chain_set_cache(vpd_chain *chain, vpd_lease_cache *cache,
                         const vpd_instance *store);

/* Makes the static secret cache (borrowed) the first step of the cache
 * phase; NULL removes it. */
void vpd_chain_set_static(vpd_chain *chain, vpd_static_cache *sc);
vpd_static_cache *vpd_chain_static(const vpd_chain *chain);

/* The lease cache, or NULL when there is no cache phase. */
vpd_lease_cache *vpd_chain_cache(const vpd_chain *chain);
const vpd_instance *vpd_chain_cache_store(const vpd_chain *chain);

/* Runs the request hooks.  Returns VP_CONTINUE, VP_DONE (the request was
 * answered, see req->answered) or VP_ERROR (message in err). */
vp_status_t vpd_chain_on_request(vpd_chain *chain, vp_req_t *req, char *err,
                                 size_t err_len);

/* The request phase's last step, run after vpd_chain_on_request (and after
 * the router has settled which token the request carries, since the cache
 * key includes it).  Returns false when there is no cache phase: `done`
 * never runs and the request goes upstream.  Otherwise `done` runs once,
 * perhaps before this returns: with a static hit at once, else as
 * vpd_lc_lookup describes (or with a miss when there is no lease cache).
 * *slot and *ticket are the request's until vpd_chain_response_phase or
 * vpd_chain_abandon. */
bool vpd_chain_cache_lookup(vpd_chain *chain, vp_req_t *req,
                            vpd_lc_pending **slot, vpd_sc_ticket *ticket,
                            vpd_lc_lookup_fn done, void *arg);

/* Runs the response hooks in reverse order.  Returns VP_CONTINUE, VP_RETRY
 * (the first hook that asked; the hooks before it in reverse order have
 * run) or VP_ERROR (message in err). */
vp_status_t vpd_chain_on_response(vpd_chain *chain, vp_req_t *req, char *err,
                                  size_t err_len);

/* The whole response phase on req->resp: vpd_chain_on_response, then, on
 * VP_CONTINUE, the cache store (slot and ticket from
 * vpd_chain_cache_lookup; NULL or an empty slot stores nothing in the
 * lease cache), after which the identical requests that waited for this
 * one look up again.  Returns as vpd_chain_on_response. */
vp_status_t vpd_chain_response_phase(vpd_chain *chain, vp_req_t *req,
                                     vpd_lc_pending **slot,
                                     vpd_sc_ticket *ticket, char *err,
                                     size_t err_len);

/* The request ends without its answer going through the response phase:
 * its cache lookup (if any) is given up, and a write evicts once more
 * (it may have reached the server). */
void vpd_chain_abandon(vpd_chain *chain, vp_req_t *req, vpd_lc_pending **slot,
                       vpd_sc_ticket *ticket);

/* Prints the chain, one step a line (vaproxyd --dump-chain). */
void vpd_chain_dump(const vpd_chain *chain, FILE *out);

void vpd_chain_free(vpd_chain *chain);

#endif
