/* Consistency policies "always" and "never" (api_proxy enforce_consistency,
 * Vault's eventual-consistency headers, see vaproxyd.hcl(5)), with
 * when_inconsistent = fail | retry | forward.
 *
 * "always": a request that carries none of X-Vault-Index, X-Vault-Forward,
 * X-Vault-Inconsistent is managed by the proxy: it gets one X-Vault-Index
 * header per remembered state, and the state its answer reports is merged
 * into the memory.  Requests that carry any of them are the client's
 * business and pass untouched.
 *
 * A 412 means the node lacked the state.  Vault's client retries 412 by
 * default; only a managed request under "fail" hands it straight back.
 * "never" keeps exactly that default.
 *
 * when_inconsistent changes live on SIGHUP (reconfigure, ABI 1.1); the
 * remembered states survive it. */
#include <string.h>

#include <vaproxy/vaproxy.h>

#include "index_state.h"

typedef enum { WHEN_FAIL, WHEN_RETRY, WHEN_FORWARD } when_mode;

typedef struct {
    when_mode when;
    vp_index_set states; /* shared by every listener and token */
} always_state;

/* Stored as the per-request ctx pointer: managed or not. */
static char managed_marker;

static const vp_conf_field_t consistency_schema[] = {
    VP_CONF_FIELD(
        "when_inconsistent", VP_CONF_STRING, 0, "fail",
        "fail, retry or forward: what a 412 from a standby turns into"),
    VP_CONF_END,
};

static int
always_create(vp_instance_t *inst)
{
    const vp_host_api_t *host = inst->host;
    const char *when = "fail";
    host->conf_string(inst, "when_inconsistent", &when);
    always_state *st = host->calloc(1, sizeof *st);
    if (!st)
        return VP_ENOMEM;
    if (strcmp(when, "fail") == 0 || when[0] == '\0') {
        st->when = WHEN_FAIL;
    } else if (strcmp(when, "retry") == 0) {
        st->when = WHEN_RETRY;
    } else if (strcmp(when, "forward") == 0) {
        st->when = WHEN_FORWARD;
    } else {
        host->free(st);
        host->set_error(inst,
                        "Unknown api_proxy setting for "
                        "when_inconsistent: \"%s\" (fail, retry or "
                        "forward)",
                        when);
        return VP_EINVAL;
    }
    inst->data = st;
    return 0;
}

static void
always_destroy(vp_instance_t *inst)
{
    inst->host->free(inst->data);
}

/* SIGHUP: a new when_inconsistent applies to the next request (and to the
 * remaining hooks of those under way); the remembered states stay, so the
 * proxy's reads keep naming the writes it has seen.  `next` was created
 * from the new setting, so its mode is already checked. */
static int
always_reconfigure(vp_instance_t *inst, vp_instance_t *next)
{
    always_state *st = inst->data;
    const always_state *fresh = next->data;
    st->when = fresh->when;
    return 0;
}

/* "never" keeps no settings (when_inconsistent only matters to "always"):
 * there is nothing to apply, and nothing to restart for. */
static int
never_reconfigure(vp_instance_t *inst, vp_instance_t *next)
{
    (void)inst;
    (void)next;
    return 0;
}

static int
client_manages(const vp_host_api_t *host, const vp_req_t *req)
{
    return host->req_header_count(req, "X-Vault-Index") ||
           host->req_header_count(req, "X-Vault-Forward") ||
           host->req_header_count(req, "X-Vault-Inconsistent");
}

static vp_status_t
always_on_request(vp_instance_t *inst, vp_req_t *req)
{
    const vp_host_api_t *host = inst->host;
    always_state *st = inst->data;
    if (client_manages(host, req))
        return VP_CONTINUE;
    if (host->req_ctx_set(req, inst, &managed_marker, NULL) != 0)
        return VP_ERROR;
    if (st->states.n == 0)
        return VP_CONTINUE; /* nothing learned yet: no headers */
    for (size_t i = 0; i < st->states.n; i++) {
        if (host->req_header_add(req, "X-Vault-Index", st->states.values[i]) !=
            0)
            return VP_ERROR;
    }
    if (st->when == WHEN_FORWARD &&
        host->req_header_add(req, "X-Vault-Inconsistent",
                             "forward-active-node") != 0)
        return VP_ERROR;
    return VP_CONTINUE;
}

static vp_status_t
always_on_response(vp_instance_t *inst, vp_req_t *req)
{
    const vp_host_api_t *host = inst->host;
    always_state *st = inst->data;
    int managed = host->req_ctx_get(req, inst) == &managed_marker;
    if (managed) {
        /* Learned from every answer, errors included. */
        const char *index = host->resp_header(req, "X-Vault-Index", 0);
        if (index && index[0])
            vp_index_merge(&st->states, index);
    }
    if (host->resp_status(req) != 412)
        return VP_CONTINUE;
    if (managed && st->when == WHEN_FAIL)
        return VP_CONTINUE;
    return VP_RETRY;
}

static vp_status_t
never_on_response(vp_instance_t *inst, vp_req_t *req)
{
    return inst->host->resp_status(req) == 412 ? VP_RETRY : VP_CONTINUE;
}

static const vp_consistency_ops_t always_ops = {
    .size = sizeof(vp_consistency_ops_t),
    .create = always_create,
    .destroy = always_destroy,
    .on_request = always_on_request,
    .on_response = always_on_response,
    .reconfigure = always_reconfigure,
};

static const vp_consistency_ops_t never_ops = {
    .size = sizeof(vp_consistency_ops_t),
    .on_response = never_on_response,
    .reconfigure = never_reconfigure,
};

static const vp_provide_t consistency_provides[] = {
    {VP_KIND_CONSISTENCY, "always", &always_ops, consistency_schema},
    {VP_KIND_CONSISTENCY, "never", &never_ops, consistency_schema},
    {0, NULL, NULL, NULL},
};

VP_PLUGIN_DEFINE(consistency_vault) = {
    VP_PLUGIN_HEADER(consistency_vault),
    .version = "1.1",
    .summary = "Vault's X-Vault-Index consistency: enforce_consistency "
               "always|never, when_inconsistent fail|retry|forward",
    .provides = consistency_provides,
};
