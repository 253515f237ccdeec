/* HTTP/2 on one client connection: an nghttp2 server session driven by
 * the listener's connection (core/http/server.c), which owns the socket,
 * the TLS layer and the timer.  Plaintext goes in through
 * vpd_h2_conn_recv; frames to send come out through io->send.  Every
 * stream that completes a request becomes an ordinary vpd_http_req
 * handed to io->dispatch, and is answered with vpd_http_respond like any
 * HTTP/1.1 request (server.c passes h2 requests on to vpd_h2_respond).
 *
 * The limits (vaproxyd.hcl(5)) are announced in SETTINGS and enforced:
 * concurrent streams, header list size, request body size and flow
 * control windows; floods of resets, CONTINUATION, SETTINGS, PING and
 * empty frames, and connections that stall, end with a GOAWAY.
 *
 * Ownership: the listener connection owns the vpd_h2_conn and frees it
 * with vpd_h2_conn_free after vpd_h2_conn_detach.  A request handed to the
 * router stays the router's until answered; once the connection is gone
 * (detached) answering it only frees it.  No handles, no threads: every
 * call runs on the loop thread. */
#ifndef VPD_H2_CONN_H
#define VPD_H2_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http/http.h"

typedef struct vpd_h2_conn vpd_h2_conn;

/* What the listener connection does for the session; arg is its own. */
typedef struct {
    /* Writes plaintext to the client (through TLS on a TLS listener). */
    void (*send)(void *arg, const uint8_t *data, size_t len);
    /* Bytes handed to send and not yet written to the socket: above the
     * high water mark the session produces nothing more for a while. */
    size_t (*backlog)(void *arg);
    /* A complete request for the router; counted as in flight. */
    void (*dispatch)(void *arg, vpd_http_req *req);
    /* A dispatched request was answered or abandoned by its stream. */
    void (*released)(void *arg);
    /* Something happened outside vpd_h2_conn_recv (an answer): the
     * connection should flush, rearm its timer and check for its end. */
    void (*kick)(void *arg);
    /* The Date header value for this second. */
    const char *(*date)(void *arg);
    /* True when each answer should leave as soon as it is made, instead
     * of with the others of its batch: the client waits for them and no
     * other connection competes for the loop, so the client can start its
     * next requests while the rest are still being answered. */
    bool (*eager)(void *arg);
} vpd_h2_io;

typedef struct {
    const struct vpd_listener_config *listener; /* copied into requests */
    uv_loop_t *loop;                            /* for uv_now only */
    size_t max_header;  /* header list size (names + values + 32 each) */
    size_t max_body;    /* request body size */
    uint64_t header_ms; /* preface and SETTINGS due after the start */
    uint64_t read_ms;   /* a stream's whole request due after its start */
    uint64_t idle_ms;   /* no progress at all: GOAWAY */
    const char *peer;   /* copied into requests and log lines */
} vpd_h2_limits;

/* Streams a client may have open at once (Go's server uses the same). */
#define VPD_H2_MAX_STREAMS 250

/* The preface a prior-knowledge client starts with. */
#define VPD_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define VPD_H2_PREFACE_LEN 24

/* A session with the server's SETTINGS queued.  NULL when out of memory. */
vpd_h2_conn *vpd_h2_conn_new(const vpd_h2_io *io, void *arg,
                             const vpd_h2_limits *lim);

/* Feeds plaintext from the client; every byte is taken.  Complete
 * requests are dispatched from inside this call; when io->eager says so,
 * each answer made meanwhile is handed to io->send before the next frame
 * is read. */
void vpd_h2_conn_recv(vpd_h2_conn *h, const char *data, size_t len);

/* Hands queued frames to io->send while io->backlog allows. */
void vpd_h2_conn_flush(vpd_h2_conn *h);

/* True when the session is over (GOAWAY exchanged or an error, and
 * nothing left to send), or when the client ended its side (eof) and no
 * request is left with the router: the connection should close politely. */
bool vpd_h2_conn_done(const vpd_h2_conn *h, bool eof);

/* Graceful end (SIGTERM, /proxy/v1/quit): GOAWAY with the last stream
 * seen; open streams finish, new ones are refused. */
void vpd_h2_conn_goaway(vpd_h2_conn *h);

/* True when no stream is open and no request is with the router: the
 * connection only waits for its client, like an idle HTTP/1.1 keep-alive
 * one, and the listener may close it to make room at its limit. */
bool vpd_h2_conn_idle(const vpd_h2_conn *h);

/* Ends an idle session before the listener closes the connection to make
 * room: GOAWAY NO_ERROR, as on the idle timeout, handed to io->send at
 * once.  Nothing more is read. */
void vpd_h2_conn_evict(vpd_h2_conn *h);

/* The loop time of the next deadline (0: none) and what to do when it
 * comes: handshake, stream read and no-progress timeouts. */
uint64_t vpd_h2_conn_deadline(const vpd_h2_conn *h);
void vpd_h2_conn_timeout(vpd_h2_conn *h);

/* The transport closed: every unanswered request gets client_gone, and
 * its router's on_gone hook runs when run_gone is set.  Nothing is sent
 * any more. */
void vpd_h2_conn_detach(vpd_h2_conn *h, bool run_gone);
void vpd_h2_conn_free(vpd_h2_conn *h);

/* Whether req came from an HTTP/2 stream, and the calls server.c
 * forwards such requests to (same contract as in http/http.h). */
bool vpd_h2_owns(const vpd_http_req *req);
void vpd_h2_respond(vpd_http_req *req, int status, const vpd_hdrs *hdrs,
                    const char *body, size_t body_len);
void vpd_h2_on_client_gone(vpd_http_req *req, vpd_http_gone_fn fn, void *arg);

/* Totals over every h2 connection of the process, for the metrics. */
typedef struct {
    uint64_t conns_total, conns_open;
    uint64_t streams_total, streams_open;
    uint64_t peer_resets;  /* RST_STREAM frames received */
    uint64_t goaways_sent; /* GOAWAY frames sent, any error code */
    /* Batches of frames handed to the transport (io->send): each is one
     * run of TLS records and one write, however many streams it carries. */
    uint64_t sends;
} vpd_h2_counters;

void vpd_h2_counters_get(vpd_h2_counters *out);

#endif
