/* Listeners and HTTP/1.1 connections on the libuv loop.
 *
 * Each connection parses with llhttp, one request at a time: when a
 * message is complete, on_message_complete pauses the parser, the request
 * goes to the router, and nothing more is parsed on that connection until
 * vpd_http_respond was called for it.  Pipelined requests therefore get
 * their answers in order, and bytes that arrive meanwhile wait in the
 * connection's input buffer (reading stops when that buffer is large).
 *
 * llhttp 8.1 does not know the LIST method that hvac and node-vault send.
 * At each message start, if the pending bytes begin with "LIST ", the
 * parser is fed "GET" and then the real bytes from offset 4 (the space);
 * the request is reported as LIST.  A prefix of "LIST " that ends the
 * buffer waits for more bytes.
 *
 * Closing: conn_finish is the polite close (optional close_notify,
 * shutdown after pending writes, then read and discard until the peer
 * closes or a short linger timer fires, so the peer is not hit by a RST
 * that would destroy the answer it has not read yet); conn_close is the
 * immediate one.  Memory of a connection is freed only in the close
 * callbacks, so every callback running earlier in the same loop turn may
 * still use it. */
#include "autoconf.h"

#include "http/server.h"

#include <errno.h>
#include <llhttp.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/sys_ids.h"
#include "http/age_list.h"
#include "http/h2_conn.h"
#include "http/target_bytes.h"
#include "http/tls.h"

#define LOG_COMP "proxy.listener"

#define READ_CHUNK (64 * 1024)
/* Stop reading from a socket whose unparsed input exceeds this while the
 * connection cannot parse (a request is outstanding or writes back up). */
#define IN_HIGH_WATER (64 * 1024)
#define WRITE_HIGH_WATER (1024 * 1024)
#define LINGER_MS 1000
#define DEFAULT_MAX_HEADER (64 * 1024)
#define DEFAULT_MAX_BODY (32 * 1024 * 1024)
#define DEFAULT_MAX_CONNS 4096
#define REQ_MAGIC 0x76706472u /* "vpdr" */
/* Answered requests kept for reuse, with their header memory. */
#define SPARE_REQS 64
/* The smallest room for target and path a request struct gets, so that a
 * kept one fits most later requests. */
#define REQ_STRINGS_MIN 256

typedef struct conn conn;
typedef struct srv_req srv_req;

/* A target, header name or header value as llhttp hands it over: while it
 * lies whole in the input buffer it is kept as a span into that buffer
 * (`at`), with no copy; the copy in `buf` is made only when it straddles
 * two reads, or when the parse stops with it unfinished (the buffer may
 * move before the next part comes). */
typedef struct {
    const char *at; /* the span, or NULL: the text is in buf */
    size_t len;
    vpd_buf buf;
} piece;

struct vpd_listener {
    vpd_server *srv;
    const vpd_listener_config *cfg;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    bool inited;  /* the handle needs uv_close */
    bool closing; /* uv_close was called */
    vpd_tls_ctx *tls;
    size_t n_conns;
    size_t max_header, max_body, max_conns;
    uint64_t read_timeout, idle_timeout, header_timeout;
    /* The connections the limit may close to make room, each list oldest
     * first: lingering after their last answer (every byte of it handed
     * to the kernel), idle between requests, and waiting for a request
     * head to complete.  Busy connections are on none of them. */
    vpd_age_list lingering, idle, heading;
    char *unix_path; /* set once we created the socket file */
    dev_t unix_dev;
    ino_t unix_ino;
    char name[128]; /* for log lines */
};

struct vpd_server {
    uv_loop_t *loop;
    const vpd_config *cfg;
    vpd_http_handler_fn handler;
    void *arg;
    struct vpd_listener *lst;
    size_t n_lst;
    conn *conns;   /* open connections (not yet closing) */
    srv_req *reqs; /* requests handed to the router */
    size_t inflight;
    srv_req *spare; /* answered, kept for reuse (linked by next) */
    size_t n_spare;
    size_t handles; /* handles whose close callback has not run */
    bool stopping, closing, finished;
    void (*done)(void *);
    void *done_arg;
    uv_timer_t anchor; /* always closed last, so done never runs inline */
    /* HTTP/2 connections whose streams were answered since the loop last
     * waited: their frames leave together, once per loop turn, just before
     * the loop waits again (on_h2_flush).  The same handle counts the h2
     * connections that read something in each loop turn, which says
     * whether answers should leave one by one (h2_eager).  The handle runs
     * only while the list is not empty or h2 connections read lately. */
    uv_prepare_t h2_flush;
    vpd_age_list h2_pending;
    unsigned h2_reads_turn, h2_reads_last_turn;
    llhttp_settings_t settings;
    time_t date_sec;
    char date[40];
    char readbuf[READ_CHUNK]; /* shared: reads never overlap */
};

/* What the connection waits for, and so which timeout applies: none while
 * the router holds a request; a request head (the first one from the
 * accept on, a later one from its first byte); the rest of a request whose
 * head is complete; the next request on an idle keep-alive connection. */
typedef enum { T_NONE = 0, T_HEAD, T_BODY, T_IDLE } timer_mode;

struct conn {
    vpd_server *srv;
    struct vpd_listener *lst;
    conn *next, *prev;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } h;
    uv_timer_t timer;
    uv_shutdown_t shut;
    int open_handles;
    llhttp_t parser;
    vpd_tls_conn *tls;
    vpd_buf in; /* unparsed plaintext starts at in_off */
    size_t in_off;
    vpd_buf out; /* response head scratch, reused */
    /* Message being parsed. */
    piece url, hname, hval;
    vpd_buf body;
    vpd_hdrs hdrs;
    size_t header_bytes;
    bool in_msg, is_list, headers_done;
    /* A header of Transfer-Encoding's or Expect's length was seen: only
     * then does cb_headers_complete look for them in the list. */
    bool maybe_coding, maybe_expect;
    int err_status;
    const char *err_msg;  /* ours: llhttp may overwrite its reason */
    srv_req *ready;       /* parsed, about to be dispatched */
    srv_req *outstanding; /* with the router */
    timer_mode tmode;
    uint64_t deadline;   /* loop time the tmode timeout is due; 0: none */
    uint64_t head_start; /* loop time the current request head began */
    vpd_age_link age;    /* on one of the listener's eviction lists */
    bool no_more;        /* parse no further requests here */
    bool reading, closing, draining, in_process, served_any;
    bool eof;     /* the client will send nothing more (FIN, close_notify) */
    bool sniffed; /* TLS: the first byte was checked for plain HTTP */
    bool proto_known; /* ALPN or the h2c preface was looked at */
    vpd_h2_conn *h2;  /* set: the connection speaks HTTP/2 */
    /* On srv->h2_pending while answers wait for the loop turn's flush. */
    vpd_age_link h2_pending;
    char peer[64];
};

struct srv_req {
    vpd_http_req pub; /* first: the router's pointer is ours */
    unsigned magic;
    vpd_server *srv; /* NULL once the server is gone */
    conn *c;         /* NULL once the client is gone */
    srv_req *next, *prev;
    vpd_http_gone_fn on_gone; /* the router's, run once on a departure */
    void *gone_arg;
    bool head;
    char empty[1];
    size_t strings_cap;
    char strings[]; /* target NUL path NUL */
};

static void conn_process(conn *c);
static void on_h2_flush(uv_prepare_t *p);
static void conn_close(conn *c);
static void conn_finish(conn *c);
static void server_maybe_done(vpd_server *srv);

/* ---- small helpers ---------------------------------------------------- */

static void
list_unlink_conn(conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (c->srv->conns == c)
        c->srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

static void
list_unlink_req(srv_req *r)
{
    if (!r->srv)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else if (r->srv->reqs == r)
        r->srv->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
}

static const char *
http_date(vpd_server *srv)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                    "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    if (now != srv->date_sec || !srv->date[0]) {
        struct tm tm;
        gmtime_r(&now, &tm);
        snprintf(srv->date, sizeof srv->date,
                 "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
                 tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
        srv->date_sec = now;
    }
    return srv->date;
}

/* Releases an answered request.  While the server runs, it is kept for
 * the next one with its header memory (wiped), so that the steady state
 * allocates no request structs and no header lists. */
static void
req_free(srv_req *r)
{
    r->magic = 0;
    if (r->pub.body && r->pub.body != r->empty) {
        explicit_bzero(r->pub.body, r->pub.body_len);
        free(r->pub.body);
    }
    r->pub.body = NULL;
    vpd_server *srv = r->srv;
    if (srv && !srv->closing && srv->n_spare < SPARE_REQS) {
        vpd_hdrs_clear(&r->pub.headers);
        explicit_bzero(r->strings, r->strings_cap);
        r->next = srv->spare;
        srv->spare = r;
        srv->n_spare++;
        return;
    }
    vpd_hdrs_free(&r->pub.headers);
    free(r);
}

/* A zeroed request with room for `strings` bytes of target and path, a
 * kept one when it is large enough.  Its header list is empty but may
 * hold memory. */
static srv_req *
req_new(vpd_server *srv, size_t strings)
{
    srv_req *r = srv->spare;
    if (r && r->strings_cap >= strings) {
        srv->spare = r->next;
        srv->n_spare--;
    } else {
        size_t cap = strings < REQ_STRINGS_MIN ? REQ_STRINGS_MIN : strings;
        r = malloc(sizeof *r + cap);
        if (!r)
            return NULL;
        memset(&r->pub.headers, 0, sizeof r->pub.headers);
        r->strings_cap = cap;
    }
    vpd_hdrs headers = r->pub.headers;
    size_t cap = r->strings_cap;
    memset(r, 0, sizeof *r);
    r->pub.headers = headers;
    r->strings_cap = cap;
    return r;
}

