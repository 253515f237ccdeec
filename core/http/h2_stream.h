/* The inside of an HTTP/2 connection, shared by h2_conn.c (the session,
 * its callbacks and defences), h2_stream.c (one stream's request as a
 * vpd_http_req, and its answer as HEADERS and DATA frames) and
 * h2_session.c (the clock, GOAWAY on failure, the totals).  h2_conn.c
 * calls into the other two; they never call into h2_conn.c.
 *
 * Ownership: the connection owns its streams (a list, freed when nghttp2
 * closes them or with the connection).  A stream whose request is with
 * the router points to it (req) and the request points back (s); either
 * side clears the link when it goes first.  A request also points to its
 * connection (h), and is on the connection's list, until it is answered or
 * the connection is detached. */
#ifndef VPD_H2_STREAM_H
#define VPD_H2_STREAM_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "http/h2_conn.h"
#include "http/h2_ids.h"
#include "http/h2_pool.h"

typedef struct h2_stream h2_stream;
typedef struct h2_req h2_req;

/* A token bucket: `burst` events at once, `per_sec` more every second. */
typedef struct {
    uint64_t milli; /* tokens x 1000 */
    uint64_t last;  /* loop time of the last refill */
    uint32_t burst, per_sec;
} h2_bucket;

struct vpd_h2_conn {
    nghttp2_session *ng;
    vpd_h2_io io;
    void *arg;
    vpd_h2_limits lim;
    char peer[64];
    vpd_buf out;        /* frames on their way to io->send */
    h2_stream *streams; /* every stream nghttp2 has not closed yet */
    size_t n_streams;
    h2_req *reqs;         /* requests with the router, also reset ones */
    size_t held;          /* how many */
    size_t body_buffered; /* request body bytes of incomplete streams */
    size_t block_bytes;   /* the header block being received */
    unsigned block_frames;
    h2_bucket resets, control;
    vpd_h2_ids ids;   /* the client's stream ids so far */
    vpd_h2_pool pool; /* nghttp2's memory and the streams' records */
    /* Where the client's bytes are: what is left of the preface or of the
     * frame under way, and a frame header read in part (vpd_h2_conn_recv
     * feeds nghttp2 frame by frame when answers leave one by one). */
    size_t frame_left;
    uint8_t frame_hd[9];
    unsigned frame_hd_len;
    unsigned answers_unsent; /* answers submitted since the last send */
    uint64_t started, last_progress, failed_at;
    bool got_settings; /* the client's first SETTINGS arrived */
    bool failed;       /* we ended the session with an error */
    bool give_up;      /* its GOAWAY waited too long: close anyway */
    bool detached;     /* the transport is gone */
    bool goaway;       /* graceful end asked for */
    bool counted;      /* in the open-connection gauge */
};

struct h2_stream {
    vpd_h2_conn *h;
    int32_t id;
    h2_stream *next, *prev;
    uint64_t start;
    char method[24];
    /* :path and :authority, kept as nghttp2 decoded them (a reference,
     * not a copy); released with the stream. */
    nghttp2_rcbuf *target, *authority;
    vpd_hdrs hdrs;
    size_t header_bytes;
    vpd_buf body;
    bool in_trailers;
    bool header_too_large, body_too_large;
    bool complete;  /* END_STREAM from the client */
    bool answered;  /* a response is submitted */
    bool rst_after; /* reset once the answer is sent: the client is
                       still sending a request we will not read */
    h2_req *req;    /* with the router */
    char *out;      /* the answer's body */
    size_t out_len, out_off;
};

#define H2_REQ_MAGIC 0x76706832u /* "vph2" */

/* Same first two members as server.c's request, so that vpd_http_respond
 * can tell the two apart by the magic. */
struct h2_req {
    vpd_http_req pub;
    unsigned magic;
    vpd_h2_conn *h;      /* NULL once the connection is detached */
    h2_stream *s;        /* NULL once the stream is closed */
    h2_req *next, *prev; /* on h->reqs while h is set */
    vpd_http_gone_fn on_gone;
    void *gone_arg;
    bool head;
    char empty[1];
    char strings[]; /* target NUL path NUL */
};

/* h2_stream.c */
h2_stream *vpd_h2_stream_new(vpd_h2_conn *h, int32_t id);
void vpd_h2_stream_free(h2_stream *s);
/* One header of the request (or of its trailers, which are only
 * counted).  Pseudo-headers go to method, target, authority. */
void vpd_h2_stream_header(h2_stream *s, const uint8_t *name, size_t nl,
                          nghttp2_rcbuf *value);
/* Body bytes; false when the stream is over its limit (it is answered
 * with 413 and the bytes dropped). */
void vpd_h2_stream_data(h2_stream *s, const uint8_t *data, size_t len);
/* The header block is complete: a header list over the limit is
 * answered with 431 now. */
void vpd_h2_stream_headers_done(h2_stream *s);
/* END_STREAM: the request goes to the router. */
void vpd_h2_stream_complete(h2_stream *s);
/* An answer the connection makes on its own (limits, timeouts). */
void vpd_h2_stream_fail(h2_stream *s, int status, const char *msg);
/* nghttp2 closed the stream: a request still with the router is now
 * abandoned (client_gone, on_gone runs). */
void vpd_h2_stream_closed(h2_stream *s);
/* The connection is gone: every request it still has with the router is
 * abandoned, also those whose stream is already closed. */
void vpd_h2_reqs_detach(vpd_h2_conn *h, bool run_gone);

/* h2_session.c */
uint64_t vpd_h2_now(const vpd_h2_conn *h);
/* Ends the session with GOAWAY(code); nothing more is read. */
void vpd_h2_conn_fail(vpd_h2_conn *h, uint32_t code, const char *why);
void vpd_h2_count_conn(bool opened);
void vpd_h2_count_stream(bool opened);
void vpd_h2_count_peer_reset(void);
void vpd_h2_count_goaway(void);
void vpd_h2_count_send(void);

#endif
