/* The KV event subscription that keeps static secret cache entries fresh:
 * one WebSocket to Vault's `/v1/sys/events/subscribe/kv*?json=true`, opened
 * with the current auto-auth token through the forwarder (same address,
 * TLS settings and egress proxy as every other request to Vault), kept up
 * for the life of the daemon.  Each event Vault sends is parsed and handed
 * to the static cache, which decides what to re-read; this module knows
 * nothing of cache entries.
 *
 * Lifecycle, as the static cache sees it:
 *   - on_connected: the stream is up.  Events written while it was down
 *     are lost, so the cache re-reads every entry once.
 *   - on_event: one KV event.  `path` is the event's metadata path as Vault
 *     names it, mount included: "secret/data/foo" for a KV v2 write,
 *     "secret/delete/foo", "secret/undelete/foo", "secret/destroy/foo",
 *     "secret/metadata/foo" for the others, "kv1/foo" on a KV v1 mount.
 *     `ns` is the event's namespace ("" for the root namespace).
 *     `modified` is the metadata's "modified" field: only "true" changes
 *     data, so only those events ask for a re-read.
 *   - on_unavailable: the server has no event system (the subscribe
 *     answered 404 or 405).  Called once; the module then stops trying and
 *     the cache relies on its refresh interval.  `static_secret_events =
 *     "off"` never starts the module at all.
 *   - on_disconnected (optional): the stream broke; it is opened again
 *     after the reconnect delay (10 s) with whatever token auto-auth holds
 *     then.  A close or a refusal that says the token is invalid (403)
 *     asks auth->reauth first.
 *
 * Ownership: the caller owns the forwarder, the auth hooks and the
 * callbacks' arg, which must outlive the module (vpd_kv_events_free).
 * The module copies the pattern; strings passed to callbacks are borrowed
 * for the duration of the call.  Callbacks may call vpd_kv_events_stop but
 * not _free.  Loop thread only. */
#ifndef VPD_KV_EVENTS_H
#define VPD_KV_EVENTS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "upstream/forward.h"

typedef struct vpd_kv_events vpd_kv_events;

typedef struct {
    void (*on_connected)(void *arg);
    void (*on_event)(void *arg, const char *ns, const char *path,
                     bool modified);
    void (*on_unavailable)(void *arg);
    void (*on_disconnected)(void *arg); /* may be NULL */
} vpd_kv_events_cb;

/* How the module gets the auto-auth token.  Wired by the daemon to
 * vpd_token_current() and vpd_auto_auth_reauth(). */
typedef struct {
    /* The usable token now, or NULL (none yet, or known dead): the module
     * then waits for the next attempt or vpd_kv_events_kick. */
    const char *(*token)(void *arg);
    /* The server refused the token: log in again. */
    void (*reauth)(void *arg);
    void *arg;
} vpd_kv_events_auth;

typedef struct {
    const char *pattern;    /* event type pattern; NULL: "kv*" */
    uint64_t reconnect_ms;  /* 0: 10 s */
    long handshake_timeout; /* ms; 0: 30 s */
    const char *namespace_; /* vault { namespace }, sent as
                               X-Vault-Namespace; NULL or "": none */
} vpd_kv_events_opts;

/* Counters for metrics (the static cache publishes them). */
typedef struct {
    bool connected;           /* the stream is up now */
    bool unavailable;         /* the server has no events */
    uint64_t events_received; /* every KV event parsed, modified or not */
    uint64_t connects;        /* successful handshakes */
    uint64_t disconnects;     /* streams that broke after connecting */
    uint64_t bad_messages;    /* messages that were not a KV event */
} vpd_kv_events_stats;

/* Starts subscribing (the first attempt runs from the loop, never inside
 * this call).  opts may be NULL.  Returns NULL when out of memory. */
vpd_kv_events *vpd_kv_events_start(uv_loop_t *loop, vpd_fwd *fwd,
                                   const vpd_kv_events_auth *auth,
                                   const vpd_kv_events_opts *opts,
                                   const vpd_kv_events_cb *cb, void *arg);

/* A new token arrived (token holder listener): when the module is waiting
 * to reconnect, it tries now instead of at the end of the delay. */
void vpd_kv_events_kick(vpd_kv_events *ev);

/* Closes the stream (a WebSocket close, then the connection) and stops
 * reconnecting; no callback runs afterwards. */
void vpd_kv_events_stop(vpd_kv_events *ev);

void vpd_kv_events_stats_get(const vpd_kv_events *ev, vpd_kv_events_stats *s);

/* One event as parsed from a JSON (CloudEvents) message: data.namespace,
 * data.event_type, and from data.event.metadata the path (data_path when
 * there is no path) and whether "modified" is "true". */
typedef struct {
    char ns[256];
    char path[1024];
    char event_type[64];
    bool modified;
} vpd_kv_event;

/* Parses one message.  Returns 0, or -1 when it is not JSON or names no
 * path (the stream then just skips it).  Exposed for tests. */
int vpd_kv_event_parse(const char *msg, size_t len, vpd_kv_event *ev);

/* Stops if needed and releases the module.  The loop must run afterwards
 * so libuv can finish closing its handles. */
void vpd_kv_events_free(vpd_kv_events *ev);

#endif