static void
spare_reqs_free(vpd_server *srv)
{
    while (srv->spare) {
        srv_req *r = srv->spare;
        srv->spare = r->next;
        vpd_hdrs_free(&r->pub.headers);
        free(r);
    }
    srv->n_spare = 0;
}

/* ---- writing ---------------------------------------------------------- */

typedef struct {
    uv_write_t req;
    conn *c;
    char data[];
} write_req;

static size_t
write_queue(conn *c)
{
    return uv_stream_get_write_queue_size(&c->h.stream);
}

static void
on_write(uv_write_t *w, int status)
{
    write_req *wr = (write_req *)w;
    conn *c = wr->c;
    free(wr);
    if (c->closing)
        return;
    if (status < 0) {
        vpd_log(VPD_LOG_DEBUG, LOG_COMP, "write to %s failed: %s", c->peer,
                uv_strerror(status));
        conn_close(c);
        return;
    }
    /* Parsing may have stopped because answers piled up. */
    if (!c->draining && write_queue(c) <= WRITE_HIGH_WATER)
        conn_process(c);
}

/* Sends bytes on the socket: a direct try first, a queued copy of the
 * rest.  libuv refuses uv_try_write while writes are queued, so order is
 * kept. */
static void
conn_send_raw(conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    size_t total = 0, done = 0;
    if (c->closing)
        return;
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    if (total == 0)
        return;
    int r = uv_try_write(&c->h.stream, bufs, nbufs);
    if (r < 0 && r != UV_EAGAIN && r != UV_ENOSYS) {
        vpd_log(VPD_LOG_DEBUG, LOG_COMP, "write to %s failed: %s", c->peer,
                uv_strerror(r));
        conn_close(c);
        return;
    }
    if (r > 0)
        done = (size_t)r;
    if (done >= total)
        return;
    size_t rest = total - done;
    write_req *wr = malloc(sizeof *wr + rest);
    if (!wr) {
        conn_close(c);
        return;
    }
    wr->c = c;
    size_t skip = done, pos = 0;
    for (unsigned i = 0; i < nbufs; i++) {
        size_t len = bufs[i].len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        memcpy(wr->data + pos, bufs[i].base + skip, len - skip);
        pos += len - skip;
        skip = 0;
    }
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)rest);
    r = uv_write(&wr->req, &c->h.stream, &b, 1, on_write);
    if (r < 0) {
        free(wr);
        conn_close(c);
    }
}

/* Moves everything OpenSSL produced (handshake, records, alerts) out. */
static void
conn_flush_tls(conn *c)
{
    char tmp[16384];
    while (!c->closing) {
        size_t n = vpd_tls_conn_read_output(c->tls, tmp, sizeof tmp);
        if (n == 0)
            break;
        uv_buf_t b = uv_buf_init(tmp, (unsigned)n);
        conn_send_raw(c, &b, 1);
    }
}

static void
conn_send(conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    if (c->closing)
        return;
    if (!c->tls) {
        conn_send_raw(c, bufs, nbufs);
        return;
    }
    for (unsigned i = 0; i < nbufs; i++) {
        if (bufs[i].len &&
            vpd_tls_conn_send(c->tls, bufs[i].base, bufs[i].len) != 0) {
            conn_close(c);
            return;
        }
    }
    conn_flush_tls(c);
}

/* Appends without a bounds check: the caller reserved the room. */
#define PUT(p, s, l)                                                           \
    do {                                                                       \
        memcpy((p), (s), (l));                                                 \
        (p) += (l);                                                            \
    } while (0)

/* Decimal digits of v, written backwards from end; returns the start. */
static char *
fmt_u64(char *end, unsigned long long v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

/* Writes one whole response.  `head` suppresses the body; `closing` adds
 * Connection: close.  The head is put together with plain copies: this
 * runs for every answer. */
static void
conn_write_response(conn *c, int status, const vpd_hdrs *hdrs, const char *body,
                    size_t body_len, bool head, bool closing, int minor,
                    bool keep_alive_10)
{
    vpd_buf *o = &c->out;
    if (c->closing)
        return;
    if (status < 100 || status > 999)
        status = 500;
    bool no_body = (status < 200 || status == 204 || status == 304);
    bool keep_given_cl = head || status == 304;
    bool has_date = false, wrote_cl = false;
    const char *reason = vpd_http_reason(status);
    size_t rl = strlen(reason);

    /* First pass: which headers go out, and how many bytes in all. */
    size_t nh = hdrs ? hdrs->n : 0;
    /* Per header: its name's and value's lengths, a name length of 0 for
     * a header that does not go out; the second pass copies without
     * measuring again. */
    typedef struct {
        size_t nl, vl;
    } hdr_len;
    hdr_len small[32];
    hdr_len *send = nh <= 32 ? small : malloc(nh * sizeof *send);
    if (!send) {
        conn_close(c);
        return;
    }
    size_t total = 64 + rl;
    for (size_t i = 0; i < nh; i++) {
        const char *n = hdrs->v[i].name, *v = hdrs->v[i].value;
        send[i].nl = 0;
        if (!n || !v || !*n)
            continue;
        size_t nl, vl;
        if (!vpd_hdr_line_lens(&hdrs->v[i], &nl, &vl))
            continue; /* CR or LF: could smuggle header lines */
        unsigned flags = vpd_hdr_flags(n, nl);
        if (flags & VPD_HDR_CONNECTION)
            continue; /* the keep-alive decision is the server's */
        if (flags & VPD_HDR_FRAMING) {
            /* The server sends whole bodies and frames them itself; only a
             * HEAD or 304 answer may state the length of the body it
             * stands for. */
            bool length = vpd_hdr_name_is(n, nl, "content-length", 14);
            if (!length || !keep_given_cl || wrote_cl)
                continue;
            wrote_cl = true;
        } else if (vpd_hdr_name_is(n, nl, "date", 4)) {
            has_date = true;
        }
        send[i].nl = nl;
        send[i].vl = vl;
        total += nl + vl + 4;
    }
    const char *date = has_date ? NULL : http_date(c->srv);
    size_t dl = date ? strlen(date) : 0;
    total += dl + 8 + 40 + 26;

    vpd_buf_reset(o);
    if (vpd_buf_reserve(o, total) != 0) {
        if (send != small)
            free(send);
        conn_close(c);
        return;
    }
    char *p = o->data;
    char num[24], *ne = num + sizeof num, *ns;
    PUT(p, minor ? "HTTP/1.1 " : "HTTP/1.0 ", 9);
    ns = fmt_u64(ne, (unsigned)status);
    PUT(p, ns, (size_t)(ne - ns));
    *p++ = ' ';
    if (rl) {
        PUT(p, reason, rl);
    } else {
        PUT(p, "status code ", 12);
        PUT(p, ns, (size_t)(ne - ns));
    }
    PUT(p, "\r\n", 2);
    for (size_t i = 0; i < nh; i++) {
        size_t nl = send[i].nl, vl = send[i].vl;
        if (!nl)
            continue;
        const char *n = hdrs->v[i].name, *v = hdrs->v[i].value;
        PUT(p, n, nl);
        PUT(p, ": ", 2);
        PUT(p, v, vl);
        PUT(p, "\r\n", 2);
    }
    if (send != small)
        free(send);
    if (date) {
        PUT(p, "Date: ", 6);
        PUT(p, date, dl);
        PUT(p, "\r\n", 2);
    }
    if (!no_body && !wrote_cl) {
        PUT(p, "Content-Length: ", 16);
        ns = fmt_u64(ne, (unsigned long long)body_len);
        PUT(p, ns, (size_t)(ne - ns));
        PUT(p, "\r\n", 2);
    }
    if (closing)
        PUT(p, "Connection: close\r\n", 19);
    else if (keep_alive_10)
        PUT(p, "Connection: keep-alive\r\n", 24);
    PUT(p, "\r\n", 2);
    o->len = (size_t)(p - o->data);
    o->data[o->len] = '\0';

    uv_buf_t bufs[2];
    unsigned n = 0;
    bufs[n++] = uv_buf_init(o->data, (unsigned)o->len);
    if (!head && !no_body && body && body_len) {
        if (body_len > 0xffffffffu) {
            conn_close(c);
            return;
        }
        bufs[n++] = uv_buf_init((char *)body, (unsigned)body_len);
    }
    conn_send(c, bufs, n);
}

/* An answer the server makes on its own (limits, malformed input,
 * timeouts), followed by a polite close. */
static void
conn_fail(conn *c, int status, const char *msg)
{
    if (c->closing || c->draining)
        return;
    if (c->tls && !vpd_tls_conn_established(c->tls)) {
        conn_close(c);
        return;
    }
    size_t len = 0;
    char *body = vpd_http_error_json(msg, &len);
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "Content-Type", "application/json");
    int minor = c->headers_done ? c->parser.http_minor : 1;
    if (c->headers_done && c->parser.http_major != 1)
        minor = 1;
    conn_write_response(c, status, &h, body ? body : "", body ? len : 0, false,
                        true, minor, false);
    vpd_hdrs_free(&h);
    free(body);
    conn_finish(c);
}

/* ---- timers and read control ------------------------------------------ */

