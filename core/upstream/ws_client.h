/* A WebSocket client towards Vault (RFC 6455), for the event stream.  The
 * opening handshake is an ordinary request through the forwarder (so the
 * vault block's address, TLS settings, egress proxy and redirects apply)
 * with `upgrade = "websocket"`; after the 101 the connection is ours and
 * speaks frames (upstream/ws_frame.h).  The client answers pings, takes
 * part in the closing handshake, and checks Sec-WebSocket-Accept against
 * the key it sent.
 *
 * Ownership: a vpd_ws has two ends, and exactly one of them happens: the
 * `closed` callback runs (the connection failed, the server refused the
 * handshake or closed the stream), after which the vpd_ws is freed by
 * itself; or the caller calls vpd_ws_close, after which no callback runs
 * and the vpd_ws frees itself once the closing handshake is over.  The
 * caller's forwarder and loop must outlive every vpd_ws (the loop must run
 * after the last close for its handles to go).  Strings in callbacks are
 * borrowed for the call. */
#ifndef VPD_WS_CLIENT_H
#define VPD_WS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http/http.h"
#include "upstream/forward.h"

typedef struct vpd_ws vpd_ws;

/* How a WebSocket ended, for `closed`. */
typedef struct {
    bool opened;         /* the handshake had succeeded */
    vpd_fwd_error error; /* the handshake request failed (not opened) */
    int http_status;     /* a refused handshake's status (not 101), or 0 */
    const char *body;    /* that answer's body ("" otherwise) */
    uint16_t code;       /* close code: the server's, ours after a
                            protocol error, 1006 when there was none */
    bool by_server;      /* the server sent the close frame */
    const char *reason;  /* the close reason or what went wrong */
} vpd_ws_end;

typedef struct {
    void (*open)(void *arg);
    /* One whole data message (text is valid UTF-8). */
    void (*message)(void *arg, const char *p, size_t n, bool text);
    void (*closed)(void *arg, const vpd_ws_end *end);
} vpd_ws_events;

typedef struct {
    const char *target;      /* "/v1/..." as for vpd_fwd_send */
    const vpd_hdrs *headers; /* extra request headers (token, namespace) */
    long timeout_ms;         /* for the handshake; 0: the forwarder's */
    size_t max_message;      /* 0: 1 MiB */
} vpd_ws_opts;

/* Starts the handshake.  Callbacks run on the loop, never inside this
 * call.  Returns NULL when the request cannot be started. */
vpd_ws *vpd_ws_connect(uv_loop_t *loop, vpd_fwd *fwd, const vpd_ws_opts *o,
                       const vpd_ws_events *ev, void *arg);

/* Sends one text message.  Returns 0, or -1 (not open, out of memory). */
int vpd_ws_send_text(vpd_ws *ws, const char *p, size_t n);

/* Sends a ping (tests, keep-alive).  Returns 0 or -1. */
int vpd_ws_ping(vpd_ws *ws, const void *p, size_t n);

/* Ends it from our side: a handshake under way is cancelled; an open
 * stream gets a close frame with code and reason, and the connection
 * closes once the server answers it (or after a second).  No callback
 * runs after this; ws must not be used again.  Not from inside `closed`. */
void vpd_ws_close(vpd_ws *ws, uint16_t code, const char *reason);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (exposed for tests):
 * base64(SHA-1(key + the RFC's GUID)), 28 characters and a NUL. */
void vpd_ws_accept_for(const char *key, char out[29]);

#endif
