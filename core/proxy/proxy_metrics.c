/* The instrument list of vaproxyd.  Names follow Vault's where Vault has
 * the metric; units are in the names of our own (seconds, bytes). */
#include "autoconf.h"

#include "proxy/proxy_metrics.h"

#include <string.h>

#include "http/h2_conn.h"

static void
pair(vpd_proxy_metrics *pm, vpd_metric_pair p, const char *agent_name,
     const char *proxy_name, const char *help)
{
    p[0] = vpd_metrics_add(&pm->reg, VPD_METRIC_COUNTER, agent_name, help);
    p[1] = vpd_metrics_add(&pm->reg, VPD_METRIC_COUNTER, proxy_name, help);
}

static vpd_metric *
counter(vpd_proxy_metrics *pm, const char *name, const char *help)
{
    return vpd_metrics_add(&pm->reg, VPD_METRIC_COUNTER, name, help);
}

static vpd_metric *
gauge(vpd_proxy_metrics *pm, const char *name, const char *help)
{
    return vpd_metrics_add(&pm->reg, VPD_METRIC_GAUGE, name, help);
}

void
vpd_proxy_metrics_init(vpd_proxy_metrics *pm, const vpd_telemetry_config *tel,
                       const char *hostname, uint64_t now_wall_ms)
{
    memset(pm, 0, sizeof *pm);
    vpd_metrics_options o = {.prefix = "vault"};
    if (tel && tel->present) {
        o.prefix = tel->metrics_prefix;
        o.hostname = hostname;
        /* SetupTelemetry turns the host name off unless two or more sinks
         * are configured; enable_hostname_label works on its own. */
        o.hostname_in_gauges = !tel->disable_hostname && tel->n_sinks > 1;
        o.hostname_label = tel->enable_hostname_label;
        o.retention_ms = tel->prometheus_retention_ms;
        o.filters = tel->prefix_filter;
        o.n_filters = tel->n_prefix_filter;
        o.block_by_default = !tel->filter_default;
    }
    vpd_metrics_init(&pm->reg, &o, now_wall_ms);

    pair(pm, pm->auth_success, "agent.auth.success", "proxy.auth.success",
         "Auto-auth logins and token renewals that succeeded");
    pair(pm, pm->auth_failure, "agent.auth.failure", "proxy.auth.failure",
         "Auto-auth logins, restored-token lookups and renewals that failed");
    pair(pm, pm->proxy_success, "agent.proxy.success", "proxy.proxy.success",
         "Proxied requests answered below 400 (cache hits included)");
    pair(pm, pm->proxy_client_error, "agent.proxy.client_error",
         "proxy.proxy.client_error",
         "Proxied requests the upstream answered with 400 or above");
    pair(pm, pm->proxy_error, "agent.proxy.error", "proxy.proxy.error",
         "Proxied requests with no upstream answer (answered locally)");
    pair(pm, pm->cache_hit, "agent.cache.hit", "proxy.cache.hit",
         "Proxied requests answered from the lease cache");
    pair(pm, pm->cache_miss, "agent.cache.miss", "proxy.cache.miss",
         "Successful proxied requests that were forwarded upstream");

    pm->login_attempts =
        counter(pm, "proxy.auth.login_attempts", "Auto-auth logins started");
    pm->cache_stored =
        counter(pm, "proxy.cache.stored", "Answers stored in the lease cache");
    pm->cache_evicted =
        counter(pm, "proxy.cache.evicted", "Lease cache entries evicted");
    pm->cache_refused_full = counter(pm, "proxy.cache.refused_full",
                                     "Answers not cached: the store was full");
    pm->cache_renewals = counter(pm, "proxy.cache.renewals",
                                 "Renewals of cached leases and tokens");
    pm->cache_renewal_failures = counter(pm, "proxy.cache.renewal_failures",
                                         "Failed renewals of cached entries");
    pm->cache_entries =
        gauge(pm, "proxy.cache.entries", "Entries in the lease cache");
    pm->cache_bytes =
        gauge(pm, "proxy.cache.bytes", "Bytes held by the lease cache store");
    pm->static_hits = counter(pm, "proxy.cache.static.hits",
                              "Requests answered from the static secret cache");
    pm->static_misses =
        counter(pm, "proxy.cache.static.misses",
                "KV reads the static secret cache could not answer");
    pm->static_stored = counter(pm, "proxy.cache.static.stored",
                                "Answers stored for a token in the static "
                                "secret cache");
    pm->static_refreshes =
        counter(pm, "proxy.cache.static.refreshes",
                "Re-reads of static entries that updated or evicted them");
    pm->static_refresh_failures =
        counter(pm, "proxy.cache.static.refresh_failures",
                "Re-reads the server did not answer (entries kept)");
    pm->static_capability_checks =
        counter(pm, "proxy.cache.static.capability_checks",
                "Capability checks of the static cache's tokens");
    pm->static_capability_removals =
        counter(pm, "proxy.cache.static.capability_removals",
                "Tokens taken out of a static entry by a capability check");
    pm->static_events_received =
        counter(pm, "proxy.cache.static.events_received",
                "KV events received from the server's event stream");
    pm->static_entries = gauge(pm, "proxy.cache.static.entries",
                               "Entries in the static secret cache");
    pm->static_bytes = gauge(pm, "proxy.cache.static.bytes",
                             "Bytes held by the static secret cache");
    pm->static_tokens = gauge(pm, "proxy.cache.static.tokens",
                              "Tokens in the static cache's token sets");
    pm->static_events_connected =
        gauge(pm, "proxy.cache.static.events_connected",
              "1 while the KV event stream is connected, else 0");
    pm->client_connections =
        gauge(pm, "proxy.client.connections", "Open client connections");
    pm->upstream_connections = gauge(pm, "proxy.upstream.connections",
                                     "Open connections to the Vault server");
    pm->inflight =
        gauge(pm, "proxy.requests.inflight", "Proxied requests under way");
    pm->request_seconds = vpd_metrics_add(
        &pm->reg, VPD_METRIC_HISTOGRAM, "proxy.request.duration_seconds",
        "Time from a complete proxied request to its answer");
    pm->upstream_seconds = vpd_metrics_add(
        &pm->reg, VPD_METRIC_HISTOGRAM, "proxy.upstream.duration_seconds",
        "Time of each upstream exchange of a proxied request, retries "
        "included");
    pm->h2_conns = counter(pm, "proxy.h2.connections",
                           "Client connections that spoke HTTP/2");
    pm->h2_conns_open = gauge(pm, "proxy.h2.connections.open",
                              "Open HTTP/2 client connections");
    pm->h2_streams =
        counter(pm, "proxy.h2.streams", "HTTP/2 streams opened by clients");
    pm->h2_streams_open =
        gauge(pm, "proxy.h2.streams.open", "Open HTTP/2 streams");
    pm->h2_peer_resets = counter(pm, "proxy.h2.peer_resets",
                                 "HTTP/2 streams reset by the client");
    pm->h2_goaways =
        counter(pm, "proxy.h2.goaways_sent", "HTTP/2 GOAWAY frames sent");
    vpd_metrics_seal(&pm->reg);
}