static void
on_conn_timer(uv_timer_t *t)
{
    conn *c = t->data;
    if (c->closing)
        return;
    if (c->draining) {
        conn_close(c); /* linger over */
        return;
    }
    if (c->h2) {
        vpd_h2_conn_timeout(c->h2);
        conn_process(c);
        return;
    }
    /* The timer is left running across mode changes (conn_update_timer):
     * it may be early, or for a mode that has no timeout any more. */
    if (c->tmode == T_NONE || !c->deadline)
        return;
    uint64_t now = uv_now(c->srv->loop);
    if (now < c->deadline) {
        uv_timer_start(&c->timer, on_conn_timer, c->deadline - now, 0);
        return;
    }
    bool started = c->in_msg || c->in.len > c->in_off;
    if (c->tmode == T_BODY || (c->tmode == T_HEAD && started)) {
        vpd_log(VPD_LOG_DEBUG, LOG_COMP, "read timeout on connection from %s",
                c->peer);
        conn_fail(c, 408, "request read timed out");
    } else {
        /* Nothing of a request came: there is nobody to answer, as with
         * Go's server, which closes such a connection silently. */
        vpd_log(VPD_LOG_DEBUG, LOG_COMP, "closing idle connection from %s",
                c->peer);
        conn_finish(c);
    }
}

/* The loop time `ms` after `from`, or 0 (no deadline) when ms is 0. */
static uint64_t
deadline_after(uint64_t from, uint64_t ms)
{
    return ms ? from + ms : 0;
}

/* The earlier of two deadlines, 0 meaning none. */
static uint64_t
earlier_deadline(uint64_t a, uint64_t b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    return a < b ? a : b;
}

/* The timeouts, all counted from a fixed start, never restarted by the
 * bytes that trickle in: a request head must be complete within
 * http_read_header_timeout and the whole request within
 * http_read_timeout, both from the accept for the first request and from
 * its first byte for a later one; an idle keep-alive connection waits
 * http_idle_timeout from its last answer; nothing runs while the router
 * holds a request.  Entering a state also puts the connection at the back
 * of the matching eviction list (heading or idle) or takes it off.
 *
 * Only the deadline changes with the mode: the libuv timer is restarted
 * when it would fire too late, and otherwise left to fire and check
 * (on_conn_timer), so a keep-alive connection that goes idle, busy, idle
 * for every request costs no timer operation per request. */
static void
conn_update_timer(conn *c)
{
    if (c->closing || c->draining)
        return;
    timer_mode want;
    if (c->outstanding)
        want = T_NONE;
    else if (c->in_msg && c->headers_done)
        want = T_BODY;
    else if (c->in_msg || c->in.len > c->in_off || !c->served_any)
        want = T_HEAD;
    else
        want = T_IDLE;
    if (want == c->tmode)
        return;
    c->tmode = want;
    struct vpd_listener *l = c->lst;
    uint64_t now = uv_now(c->srv->loop), due = 0;
    switch (want) {
    case T_HEAD:
        c->head_start = now;
        vpd_age_list_append(&l->heading, &c->age);
        due = earlier_deadline(deadline_after(now, l->header_timeout),
                               deadline_after(now, l->read_timeout));
        break;
    case T_BODY:
        vpd_age_list_remove(&c->age);
        due = deadline_after(c->head_start, l->read_timeout);
        break;
    case T_IDLE:
        vpd_age_list_append(&l->idle, &c->age);
        due = deadline_after(now, l->idle_timeout);
        break;
    case T_NONE:
        vpd_age_list_remove(&c->age);
        break;
    }
    c->deadline = due;
    if (!due)
        return;
    uint64_t ms = due > now ? due - now : 0;
    if (uv_is_active((uv_handle_t *)&c->timer) &&
        uv_timer_get_due_in(&c->timer) <= ms)
        return; /* it fires first and re-arms for the rest */
    uv_timer_start(&c->timer, on_conn_timer, ms, 0);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    buf->base = c->srv->readbuf;
    buf->len = sizeof c->srv->readbuf;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void
conn_update_reading(conn *c)
{
    if (c->closing)
        return;
    bool blocked = c->outstanding || write_queue(c) > WRITE_HIGH_WATER;
    /* After the client's end of stream there is nothing left to read: a
     * socket at EOF would only report it again on every loop turn. */
    bool want =
        !c->eof &&
        (c->draining || !(blocked && c->in.len - c->in_off > IN_HIGH_WATER));
    if (want && !c->reading) {
        if (uv_read_start(&c->h.stream, on_alloc, on_read) == 0)
            c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop(&c->h.stream);
        c->reading = false;
    }
}

/* ---- closing ---------------------------------------------------------- */

static void
on_conn_handle_closed(uv_handle_t *h)
{
    conn *c = h->data;
    vpd_server *srv = c->srv;
    if (--c->open_handles > 0)
        return;
    vpd_h2_conn_free(c->h2);
    vpd_tls_conn_free(c->tls);
    vpd_buf_free_secret(&c->in);
    vpd_buf_free(&c->out);
    vpd_buf_free(&c->url.buf);
    vpd_buf_free(&c->hname.buf);
    vpd_buf_free_secret(&c->hval.buf);
    vpd_buf_free_secret(&c->body);
    vpd_hdrs_free(&c->hdrs);
    if (c->ready)
        req_free(c->ready);
    free(c);
    srv->handles -= 2;
    server_maybe_done(srv);
}

/* Closes at once.  A request still with the router is detached from the
 * connection and marked client_gone; unless the whole server is closing,
 * the router's on_gone hook then runs (it may answer, which only frees
 * the request), because nothing can reach this client any more. */
static void
conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    srv_req *gone = NULL;
    if (c->outstanding) {
        gone = c->outstanding;
        gone->pub.client_gone = true;
        gone->c = NULL;
        c->outstanding = NULL;
        vpd_log(VPD_LOG_DEBUG, LOG_COMP,
                "client %s went away while its request was in flight", c->peer);
    }
    if (c->h2)
        vpd_h2_conn_detach(c->h2, !c->srv->closing);
    list_unlink_conn(c);
    vpd_age_list_remove(&c->age);
    vpd_age_list_remove(&c->h2_pending);
    c->lst->n_conns--;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    uv_close(&c->h.handle, on_conn_handle_closed);
    vpd_log(VPD_LOG_DEBUG, LOG_COMP, "connection from %s closed", c->peer);
    if (gone && gone->on_gone && !c->srv->closing) {
        vpd_http_gone_fn fn = gone->on_gone;
        gone->on_gone = NULL;
        fn(&gone->pub, gone->gone_arg);
    }
}

static void
on_shutdown(uv_shutdown_t *s, int status)
{
    conn *c = s->data;
    if (c->closing)
        return;
    if (status < 0 || c->eof) {
        /* Failed, or the client already ended its side: nothing can
         * arrive that a linger would have to wait for. */
        conn_close(c);
        return;
    }
    /* Every byte of the answer is with the kernel now, so at the limit
     * this connection may be closed early without losing it. */
    vpd_age_list_append(&c->lst->lingering, &c->age);
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, on_conn_timer, LINGER_MS, 0);
}

static void
conn_finish(conn *c)
{
    if (c->closing || c->draining)
        return;
    c->draining = true;
    c->no_more = true;
    vpd_age_list_remove(&c->age);
    uv_timer_stop(&c->timer);
    c->tmode = T_NONE;
    c->deadline = 0;
    if (c->tls) {
        vpd_tls_conn_shutdown(c->tls);
        conn_flush_tls(c);
        if (c->closing)
            return;
    }
    c->shut.data = c;
    if (uv_shutdown(&c->shut, &c->h.stream, on_shutdown) != 0) {
        conn_close(c);
        return;
    }
    conn_update_reading(c);
}

/* ---- pieces of the message being parsed -------------------------------- */

/* Moves a piece's span into its own buffer.  Returns 0 or -1. */
static int
piece_keep(piece *p)
{
    if (!p->at)
        return 0;
    const char *at = p->at;
    p->at = NULL;
    return vpd_buf_append(&p->buf, at, p->len);
}

/* More text of a piece: the first part is only pointed at. */
static int
piece_add(piece *p, const char *at, size_t len)
{
    if (!p->at && !p->buf.len) {
        p->at = at;
        p->len = len;
        return 0;
    }
    if (piece_keep(p) != 0)
        return -1;
    return vpd_buf_append(&p->buf, at, len);
}

/* The piece's text so far (never NULL) and its length. */
static const char *
piece_text(const piece *p, size_t *len)
{
    if (p->at) {
        *len = p->len;
        return p->at;
    }
    *len = p->buf.len;
    return p->buf.data ? p->buf.data : "";
}

/* Empties a piece; a copy that may hold a secret (a header value) is
 * wiped first. */
static void
piece_reset(piece *p, bool secret)
{
    p->at = NULL;
    if (secret && p->buf.len)
        explicit_bzero(p->buf.data, p->buf.len);
    vpd_buf_reset(&p->buf);
}

/* After llhttp stopped: what the pieces point at in the input buffer is
 * copied, as that buffer may be compacted or grow before the parse goes
 * on.  Returns 0 or -1. */
static int
keep_pieces(conn *c)
{
    return piece_keep(&c->url) | piece_keep(&c->hname) | piece_keep(&c->hval);
}

/* ---- llhttp callbacks ------------------------------------------------- */

static int
header_limit(conn *c, size_t add)
{
    c->header_bytes += add;
    if (c->header_bytes > c->lst->max_header) {
        c->err_status = 431;
        c->err_msg = "request header too large";
        return HPE_USER;
    }
    return 0;
}

static int
oom(conn *c)
{
    c->err_status = 500;
    c->err_msg = "out of memory";
    return HPE_USER;
}

