/* The static secret cache: the request side (lookup, eviction on writes,
 * the answer's hand-off to the store), cache-clear, the event stream's
 * reports and the two timers.  Storing, persistence, re-reads, capability
 * checks, mount lookups and the upstream call queue live in their own
 * files (static_cache_impl.h). */
#include "autoconf.h"

#include "cache/static_cache_impl.h"

#include <json.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/buf.h"
#include "base/log.h"
#include "cache/static_paths.h"
#include "http/status.h"

#define COMPONENT "cache.static"

vpd_static_cache *
vpd_sc_new(uv_loop_t *loop, vpd_fwd *fwd, const vpd_sc_config *cfg)
{
    vpd_static_cache *sc = calloc(1, sizeof *sc);
    if (!sc)
        return NULL;
    sc->loop = loop;
    sc->fwd = fwd;
    sc->cfg = *cfg;
    if (!sc->cfg.max_parallel)
        sc->cfg.max_parallel = 4;
    sc->tokens = vpd_st_new();
    sc->table = sc->tokens ? vpd_se_new(sc->tokens) : NULL;
    sc->pack = vpd_static_pack_new();
    if (!sc->table || !sc->pack) {
        vpd_se_free(sc->table);
        vpd_st_free(sc->tokens);
        vpd_static_pack_free(sc->pack);
        free(sc);
        return NULL;
    }
    return sc;
}

/* ---- the request side -------------------------------------------------- */

/* The request's namespace, as the upstream will see it. */
static void
request_ns(const vp_req_t *r, char *ns, size_t len)
{
    if (vpd_sp_namespace(vpd_hdrs_get(&r->up_headers, "X-Vault-Namespace", 0),
                         ns, len) != 0)
        ns[0] = '\0';
}

static bool
wants_wrapping(const vp_req_t *r)
{
    const char *w = vpd_hdrs_get(&r->up_headers, "X-Vault-Wrap-TTL", 0);
    return w && w[0];
}

static void
note_write(vpd_static_cache *sc, const char *ns, const char *name)
{
    sc->recent[sc->recent_next].hash = vpd_sc_name_hash(ns, name);
    sc->recent[sc->recent_next].epoch = ++sc->epoch;
    sc->recent_next = (sc->recent_next + 1) % VPD_SC_RECENT;
}

typedef struct {
    vpd_static_cache *sc;
    const char *ns;
} evict_ctx;

static void
evict_visit(void *arg, vpd_se_entry *e)
{
    evict_ctx *c = arg;
    vpd_sc_evict(c->sc, e);
}

static void
evict_name(void *arg, const char *name)
{
    evict_ctx *c = arg;
    note_write(c->sc, c->ns, name);
    vpd_se_each_of_name(c->sc->table, c->ns, name, evict_visit, c);
}

static void
evict_for_write(vpd_static_cache *sc, const vp_req_t *r)
{
    char ns[512];
    request_ns(r, ns, sizeof ns);
    evict_ctx c = {sc, ns};
    vpd_sp_stale_names(vpd_sp_relative(r->http->path), evict_name, &c);
}

/* Builds the hit: the stored answer plus X-Cache and Age. */
static bool
make_hit(vpd_static_cache *sc, const vpd_se_entry *e, vpd_lc_hit *hit)
{
    size_t len = 0;
    char *text =
        vpd_static_unpack(sc->pack, vpd_se_answer(e), e->packed_len, &len);
    memset(hit, 0, sizeof *hit);
    if (!text || vpd_lc_parse_stored(text, len, hit) != 0) {
        vpd_hdrs_free(&hit->headers);
        return false;
    }
    uint64_t now = vpd_sc_wall_ms();
    char age[32];
    snprintf(age, sizeof age, "%llu",
             (unsigned long long)(now > e->stored_ms
                                      ? (now - e->stored_ms) / 1000
                                      : 0));
    vpd_hdrs_add(&hit->headers, "X-Cache", "HIT");
    vpd_hdrs_add(&hit->headers, "Age", age);
    return true;
}

