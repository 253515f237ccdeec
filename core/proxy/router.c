/* Request routing and the proxy path.  Per request this allocates one
 * struct plus the upstream header list; bodies are not copied (the
 * forwarder copies what it sends). */
#include "autoconf.h"

#include "proxy/router.h"

#include <json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#include "auth/auto_auth.h"
#include "base/backoff.h"
#include "base/log.h"
#include "base/secmem.h"
#include "base/version.h"
#include "cache/lease_cache.h"
#include "plugin/host_table.h"
#include "plugin/request.h"
#include "proxy/cache_clear.h"
#include "proxy/proxy_metrics.h"
#include "proxy/request_log.h"
#include "proxy/sanitize.h"

#define COMPONENT "proxy.apiproxy"

/* How long a request waits for auto-auth to bring a new token after the
 * current one turned out dead, before it gets the server's 403. */
#define HEAL_WAIT_MS 10000
/* Finished requests kept for reuse with their header memory. */
#define SPARE_PROXIED 64

struct vpd_router {
    uv_loop_t *loop;
    const vpd_config *cfg;
    vpd_fwd *fwd;
    vpd_chain *chain;
    vpd_token_holder *holder;
    vpd_auto_auth *auto_auth; /* may be NULL */
    size_t (*client_connections)(void *arg);
    void *connections_arg;
    void (*on_quit)(void *arg);
    void *quit_arg;
    unsigned retry_min_ms, retry_max_ms; /* chain retry waits */
    long timeout_ms; /* per upstream call, retries included */
    size_t inflight;
    struct proxied *parked; /* waiting for a new auto-auth token */
    struct proxied *spare;  /* finished, kept (linked by park_next) */
    size_t n_spare;
    vpd_proxy_metrics metrics; /* /proxy/v1/metrics */
};

typedef struct proxied {
    vp_req_t r; /* first: hooks get &r */
    vpd_router *router;
    vpd_fwd_op *op;
    uv_timer_t *timer; /* retry waits and token waits */
    int chain_retries;
    uint64_t token_generation;   /* of the auto-auth token it carries */
    bool healed;                 /* already resent once with a new token */
    vpd_lc_pending *cache_slot;  /* its lookup, until the answer is stored */
    vpd_sc_ticket static_ticket; /* its static cache lookup, likewise */
    bool wait_for_token;         /* the auto-auth token is dead: wait */
    /* Waiting for a new auto-auth token (router->parked list). */
    bool parked;
    struct proxied *park_prev, *park_next;
    /* The 403 to give if no new token comes in time. */
    int denied_status;
    vpd_hdrs denied_headers;
    char *denied_body;
    size_t denied_len;
    /* For the metrics and the request line (uv_hrtime nanoseconds). */
    uint64_t t0_ns;       /* the router got the request */
    uint64_t up_t0_ns;    /* the current upstream exchange began */
    uint64_t upstream_ns; /* every upstream exchange, summed */
    bool forwarded;
    /* A request made inside the daemon (vpd_router_local): its answer
     * goes to this callback instead of a client connection. */
    vpd_router_local_fn local_done;
    void *local_arg;
} proxied;

static void on_new_token(const char *token, uint64_t generation, void *arg);

static uint64_t
wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

vpd_router *
vpd_router_new(uv_loop_t *loop, const vpd_router_deps *deps)
{
    vpd_router *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->loop = loop;
    r->cfg = deps->cfg;
    r->fwd = deps->fwd;
    r->chain = deps->chain;
    r->holder = deps->holder;
    r->auto_auth = deps->auto_auth;
    r->client_connections = deps->client_connections;
    r->connections_arg = deps->connections_arg;
    r->on_quit = deps->on_quit;
    r->quit_arg = deps->quit_arg;
    r->retry_min_ms = deps->retry_min_ms;
    r->retry_max_ms = deps->retry_max_ms;
    r->timeout_ms = deps->timeout_ms;
    if (vpd_token_listen(r->holder, on_new_token, r) != 0) {
        free(r);
        return NULL;
    }
    /* go-metrics names gauges after the host in some set-ups (telemetry
     * disable_hostname); read once here, never on a request. */
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    vpd_proxy_metrics_init(&r->metrics, &r->cfg->telemetry_conf, host,
                           wall_ms());
    return r;
}

void
vpd_router_free(vpd_router *r)
{
    if (!r)
        return;
    vpd_token_unlisten(r->holder, on_new_token, r);
    while (r->spare) {
        struct proxied *p = r->spare;
        r->spare = p->park_next;
        vpd_req_release(&p->r);
        free(p);
    }
    free(r);
}

size_t
vpd_router_inflight(const vpd_router *r)
{
    return r ? r->inflight : 0;
}

/* The request line of an answer given here, not by the proxy path. */
static void
log_local(const vpd_http_req *http, uint64_t t0_ns, int status)
{
    vpd_request_log(http->method, http->path, status, uv_hrtime() - t0_ns,
                    false, 0, VPD_REQLOG_CACHE_NONE);
}

/* ---- the proxy API ------------------------------------------------------ */