static int
cb_message_begin(llhttp_t *p)
{
    conn *c = p->data;
    c->in_msg = true;
    c->is_list = false;
    c->headers_done = false;
    c->maybe_coding = c->maybe_expect = false;
    c->header_bytes = 0;
    c->err_status = 0;
    c->err_msg = NULL;
    piece_reset(&c->url, false);
    piece_reset(&c->hname, false);
    piece_reset(&c->hval, true);
    vpd_buf_reset(&c->body);
    vpd_hdrs_clear(&c->hdrs);
    return 0;
}

static int
cb_url(llhttp_t *p, const char *at, size_t len)
{
    conn *c = p->data;
    if (header_limit(c, len))
        return HPE_USER;
    return piece_add(&c->url, at, len) ? oom(c) : 0;
}

static int
cb_header_field(llhttp_t *p, const char *at, size_t len)
{
    conn *c = p->data;
    if (header_limit(c, len))
        return HPE_USER;
    if (c->headers_done) /* trailers are counted, not kept */
        return 0;
    return piece_add(&c->hname, at, len) ? oom(c) : 0;
}

static int
cb_header_value(llhttp_t *p, const char *at, size_t len)
{
    conn *c = p->data;
    if (header_limit(c, len))
        return HPE_USER;
    if (c->headers_done)
        return 0;
    return piece_add(&c->hval, at, len) ? oom(c) : 0;
}

static int
cb_header_value_complete(llhttp_t *p)
{
    conn *c = p->data;
    if (header_limit(c, 4)) /* ": " and CRLF */
        return HPE_USER;
    if (!c->headers_done) {
        size_t nl, vl;
        const char *n = piece_text(&c->hname, &nl);
        const char *v = piece_text(&c->hval, &vl);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        c->maybe_coding |= nl == 17;
        c->maybe_expect |= nl == 6;
        if (vpd_hdrs_addn(&c->hdrs, n, nl, v, vl) != 0)
            return oom(c);
    }
    piece_reset(&c->hname, false);
    piece_reset(&c->hval, true);
    return 0;
}

/* The request-target must be origin-form ("/...") or absolute-form
 * ("http(s)://..."), without control characters or a '#' (a fragment is
 * never part of a request-target, RFC 9112 3.2).  llhttp's lenient mode
 * lets a TAB or other control bytes into the URL ("GET /\tHTTP/1.1") and
 * takes "*" or "host:port"; such a target used to reach the forwarder,
 * which refuses it, and the client got a 500 for its own mistake.  Go's
 * server, which Vault Proxy runs on, answers these with 400. */
static int
cb_url_complete(llhttp_t *p)
{
    conn *c = p->data;
    size_t n;
    const char *u = piece_text(&c->url, &n);
    bool ok =
        n && (u[0] == '/' || (n > 7 && strncasecmp(u, "http://", 7) == 0) ||
              (n > 8 && strncasecmp(u, "https://", 8) == 0));
    ok = ok && vpd_target_bytes_ok(u, n);
    if (!ok) {
        c->err_status = 400;
        c->err_msg = "malformed request: invalid request target";
        return HPE_USER;
    }
    return 0;
}

/* True when every Transfer-Encoding header lists nothing but "chunked". */
static bool
only_chunked_coding(const vpd_hdrs *h)
{
    for (size_t i = 0; i < h->n; i++) {
        const char *n = h->v[i].name;
        if ((n[0] | 0x20) != 't' || strcasecmp(n, "Transfer-Encoding") != 0)
            continue;
        const char *v = h->v[i].value;
        while (*v) {
            while (*v == ' ' || *v == '\t' || *v == ',')
                v++;
            if (!*v)
                break;
            const char *end = v;
            while (*end && *end != ',' && *end != ' ' && *end != '\t')
                end++;
            if ((size_t)(end - v) != 7 || strncasecmp(v, "chunked", 7) != 0)
                return false;
            v = end;
        }
    }
    return true;
}

static int
cb_headers_complete(llhttp_t *p)
{
    conn *c = p->data;
    c->headers_done = true;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > c->lst->max_body) {
        c->err_status = 413;
        c->err_msg = "request body too large";
        return -1;
    }
    if (c->maybe_coding && !only_chunked_coding(&c->hdrs)) {
        /* RFC 9112 6.1: a coding we cannot undo is refused, never passed
         * on with its bytes still encoded. */
        c->err_status = 501;
        c->err_msg = "unsupported transfer coding (only chunked is)";
        return -1;
    }
    /* Ask for the body when the client waits for permission. */
    const char *expect =
        c->maybe_expect ? vpd_hdrs_get(&c->hdrs, "Expect", 0) : NULL;
    if (expect && strcasecmp(expect, "100-continue") == 0 &&
        p->http_major == 1 && p->http_minor >= 1 &&
        ((p->flags & F_CHUNKED) ||
         ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0))) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        uv_buf_t b = uv_buf_init((char *)cont, sizeof cont - 1);
        conn_send(c, &b, 1);
    }
    return 0;
}

static int
cb_body(llhttp_t *p, const char *at, size_t len)
{
    conn *c = p->data;
    if (len > c->lst->max_body || c->body.len > c->lst->max_body - len) {
        c->err_status = 413;
        c->err_msg = "request body too large";
        return HPE_USER;
    }
    return vpd_buf_append(&c->body, at, len) ? oom(c) : 0;
}

static int
cb_message_complete(llhttp_t *p)
{
    conn *c = p->data;
    /* An absolute-form target (RFC 9112 3.2.2: "GET http://host/v1/x")
     * is reduced to its path and query, as Go's server does; the
     * authority is not ours to forward to. */
    size_t tl;
    const char *url = piece_text(&c->url, &tl);
    bool slash = false;
    if (tl && url[0] != '/') {
        size_t skip = 0;
        if (tl > 7 && strncasecmp(url, "http://", 7) == 0)
            skip = 7;
        else if (tl > 8 && strncasecmp(url, "https://", 8) == 0)
            skip = 8;
        if (skip) {
            while (skip < tl && url[skip] != '/' && url[skip] != '?')
                skip++;
            url += skip;
            tl -= skip;
            slash = tl == 0 || url[0] == '?';
        }
    }
    srv_req *r = req_new(c->srv, 2 * (tl + 2));
    if (!r)
        return oom(c);
    r->magic = REQ_MAGIC;
    char *target = r->strings;
    if (slash)
        target[0] = '/';
    if (tl)
        memcpy(target + slash, url, tl);
    tl += slash;
    target[tl] = '\0';
    char *q = memchr(target, '?', tl);
    size_t pl = q ? (size_t)(q - target) : tl;
    char *path = target + tl + 1;
    memcpy(path, target, pl);
    path[pl] = '\0';
    r->pub.target = target;
    r->pub.path = path;
    r->pub.query = q ? q + 1 : target + tl;
    const char *m = c->is_list ? "LIST" : llhttp_method_name(p->method);
    size_t ml = m ? strlen(m) : 0;
    if (ml >= sizeof r->pub.method)
        ml = sizeof r->pub.method - 1;
    memcpy(r->pub.method, m ? m : "", ml);
    r->pub.method[ml] = '\0';
    r->head = !c->is_list && p->method == HTTP_HEAD;
    /* The parsed headers go with the request; the connection takes the
     * request's emptied list (and its memory) for the next one. */
    vpd_hdrs spare = r->pub.headers;
    r->pub.headers = c->hdrs;
    c->hdrs = spare;
    if (c->body.len) {
        r->pub.body_len = c->body.len;
        r->pub.body = vpd_buf_steal(&c->body);
    } else {
        r->pub.body = r->empty;
    }
    r->pub.http_major = p->http_major;
    r->pub.http_minor = p->http_minor;
    r->pub.keep_alive = llhttp_should_keep_alive(p) && !p->upgrade;
    r->pub.listener = c->lst->cfg;
    memcpy(r->pub.peer, c->peer, sizeof r->pub.peer);
    r->srv = c->srv;
    r->c = c;
    c->ready = r;
    c->in_msg = false;
    if (!r->pub.keep_alive)
        c->no_more = true;
    piece_reset(&c->url, false); /* copied into the request */
    return HPE_PAUSED;
}

/* ---- parsing loop ----------------------------------------------------- */

static void
dispatch(conn *c, srv_req *r)
{
    vpd_server *srv = c->srv;
    c->outstanding = r;
    r->next = srv->reqs;
    if (srv->reqs)
        srv->reqs->prev = r;
    srv->reqs = r;
    srv->inflight++;
    conn_update_timer(c);
    vpd_log(VPD_LOG_DEBUG, LOG_COMP, "request %s %s from %s", r->pub.method,
            r->pub.path, c->peer);
    srv->handler(&r->pub, srv->arg);
}

static void
parse_error(conn *c, llhttp_errno_t e)
{
    const char *reason = llhttp_get_error_reason(&c->parser);
    char msg[256];
    int status = c->err_status ? c->err_status : 400;
    if (!reason || !*reason)
        reason = llhttp_errno_name(e);
    if (c->err_status && c->err_msg) {
        snprintf(msg, sizeof msg, "%s", c->err_msg);
    } else if (status == 400) {
        snprintf(msg, sizeof msg, "malformed request: %s", reason);
    } else {
        snprintf(msg, sizeof msg, "%s", reason);
    }
    vpd_log(VPD_LOG_DEBUG, LOG_COMP, "bad request from %s: %d %s", c->peer,
            status, msg);
    c->in_msg = false;
    conn_fail(c, status, msg);
}

