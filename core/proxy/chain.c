/* The phase engine.  Kept free of HTTP and libuv so it can be tested with
 * nothing but a request struct and plugin instances. */
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
    switch (inst->kind) {
    case VP_KIND_CONSISTENCY:
        return push(&chain->consistency, &chain->n_consistency, inst);
    case VP_KIND_CACHE:
        return push(&chain->cache, &chain->n_cache, inst);
    default:
        return -1; /* auth methods run beside the chain, not in it */
    }
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

void
vpd_chain_dump(const vpd_chain *chain, FILE *out)
{
    fprintf(out, "request phase:\n");
    for (size_t i = 0; i < chain->n_consistency; i++)
        fprintf(out, "  %zu. %s (%s)\n", i + 1, chain->consistency[i]->label,
                chain->consistency[i]->plugin->path);
    for (size_t i = 0; i < chain->n_cache; i++)
        fprintf(out, "  cache lookup: %s (%s)\n", chain->cache[i]->label,
                chain->cache[i]->plugin->path);
    fprintf(out, "forward: upstream\nresponse phase:\n");
    for (size_t i = chain->n_consistency; i-- > 0;)
        fprintf(out, "  %zu. %s\n", chain->n_consistency - i,
                chain->consistency[i]->label);
}

void
vpd_chain_free(vpd_chain *chain)
{
    for (size_t i = chain->n_consistency; i-- > 0;)
        vpd_instance_free(chain->consistency[i]);
    for (size_t i = chain->n_cache; i-- > 0;)
        vpd_instance_free(chain->cache[i]);
    free(chain->consistency);
    free(chain->cache);
    memset(chain, 0, sizeof *chain);
}