static bool
path_is(const char *path, const char *suffix)
{
    /* Exact matches only, like Go's mux: /proxy/v1/quit/ is forwarded.
     * Nearly every path is Vault's (/v1/...): the second byte settles it
     * before the comparisons, which run three times per request. */
    if (path[0] != '/' || (path[1] != 'p' && path[1] != 'a'))
        return false;
    if (strncmp(path, "/proxy/v1/", 10) == 0)
        return strcmp(path + 10, suffix) == 0;
    if (strncmp(path, "/agent/v1/", 10) == 0)
        return strcmp(path + 10, suffix) == 0;
    return false;
}

static void
respond_empty(vpd_http_req *http, int status)
{
    vpd_http_respond(http, status, NULL, "", 0);
}

static void
handle_quit(vpd_router *r, vpd_http_req *http, uint64_t t0)
{
    if (!http->listener->enable_quit) {
        log_local(http, t0, 404);
        respond_empty(http, 404);
        return;
    }
    if (strcmp(http->method, "POST") != 0) {
        log_local(http, t0, 405);
        respond_empty(http, 405);
        return;
    }
    log_local(http, t0, 200);
    respond_empty(http, 200);
    vpd_log(VPD_LOG_INFO, COMPONENT, "quit requested through the API");
    if (r->on_quit)
        r->on_quit(r->quit_arg); /* idempotent: a second POST is harmless */
}

/* Copies the (undecoded) value of key from a query string into out, or
 * leaves out empty.  Values with escapes are compared as written. */
static void
query_value(const char *query, const char *key, char *out, size_t out_len)
{
    size_t klen = strlen(key);
    const char *p = query;
    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t vlen = len - klen - 1;
            if (vlen >= out_len)
                vlen = out_len - 1;
            memcpy(out, p + klen + 1, vlen);
            out[vlen] = '\0';
            return;
        }
        p = end ? end + 1 : NULL;
    }
}

/* Copies what the other modules count into the instruments. */
static void
gather_metrics(vpd_router *rt)
{
    vpd_proxy_metrics_sources src = {0};
    if (rt->auto_auth) {
        const vpd_auto_auth_counters *c =
            vpd_auto_auth_counters_get(rt->auto_auth);
        src.have_auth = true;
        src.auth_successes = c->successes;
        src.auth_failures = c->failures;
        src.login_attempts = c->login_attempts;
    }
    vpd_lease_cache *cache = vpd_chain_cache(rt->chain);
    const vpd_instance *store = vpd_chain_cache_store(rt->chain);
    if (cache) {
        const vpd_lc_counters *c = vpd_lc_counters_get(cache);
        src.have_cache = true;
        src.cache_stored = c->stored;
        src.cache_evicted = c->evicted;
        src.cache_refused_full = c->refused_full;
        src.cache_renewals = c->renewals;
        src.cache_renewal_failures = c->renewal_failures;
    }
    if (cache && store) {
        const vp_cache_ops_t *ops = vpd_instance_ops(store);
        /* The stats op reads only; the SDK's instance pointer is not
         * const. */
        vp_instance_t *pub = (vp_instance_t *)&store->pub;
        if (ops->stats &&
            ops->stats(pub, &src.cache_entries, &src.cache_bytes) == 0)
            src.have_cache_size = true;
    }
    vpd_static_cache *statics = vpd_chain_static(rt->chain);
    if (statics) {
        const vpd_sc_counters *c = vpd_sc_counters_get(statics);
        src.have_static = true;
        src.static_hits = c->hits;
        src.static_misses = c->misses;
        src.static_stored = c->stored;
        src.static_refreshes = c->refreshes;
        src.static_refresh_failures = c->refresh_failures;
        src.static_capability_checks = c->capability_checks;
        src.static_capability_removals = c->capability_removals;
        src.static_events_received = c->events_received;
        src.static_entries = c->entries;
        src.static_bytes = c->bytes;
        src.static_tokens = c->tokens;
        src.static_events_connected = c->events_connected;
    }
    src.client_connections = rt->client_connections
                                 ? rt->client_connections(rt->connections_arg)
                                 : 0;
    src.upstream_connections = rt->fwd ? vpd_fwd_open_connections(rt->fwd) : 0;
    src.inflight = rt->inflight;
    vpd_proxy_metrics_refresh(&rt->metrics, &src);
}

/* The format of /proxy/v1/metrics: ?format= wins; else an Accept header asking
 * for OpenMetrics (the first one), or naming Prometheus' text format or
 * OpenBao's "prometheus/telemetry" (any of them), selects prometheus. */
static void
metrics_format(const vpd_http_req *http, char *format, size_t len)
{
    format[0] = '\0';
    query_value(http->query, "format", format, len);
    if (format[0])
        return;
    const char *first = vpd_hdrs_get(&http->headers, "Accept", 0);
    if (first && strncmp(first, "application/openmetrics-text", 28) == 0) {
        snprintf(format, len, "prometheus");
        return;
    }
    for (size_t i = 0; i < vpd_hdrs_count(&http->headers, "Accept"); i++) {
        const char *a = vpd_hdrs_get(&http->headers, "Accept", i);
        if (strstr(a, "text/plain; version=0.0.4") ||
            strstr(a, "prometheus/telemetry")) {
            snprintf(format, len, "prometheus");
            return;
        }
    }
}

static void
respond_text(vpd_http_req *http, uint64_t t0, int status, const char *ctype,
             const char *body, size_t len)
{
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "Content-Type", ctype);
    log_local(http, t0, status);
    vpd_http_respond(http, status, &h, body, len);
    vpd_hdrs_free(&h);
}

