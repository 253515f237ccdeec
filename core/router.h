/* The router: what happens to each request a listener parsed.  Proxy API
 * paths (/proxy/v1/..., /agent/v1/...) are answered here; everything else
 * gets its token chosen (api_proxy.use_auto_auth_token), runs through the
 * plugin chain and is forwarded upstream (spec 2.1-2.4).
 *
 * Ownership: the router borrows everything it is given; it must outlive
 * every request it was handed. */
#ifndef VPD_ROUTER_H
#define VPD_ROUTER_H

#include <uv.h>

#include "chain.h"
#include "config.h"
#include "forward.h"
#include "http.h"
#include "token_holder.h"

typedef struct vpd_auto_auth vpd_auto_auth;
typedef struct vpd_lease_cache vpd_lease_cache;
struct proxied;

typedef struct {
    uint64_t requests;        /* proxied requests */
    uint64_t success;         /* upstream answered < 400 */
    uint64_t client_error;    /* upstream answered >= 400 */
    uint64_t error;           /* no upstream answer */
    uint64_t cache_miss;
} vpd_router_counters;

typedef struct vpd_router {
    uv_loop_t *loop;
    const vpd_config *cfg;
    vpd_fwd *fwd;
    vpd_chain *chain;
    vpd_token_holder *holder;
    vpd_auto_auth *auto_auth;   /* may be NULL */
    vpd_lease_cache *cache;     /* may be NULL: no cache block */
    void (*on_quit)(void *arg);
    void *quit_arg;
    unsigned retry_min_ms, retry_max_ms; /* chain retry waits */
    long timeout_ms;            /* per upstream call, retries included */
    size_t inflight;
    struct proxied *parked;     /* waiting for a new auto-auth token */
    vpd_router_counters counters;
} vpd_router;

void vpd_router_init(vpd_router *r, uv_loop_t *loop, const vpd_config *cfg,
                     vpd_fwd *fwd, vpd_chain *chain,
                     vpd_token_holder *holder);

/* The listener's request handler (vpd_http_handler_fn); arg = router. */
void vpd_router_handle(vpd_http_req *http, void *arg);

#endif
