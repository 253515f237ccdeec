/* The router: what happens to each request a listener parsed.  Proxy API
 * paths (/proxy/v1/..., /agent/v1/...) are answered here; everything else
 * gets its token chosen (api_proxy.use_auto_auth_token), runs through the
 * plugin chain and is forwarded upstream (spec 2.1-2.4).  Every answered
 * request is counted in the metrics and gets one request log line.
 *
 * Ownership: the router borrows everything it is given; it must outlive
 * every request it was handed. */
#ifndef VPD_ROUTER_H
#define VPD_ROUTER_H

#include <uv.h>

#include "proxy/chain.h"
#include "config/config.h"
#include "upstream/forward.h"
#include "http/http.h"
#include "proxy/proxy_metrics.h"
#include "auth/token_holder.h"

typedef struct vpd_auto_auth vpd_auto_auth;
typedef struct vpd_lease_cache vpd_lease_cache;
typedef struct vpd_server vpd_server;
typedef struct vpd_instance vpd_instance;
struct proxied;

typedef struct vpd_router {
    uv_loop_t *loop;
    const vpd_config *cfg;
    vpd_fwd *fwd;
    vpd_chain *chain;
    vpd_token_holder *holder;
    vpd_auto_auth *auto_auth;  /* may be NULL */
    vpd_lease_cache *cache;    /* may be NULL: no cache block */
    vpd_instance *cache_store; /* the cache's store, for its size; may
                                  be NULL */
    vpd_server *server;        /* for the connections gauge; may be NULL */
    void (*on_quit)(void *arg);
    void *quit_arg;
    unsigned retry_min_ms, retry_max_ms; /* chain retry waits */
    long timeout_ms; /* per upstream call, retries included */
    size_t inflight;
    struct proxied *parked;    /* waiting for a new auto-auth token */
    vpd_proxy_metrics metrics; /* /proxy/v1/metrics (spec 2.12) */
} vpd_router;

void vpd_router_init(vpd_router *r, uv_loop_t *loop, const vpd_config *cfg,
                     vpd_fwd *fwd, vpd_chain *chain, vpd_token_holder *holder);

/* The listener's request handler (vpd_http_handler_fn); arg = router. */
void vpd_router_handle(vpd_http_req *http, void *arg);

#endif