/* GET /proxy/v1/metrics: go-metrics' in-memory JSON summary, or the
 * Prometheus text format when telemetry enables it (vaproxyd(8)). */
static void
handle_metrics(vpd_router *r, vpd_http_req *http, uint64_t t0)
{
    if (strcmp(http->method, "GET") != 0) {
        respond_text(http, t0, 405, "application/json", "{\"errors\":[]}\n",
                     14);
        return;
    }
    char format[64], msg[128];
    metrics_format(http, format, sizeof format);
    bool prom = strcmp(format, "prometheus") == 0;
    if (format[0] && !prom) {
        int n = snprintf(msg, sizeof msg,
                         "metric response format \"%s\" "
                         "unknown",
                         format);
        respond_text(http, t0, 400, "text/plain", msg, (size_t)n);
        return;
    }
    if (prom && !vpd_metrics_prometheus_enabled(&r->metrics.reg)) {
        respond_text(http, t0, 400, "text/plain", "prometheus is not enabled",
                     25);
        return;
    }
    gather_metrics(r);
    uint64_t now = uv_now(r->loop);
    vpd_metrics_note_scrape(&r->metrics.reg, now);
    vpd_buf out = VPD_BUF_INIT;
    int rc = prom ? vpd_metrics_write_prometheus(&r->metrics.reg, now, &out)
                  : vpd_metrics_write_json(&r->metrics.reg, wall_ms(), &out);
    if (rc != 0) {
        vpd_buf_free(&out);
        log_local(http, t0, 500);
        vpd_http_respond_error(http, 500, "out of memory");
        return;
    }
    respond_text(http, t0, 200,
                 prom ? "text/plain; version=0.0.4; charset=utf-8"
                      : "application/json",
                 out.data ? out.data : "", out.len);
    vpd_buf_free(&out);
}

/* require_request_header (vaproxyd.hcl(5)): exactly one X-Vault-Request
 * header whose value is "true". */
static bool
has_request_header(const vpd_http_req *http)
{
    return vpd_hdrs_count(&http->headers, "X-Vault-Request") == 1 &&
           strcmp(vpd_hdrs_get(&http->headers, "X-Vault-Request", 0), "true") ==
               0;
}

/* Bit 0x80 of each byte of v that is zero (and maybe of bytes above one
 * that is: a hint, never a miss). */
static inline uint64_t
zero_bytes(uint64_t v)
{
    return (v - UINT64_C(0x0101010101010101)) & ~v &
           UINT64_C(0x8080808080808080);
}

/* Whether the path holds "//", "/./" or "/../": one pass, where three
 * strstr calls read nearly every path three times. */
static bool
has_unclean_segment(const char *path)
{
    /* Eight bytes at a time, only a '/' followed by '/' or '.' is a maybe,
     * settled by the byte loop from there; most paths have none. */
    const uint64_t slashes = UINT64_C(0x2f2f2f2f2f2f2f2f);
    const uint64_t dots = UINT64_C(0x2e2e2e2e2e2e2e2e);
    size_t n = strlen(path), i = 0;
    for (; i + 9 <= n; i += 8) {
        uint64_t w, next;
        memcpy(&w, path + i, 8);
        memcpy(&next, path + i + 1, 8);
        if (zero_bytes(w ^ slashes) &
            (zero_bytes(next ^ slashes) | zero_bytes(next ^ dots)))
            break;
    }
    for (const char *p = path + i; *p; p++) {
        if (p[0] != '/')
            continue;
        if (p[1] == '/')
            return true;
        if (p[1] == '.' && (p[2] == '/' || (p[2] == '.' && p[3] == '/')))
            return true;
    }
    return false;
}

/* Go's mux redirects requests whose path is not clean (//, /./, /../) to
 * the cleaned path.  Returns true and writes the clean path if needed. */
static bool
needs_cleaning(const char *path, char *out, size_t out_len)
{
    if (!has_unclean_segment(path))
        return false;
    size_t n = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *seg = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - seg);
        if (len == 0 || (len == 1 && seg[0] == '.'))
            continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
            continue;
        }
        if (n + len + 2 >= out_len)
            return false;
        out[n++] = '/';
        memcpy(out + n, seg, len);
        n += len;
    }
    if (n == 0)
        out[n++] = '/';
    else if (path[strlen(path) - 1] == '/')
        out[n++] = '/';
    out[n] = '\0';
    return true;
}

/* ---- the proxy path ---------------------------------------------------- */

static void forward(proxied *p);

static void
on_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void
unpark(proxied *p)
{
    vpd_router *rt = p->router;
    if (!p->parked)
        return;
    if (p->park_prev)
        p->park_prev->park_next = p->park_next;
    else
        rt->parked = p->park_next;
    if (p->park_next)
        p->park_next->park_prev = p->park_prev;
    p->parked = false;
    p->park_prev = p->park_next = NULL;
}

/* A zeroed request, a kept one if there is one. */
static proxied *
proxied_new(vpd_router *rt)
{
    proxied *p = rt->spare;
    if (!p)
        return calloc(1, sizeof *p);
    rt->spare = p->park_next;
    rt->n_spare--;
    /* The request part was recycled (vpd_req_recycle: empty lists that
     * keep their memory); only what follows it is zeroed. */
    memset((char *)p + offsetof(proxied, router), 0,
           sizeof *p - offsetof(proxied, router));
    return p;
}