void
vpd_proxy_metrics_refresh(vpd_proxy_metrics *pm,
                          const vpd_proxy_metrics_sources *s)
{
    if (s->have_auth) {
        for (int i = 0; i < 2; i++) {
            vpd_counter_set(pm->auth_success[i], s->auth_successes);
            vpd_counter_set(pm->auth_failure[i], s->auth_failures);
        }
        vpd_counter_set(pm->login_attempts, s->login_attempts);
    }
    if (s->have_cache) {
        vpd_counter_set(pm->cache_stored, s->cache_stored);
        vpd_counter_set(pm->cache_evicted, s->cache_evicted);
        vpd_counter_set(pm->cache_refused_full, s->cache_refused_full);
        vpd_counter_set(pm->cache_renewals, s->cache_renewals);
        vpd_counter_set(pm->cache_renewal_failures, s->cache_renewal_failures);
    }
    if (s->have_cache_size) {
        vpd_gauge_set(pm->cache_entries, (double)s->cache_entries);
        vpd_gauge_set(pm->cache_bytes, (double)s->cache_bytes);
    }
    if (s->have_static) {
        vpd_counter_set(pm->static_hits, s->static_hits);
        vpd_counter_set(pm->static_misses, s->static_misses);
        vpd_counter_set(pm->static_stored, s->static_stored);
        vpd_counter_set(pm->static_refreshes, s->static_refreshes);
        vpd_counter_set(pm->static_refresh_failures,
                        s->static_refresh_failures);
        vpd_counter_set(pm->static_capability_checks,
                        s->static_capability_checks);
        vpd_counter_set(pm->static_capability_removals,
                        s->static_capability_removals);
        vpd_counter_set(pm->static_events_received, s->static_events_received);
        vpd_gauge_set(pm->static_entries, (double)s->static_entries);
        vpd_gauge_set(pm->static_bytes, (double)s->static_bytes);
        vpd_gauge_set(pm->static_tokens, (double)s->static_tokens);
        vpd_gauge_set(pm->static_events_connected,
                      s->static_events_connected ? 1.0 : 0.0);
    }
    vpd_gauge_set(pm->client_connections, (double)s->client_connections);
    vpd_gauge_set(pm->upstream_connections, (double)s->upstream_connections);
    vpd_gauge_set(pm->inflight, (double)s->inflight);
    /* The listeners' HTTP/2 totals are process-wide; read them here
     * rather than through every owner in between. */
    vpd_h2_counters h2;
    vpd_h2_counters_get(&h2);
    vpd_counter_set(pm->h2_conns, h2.conns_total);
    vpd_gauge_set(pm->h2_conns_open, (double)h2.conns_open);
    vpd_counter_set(pm->h2_streams, h2.streams_total);
    vpd_gauge_set(pm->h2_streams_open, (double)h2.streams_open);
    vpd_counter_set(pm->h2_peer_resets, h2.peer_resets);
    vpd_counter_set(pm->h2_goaways, h2.goaways_sent);
}
