/* The phase engine.  Kept free of HTTP and the event loop: the consistency
 * hooks need nothing but a request struct and plugin instances, and the
 * cache phase is reached through the lease cache's narrow interface. */
#include "autoconf.h"

#include "proxy/chain.h"

#include <stdlib.h>
#include <string.h>

static int
push(vpd_instance ***arr, size_t *n, vpd_instance *inst)
{
    vpd_instance **grown = realloc(*arr, (*n + 1) * sizeof *grown);
    if (!grown)
        return -1;
    grown[(*n)++] = inst;
    *arr = grown;
    return 0;
}

int
vpd_chain_add(vpd_chain *chain, vpd_instance *inst)
{
    if (inst->kind != VP_KIND_CONSISTENCY)
        return -1;
    return push(&chain->consistency, &chain->n_consistency, inst);
}

void
vpd_chain_set_cache(vpd_chain *chain, vpd_lease_cache *cache,
                    const vpd_instance *store)
{
    chain->cache = cache;
    chain->cache_store = store;
}

void
vpd_chain_set_static(vpd_chain *chain, vpd_static_cache *sc)
{
    chain->statics = sc;
}

vpd_static_cache *
vpd_chain_static(const vpd_chain *chain)
{
    return chain->statics;
}

vpd_lease_cache *
vpd_chain_cache(const vpd_chain *chain)
{
    return chain->cache;
}

const vpd_instance *
vpd_chain_cache_store(const vpd_chain *chain)
{
    return chain->cache_store;
}

static vp_status_t
hook_failed(vpd_instance *inst, const char *phase, char *err, size_t err_len)
{
    const char *why = vpd_instance_error(inst);
    snprintf(err, err_len, "%s %s failed%s%s", inst->label, phase,
             why[0] ? ": " : "", why);
    return VP_ERROR;
}

vp_status_t
vpd_chain_on_request(vpd_chain *chain, vp_req_t *req, char *err, size_t err_len)
{
    for (size_t i = 0; i < chain->n_consistency; i++) {
        vpd_instance *inst = chain->consistency[i];
        const vp_consistency_ops_t *ops = vpd_instance_ops(inst);
        if (!ops->on_request)
            continue;
        vpd_instance_clear_error(inst);
        vp_status_t rc = ops->on_request(&inst->pub, req);
        if (rc == VP_DONE) {
            if (!req->answered) {
                snprintf(err, err_len, "%s answered without a response",
                         inst->label);
                return VP_ERROR;
            }
            return VP_DONE;
        }
        if (rc != VP_CONTINUE && rc != VP_DECLINED)
            return hook_failed(inst, "on_request", err, err_len);
    }
    return VP_CONTINUE;
}

bool
vpd_chain_cache_lookup(vpd_chain *chain, vp_req_t *req, vpd_lc_pending **slot,
                       vpd_sc_ticket *ticket, vpd_lc_lookup_fn done, void *arg)
{
    *slot = NULL;
    memset(ticket, 0, sizeof *ticket);
    if (chain->statics) {
        vpd_lc_hit hit;
        if (vpd_sc_lookup(chain->statics, req, &hit, ticket)) {
            done(arg, &hit); /* the callee frees it (vpd_lc_lookup_fn) */
            return true;
        }
    }
    if (!chain->cache) {
        if (!chain->statics)
            return false;
        done(arg, NULL);
        return true;
    }
    vpd_lc_lookup(chain->cache, req, slot, done, arg);
    return true;
}

vp_status_t
vpd_chain_on_response(vpd_chain *chain, vp_req_t *req, char *err,
                      size_t err_len)
{
    for (size_t i = chain->n_consistency; i-- > 0;) {
        vpd_instance *inst = chain->consistency[i];
        const vp_consistency_ops_t *ops = vpd_instance_ops(inst);
        if (!ops->on_response)
            continue;
        vpd_instance_clear_error(inst);
        vp_status_t rc = ops->on_response(&inst->pub, req);
        if (rc == VP_RETRY)
            return VP_RETRY;
        if (rc != VP_CONTINUE && rc != VP_DECLINED)
            return hook_failed(inst, "on_response", err, err_len);
    }
    return VP_CONTINUE;
}

vp_status_t
vpd_chain_response_phase(vpd_chain *chain, vp_req_t *req, vpd_lc_pending **slot,
                         vpd_sc_ticket *ticket, char *err, size_t err_len)
{
    vp_status_t rc = vpd_chain_on_response(chain, req, err, err_len);
    /* The stores see the upstream's own answer, before the router adds
     * any header of ours to it. */
    if (rc == VP_CONTINUE && ticket && chain->statics)
        vpd_sc_settle(chain->statics, ticket, req, req->resp);
    if (rc == VP_CONTINUE && slot && chain->cache)
        vpd_lc_settle(chain->cache, slot, req, req->resp);
    return rc;
}

void
vpd_chain_abandon(vpd_chain *chain, vp_req_t *req, vpd_lc_pending **slot,
                  vpd_sc_ticket *ticket)
{
    if (chain->statics && ticket && ticket->kind)
        vpd_sc_settle(chain->statics, ticket, req, NULL);
    if (chain->cache)
        vpd_lc_settle(chain->cache, slot, NULL, NULL);
}

void
vpd_chain_dump(const vpd_chain *chain, FILE *out)
{
    fprintf(out, "request phase:\n");
    for (size_t i = 0; i < chain->n_consistency; i++)
        fprintf(out, "  %zu. %s (%s)\n", i + 1, chain->consistency[i]->label,
                chain->consistency[i]->plugin->path);
    const vpd_instance *store = chain->cache_store;
    size_t step = chain->n_consistency + 1;
    if (chain->statics)
        fprintf(out, "  %zu. cache lookup: static secret cache\n", step++);
    if (store)
        fprintf(out, "  %zu. cache lookup: lease cache over %s (%s)\n", step,
                store->label, store->plugin->path);
    fprintf(out, "forward: upstream\nresponse phase:\n");
    for (size_t i = chain->n_consistency; i-- > 0;)
        fprintf(out, "  %zu. %s\n", chain->n_consistency - i,
                chain->consistency[i]->label);
    step = chain->n_consistency + 1;
    if (chain->statics)
        fprintf(out, "  %zu. cache store: static secret cache\n", step++);
    if (store)
        fprintf(out, "  %zu. cache store: lease cache over %s\n", step,
                store->label);
}

void
vpd_chain_free(vpd_chain *chain)
{
    for (size_t i = chain->n_consistency; i-- > 0;)
        vpd_instance_free(chain->consistency[i]);
    free(chain->consistency);
    memset(chain, 0, sizeof *chain);
}