static void
finish(proxied *p)
{
    vpd_router *rt = p->router;
    p->router->inflight--;
    unpark(p);
    /* Gave up without a stored answer: the requests waiting for this one
     * try themselves. */
    vpd_chain_abandon(p->router->chain, &p->r, &p->cache_slot,
                      &p->static_ticket);
    if (p->timer)
        uv_close((uv_handle_t *)p->timer, on_timer_closed);
    vpd_hdrs_free(&p->denied_headers);
    free(p->denied_body);
    if (rt->n_spare < SPARE_PROXIED) {
        vpd_req_recycle(&p->r);
        p->park_next = rt->spare;
        rt->spare = p;
        rt->n_spare++;
        return;
    }
    vpd_req_release(&p->r);
    free(p);
}

/* Hands the answer to the client, or to the callback of a local request
 * (which then owns nothing of it: the request is freed after). */
static void
answer(proxied *p, int status, const vpd_hdrs *hdrs, const char *body,
       size_t len)
{
    if (p->local_done)
        p->local_done(status, hdrs, body, len, p->local_arg);
    else
        vpd_http_respond(p->r.http, status, hdrs, body, len);
}

static void
answer_error(proxied *p, int status, const char *msg)
{
    if (!p->local_done) {
        vpd_http_respond_error(p->r.http, status, msg);
        return;
    }
    json_object *o = json_object_new_object(), *a = json_object_new_array();
    json_object_array_add(a, json_object_new_string(msg));
    json_object_object_add(o, "errors", a);
    const char *text =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    p->local_done(status, NULL, text, strlen(text), p->local_arg);
    json_object_put(o);
}

/* The request's timer, created the first time it is needed. */
static uv_timer_t *
request_timer(proxied *p)
{
    if (!p->timer) {
        p->timer = malloc(sizeof *p->timer);
        if (!p->timer)
            return NULL;
        uv_timer_init(p->router->loop, p->timer);
        p->timer->data = p;
    }
    return p->timer;
}

/* What the request line says about the cache for a request not answered
 * from it. */
static vpd_reqlog_cache
cache_outcome(const proxied *p)
{
    const vpd_chain *chain = p->router->chain;
    return (vpd_chain_cache(chain) || vpd_chain_static(chain)) && p->forwarded
               ? VPD_REQLOG_CACHE_MISS
               : VPD_REQLOG_CACHE_NONE;
}

/* A proxied request's end, just before its answer goes out (the request
 * is gone after vpd_http_respond): its duration and its log line. */
static void
note_answer_at(proxied *p, int status, vpd_reqlog_cache cache, uint64_t now_ns)
{
    uint64_t total = now_ns - p->t0_ns;
    vpd_histogram_observe(p->router->metrics.request_seconds,
                          (double)total / 1e9);
    vpd_request_log(p->r.http->method, p->r.http->path, status, total,
                    p->forwarded, p->upstream_ns, cache);
}

static void
note_answer(proxied *p, int status, vpd_reqlog_cache cache)
{
    note_answer_at(p, status, cache, uv_hrtime());
}

static void
respond_answered(proxied *p)
{
    vp_req_t *r = &p->r;
    note_answer(p, r->answer_status, VPD_REQLOG_CACHE_NONE);
    answer(p, r->answer_status, &r->answer_headers, r->answer_body,
           r->answer_len);
    finish(p);
}

/* Answers with Vault's error shape: {"errors":["<prefix><detail>"]}. */
static void
respond_error(proxied *p, int status, const char *prefix, const char *detail)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s%s", prefix, detail);
    note_answer(p, status, cache_outcome(p));
    answer_error(p, status, msg);
    finish(p);
}

/* Adds one of the client's headers to the upstream list, noting whether
 * the forwarder could write it as is. */
static int
add_up_header(vp_req_t *r, const char *name, size_t nl, const char *value,
              size_t vl)
{
    if (!vpd_fwd_header_ok(name, nl, value, vl))
        r->up_headers_checked = false;
    return vpd_hdrs_addn(&r->up_headers, name, nl, value, vl);
}

/* Adds a header of ours (a literal name, a token) to the upstream list:
 * only its value needs the check. */
static int
add_own_header(vp_req_t *r, const char *name, size_t nl, const char *value,
               size_t vl)
{
    if (!vpd_fwd_header_value_ok(value, vl))
        r->up_headers_checked = false;
    return vpd_hdrs_addn(&r->up_headers, name, nl, value, vl);
}

/* Builds the upstream header list and picks the token: one pass over the
 * client's headers applies the header policy, notes User-Agent and the
 * client's token, and checks each kept header for the wire, so that the
 * forwarder does not filter the list again. */