static void
compact_input(conn *c)
{
    if (c->in_off == 0)
        return;
    size_t rest = c->in.len - c->in_off;
    if (rest)
        memmove(c->in.data, c->in.data + c->in_off, rest);
    c->in.len = rest;
    c->in_off = 0;
    if (c->in.data)
        c->in.data[rest] = '\0';
    /* An idle connection should not keep a large buffer. */
    if (rest == 0 && c->in.cap > 4 * READ_CHUNK)
        vpd_buf_free_secret(&c->in);
}

/* ---- HTTP/2 (core/http/h2_conn.h does the protocol) -------------------- */

static void
h2_send(void *arg, const uint8_t *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    conn_send(arg, &b, 1);
}

static size_t
h2_backlog(void *arg)
{
    conn *c = arg;
    return c->closing ? 0 : write_queue(c);
}

static void
h2_dispatch(void *arg, vpd_http_req *req)
{
    conn *c = arg;
    c->srv->inflight++;
    c->served_any = true;
    c->srv->handler(req, c->srv->arg);
}

static void
h2_released(void *arg)
{
    conn *c = arg;
    c->srv->inflight--;
}

/* An answer was submitted outside vpd_h2_conn_recv (the router answered
 * later, from an upstream's reply or a timer).  Flushing at once would cost
 * one TLS record and one write per stream; answers that arrive in one
 * batch of events are gathered instead and leave together when the loop
 * turn ends (on_h2_flush).  While the connection is being processed, its
 * own flush comes after vpd_h2_conn_recv anyway. */
static void
h2_kick(void *arg)
{
    conn *c = arg;
    vpd_server *srv = c->srv;
    if (c->closing || c->in_process || srv->closing || c->h2_pending.on)
        return;
    vpd_age_list_append(&srv->h2_pending, &c->h2_pending);
    if (!uv_is_active((uv_handle_t *)&srv->h2_flush))
        uv_prepare_start(&srv->h2_flush, on_h2_flush);
}

static const char *
h2_date(void *arg)
{
    conn *c = arg;
    return http_date(c->srv);
}

/* Answers leave one by one while at most one h2 connection reads per loop
 * turn (this one, this turn and the last): the client waits for them,
 * and nothing else would be slowed by the extra writes.  When several
 * connections read in one turn the loop is busy, and one write per
 * connection and turn costs far less CPU per answer than one per stream. */
static bool
h2_eager(void *arg)
{
    conn *c = arg;
    return c->srv->h2_reads_turn <= 1 && c->srv->h2_reads_last_turn <= 1;
}

/* The connection speaks HTTP/2 from now on: timeouts and limits of the
 * listener go to the session, which sends its SETTINGS first. */
static void
conn_start_h2(conn *c)
{
    static const vpd_h2_io io = {h2_send, h2_backlog, h2_dispatch, h2_released,
                                 h2_kick, h2_date,    h2_eager};
    struct vpd_listener *l = c->lst;
    vpd_h2_limits lim = {
        .listener = l->cfg,
        .loop = c->srv->loop,
        .max_header = l->max_header,
        .max_body = l->max_body,
        .header_ms = l->header_timeout ? l->header_timeout : l->read_timeout,
        .read_ms = l->read_timeout,
        .idle_ms = l->idle_timeout,
        .peer = c->peer,
    };
    c->proto_known = true;
    c->h2 = vpd_h2_conn_new(&io, c, &lim);
    if (!c->h2) {
        conn_close(c);
        return;
    }
    vpd_log(VPD_LOG_DEBUG, LOG_COMP, "HTTP/2 with %s", c->peer);
    vpd_age_list_remove(&c->age);
    c->tmode = T_NONE;
    c->deadline = 0;
    uv_timer_stop(&c->timer);
    if (c->srv->stopping)
        vpd_h2_conn_goaway(c->h2);
}

/* Decides once per connection: h2 by ALPN on TLS; on a plain listener
 * with http2_prior_knowledge, h2 when the bytes start with the client
 * preface.  Returns false while a preface prefix waits for more bytes. */
static bool
conn_pick_protocol(conn *c)
{
    if (c->tls) {
        if (!vpd_tls_conn_established(c->tls))
            return true;
        if (vpd_tls_conn_alpn_h2(c->tls))
            conn_start_h2(c);
        c->proto_known = true;
        return true;
    }
    if (!c->lst->cfg->http2_prior_knowledge) {
        c->proto_known = true;
        return true;
    }
    size_t avail = c->in.len - c->in_off;
    if (!avail)
        return c->eof ? (c->proto_known = true) : false;
    size_t m = avail < VPD_H2_PREFACE_LEN ? avail : VPD_H2_PREFACE_LEN;
    if (memcmp(c->in.data + c->in_off, VPD_H2_PREFACE, m) != 0) {
        c->proto_known = true;
        return true;
    }
    if (m < VPD_H2_PREFACE_LEN) {
        /* A prefix waits for the rest, unless no more can come. */
        c->proto_known = c->eof;
        return c->eof;
    }
    conn_start_h2(c);
    return true;
}

/* An h2 connection without an open stream is as idle as a keep-alive one
 * between requests: it joins the listener's idle list when it becomes so
 * (keeping its place while it stays idle) and leaves it with its next
 * stream, so that the connection limit can close it (listener_make_room). */
static void
conn_h2_track_idle(conn *c)
{
    vpd_age_list *idle = &c->lst->idle;
    if (!vpd_h2_conn_idle(c->h2))
        vpd_age_list_remove(&c->age);
    else if (c->age.on != idle)
        vpd_age_list_append(idle, &c->age);
}

static void
conn_h2_process(conn *c)
{
    c->in_process = true;
    size_t avail = c->in.len - c->in_off;
    if (avail && !c->draining && write_queue(c) <= WRITE_HIGH_WATER) {
        vpd_server *srv = c->srv;
        srv->h2_reads_turn++;
        if (!uv_is_active((uv_handle_t *)&srv->h2_flush) && !srv->closing)
            uv_prepare_start(&srv->h2_flush, on_h2_flush);
        c->in_off = c->in.len;
        vpd_h2_conn_recv(c->h2, c->in.data + c->in.len - avail, avail);
    }
    if (!c->closing && !c->draining)
        vpd_h2_conn_flush(c->h2);
    if (!c->closing && !c->draining) {
        compact_input(c);
        if (vpd_h2_conn_done(c->h2, c->eof)) {
            conn_finish(c);
        } else {
            uint64_t due = vpd_h2_conn_deadline(c->h2);
            uint64_t now = uv_now(c->srv->loop);
            uv_timer_stop(&c->timer);
            if (due)
                uv_timer_start(&c->timer, on_conn_timer,
                               due > now ? due - now : 0, 0);
            conn_h2_track_idle(c);
        }
    }
    if (!c->closing)
        conn_update_reading(c);
    c->in_process = false;
}

/* Runs before the loop waits, while connections have answers queued:
 * each gets one flush for everything answered since the last wait.
 * Processing one may answer streams of another (a router hook run by a
 * departure), which joins the list and is flushed in the same walk.  It
 * also closes the count of h2 reads of the turn that ended; once a turn
 * went by without any, it stops until the next read or answer. */
static void
on_h2_flush(uv_prepare_t *p)
{
    vpd_server *srv = p->data;
    vpd_age_link *l;
    srv->h2_reads_last_turn = srv->h2_reads_turn;
    srv->h2_reads_turn = 0;
    while ((l = srv->h2_pending.head) != NULL) {
        conn *c = (conn *)(void *)((char *)l - offsetof(conn, h2_pending));
        vpd_age_list_remove(l);
        conn_process(c);
    }
    if (!srv->h2_reads_last_turn || srv->closing)
        uv_prepare_stop(p);
}

static void
conn_process(conn *c)
{
    if (c->in_process || c->closing)
        return;
    if (!c->proto_known && !conn_pick_protocol(c))
        return;
    if (c->h2) {
        conn_h2_process(c);
        return;
    }
    c->in_process = true;
    while (!c->closing && !c->draining && !c->no_more && !c->outstanding &&
           write_queue(c) <= WRITE_HIGH_WATER) {
        size_t avail = c->in.len - c->in_off;
        if (!avail)
            break; /* and in.data may still be NULL */
        const char *p = c->in.data + c->in_off;
        if (!c->in_msg) {
            /* Blank lines before a request are allowed (RFC 9112 2.2);
             * skipping them here keeps the LIST check at the method. */
            while (avail && (*p == '\r' || *p == '\n')) {
                p++;
                avail--;
                c->in_off++;
            }
            if (!avail)
                break;
            size_t m = avail < 5 ? avail : 5;
            if (memcmp(p, "LIST ", m) == 0) {
                if (avail < 5)
                    break; /* could still be LIST: wait for more */
                llhttp_errno_t e = llhttp_execute(&c->parser, "GET", 3);
                if (e != HPE_OK) {
                    parse_error(c, e);
                    break;
                }
                c->is_list = true;
                c->in_off += 4;
                continue;
            }
        }
        if (!avail)
            break;
        llhttp_errno_t e = llhttp_execute(&c->parser, p, avail);
        if (c->closing)
            break; /* a write inside a callback failed */
        if (keep_pieces(c) != 0) {
            conn_fail(c, 500, "out of memory");
            break;
        }
        if (e == HPE_OK) {
            c->in_off = c->in.len;
            break;
        }
        if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
            const char *pos = llhttp_get_error_pos(&c->parser);
            size_t used =
                (pos >= p && pos <= p + avail) ? (size_t)(pos - p) : avail;
            if (used == 0 && !c->ready) {
                /* Never expected; but no input may spin this loop. */
                parse_error(c, e);
                break;
            }
            c->in_off += used;
            if (e == HPE_PAUSED_UPGRADE) {
                llhttp_resume_after_upgrade(&c->parser);
                c->no_more = true; /* no protocol switching here */
            } else {
                llhttp_resume(&c->parser);
            }
            srv_req *r = c->ready;
            c->ready = NULL;
            if (r)
                dispatch(c, r);
            continue;
        }
        parse_error(c, e);
        break;
    }
    if (!c->closing) {
        compact_input(c);
        /* After the client's end of stream, once every complete request
         * it sent is answered, what is left can never become a request. */
        if (c->eof && !c->draining && !c->outstanding &&
            write_queue(c) <= WRITE_HIGH_WATER)
            conn_finish(c);
    }
    if (!c->closing) {
        conn_update_timer(c);
        conn_update_reading(c);
    }
    c->in_process = false;
}

