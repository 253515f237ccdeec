/* The KV event subscription: one WebSocket (upstream/ws_client.h) kept
 * open to Vault's event stream, its messages parsed into KV events for the
 * static cache.
 *
 * Lifetime: the timer handle is on the heap and frees the module from its
 * close callback, so a callback of ours that ends the stream can still
 * read the module's fields when the user callback returns. */
#include "autoconf.h"

#include "cache/kv_events.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "base/log.h"
#include "upstream/ws_client.h"
#include "upstream/ws_frame.h"

#define KV_LOG "events"
#define KV_DEFAULT_PATTERN "kv*"
/* A stream that broke is opened again after this long (Vault Proxy waits
 * the same before it subscribes again). */
#define KV_DEFAULT_RECONNECT_MS 10000
#define KV_DEFAULT_HANDSHAKE_MS 30000

struct vpd_kv_events {
    uv_loop_t *loop;
    vpd_fwd *fwd;
    vpd_kv_events_auth auth;
    vpd_kv_events_cb cb;
    void *arg;
    char *target;
    char *namespace_;
    uint64_t reconnect_ms;
    long handshake_ms;

    vpd_ws *ws;
    uv_timer_t *timer;
    bool stopped;
    /* The token for which re-authentication was last asked, so a token
     * that is valid but not allowed to subscribe does not cause a login
     * every reconnect. */
    char *reauth_for;
    vpd_kv_events_stats st;
};

/* ---- the event message ------------------------------------------------- */

static const char *
str_at(json_object *o, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n && o; i++) {
        json_object *next = NULL;
        if (!json_object_is_type(o, json_type_object) ||
            !json_object_object_get_ex(o, keys[i], &next))
            return NULL;
        o = next;
    }
    return o && json_object_is_type(o, json_type_string)
               ? json_object_get_string(o)
               : NULL;
}

int
vpd_kv_event_parse(const char *msg, size_t len, vpd_kv_event *ev)
{
    memset(ev, 0, sizeof *ev);
    if (len > INT_MAX)
        return -1;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return -1;
    json_object *root = json_tokener_parse_ex(tok, msg, (int)len);
    bool whole = json_tokener_get_error(tok) == json_tokener_success &&
                 (size_t)json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    if (!root || !whole) {
        json_object_put(root);
        return -1;
    }
    /* The CloudEvents envelope (json=true): the event is under "data",
     * its metadata under data.event.metadata, all values strings. */
    static const char *const path_k[] = {"data", "event", "metadata", "path"};
    static const char *const data_path_k[] = {"data", "event", "metadata",
                                              "data_path"};
    static const char *const mod_k[] = {"data", "event", "metadata",
                                        "modified"};
    static const char *const type_k[] = {"data", "event_type"};
    static const char *const ns_k[] = {"data", "namespace"};
    const char *path = str_at(root, path_k, 4);
    const char *data_path = str_at(root, data_path_k, 4);
    if (!path || !*path)
        path = data_path;
    const char *mod = str_at(root, mod_k, 4);
    const char *type = str_at(root, type_k, 2);
    const char *ns = str_at(root, ns_k, 2);
    int rc = -1;
    if (path && *path) {
        snprintf(ev->path, sizeof ev->path, "%s", path);
        snprintf(ev->event_type, sizeof ev->event_type, "%s", type ? type : "");
        snprintf(ev->ns, sizeof ev->ns, "%s", ns ? ns : "");
        ev->modified = mod && strcmp(mod, "true") == 0;
        rc = strlen(path) < sizeof ev->path ? 0 : -1;
    }
    json_object_put(root);
    return rc;
}

/* ---- reconnecting -------------------------------------------------------- */

static void attempt(vpd_kv_events *k);

static void
on_timer(uv_timer_t *t)
{
    attempt(t->data);
}

static void
schedule(vpd_kv_events *k, uint64_t ms)
{
    if (!k->stopped && !k->st.unavailable)
        uv_timer_start(k->timer, on_timer, ms, 0);
}