static int
prepare(proxied *p)
{
    vpd_router *rt = p->router;
    vp_req_t *r = &p->r;
    const vpd_hdrs *in = &r->http->headers;
    vpd_use_token_mode mode = rt->cfg->api_proxy.use_auto_auth_token;
    const char *ua = NULL, *token = NULL;
    size_t token_len = 0;
    vpd_hdr_filter filter;
    vpd_hdr_filter_init(&filter, in, VPD_HDR_TO_UPSTREAM, false);

    r->up_headers_checked = true;
    for (size_t i = 0; i < in->n; i++) {
        const vpd_hdr *h = &in->v[i];
        /* Replaced below by ours with the client's appended (the first
         * one, even when a Connection header names it). */
        bool is_ua =
            vpd_hdr_name_is_wide(h->name, h->name_len, "user-agent", 10);
        if (is_ua && !ua)
            ua = h->value;
        if (is_ua || vpd_hdr_filter_drops(&filter, h->name, h->name_len))
            continue;
        bool is_token =
            vpd_hdr_name_is_wide(h->name, h->name_len, "x-vault-token", 13);
        if (is_token) {
            /* force: the client's token is discarded before anything. */
            if (mode == VPD_AUTO_AUTH_TOKEN_FORCE)
                continue;
            if (!token) {
                token = h->value;
                token_len = h->value_len;
            }
        }
        /* A name equal to X-Vault-Token in any case is a token already:
         * only its value needs the check. */
        int rc = is_token ? add_own_header(r, h->name, h->name_len, h->value,
                                           h->value_len)
                          : add_up_header(r, h->name, h->name_len, h->value,
                                          h->value_len);
        if (rc != 0)
            return -1;
    }
    /* Ours, then "; " and the client's, cut to 1023 bytes in all as
     * before; plain copies, since every request comes through here. */
    char agent[1024];
    static const char own[] = VPD_API_PROXY_UA;
    size_t al = sizeof own - 1;
    memcpy(agent, own, al);
    if (ua && ua[0]) {
        size_t ul = strnlen(ua, sizeof agent);
        if (ul > sizeof agent - 1 - al - 2)
            ul = sizeof agent - 1 - al - 2;
        memcpy(agent + al, "; ", 2);
        memcpy(agent + al + 2, ua, ul);
        al += 2 + ul;
        /* Our own part is a literal without CR or LF: only the client's
         * needs the check. */
        if (!vpd_fwd_header_value_ok(ua, ul))
            r->up_headers_checked = false;
    }
    if (vpd_hdrs_addn(&r->up_headers, "User-Agent", 10, agent, al) != 0)
        return -1;

    /* Local requests (the agent's templates) always use auto-auth's. */
    if ((!token || !token[0]) &&
        (mode != VPD_AUTO_AUTH_TOKEN_FALSE || p->local_done)) {
        /* Before the first login the request goes without a token, as
         * Vault Proxy does; a token known to be dead is never sent. */
        const char *aa = vpd_token_current(rt->holder);
        r->used_auto_auth_token = true;
        if (aa) {
            size_t aa_len = strlen(aa);
            if (token)
                vpd_hdrs_del(&r->up_headers, "X-Vault-Token");
            if (add_own_header(r, "X-Vault-Token", 13, aa, aa_len) != 0)
                return -1;
            token = aa;
            token_len = aa_len;
            p->token_generation = vpd_token_generation(rt->holder);
        } else if (vpd_token_is_dead(rt->holder) && rt->auto_auth) {
            p->wait_for_token = true; /* dead: a new one is on its way */
        }
    }
    return vpd_req_set_token(r, token ? token : "", token ? token_len : 0);
}

/* Hides the auto-auth token (sanitize.h) in a 200 answer (forwarded or
 * cached): may replace *body with
 * *clean (the caller frees it).  Returns -1 after answering 500. */
static int
sanitize(proxied *p, int status, const char **body, size_t *body_len,
         char **clean)
{
    vpd_router *rt = p->router;
    vp_req_t *r = &p->r;
    if (status != 200 ||
        rt->cfg->api_proxy.use_auto_auth_token == VPD_AUTO_AUTH_TOKEN_FALSE)
        return 0;
    size_t clean_len = 0;
    vpd_sanitize_result sr = vpd_sanitize_token_answer(
        r->http->path, r->token, r->http->body, r->http->body_len,
        vpd_token_current(rt->holder), *body, *body_len, clean, &clean_len);
    if (sr == VPD_SANITIZE_ERROR) {
        vpd_metric_pair_inc(rt->metrics.proxy_error);
        respond_error(p, 500, "failed to process token lookup response: ",
                      "the request or the answer is not valid JSON");
        return -1;
    }
    if (sr == VPD_SANITIZED) {
        *body = *clean;
        *body_len = clean_len;
    }
    return 0;
}

/* now_ns: when the answer arrived (uv_hrtime), read once for both the
 * upstream's and the whole request's duration. */