/* The client ended its side (TCP FIN, or TLS close_notify).  A half-closed
 * client still reads: every request it sent is answered, in order, and
 * the connection closes after the last answer.  Only a reset or a failed
 * write means the client is gone. */
static void
conn_peer_done(conn *c)
{
    if (c->draining) {
        conn_close(c); /* lingering, and the client closed too: done */
        return;
    }
    vpd_log(VPD_LOG_DEBUG, LOG_COMP, "end of stream from %s", c->peer);
    c->eof = true;
    conn_process(c);
}

/* Go's answer to plain HTTP on a TLS listener, in clear text: the client
 * gets a reason instead of an empty reply. */
static void
conn_refuse_plain_http(conn *c)
{
    static const char answer[] =
        "HTTP/1.0 400 Bad Request\r\n\r\n"
        "Client sent an HTTP request to an HTTPS server.\n";
    uv_buf_t b = uv_buf_init((char *)answer, sizeof answer - 1);
    vpd_log(VPD_LOG_DEBUG, LOG_COMP, "plain HTTP from %s on TLS listener %s",
            c->peer, c->lst->name);
    conn_send_raw(c, &b, 1);
    conn_finish(c);
}

/* Bytes from the socket: decrypted first on a TLS listener, then parsed. */
static void
conn_received(conn *c, const char *data, size_t len)
{
    if (c->draining)
        return; /* lingering: discard */
    if (!c->tls) {
        if (vpd_buf_append(&c->in, data, len) != 0) {
            conn_close(c);
            return;
        }
        conn_process(c);
        return;
    }
    if (!c->sniffed) {
        c->sniffed = true;
        /* A TLS record starts with its content type (0x14..0x17, a
         * ClientHello 0x16); an HTTP request starts with a method in
         * capital letters. */
        if (len && data[0] >= 'A' && data[0] <= 'Z') {
            conn_refuse_plain_http(c);
            return;
        }
    }
    char err[256];
    int r = vpd_tls_conn_recv(c->tls, data, len, &c->in, err, sizeof err);
    if (r == VPD_TLS_ERROR) {
        vpd_log(VPD_LOG_DEBUG, LOG_COMP, "TLS from %s: %s", c->peer, err);
        conn_flush_tls(c); /* the alert, if any */
        c->no_more = true;
        conn_finish(c);
        return;
    }
    conn_flush_tls(c);
    if (c->closing)
        return;
    if (r == VPD_TLS_CLOSED)
        conn_peer_done(c);
    else
        conn_process(c);
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = s->data;
    if (c->closing || nread == 0)
        return;
    if (nread == UV_EOF) {
        conn_peer_done(c);
        return;
    }
    if (nread < 0) {
        vpd_log(VPD_LOG_DEBUG, LOG_COMP, "read from %s: %s", c->peer,
                uv_strerror((int)nread));
        conn_close(c);
        return;
    }
    conn_received(c, buf->base, (size_t)nread);
}

/* At the connection limit a burst of new connections closes the oldest
 * that wait for a request head.  Reading what a new client has already
 * sent, before the next accept, lets a normal client's request reach the
 * router (and leave the evictable set) at once, instead of a loop turn
 * later, when the rest of the burst could have closed it. */
static void
conn_read_now(conn *c)
{
    uv_os_fd_t fd;
    if (c->closing || uv_fileno(&c->h.handle, &fd) != 0)
        return;
    ssize_t n = recv(fd, c->srv->readbuf, sizeof c->srv->readbuf, MSG_DONTWAIT);
    if (n > 0)
        conn_received(c, c->srv->readbuf, (size_t)n);
    /* EOF, errors and "nothing yet" are left to libuv's own read. */
}

/* ---- accepting -------------------------------------------------------- */

static void
on_reject_closed(uv_handle_t *h)
{
    free(h);
}

static void
peer_name(conn *c)
{
    if (c->lst->cfg->type == VPD_LISTEN_UNIX) {
        snprintf(c->peer, sizeof c->peer, "unix");
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            uv_ip4_name(a, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, host, sizeof host);
            port = ntohs(a->sin6_port);
            snprintf(c->peer, sizeof c->peer, "[%s]:%d", host, port);
            return;
        }
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
}

static int
init_stream(struct vpd_listener *l, uv_handle_t *h)
{
    if (l->cfg->type == VPD_LISTEN_UNIX)
        return uv_pipe_init(l->srv->loop, (uv_pipe_t *)h, 0);
    return uv_tcp_init(l->srv->loop, (uv_tcp_t *)h);
}

static conn *
conn_of_age(vpd_age_link *a)
{
    return (conn *)(void *)((char *)a - offsetof(conn, age));
}

/* At the connection limit, makes room as nginx and haproxy do: closes the
 * oldest connection that has nothing left to give (lingering after its
 * last answer), else the oldest idle one (HTTP/1.1 keep-alive between
 * requests, HTTP/2 without an open stream), else the one that has
 * waited longest for a request head; a connection whose request is with
 * the router, or whose body is arriving, is never chosen.  So clients that
 * open connections and send nothing, or drip header lines, cannot lock
 * others out; they only push each other out.  Returns false when every
 * connection is busy. */
static bool
listener_make_room(struct vpd_listener *l)
{
    vpd_age_list *order[] = {&l->lingering, &l->idle, &l->heading};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        vpd_age_link *a = vpd_age_list_oldest(order[i]);
        if (!a)
            continue;
        conn *v = conn_of_age(a);
        vpd_log(VPD_LOG_DEBUG, LOG_COMP,
                "%s: at the limit of %zu connections, closing the %s "
                "connection from %s",
                l->name, l->max_conns,
                i == 0   ? "lingering"
                : i == 1 ? "idle"
                         : "unfinished",
                v->peer);
        if (v->h2)
            vpd_h2_conn_evict(v->h2); /* GOAWAY first, as on idle timeout */
        conn_close(v);
        return true;
    }
    return false;
}

