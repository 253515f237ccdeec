/* The daemon's instruments: which metrics vaproxyd shows, under which
 * names, and how the totals other modules keep are copied in before a
 * scrape.
 *
 * Vault emits its API-proxy counters as agent.* even in the proxy while
 * its docs promise proxy.*: both are kept, so dashboards built
 * for either work.  Everything else is ours, under proxy.*.
 *
 * Ownership: a plain struct embedded by its owner (the router); it
 * allocates nothing.  The sources handed to refresh are read, not kept. */
#ifndef VPD_PROXY_METRICS_H
#define VPD_PROXY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "base/metrics.h"

/* A Vault counter under its two names: [0] agent.*, [1] proxy.*. */
typedef vpd_metric *vpd_metric_pair[2];

typedef struct {
    vpd_metrics reg;
    vpd_metric_pair auth_success, auth_failure;
    vpd_metric_pair proxy_success, proxy_client_error, proxy_error;
    vpd_metric_pair cache_hit, cache_miss;
    vpd_metric *login_attempts;
    vpd_metric *cache_stored, *cache_evicted, *cache_refused_full;
    vpd_metric *cache_renewals, *cache_renewal_failures;
    vpd_metric *cache_entries, *cache_bytes;
    /* The static secret cache (proxy.cache.static.*). */
    vpd_metric *static_hits, *static_misses, *static_stored;
    vpd_metric *static_refreshes, *static_refresh_failures;
    vpd_metric *static_capability_checks, *static_capability_removals;
    vpd_metric *static_events_received;
    vpd_metric *static_entries, *static_bytes, *static_tokens;
    vpd_metric *static_events_connected;
    vpd_metric *client_connections, *upstream_connections, *inflight;
    vpd_metric *request_seconds, *upstream_seconds;
    vpd_metric *h2_conns, *h2_conns_open, *h2_streams, *h2_streams_open;
    vpd_metric *h2_peer_resets, *h2_goaways;
} vpd_proxy_metrics;

/* What the other modules count, gathered by the owner before a scrape.
 * A false have_* leaves those instruments as they are.  (Cache hits and
 * misses are counted per response by the router, as Vault does.) */
typedef struct {
    bool have_auth;
    uint64_t auth_successes, auth_failures, login_attempts;
    bool have_cache;
    uint64_t cache_stored, cache_evicted, cache_refused_full;
    uint64_t cache_renewals, cache_renewal_failures;
    bool have_cache_size;
    uint64_t cache_entries, cache_bytes;
    bool have_static;
    uint64_t static_hits, static_misses, static_stored, static_refreshes,
        static_refresh_failures, static_capability_checks,
        static_capability_removals, static_events_received;
    uint64_t static_entries, static_bytes, static_tokens;
    bool static_events_connected;
    size_t client_connections, upstream_connections, inflight;
} vpd_proxy_metrics_sources;

/* tel may be NULL (no telemetry block).  hostname may be NULL. */
void vpd_proxy_metrics_init(vpd_proxy_metrics *pm,
                            const vpd_telemetry_config *tel,
                            const char *hostname, uint64_t now_wall_ms);

void vpd_proxy_metrics_refresh(vpd_proxy_metrics *pm,
                               const vpd_proxy_metrics_sources *src);

static inline void
vpd_metric_pair_inc(vpd_metric_pair p)
{
    vpd_counter_inc(p[0]);
    vpd_counter_inc(p[1]);
}

#endif