/* Asks auto-auth for a new token, once per refused token. */
static void
maybe_reauth(vpd_kv_events *k, const char *why)
{
    const char *tok = k->auth.token ? k->auth.token(k->auth.arg) : NULL;
    if (!tok || !k->auth.reauth)
        return;
    if (k->reauth_for && strcmp(k->reauth_for, tok) == 0)
        return;
    if (k->reauth_for) {
        OPENSSL_cleanse(k->reauth_for, strlen(k->reauth_for));
        free(k->reauth_for);
    }
    k->reauth_for = strdup(tok);
    vpd_log(VPD_LOG_WARN, KV_LOG,
            "the event stream refused the auto-auth token (%s): "
            "re-authenticating",
            why);
    k->auth.reauth(k->auth.arg);
}

/* ---- the stream --------------------------------------------------------- */

static void
on_open(void *arg)
{
    vpd_kv_events *k = arg;
    k->st.connected = true;
    k->st.connects++;
    vpd_log(VPD_LOG_INFO, KV_LOG, "subscribed to %s", k->target);
    k->cb.on_connected(k->arg);
}

static void
on_message(void *arg, const char *p, size_t n, bool text)
{
    vpd_kv_events *k = arg;
    vpd_kv_event ev;
    if (!text || vpd_kv_event_parse(p, n, &ev) != 0) {
        k->st.bad_messages++;
        vpd_log(VPD_LOG_DEBUG, KV_LOG,
                "ignoring a message that is not a KV "
                "event");
        return;
    }
    k->st.events_received++;
    vpd_log(VPD_LOG_DEBUG, KV_LOG, "%s %s%s (modified=%s)",
            ev.event_type[0] ? ev.event_type : "event", ev.ns, ev.path,
            ev.modified ? "true" : "false");
    k->cb.on_event(k->arg, ev.ns, ev.path, ev.modified);
}

/* Whether the server's words say the token is no good. */
static bool
says_bad_token(const char *s)
{
    return s && (strcasestr(s, "invalid token") ||
                 strcasestr(s, "permission denied") ||
                 strcasestr(s, "token expired"));
}

static void
on_closed(void *arg, const vpd_ws_end *e)
{
    vpd_kv_events *k = arg;
    bool was_connected = k->st.connected;
    k->ws = NULL;
    k->st.connected = false;
    if (!e->opened && e->error == VPD_FWD_OK &&
        (e->http_status == 404 || e->http_status == 405)) {
        k->st.unavailable = true;
        vpd_log(VPD_LOG_INFO, KV_LOG,
                "the server has no event stream (status %d): static "
                "secrets are re-read every static_secret_refresh_interval",
                e->http_status);
        k->cb.on_unavailable(k->arg);
        return;
    }
    if (!e->opened && e->error == VPD_FWD_OK &&
        (e->http_status == 401 || e->http_status == 403))
        maybe_reauth(k, says_bad_token(e->body) ? "permission denied"
                                                : "status 403");
    else if (e->opened && e->by_server &&
             (e->code == VPD_WS_CLOSE_POLICY || says_bad_token(e->reason)))
        maybe_reauth(k, e->reason && *e->reason ? e->reason : "policy close");
    if (was_connected) {
        k->st.disconnects++;
        vpd_log(VPD_LOG_WARN, KV_LOG,
                "the event stream closed (code %u%s%s); subscribing again "
                "in %llu ms",
                e->code, e->reason && *e->reason ? ": " : "",
                e->reason ? e->reason : "",
                (unsigned long long)k->reconnect_ms);
    } else {
        vpd_log(VPD_LOG_WARN, KV_LOG,
                "cannot subscribe to events (%s%s%d); trying again in %llu ms",
                e->reason ? e->reason : "", e->http_status ? ", status " : "",
                e->http_status, (unsigned long long)k->reconnect_ms);
    }
    schedule(k, k->reconnect_ms);
    if (was_connected && k->cb.on_disconnected)
        k->cb.on_disconnected(k->arg);
}

static const vpd_ws_events ws_events = {on_open, on_message, on_closed};

