/* One connection to an upstream (Vault, or a proxy on the way to it) and
 * the HTTP/1.1 exchanges made on it, one at a time: connect over TCP or a
 * unix socket, an optional CONNECT tunnel, optional TLS, then for each
 * exchange the request written with one uv_write and the answer parsed by
 * llhttp in response mode.
 *
 * Ownership: the pool (client.c) owns connections; it learns of every
 * outcome through vpd_up_conn_events.  An exchange belongs to whoever
 * started it; the connection only points at it between vpd_up_conn_send
 * (or _open) and the `done` event, and fills the caller's header list and
 * body buffer.  The request buffers must stay valid until `done`. */
#ifndef VPD_UP_CONN_H
#define VPD_UP_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "http/http.h"
#include "upstream/egress.h"
#include "upstream/response.h"
#include "upstream/tls_client.h"

typedef enum {
    VPD_UP_OK = 0,
    VPD_UP_UNREACHABLE, /* connect, DNS, reset, closed, malformed answer */
    VPD_UP_TIMEOUT,
    VPD_UP_TLS,        /* handshake failed: may be retried */
    VPD_UP_TLS_VERIFY, /* the certificate was refused: final */
    VPD_UP_INTERNAL,
} vpd_up_error;

/* Where a connection goes.  Two destinations equal field by field share
 * connections. */
typedef struct {
    bool https;
    const char *host; /* name or IP literal, no brackets; "" for unix */
    int port;
    const char *unix_path;     /* instead of host:port; NULL otherwise */
    const char *tls_name;      /* SNI and verified name (https only) */
    vpd_up_tls *tls;           /* identity (https only) */
    const vpd_up_proxy *proxy; /* NULL: direct */
} vpd_up_dest;

typedef struct vpd_up_conn vpd_up_conn;
typedef struct vpd_up_exchange vpd_up_exchange;

/* The most buffers one request may come in (head and body today). */
#define VPD_UP_MAX_BUFS 4

struct vpd_up_exchange {
    /* Request: the caller's bytes, sent as they are. */
    const uv_buf_t *bufs;
    unsigned nbufs;       /* at most VPD_UP_MAX_BUFS */
    bool idempotent;      /* may be sent again after a stale connection */
    bool is_head;         /* the answer has no body whatever it says */
    bool for_client;      /* its headers go to a client: see below */
    uint64_t deadline_ms; /* uv_now() time at which it times out */
    /* Response: filled in by the connection. */
    int status;
    vpd_hdrs *headers; /* caller's list, appended to in upstream order */
    /* With for_client: the list already lacks every header a proxy must
     * not pass to its client (hdr_policy.h), left out while reading. */
    bool headers_filtered;
    vpd_buf *body; /* caller's buffer */
    vpd_up_error error;
    char errtext[160];
    vpd_up_conn *upgraded; /* after a 101: the caller's connection now */
    /* Completion; runs once, never from inside the call that started. */
    void (*cb)(vpd_up_exchange *x);
    void *arg;
    /* Private to the client. */
    void *priv_pool;
    vpd_up_conn *priv_conn;
    vpd_up_exchange *qnext, *qprev;
    bool queued, fresh_only, stale_retried;
};

typedef struct {
    /* An exchange ended (error set or not).  The connection may take
     * another exchange now if vpd_up_conn_reusable says so; if not, the
     * owner closes it. */
    void (*done)(vpd_up_conn *c, vpd_up_exchange *x);
    /* The connection is closing (any reason, vpd_up_conn_close included):
     * the owner forgets it; its memory goes once libuv is done. */
    void (*closed)(vpd_up_conn *c);
} vpd_up_conn_events;

/* Starts a connection to dest for exchange x (the exchange is sent once
 * the connection is up).  dest's strings and tls must outlive the
 * connection (they belong to the pool).  NULL when out of memory. */
vpd_up_conn *vpd_up_conn_open(uv_loop_t *loop, const vpd_up_dest *dest,
                              const vpd_up_conn_events *ev, void *owner,
                              vpd_up_exchange *x);

/* Sends x on an idle connection.  Returns 0, or -1 (x untouched).  The
 * connection takes x at once, but its request is written only by
 * vpd_up_conn_flush, which the owner calls before the loop next waits:
 * requests made while one batch of events is handled then reach the
 * upstream together, which wakes once for all of them instead of once
 * each.  Until then x counts as not sent (a stale connection may retry
 * it whatever its method). */
int vpd_up_conn_send(vpd_up_conn *c, vpd_up_exchange *x);

/* Writes the request vpd_up_conn_send left for it; nothing otherwise.
 * Errors reach the owner as events, never from inside this call. */
void vpd_up_conn_flush(vpd_up_conn *c);

/* Forgets the exchange under way without its `done` event and closes the
 * connection (a half-read connection is never reused). */
void vpd_up_conn_abandon(vpd_up_conn *c);

/* Closes the connection; `closed` runs before this returns. */
void vpd_up_conn_close(vpd_up_conn *c);

/* Idle connections close by themselves after idle_ms (and at once when
 * the server closes them or sends anything). */
void vpd_up_conn_set_idle(vpd_up_conn *c, uint64_t idle_ms);

/* After a 101: the pool lets go of the connection, which is then the
 * exchange caller's to close; no events reach the pool any more. */
void vpd_up_conn_detach(vpd_up_conn *c);

/* Reading and writing the new protocol on a connection handed over after
 * a 101.  `data` gets the server's bytes in order (TLS already removed),
 * first any that came in the same read as the 101's head; `ended` says
 * the connection ended by itself (closed by the server, reset, a failed
 * write) and it is closed when `ended` returns.  Either may close the
 * connection.  vpd_up_conn_close ends it from our side, without `ended`. */
typedef struct {
    void (*data)(void *arg, const char *p, size_t n);
    void (*ended)(void *arg, const char *why);
} vpd_up_stream_events;

/* Starts reading (the first bytes come from the loop, never inside this
 * call).  Returns 0, or -1 (not an upgraded connection, or already
 * read). */
int vpd_up_conn_stream(vpd_up_conn *c, const vpd_up_stream_events *ev,
                       void *arg);

/* Sends bytes (copied, encrypted on TLS).  Returns 0, or -1 when out of
 * memory or not upgraded; a failed write shows later as `ended`. */
int vpd_up_conn_stream_write(vpd_up_conn *c, const void *p, size_t n);

bool vpd_up_conn_reusable(const vpd_up_conn *c);
void *vpd_up_conn_owner(const vpd_up_conn *c);

/* After a failed exchange: whether it may be sent again on a fresh
 * connection, by Go's transport rule: the connection had served before
 * and the server closed it before any byte of answer, and the request is
 * idempotent or was not written at all. */
bool vpd_up_conn_stale(const vpd_up_conn *c, const vpd_up_exchange *x);

#endif