static void
relay(proxied *p, vpd_fwd_resp *resp, uint64_t now_ns)
{
    vpd_router *rt = p->router;
    vp_req_t *r = &p->r;
    if (resp->error != VPD_FWD_OK) {
        vpd_metric_pair_inc(rt->metrics.proxy_error);
        int status = resp->error == VPD_FWD_TIMEOUT ? 504 : 502;
        vpd_log(VPD_LOG_WARN, COMPONENT, "%s %s: no answer from upstream: %s",
                r->http->method, r->http->path,
                resp->error_text ? resp->error_text : "?");
        respond_error(p, status, "failed to get the response: ",
                      resp->error_text ? resp->error_text : "upstream error");
        return;
    }
    const char *body = resp->body;
    size_t body_len = resp->body_len;
    char *clean = NULL;
    if (sanitize(p, resp->status, &body, &body_len, &clean) != 0)
        return;
    /* The forwarder already removed hop-by-hop headers and framing; the
     * upstream's headers (its Date included, as Vault Proxy relays it) go
     * back as they are, plus what hooks added. */
    vpd_hdrs *out = &resp->headers;
    for (size_t i = 0; i < r->extra_resp_headers.n; i++) {
        const vpd_hdr *h = &r->extra_resp_headers.v[i];
        vpd_hdrs_addn(out, h->name, h->name_len, h->value, h->value_len);
    }
    if (resp->status < 400) {
        /* Vault Proxy marks every forwarded answer, cache or not. */
        vpd_hdrs_addn_checked(out, "X-Cache", 7, "MISS", 4);
        vpd_metric_pair_inc(rt->metrics.proxy_success);
        vpd_metric_pair_inc(rt->metrics.cache_miss);
    } else {
        vpd_metric_pair_inc(rt->metrics.proxy_client_error);
    }
    if (vpd_log_enabled(VPD_LOG_DEBUG)) /* no call per answer otherwise */
        vpd_log(VPD_LOG_DEBUG, COMPONENT, "%s %s -> %d (%d attempt%s)",
                r->http->method, r->http->path, resp->status, resp->attempts,
                resp->attempts == 1 ? "" : "s");
    note_answer_at(p, resp->status, cache_outcome(p), now_ns);
    answer(p, resp->status, out, body, body_len);
    free(clean);
    finish(p);
}

static void
on_retry_timer(uv_timer_t *t)
{
    forward(t->data);
}

/* ---- self-healing: a dead auto-auth token is replaced, not exposed ----- */

/* Puts the auto-auth token (current, or none) on the upstream request. */
static int
set_auto_auth_token(proxied *p, const char *token, uint64_t generation)
{
    vp_req_t *r = &p->r;
    vpd_hdrs_del(&r->up_headers, "X-Vault-Token");
    if (token &&
        add_own_header(r, "X-Vault-Token", 13, token, strlen(token)) != 0)
        return -1;
    if (vpd_req_set_token(r, token ? token : "", token ? strlen(token) : 0) !=
        0)
        return -1;
    p->token_generation = generation;
    return 0;
}

static void
on_park_timeout(uv_timer_t *t)
{
    proxied *p = t->data;
    unpark(p);
    if (p->denied_status) {
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "%s %s: no new auto-auth token in "
                "time; relaying the server's answer",
                p->r.http->method, p->r.http->path);
        vpd_metric_pair_inc(p->router->metrics.proxy_client_error);
        note_answer(p, p->denied_status, cache_outcome(p));
        answer(p, p->denied_status, &p->denied_headers, p->denied_body,
               p->denied_len);
        finish(p);
        return;
    }
    /* Parked before it was ever sent: go without a token, as Vault Proxy
     * does before its first login. */
    set_auto_auth_token(p, NULL, 0);
    forward(p);
}

/* Waits for the next auto-auth token, at most HEAL_WAIT_MS. */
static int
park(proxied *p)
{
    vpd_router *rt = p->router;
    uv_timer_t *t = request_timer(p);
    if (!t)
        return -1;
    p->parked = true;
    p->park_prev = NULL;
    p->park_next = rt->parked;
    if (rt->parked)
        rt->parked->park_prev = p;
    rt->parked = p;
    uv_timer_start(t, on_park_timeout, HEAL_WAIT_MS, 0);
    return 0;
}

static void
on_new_token(const char *token, uint64_t generation, void *arg)
{
    vpd_router *rt = arg;
    while (rt->parked) {
        proxied *p = rt->parked;
        unpark(p);
        uv_timer_stop(p->timer);
        if (set_auto_auth_token(p, token, generation) != 0) {
            respond_error(p, 500, "", "out of memory");
            continue;
        }
        forward(p);
    }
}

/* Vault answers a revoked, expired or used-up token with 403 and an error
 * text containing "invalid token". */
static bool
says_invalid_token(const vpd_fwd_resp *resp)
{
    return resp->error == VPD_FWD_OK && resp->status == 403 && resp->body &&
           strstr(resp->body, "invalid token") != NULL;
}

/* A request that used the auto-auth token got "invalid token": mark the
 * token dead, ask auto-auth for a new one, and resend once with it, so the
 * client never sees the 403 (hashicorp/vault#30882).  Returns true when
 * the request was parked. */
static bool
try_self_heal(proxied *p, vpd_fwd_resp *resp)
{
    vpd_router *rt = p->router;
    if (!p->r.used_auto_auth_token || p->healed || !rt->auto_auth ||
        !says_invalid_token(resp))
        return false;
    vpd_token_mark_dead(rt->holder, p->token_generation);
    p->healed = true;
    /* Keep the 403 in case no new token comes. */
    p->denied_status = resp->status;
    vpd_hdrs_copy(&p->denied_headers, &resp->headers);
    p->denied_body = malloc(resp->body_len + 1);
    if (!p->denied_body || park(p) != 0)
        return false;
    memcpy(p->denied_body, resp->body, resp->body_len + 1);
    p->denied_len = resp->body_len;
    vpd_log(VPD_LOG_WARN, COMPONENT,
            "%s %s: the auto-auth token was "
            "rejected as invalid; logging in again and retrying once",
            p->r.http->method, p->r.http->path);
    uint64_t generation = vpd_token_generation(rt->holder);
    if (vpd_token_current(rt->holder) != NULL &&
        generation != p->token_generation) {
        /* A newer token arrived while this request was under way. */
        on_new_token(vpd_token_current(rt->holder), generation, rt);
        return true;
    }
    vpd_auto_auth_reauth(rt->auto_auth);
    return true;
}

