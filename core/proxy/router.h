/* The router: what happens to each request a listener parsed.  Proxy API
 * paths (/proxy/v1/..., /agent/v1/...) are answered here; everything else
 * gets its token chosen (api_proxy.use_auto_auth_token, vaproxyd.hcl(5)),
 * runs through the chain (chain.h: consistency hooks, the cache lookup,
 * the upstream call, the response hooks, the cache store) and is answered
 * as Vault Proxy would answer it.  Every answered request is counted in
 * the metrics and gets one request log line.
 *
 * Ownership: the router borrows everything in its dependencies; they must
 * outlive it, and it must outlive every request it was handed. */
#ifndef VPD_ROUTER_H
#define VPD_ROUTER_H

#include <stddef.h>
#include <uv.h>

#include "auth/token_holder.h"
#include "config/config.h"
#include "http/http.h"
#include "proxy/chain.h"
#include "upstream/forward.h"

typedef struct vpd_auto_auth vpd_auto_auth;
typedef struct vpd_router vpd_router;

typedef struct {
    const vpd_config *cfg;
    vpd_fwd *fwd;
    vpd_chain *chain; /* its cache phase, if any, is the lease cache */
    vpd_token_holder *holder;
    vpd_auto_auth *auto_auth; /* NULL: no auto_auth block */
    /* The metrics' client connections gauge; NULL counts none. */
    size_t (*client_connections)(void *arg);
    void *connections_arg;
    /* POST /proxy/v1/quit on a listener that allows it; may be NULL. */
    void (*on_quit)(void *arg);
    void *quit_arg;
    /* Waits between the retries a response hook asks for: linear,
     * jittered between these bounds (the daemon's are 1000 and 1500). */
    unsigned retry_min_ms, retry_max_ms;
    long timeout_ms; /* per upstream call, retries included; 0: none */
} vpd_router_deps;

/* Returns NULL when out of memory. */
vpd_router *vpd_router_new(uv_loop_t *loop, const vpd_router_deps *deps);

/* Frees the router; no request may be under way. */
void vpd_router_free(vpd_router *r);

/* Requests under way (for the drain at shutdown). */
size_t vpd_router_inflight(const vpd_router *r);

/* The answer to a local request: status, headers (may be NULL) and body,
 * all valid only during the call. */
typedef void (*vpd_router_local_fn)(int status, const vpd_hdrs *hdrs,
                                    const char *body, size_t len, void *arg);

/* Runs a request made inside the daemon (the agent's template reads)
 * through the same path as a client's (the chain, the lease cache,
 * consistency, retries, self-healing) with the auto-auth token, whatever
 * api_proxy.use_auto_auth_token says.  target is the path and query, as
 * "/v1/secret/data/x".  done runs exactly once, perhaps before this
 * returns (an early failure).
 * Returns 0, or -1 when out of memory (done never runs). */
int vpd_router_local(vpd_router *rt, const char *method, const char *target,
                     const char *body, size_t body_len,
                     vpd_router_local_fn done, void *arg);

/* The listener's request handler (vpd_http_handler_fn); arg = router. */
void vpd_router_handle(vpd_http_req *http, void *arg);

#endif