static void
on_connection(uv_stream_t *server, int status)
{
    struct vpd_listener *l = server->data;
    vpd_server *srv = l->srv;
    if (status < 0) {
        vpd_log(VPD_LOG_WARN, LOG_COMP, "accept on %s: %s", l->name,
                uv_strerror(status));
        return;
    }
    bool crowded = l->n_conns >= l->max_conns;
    if (crowded && !srv->stopping)
        listener_make_room(l);
    if (srv->stopping || l->n_conns >= l->max_conns) {
        /* Accept and drop: leaving it in the backlog would stall libuv's
         * accept loop on this listener. */
        uv_handle_t *h = malloc(sizeof(union {
            uv_tcp_t t;
            uv_pipe_t p;
        }));
        if (!h || init_stream(l, h) != 0) {
            free(h);
            return;
        }
        (void)uv_accept(server, (uv_stream_t *)h);
        uv_close(h, on_reject_closed);
        vpd_log(VPD_LOG_DEBUG, LOG_COMP,
                "%s: connection refused (limit of %zu connections)", l->name,
                l->max_conns);
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->srv = srv;
    c->lst = l;
    if (init_stream(l, &c->h.handle) != 0) {
        free(c);
        return;
    }
    c->h.handle.data = c;
    uv_timer_init(srv->loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 2;
    srv->handles += 2;
    /* Linked before anything can close it. */
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    l->n_conns++;
    if (uv_accept(server, &c->h.stream) != 0) {
        conn_close(c);
        return;
    }
    if (l->cfg->type == VPD_LISTEN_TCP)
        uv_tcp_nodelay(&c->h.tcp, 1);
    peer_name(c);
    llhttp_init(&c->parser, HTTP_REQUEST, &srv->settings);
    c->parser.data = c;
    if (l->tls) {
        c->tls = vpd_tls_conn_new(l->tls);
        if (!c->tls) {
            conn_close(c);
            return;
        }
    }
    vpd_log(VPD_LOG_DEBUG, LOG_COMP, "connection from %s on %s", c->peer,
            l->name);
    conn_update_timer(c);
    if (crowded)
        conn_read_now(c);
    conn_update_reading(c);
}

/* ---- listeners -------------------------------------------------------- */

static int lerr(char *err, size_t err_len, struct vpd_listener *l,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
lerr(char *err, size_t err_len, struct vpd_listener *l, const char *fmt, ...)
{
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (err && err_len) {
        if (l->cfg->file)
            snprintf(err, err_len, "%s:%d: listener %s: %s", l->cfg->file,
                     l->cfg->line, l->name, what);
        else
            snprintf(err, err_len, "listener %s: %s", l->name, what);
    }
    return -1;
}

static int
parse_tcp_address(const char *addr, struct sockaddr_storage *ss, char *why,
                  size_t why_len)
{
    char host[256];
    const char *colon;
    if (!addr || !*addr)
        addr = "127.0.0.1:8200";
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':') {
            snprintf(why, why_len, "address \"%s\": want [ipv6]:port", addr);
            return -1;
        }
        size_t hl = (size_t)(end - addr - 1);
        if (hl >= sizeof host) {
            snprintf(why, why_len, "address \"%s\": host too long", addr);
            return -1;
        }
        memcpy(host, addr + 1, hl);
        host[hl] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon) {
            snprintf(why, why_len, "address \"%s\": want host:port", addr);
            return -1;
        }
        size_t hl = (size_t)(colon - addr);
        if (hl >= sizeof host || memchr(addr, ':', hl)) {
            snprintf(why, why_len,
                     "address \"%s\": write IPv6 addresses as [addr]:port",
                     addr);
            return -1;
        }
        memcpy(host, addr, hl);
        host[hl] = '\0';
    }
    const char *ps = colon + 1;
    char *endp = NULL;
    errno = 0;
    long port = strtol(ps, &endp, 10);
    if (!*ps || *endp || errno || port < 0 || port > 65535) {
        snprintf(why, why_len, "address \"%s\": bad port", addr);
        return -1;
    }
    memset(ss, 0, sizeof *ss);
    if (!host[0])
        snprintf(host, sizeof host, "0.0.0.0");
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    /* A host name: resolved once, at start-up, before the loop serves. */
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(why, why_len, "address \"%s\": %s", addr,
                 rc ? gai_strerror(rc) : "no address");
        if (res)
            freeaddrinfo(res);
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

/* Removes our socket file, but only if it is still the one we made. */
static void
unix_unlink(struct vpd_listener *l)
{
    struct stat st;
    if (!l->unix_path)
        return;
    if (lstat(l->unix_path, &st) == 0 && st.st_dev == l->unix_dev &&
        st.st_ino == l->unix_ino)
        unlink(l->unix_path);
    free(l->unix_path);
    l->unix_path = NULL;
}

static int
listen_unix(struct vpd_listener *l, char *err, size_t err_len)
{
    const vpd_listener_config *cfg = l->cfg;
    const char *path = cfg->address;
    struct sockaddr_un sun;
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    mode_t mode = 0;
    bool set_mode = false;
    int r;

    if (!path || !*path)
        return lerr(err, err_len, l, "a unix listener needs an address (path)");
    if (strlen(path) >= sizeof sun.sun_path)
        return lerr(err, err_len, l, "socket path is longer than %zu bytes",
                    sizeof sun.sun_path - 1);
    /* Everything that can be wrong is checked before the file exists.
     * Each of mode, user and group applies on its own (openbao#2594). */
    if (cfg->socket_mode && *cfg->socket_mode) {
        const char *s = cfg->socket_mode;
        unsigned long v = 0;
        for (const char *q = s; *q; q++) {
            if (*q < '0' || *q > '7' || v > 07777)
                return lerr(err, err_len, l,
                            "socket_mode \"%s\": want an octal mode such "
                            "as \"0660\"",
                            s);
            v = v * 8 + (unsigned long)(*q - '0');
        }
        if (v > 07777)
            return lerr(err, err_len, l,
                        "socket_mode \"%s\": want an octal mode such as "
                        "\"0660\"",
                        s);
        mode = (mode_t)v;
        set_mode = true;
    }
    if (cfg->socket_user && *cfg->socket_user &&
        vpd_user_id(cfg->socket_user, &uid) != 0)
        return lerr(err, err_len, l, "socket_user \"%s\": no such user",
                    cfg->socket_user);
    if (cfg->socket_group && *cfg->socket_group &&
        vpd_group_id(cfg->socket_group, &gid) != 0)
        return lerr(err, err_len, l, "socket_group \"%s\": no such group",
                    cfg->socket_group);

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return lerr(err, err_len, l, "%s is a directory", path);
        if (unlink(path) != 0)
            return lerr(err, err_len, l, "removing stale %s: %s", path,
                        strerror(errno));
    }
    r = uv_pipe_init(l->srv->loop, &l->h.pipe, 0);
    if (r != 0)
        return lerr(err, err_len, l, "%s", uv_strerror(r));
    l->inited = true;
    l->srv->handles++;
    l->h.handle.data = l;
    r = uv_pipe_bind(&l->h.pipe, path);
    if (r != 0)
        return lerr(err, err_len, l, "bind %s: %s", path, uv_strerror(r));
    if (lstat(path, &st) != 0)
        return lerr(err, err_len, l, "stat %s: %s", path, strerror(errno));
    l->unix_path = strdup(path);
    l->unix_dev = st.st_dev;
    l->unix_ino = st.st_ino;
    if (!l->unix_path)
        return lerr(err, err_len, l, "out of memory");
    /* Permissions before listen(): no client connects in between. */
    if (set_mode && chmod(path, mode) != 0)
        return lerr(err, err_len, l, "socket_mode %s on %s: %s",
                    cfg->socket_mode, path, strerror(errno));
    if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) != 0)
        return lerr(err, err_len, l, "socket_user/socket_group on %s: %s", path,
                    strerror(errno));
    r = uv_listen(&l->h.stream, 511, on_connection);
    if (r != 0)
        return lerr(err, err_len, l, "listen on %s: %s", path, uv_strerror(r));
    return 0;
}

static int
listen_tcp(struct vpd_listener *l, char *err, size_t err_len)
{
    struct sockaddr_storage ss;
    char why[300];
    int r;
    if (parse_tcp_address(l->cfg->address, &ss, why, sizeof why) != 0)
        return lerr(err, err_len, l, "%s", why);
    r = uv_tcp_init(l->srv->loop, &l->h.tcp);
    if (r != 0)
        return lerr(err, err_len, l, "%s", uv_strerror(r));
    l->inited = true;
    l->srv->handles++;
    l->h.handle.data = l;
    r = uv_tcp_bind(&l->h.tcp, (struct sockaddr *)&ss, 0);
    if (r == 0)
        r = uv_listen(&l->h.stream, 511, on_connection);
    if (r != 0)
        return lerr(err, err_len, l, "listen: %s", uv_strerror(r));
    return 0;
}

static int
listener_open(vpd_server *srv, struct vpd_listener *l,
              const vpd_listener_config *cfg, char *err, size_t err_len)
{
    l->srv = srv;
    l->cfg = cfg;
    snprintf(
        l->name, sizeof l->name, "%s %s",
        cfg->type == VPD_LISTEN_UNIX ? "unix" : "tcp",
        cfg->address && *cfg->address
            ? cfg->address
            : (cfg->type == VPD_LISTEN_UNIX ? "(none)" : "127.0.0.1:8200"));
    /* Zero means "not set" in a hand-built config: use the defaults. */
    l->max_header =
        cfg->max_header_bytes ? cfg->max_header_bytes : DEFAULT_MAX_HEADER;
    l->max_body = cfg->max_body_bytes ? cfg->max_body_bytes : DEFAULT_MAX_BODY;
    l->max_conns =
        cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNS;
    l->read_timeout = cfg->read_timeout_ms;
    l->idle_timeout = cfg->idle_timeout_ms;
    l->header_timeout = cfg->read_header_timeout_ms;
    if (cfg->type != VPD_LISTEN_TCP && cfg->type != VPD_LISTEN_UNIX)
        return lerr(err, err_len, l, "unsupported listener type");
    if (!cfg->tls_disable) {
        char why[512];
        l->tls = vpd_tls_ctx_new(cfg, why, sizeof why);
        if (!l->tls)
            return lerr(err, err_len, l, "%s", why);
    }
    int r = cfg->type == VPD_LISTEN_UNIX ? listen_unix(l, err, err_len)
                                         : listen_tcp(l, err, err_len);
    if (r != 0)
        return r;
    vpd_log(VPD_LOG_INFO, LOG_COMP, "listening on %s%s", l->name,
            l->tls ? " (TLS)" : "");
    return 0;
}

static void
on_listener_closed(uv_handle_t *h)
{
    struct vpd_listener *l = h->data;
    vpd_server *srv = l->srv;
    srv->handles--;
    server_maybe_done(srv);
}

static void
listener_close(struct vpd_listener *l)
{
    if (l->inited && !l->closing) {
        l->closing = true;
        uv_close(&l->h.handle, on_listener_closed);
    }
    unix_unlink(l);
}

/* ---- the server ------------------------------------------------------- */

static void
on_h2_flush_closed(uv_handle_t *h)
{
    vpd_server *srv = h->data;
    srv->handles--;
    server_maybe_done(srv);
}

static void
on_anchor_closed(uv_handle_t *h)
{
    vpd_server *srv = h->data;
    srv->handles--;
    server_maybe_done(srv);
}

static void
server_maybe_done(vpd_server *srv)
{
    if (!srv->closing || srv->handles > 0 || srv->finished)
        return;
    srv->finished = true;
    spare_reqs_free(srv);
    for (srv_req *r = srv->reqs; r; r = r->next)
        r->srv = NULL; /* the router may still answer; then it only frees */
    for (size_t i = 0; i < srv->n_lst; i++)
        vpd_tls_ctx_free(srv->lst[i].tls);
    free(srv->lst);
    void (*done)(void *) = srv->done;
    void *arg = srv->done_arg;
    free(srv);
    if (done)
        done(arg);
}