static void
on_upstream(vpd_fwd_resp *resp, void *arg)
{
    proxied *p = arg;
    vp_req_t *r = &p->r;
    p->op = NULL;
    r->attempts += resp->attempts;
    uint64_t now = uv_hrtime();
    uint64_t took = now - p->up_t0_ns;
    p->upstream_ns += took;
    p->forwarded = true;
    vpd_histogram_observe(p->router->metrics.upstream_seconds,
                          (double)took / 1e9);
    if (try_self_heal(p, resp))
        return;
    r->resp = resp;
    char err[512];
    vp_status_t rc =
        vpd_chain_response_phase(p->router->chain, r, &p->cache_slot,
                                 &p->static_ticket, err, sizeof err);
    r->resp = NULL;
    if (rc == VP_RETRY && resp->error != VPD_FWD_CANCELLED &&
        p->chain_retries < p->router->cfg->vault.num_retries) {
        /* Linear jittered waits, like the upstream client's own retries. */
        vpd_router *rt = p->router;
        uint64_t wait = vpd_backoff_linear(rt->retry_min_ms, rt->retry_max_ms,
                                           (unsigned)p->chain_retries + 1);
        p->chain_retries++;
        uv_timer_t *t = request_timer(p);
        if (!t) {
            respond_error(p, 500, "", "out of memory");
            return;
        }
        uv_timer_start(t, on_retry_timer, wait, 0);
        return;
    }
    if (rc == VP_ERROR) {
        vpd_metric_pair_inc(p->router->metrics.proxy_error);
        vpd_log(VPD_LOG_ERROR, COMPONENT, "%s", err);
        respond_error(p, 500, "", err);
        return;
    }
    relay(p, resp, now);
}

static void
forward(proxied *p)
{
    vp_req_t *r = &p->r;
    vpd_fwd_req fr = {
        .method = r->http->method,
        .target = r->http->target,
        .headers = &r->up_headers,
        .body = r->http->body,
        .body_len = r->http->body_len,
        .max_retries = -1,
        .timeout_ms = p->router->timeout_ms,
        .headers_checked = r->up_headers_checked,
    };
    p->up_t0_ns = uv_hrtime();
    p->op = vpd_fwd_send(p->router->fwd, &fr, on_upstream, p);
    if (!p->op) {
        vpd_metric_pair_inc(p->router->metrics.proxy_error);
        respond_error(p, 500, "", "failed to start the upstream request");
    }
}

/* The cache lookup's outcome: a miss goes upstream, a hit is answered
 * here as Vault Proxy answers one (sanitized like a forwarded answer, with
 * the hooks' extra headers). */
static void
on_cache_lookup(void *arg, vpd_lc_hit *hit)
{
    proxied *p = arg;
    vpd_router *rt = p->router;
    if (!hit) {
        forward(p);
        return;
    }
    const char *body = hit->body;
    size_t body_len = hit->body_len;
    char *clean = NULL;
    if (sanitize(p, hit->status, &body, &body_len, &clean) == 0) {
        for (size_t i = 0; i < p->r.extra_resp_headers.n; i++)
            vpd_hdrs_add(&hit->headers, p->r.extra_resp_headers.v[i].name,
                         p->r.extra_resp_headers.v[i].value);
        vpd_metric_pair_inc(rt->metrics.proxy_success);
        vpd_metric_pair_inc(rt->metrics.cache_hit);
        note_answer(p, hit->status, VPD_REQLOG_CACHE_HIT);
        answer(p, hit->status, &hit->headers, body, body_len);
        finish(p);
    }
    free(clean);
    vpd_lc_hit_free(hit);
}

/* The request phase's cache step, then the forward on a miss. */
static void
lookup_then_forward(proxied *p)
{
    if (!vpd_chain_cache_lookup(p->router->chain, &p->r, &p->cache_slot,
                                &p->static_ticket, on_cache_lookup, p))
        forward(p);
}

/* The client is really gone (a reset, or a write that failed; a client
 * that only half-closed still waits for its answer): nobody will read the
 * answer, so the upstream exchange is abandoned and its connection
 * released now, unless identical requests wait for it through the cache.
 * The cancelled op's callback answers, which then only frees. */
static void
on_client_gone(vpd_http_req *http, void *arg)
{
    proxied *p = arg;
    (void)http;
    if (p->op && !vpd_lc_has_waiters(p->cache_slot))
        vpd_fwd_cancel(p->op);
}