bool
vpd_sc_lookup(vpd_static_cache *sc, const vp_req_t *r, vpd_lc_hit *hit,
              vpd_sc_ticket *ticket)
{
    memset(ticket, 0, sizeof *ticket);
    vpd_sp_kind kind = vpd_sp_classify(r->http->method, r->http->path,
                                       r->http->query, wants_wrapping(r));
    if (kind == VPD_SP_NONE)
        return false;
    ticket->kind = (uint8_t)kind;
    if (kind == VPD_SP_WRITE) {
        evict_for_write(sc, r);
        ticket->epoch = sc->epoch;
        return false;
    }
    ticket->epoch = sc->epoch;
    char ns[512];
    request_ns(r, ns, sizeof ns);
    vpd_se_entry *e = vpd_se_get(sc->table, ns, vpd_sp_relative(r->http->path),
                                 r->http->query ? r->http->query : "");
    uint32_t id = e ? vpd_st_find(sc->tokens, r->token) : 0;
    if (e && e->packed_len && vpd_se_has_token(e, id) && make_hit(sc, e, hit)) {
        sc->counters.hits++;
        ticket->kind = VPD_SP_NONE;
        return true;
    }
    sc->counters.misses++;
    return false;
}

void
vpd_sc_settle(vpd_static_cache *sc, vpd_sc_ticket *ticket, const vp_req_t *r,
              const vpd_fwd_resp *resp)
{
    vpd_sp_kind kind = ticket->kind;
    ticket->kind = VPD_SP_NONE;
    if (kind == VPD_SP_WRITE) {
        /* Again on the answer: a read that raced the write and stored the
         * old value meanwhile is evicted too. */
        evict_for_write(sc, r);
        return;
    }
    if (kind != VPD_SP_READ || !resp || resp->error != VPD_FWD_OK ||
        resp->status < 200 || resp->status > 299)
        return;
    const char *ctype = vpd_hdrs_get(&resp->headers, "Content-Type", 0);
    int mount_type;
    if (!ctype || strncmp(ctype, "application/json", 16) != 0 ||
        !vpd_sc_answer_is_static(resp->body, resp->body_len, &mount_type) ||
        mount_type == 0)
        return;
    char ns[512];
    request_ns(r, ns, sizeof ns);
    const char *path = vpd_sp_relative(r->http->path);
    const char *query = r->http->query ? r->http->query : "";
    if (!vpd_sc_unwritten_since(sc, ns, path, ticket->epoch))
        return;
    if (mount_type == -1) {
        int known = vpd_sc_mount_kind(sc, ns, path);
        if (known == 0)
            return;
        if (known == -1) {
            vpd_sc_store_after_mount_lookup(sc, ns, path, query, r->token,
                                            ticket->epoch, resp);
            return;
        }
    }
    vpd_sc_store(sc, ns, path, query, r->token, resp->status, &resp->headers,
                 resp->body, resp->body_len);
}

/* ---- cache-clear ------------------------------------------------------- */

typedef struct {
    vpd_static_cache *sc;
    const char *ns;
    const char *prefix;
    int n;
} clear_ctx;

static void
clear_visit(void *arg, vpd_se_entry *e)
{
    clear_ctx *c = arg;
    if (c->prefix && (strcmp(vpd_se_ns(e), c->ns) != 0 ||
                      strncmp(vpd_se_path(e), c->prefix, strlen(c->prefix))))
        return;
    vpd_sc_evict(c->sc, e);
    c->n++;
}

int
vpd_sc_clear(vpd_static_cache *sc, const char *ns, const char *prefix)
{
    char n[512];
    if (vpd_sp_namespace(ns, n, sizeof n) != 0)
        return 0;
    /* cache-clear names request paths as clients send them. */
    if (prefix && strncmp(prefix, "/v1/", 4) == 0)
        prefix += 4;
    else if (prefix && prefix[0] == '/')
        prefix++;
    clear_ctx c = {sc, n, prefix, 0};
    vpd_se_each(sc->table, clear_visit, &c);
    return c.n;
}

/* ---- re-reads: on events, on the interval ------------------------------ */

static void
reread_visit(void *arg, vpd_se_entry *e)
{
    vpd_sc_reread(arg, e);
}

void
vpd_sc_refresh_all(vpd_static_cache *sc)
{
    if (sc->fwd && !sc->closing)
        vpd_se_each(sc->table, reread_visit, sc);
}

void
vpd_sc_check_all(vpd_static_cache *sc)
{
    if (sc->fwd && !sc->closing)
        vpd_sc_check_capabilities(sc);
}

static uint64_t
refresh_period(const vpd_static_cache *sc)
{
    /* With events the interval is only a safety net. */
    return sc->events_active ? sc->cfg.refresh_ms * 10 : sc->cfg.refresh_ms;
}

static void
on_refresh_timer(uv_timer_t *t)
{
    vpd_static_cache *sc = t->data;
    vpd_sc_refresh_all(sc);
}