vpd_server *
vpd_server_start(uv_loop_t *loop, const vpd_config *cfg,
                 vpd_http_handler_fn handler, void *arg, char *err,
                 size_t err_len)
{
    if (err && err_len)
        err[0] = '\0';
    if (!loop || !cfg || !handler) {
        if (err && err_len)
            snprintf(err, err_len, "vpd_server_start: missing argument");
        return NULL;
    }
    /* libuv writes with write(2): a peer that left would raise SIGPIPE and
     * kill the daemon.  Only a default disposition is changed. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
        !(sa.sa_flags & SA_SIGINFO)) {
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
    vpd_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        goto oom;
    srv->loop = loop;
    srv->cfg = cfg;
    srv->handler = handler;
    srv->arg = arg;
    llhttp_settings_init(&srv->settings);
    srv->settings.on_message_begin = cb_message_begin;
    srv->settings.on_url = cb_url;
    srv->settings.on_url_complete = cb_url_complete;
    srv->settings.on_header_field = cb_header_field;
    srv->settings.on_header_value = cb_header_value;
    srv->settings.on_header_value_complete = cb_header_value_complete;
    srv->settings.on_headers_complete = cb_headers_complete;
    srv->settings.on_body = cb_body;
    srv->settings.on_message_complete = cb_message_complete;
    uv_timer_init(loop, &srv->anchor);
    srv->anchor.data = srv;
    uv_prepare_init(loop, &srv->h2_flush);
    srv->h2_flush.data = srv;
    srv->handles = 2;
    if (cfg->n_listeners) {
        srv->lst = calloc(cfg->n_listeners, sizeof *srv->lst);
        if (!srv->lst) {
            vpd_server_close(srv, NULL, NULL);
            goto oom;
        }
    }
    srv->n_lst = cfg->n_listeners;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        if (listener_open(srv, &srv->lst[i], &cfg->listeners[i], err,
                          err_len) != 0) {
            vpd_server_close(srv, NULL, NULL);
            return NULL;
        }
    }
    return srv;
oom:
    if (err && err_len)
        snprintf(err, err_len, "out of memory");
    return NULL;
}

int
vpd_server_port(const vpd_server *srv, size_t idx)
{
    if (!srv || idx >= srv->n_lst)
        return -1;
    const struct vpd_listener *l = &srv->lst[idx];
    if (!l->inited || l->closing || l->cfg->type != VPD_LISTEN_TCP)
        return -1;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

int
vpd_server_reload_tls(vpd_server *srv)
{
    int failed = 0;
    if (!srv || srv->closing)
        return 0;
    for (size_t i = 0; i < srv->n_lst; i++) {
        struct vpd_listener *l = &srv->lst[i];
        if (!l->tls)
            continue;
        char why[512];
        vpd_tls_ctx *fresh = vpd_tls_ctx_new(l->cfg, why, sizeof why);
        if (!fresh) {
            vpd_log(VPD_LOG_ERROR, LOG_COMP,
                    "listener %s: TLS reload failed, keeping the old "
                    "certificate: %s",
                    l->name, why);
            failed++;
            continue;
        }
        /* Open connections keep the old context through their SSL. */
        vpd_tls_ctx_free(l->tls);
        l->tls = fresh;
        vpd_log(VPD_LOG_INFO, LOG_COMP, "listener %s: TLS certificate reloaded",
                l->name);
    }
    return failed;
}

int
vpd_server_reload_tls_from(vpd_server *srv, const vpd_config *cfg, char *err,
                           size_t err_len)
{
    if (!srv || srv->closing)
        return 0;
    /* Listeners are matched by position and address: when listeners were
     * added or removed (a restart is needed for that), the ones still
     * in the same place reload all the same. */
    size_t n = cfg->n_listeners < srv->n_lst ? cfg->n_listeners : srv->n_lst;
    vpd_tls_ctx **fresh = calloc(srv->n_lst + 1, sizeof *fresh);
    if (!fresh) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    /* Every new certificate loads, or none is used. */
    for (size_t i = 0; i < n; i++) {
        const vpd_listener_config *lc = &cfg->listeners[i];
        /* A listener whose address changed needs a restart; its
         * certificate is not mixed with another listener's. */
        const vpd_listener_config *run = srv->lst[i].cfg;
        if (!srv->lst[i].tls || lc->tls_disable || lc->type != run->type ||
            !lc->address || !run->address ||
            strcmp(lc->address, run->address) != 0)
            continue;
        char why[512];
        fresh[i] = vpd_tls_ctx_new(lc, why, sizeof why);
        if (!fresh[i]) {
            snprintf(err, err_len, "%s:%d: listener %s: %s",
                     lc->file ? lc->file : "?", lc->line, srv->lst[i].name,
                     why);
            for (size_t j = 0; j < i; j++)
                vpd_tls_ctx_free(fresh[j]);
            free(fresh);
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!fresh[i])
            continue;
        /* Open connections keep the old context through their SSL. */
        vpd_tls_ctx_free(srv->lst[i].tls);
        srv->lst[i].tls = fresh[i];
        vpd_log(VPD_LOG_INFO, LOG_COMP, "listener %s: TLS certificate reloaded",
                srv->lst[i].name);
    }
    free(fresh);
    return 0;
}

void
vpd_server_stop_accepting(vpd_server *srv)
{
    if (!srv || srv->stopping)
        return;
    srv->stopping = true;
    for (size_t i = 0; i < srv->n_lst; i++)
        listener_close(&srv->lst[i]);
    conn *next;
    for (conn *c = srv->conns; c; c = next) {
        next = c->next;
        if (c->h2) {
            /* GOAWAY; it closes once its open streams are answered. */
            vpd_h2_conn_goaway(c->h2);
            conn_process(c);
            continue;
        }
        /* Idle: close now.  Busy or half-read: it closes after its
         * answer (vpd_http_respond sees srv->stopping). */
        if (!c->outstanding && !c->in_msg && c->in.len == c->in_off)
            conn_finish(c);
    }
    vpd_log(VPD_LOG_INFO, LOG_COMP,
            "stopped accepting; %zu request(s) in flight", srv->inflight);
}

size_t
vpd_server_inflight(const vpd_server *srv)
{
    if (!srv)
        return 0;
    /* Answers waiting for the loop turn's h2 flush are not out yet: a
     * drain that ended now would close their connections unsent. */
    return srv->inflight + (srv->h2_pending.head != NULL);
}

size_t
vpd_server_connections(const vpd_server *srv)
{
    size_t n = 0;
    for (size_t i = 0; srv && i < srv->n_lst; i++)
        n += srv->lst[i].n_conns;
    return n;
}

void
vpd_server_close(vpd_server *srv, void (*done)(void *), void *arg)
{
    if (!srv || srv->closing)
        return;
    srv->closing = true;
    srv->stopping = true;
    srv->done = done;
    srv->done_arg = arg;
    for (size_t i = 0; i < srv->n_lst; i++)
        listener_close(&srv->lst[i]);
    /* What was answered still goes out before the connections close. */
    on_h2_flush(&srv->h2_flush);
    while (srv->conns)
        conn_close(srv->conns);
    uv_close((uv_handle_t *)&srv->h2_flush, on_h2_flush_closed);
    uv_close((uv_handle_t *)&srv->anchor, on_anchor_closed);
}

/* ---- answering -------------------------------------------------------- */

void
vpd_http_respond(vpd_http_req *req, int status, const vpd_hdrs *hdrs,
                 const char *body, size_t body_len)
{
    if (!req)
        return;
    if (vpd_h2_owns(req)) {
        vpd_h2_respond(req, status, hdrs, body, body_len);
        return;
    }
    srv_req *r = (srv_req *)req;
    if (r->magic != REQ_MAGIC) {
        vpd_log(VPD_LOG_ERROR, LOG_COMP,
                "vpd_http_respond on a request already answered");
        return;
    }
    vpd_server *srv = r->srv;
    conn *c = r->c;
    if (srv) {
        list_unlink_req(r);
        srv->inflight--;
    }
    if (c) /* attached means not closed: conn_close detaches */
        c->outstanding = NULL;
    if (c && !c->closing && !c->draining) {
        c->served_any = true;
        bool closing = c->no_more || c->srv->stopping;
        bool ka10 = !closing && req->http_major == 1 && req->http_minor == 0;
        int minor = (req->http_major == 1 && req->http_minor == 0) ? 0 : 1;
        if (vpd_log_enabled(VPD_LOG_DEBUG)) /* no call per answer otherwise */
            vpd_log(VPD_LOG_DEBUG, LOG_COMP, "response %d to %s", status,
                    c->peer);
        conn_write_response(c, status, hdrs, body, body_len, r->head, closing,
                            minor, ka10);
        if (closing)
            conn_finish(c);
        else
            conn_process(c); /* next pipelined request, timers, reading */
    }
    req_free(r);
}

void
vpd_http_on_client_gone(vpd_http_req *req, vpd_http_gone_fn fn, void *arg)
{
    if (vpd_h2_owns(req)) {
        vpd_h2_on_client_gone(req, fn, arg);
        return;
    }
    srv_req *r = (srv_req *)req;
    if (!req || r->magic != REQ_MAGIC)
        return;
    r->on_gone = fn;
    r->gone_arg = arg;
}

void
vpd_http_respond_error(vpd_http_req *req, int status, const char *msg)
{
    static const char fallback[] = "{\"errors\":[\"internal error\"]}\n";
    vpd_hdrs h = {0};
    size_t len = 0;
    char *body = vpd_http_error_json(msg, &len);
    /* Out of memory still has to answer: the request must be released. */
    vpd_hdrs_add(&h, "Content-Type", "application/json");
    if (body)
        vpd_http_respond(req, status, &h, body, len);
    else
        vpd_http_respond(req, status, &h, fallback, sizeof fallback - 1);
    free(body);
    vpd_hdrs_free(&h);
}