/* Runs a request through the chain: hooks, the cache, the upstream. */
static void
run_proxied(proxied *p)
{
    vpd_router *rt = p->router;
    if (prepare(p) != 0) {
        respond_error(p, 500, "", "out of memory");
        return;
    }
    char err[512];
    vp_status_t rc = vpd_chain_on_request(rt->chain, &p->r, err, sizeof err);
    if (rc == VP_DONE) {
        respond_answered(p);
        return;
    }
    if (rc == VP_ERROR) {
        vpd_log(VPD_LOG_ERROR, COMPONENT, "%s", err);
        respond_error(p, 500, "", err);
        return;
    }
    if (p->wait_for_token) {
        vpd_auto_auth_reauth(rt->auto_auth);
        if (park(p) == 0)
            return;
    }
    lookup_then_forward(p);
}

static void
proxy(vpd_router *rt, vpd_http_req *http, uint64_t t0)
{
    proxied *p = proxied_new(rt);
    if (!p) {
        log_local(http, t0, 500);
        vpd_http_respond_error(http, 500, "out of memory");
        return;
    }
    p->router = rt;
    p->r.http = http;
    p->t0_ns = t0;
    rt->inflight++;
    vpd_http_on_client_gone(http, on_client_gone, p);
    run_proxied(p);
}

/* ---- local requests (vpd_router_local) ---------------------------------- */

/* A request with no client: the parts a listener would have parsed. */
typedef struct {
    vpd_http_req http;
    vpd_router_local_fn done;
    void *arg;
} local_req;

static void
local_answered(int status, const vpd_hdrs *hdrs, const char *body, size_t len,
               void *arg)
{
    local_req *lr = arg;
    lr->done(status, hdrs, body, len, lr->arg);
    vpd_hdrs_free(&lr->http.headers);
    free(lr->http.target);
    free(lr->http.path);
    free(lr->http.body);
    free(lr);
}

int
vpd_router_local(vpd_router *rt, const char *method, const char *target,
                 const char *body, size_t body_len, vpd_router_local_fn done,
                 void *arg)
{
    local_req *lr = calloc(1, sizeof *lr);
    proxied *p = proxied_new(rt);
    if (!lr || !p || strlen(method) >= sizeof lr->http.method)
        goto fail;
    lr->done = done;
    lr->arg = arg;
    vpd_http_req *h = &lr->http;
    snprintf(h->method, sizeof h->method, "%s", method);
    const char *q = strchr(target, '?');
    h->target = strdup(target);
    h->path = q ? strndup(target, (size_t)(q - target)) : strdup(target);
    h->body = malloc(body_len + 1);
    if (!h->target || !h->path || !h->body)
        goto fail;
    h->query = q ? strchr(h->target, '?') + 1 : "";
    if (body_len)
        memcpy(h->body, body, body_len);
    h->body[body_len] = '\0';
    h->body_len = body_len;
    h->http_major = h->http_minor = 1;
    snprintf(h->peer, sizeof h->peer, "agent");
    if (vpd_hdrs_add(&h->headers, "X-Vault-Request", "true") != 0)
        goto fail;
    p->router = rt;
    p->r.http = h;
    p->t0_ns = uv_hrtime();
    p->local_done = local_answered;
    p->local_arg = lr;
    rt->inflight++;
    run_proxied(p);
    return 0;
fail:
    if (lr) {
        vpd_hdrs_free(&lr->http.headers);
        free(lr->http.target);
        free(lr->http.path);
        free(lr->http.body);
    }
    free(lr);
    free(p);
    return -1;
}

void
vpd_router_handle(vpd_http_req *http, void *arg)
{
    vpd_router *rt = arg;
    const char *path = http->path;
    const vpd_listener_config *l = http->listener;
    uint64_t t0 = uv_hrtime();

    if (path_is(path, "metrics")) {
        handle_metrics(rt, http, t0);
        return;
    }
    /* Go's mux cleans paths before it matches any pattern, so this comes
     * before the metrics_only refusal too. */
    char clean[2048];
    if (needs_cleaning(path, clean, sizeof clean)) {
        vpd_hdrs h = {0};
        char loc[4096];
        snprintf(loc, sizeof loc, "%s%s%s", clean, http->query[0] ? "?" : "",
                 http->query);
        vpd_hdrs_add(&h, "Location", loc);
        log_local(http, t0, 301);
        vpd_http_respond(http, 301, &h, "", 0);
        vpd_hdrs_free(&h);
        return;
    }
    if (l->metrics_only) {
        /* Only the metrics pattern is registered there (role =
         * "metrics_only", vaproxyd.hcl(5)). */
        respond_text(http, t0, 404, "text/plain; charset=utf-8",
                     "404 page not found\n", 19);
        return;
    }
    if (path_is(path, "cache-clear")) {
        int status = 200;
        char *body = NULL;
        vpd_cache_clear_answer(vpd_chain_cache(rt->chain),
                               vpd_chain_static(rt->chain), http->method,
                               http->body, http->body_len, &status, &body);
        vpd_hdrs h = {0};
        if (body)
            vpd_hdrs_add(&h, "Content-Type", "application/json");
        log_local(http, t0, status);
        vpd_http_respond(http, status, &h, body ? body : "",
                         body ? strlen(body) : 0);
        vpd_hdrs_free(&h);
        free(body);
        return;
    }
    if (path_is(path, "quit")) {
        handle_quit(rt, http, t0);
        return;
    }
    if (l->require_request_header && !has_request_header(http)) {
        log_local(http, t0, 412);
        vpd_http_respond_error(http, 412, "missing \"X-Vault-Request\" header");
        return;
    }
    proxy(rt, http, t0);
}