static void
on_capability_timer(uv_timer_t *t)
{
    vpd_static_cache *sc = t->data;
    vpd_sc_check_all(sc);
}

static void
arm_refresh(vpd_static_cache *sc)
{
    if (!sc->timers_started || !sc->cfg.refresh_ms)
        return;
    uint64_t period = refresh_period(sc);
    uv_timer_start(&sc->refresh_timer, on_refresh_timer, period, period);
}

void
vpd_sc_start(vpd_static_cache *sc)
{
    if (sc->timers_started)
        return;
    uv_timer_init(sc->loop, &sc->refresh_timer);
    uv_timer_init(sc->loop, &sc->capability_timer);
    sc->refresh_timer.data = sc->capability_timer.data = sc;
    sc->timers_started = true;
    sc->open_handles = 2;
    arm_refresh(sc);
    if (sc->cfg.capability_ms)
        uv_timer_start(&sc->capability_timer, on_capability_timer,
                       sc->cfg.capability_ms, sc->cfg.capability_ms);
    if (sc->cfg.events_off) {
        sc->said_no_events = true;
        vpd_log(VPD_LOG_INFO, COMPONENT,
                "static secret events are off: cached KV secrets are re-read "
                "every static_secret_refresh_interval");
    }
}

void
vpd_sc_events_connected(void *arg)
{
    vpd_static_cache *sc = arg;
    sc->events_active = true;
    sc->counters.events_connected = true;
    arm_refresh(sc);
    /* Events may have been missed while the stream was down. */
    vpd_sc_refresh_all(sc);
}

typedef struct {
    vpd_static_cache *sc;
    const char *ns;
} event_ctx;

static void
event_name(void *arg, const char *name)
{
    event_ctx *c = arg;
    vpd_se_each_of_name(c->sc->table, c->ns, name, reread_visit, c->sc);
}

void
vpd_sc_events_event(void *arg, const char *ns, const char *path, bool modified)
{
    vpd_static_cache *sc = arg;
    sc->counters.events_received++;
    char n[512];
    if (!modified || !path || vpd_sp_namespace(ns, n, sizeof n) != 0)
        return;
    while (*path == '/')
        path++;
    event_ctx c = {sc, n};
    vpd_sp_stale_names(path, event_name, &c);
}

void
vpd_sc_events_unavailable(void *arg)
{
    vpd_static_cache *sc = arg;
    bool was = sc->events_active;
    sc->events_active = false;
    sc->counters.events_connected = false;
    if (!sc->said_no_events) {
        sc->said_no_events = true;
        vpd_log(VPD_LOG_INFO, COMPONENT,
                "the server has no KV event stream: cached KV secrets are "
                "re-read every static_secret_refresh_interval");
    }
    if (was)
        arm_refresh(sc);
}

void
vpd_sc_events_disconnected(void *arg)
{
    vpd_static_cache *sc = arg;
    bool was = sc->events_active;
    sc->events_active = false;
    sc->counters.events_connected = false;
    if (was)
        arm_refresh(sc);
}

const vpd_sc_counters *
vpd_sc_counters_get(vpd_static_cache *sc)
{
    sc->counters.entries = vpd_se_count(sc->table);
    sc->counters.bytes = vpd_se_bytes(sc->table);
    sc->counters.tokens = vpd_st_count(sc->tokens);
    return &sc->counters;
}

/* ---- shutdown ---------------------------------------------------------- */

static void
free_cache(vpd_static_cache *sc)
{
    void (*done)(void *) = sc->closed;
    void *arg = sc->closed_arg;
    vpd_sc_mounts_free(sc);
    vpd_se_free(sc->table);
    vpd_st_free(sc->tokens);
    vpd_static_pack_free(sc->pack);
    free(sc);
    if (done)
        done(arg);
}

static void
on_timer_closed(uv_handle_t *h)
{
    vpd_static_cache *sc = h->data;
    if (--sc->open_handles == 0)
        free_cache(sc);
}

void
vpd_sc_close(vpd_static_cache *sc, void (*done)(void *), void *arg)
{
    if (!sc)
        return;
    sc->closing = true;
    sc->closed = done;
    sc->closed_arg = arg;
    vpd_sc_calls_cancel(sc);
    if (!sc->timers_started) {
        free_cache(sc);
        return;
    }
    uv_close((uv_handle_t *)&sc->refresh_timer, on_timer_closed);
    uv_close((uv_handle_t *)&sc->capability_timer, on_timer_closed);
}