static void
attempt(vpd_kv_events *k)
{
    if (k->stopped || k->st.unavailable || k->ws)
        return;
    const char *tok = k->auth.token ? k->auth.token(k->auth.arg) : NULL;
    if (!tok || !*tok) {
        /* No token yet: the next token (vpd_kv_events_kick) or the delay
         * brings the next try. */
        schedule(k, k->reconnect_ms);
        return;
    }
    vpd_hdrs h = {0};
    vpd_ws_opts o = {
        .target = k->target, .headers = &h, .timeout_ms = k->handshake_ms};
    if (vpd_hdrs_add(&h, "X-Vault-Token", tok) == 0 &&
        (!k->namespace_ ||
         vpd_hdrs_add(&h, "X-Vault-Namespace", k->namespace_) == 0))
        k->ws = vpd_ws_connect(k->loop, k->fwd, &o, &ws_events, k);
    vpd_hdrs_free(&h);
    if (!k->ws)
        schedule(k, k->reconnect_ms);
}

/* ---- the module ------------------------------------------------------ */

vpd_kv_events *
vpd_kv_events_start(uv_loop_t *loop, vpd_fwd *fwd,
                    const vpd_kv_events_auth *auth,
                    const vpd_kv_events_opts *opts, const vpd_kv_events_cb *cb,
                    void *arg)
{
    vpd_kv_events *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->loop = loop;
    k->fwd = fwd;
    k->auth = *auth;
    k->cb = *cb;
    k->arg = arg;
    const char *pattern =
        opts && opts->pattern ? opts->pattern : KV_DEFAULT_PATTERN;
    k->reconnect_ms = opts && opts->reconnect_ms ? opts->reconnect_ms
                                                 : KV_DEFAULT_RECONNECT_MS;
    k->handshake_ms = opts && opts->handshake_timeout ? opts->handshake_timeout
                                                      : KV_DEFAULT_HANDSHAKE_MS;
    size_t tl = strlen(pattern) + 64;
    k->target = malloc(tl);
    k->timer = malloc(sizeof *k->timer);
    if (opts && opts->namespace_ && *opts->namespace_)
        k->namespace_ = strdup(opts->namespace_);
    if (!k->target || !k->timer ||
        (opts && opts->namespace_ && *opts->namespace_ && !k->namespace_)) {
        free(k->target);
        free(k->timer);
        free(k->namespace_);
        free(k);
        return NULL;
    }
    snprintf(k->target, tl, "/v1/sys/events/subscribe/%s?json=true", pattern);
    uv_timer_init(loop, k->timer);
    k->timer->data = k;
    uv_timer_start(k->timer, on_timer, 0, 0);
    return k;
}

void
vpd_kv_events_kick(vpd_kv_events *k)
{
    if (k && !k->stopped && !k->st.unavailable && !k->ws)
        uv_timer_start(k->timer, on_timer, 0, 0);
}

void
vpd_kv_events_stop(vpd_kv_events *k)
{
    if (!k || k->stopped)
        return;
    k->stopped = true;
    uv_timer_stop(k->timer);
    if (k->ws) {
        vpd_ws *ws = k->ws;
        k->ws = NULL;
        vpd_ws_close(ws, VPD_WS_CLOSE_GOING_AWAY, "shutting down");
    }
    k->st.connected = false;
}

void
vpd_kv_events_stats_get(const vpd_kv_events *k, vpd_kv_events_stats *s)
{
    *s = k->st;
}

static void
on_timer_closed(uv_handle_t *h)
{
    vpd_kv_events *k = h->data;
    free(k->timer);
    free(k);
}

void
vpd_kv_events_free(vpd_kv_events *k)
{
    if (!k)
        return;
    vpd_kv_events_stop(k);
    free(k->target);
    free(k->namespace_);
    if (k->reauth_for) {
        OPENSSL_cleanse(k->reauth_for, strlen(k->reauth_for));
        free(k->reauth_for);
    }
    k->target = k->namespace_ = k->reauth_for = NULL;
    uv_close((uv_handle_t *)k->timer, on_timer_closed);
}
