/* One upstream connection.  libuv owns the socket; llhttp reads answers;
 * TLS, when there is any, goes through the pump shared with the listeners
 * (http/tls.c).  The per-request path allocates nothing of its own on plain
 * connections: the request goes out straight from the caller's buffers
 * (uv_try_write first, so a request costs one syscall), reads land in a
 * buffer inside the connection, and
 * the parser and header scratch buffer are reused for every exchange.
 *
 * Lifetimes: the connection is freed when every libuv request and handle
 * it started has called back (see `pending`), which is always after the
 * owner's `closed` event. */
#include "autoconf.h"

#include "upstream/conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define CONN_READ_BUF 16384
/* Go's dialer gives up after 30 s; later phases run on the deadline. */
#define CONN_CONNECT_TIMEOUT_MS 30000

typedef enum {
    C_RESOLVING,
    C_CONNECTING,
    C_TUNNEL,    /* CONNECT sent to the proxy, reading its answer */
    C_HANDSHAKE, /* TLS handshake under way */
    C_BUSY,      /* an exchange is under way */
    C_IDLE,
    C_UPGRADED, /* handed to the exchange's caller after a 101 */
    C_CLOSED,
} conn_state;

/* The socket handle lives apart from the connection: when a connect
 * fails and the next address is tried, the old handle is still closing
 * while the new one starts. */
typedef struct {
    union {
        uv_handle_t h;
        uv_stream_t s;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } u;
    vpd_up_conn *c;
} io_handle;

/* A write of bytes the connection made itself (TLS records, CONNECT). */
typedef struct {
    uv_write_t req;
    vpd_up_conn *c;
    char data[];
} own_write;

struct vpd_up_conn {
    uv_loop_t *loop;
    const vpd_up_dest *dest;
    const vpd_up_conn_events *ev;
    void *owner;
    vpd_up_exchange *x;
    conn_state state;
    int pending; /* handles and requests still to call back */

    io_handle *io;
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    struct addrinfo *ai_list, *ai_next;
    uv_connect_t creq;
    uv_write_t wreq; /* the plain request of the exchange */

    vpd_tls_conn *tls;
    vpd_buf plain; /* TLS plaintext waiting for the parser */

    vpd_up_resp resp;

    bool reusable, served, got_bytes, write_failed;
    bool req_writing; /* wreq is in use (the request is not all out) */
    bool send_due;    /* the exchange waits for vpd_up_conn_flush */
    bool starting;    /* the first timer run starts connecting */
    bool fail_soon;   /* the next timer run delivers x's error */
    bool gai_active;  /* an asynchronous lookup will call back */
    /* After a 101: who reads the new protocol, and the bytes that came
     * with the 101's head, handed over from the loop. */
    const vpd_up_stream_events *sev;
    void *sarg;
    vpd_buf early;
    bool early_due;
    uint64_t idle_ms;
    /* Loop time the current state's timeout is due (0: none), and the
     * time the libuv timer is set for: it may be earlier, then it fires,
     * finds nothing due and is set again (see arm_at). */
    uint64_t due_at, armed_at;
    char rbuf[CONN_READ_BUF];
};

static void conn_fail(vpd_up_conn *c, vpd_up_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int flush_tls(vpd_up_conn *c);
static void begin_exchange(vpd_up_conn *c);
static void start_tls(vpd_up_conn *c);

/* ---- lifetime --------------------------------------------------------- */

static void
conn_unpend(vpd_up_conn *c)
{
    if (--c->pending > 0)
        return;
    if (c->ai_list)
        uv_freeaddrinfo(c->ai_list);
    vpd_tls_conn_free(c->tls);
    vpd_buf_free_secret(&c->plain);
    vpd_buf_free_secret(&c->early);
    vpd_up_resp_free(&c->resp);
    free(c);
}

static void
io_closed(uv_handle_t *h)
{
    io_handle *io = h->data;
    vpd_up_conn *c = io->c;
    free(io);
    conn_unpend(c);
}

static void
timer_closed(uv_handle_t *h)
{
    conn_unpend(h->data);
}

static void
io_drop(vpd_up_conn *c)
{
    if (!c->io)
        return;
    uv_close(&c->io->u.h, io_closed);
    c->io = NULL;
}

void
vpd_up_conn_close(vpd_up_conn *c)
{
    if (!c || c->state == C_CLOSED)
        return;
    c->state = C_CLOSED;
    c->reusable = false;
    c->x = NULL;
    c->sev = NULL;
    uv_timer_stop(&c->timer);
    if (c->gai_active)
        uv_cancel((uv_req_t *)&c->gai);
    c->ev->closed(c);
    if (c->tls && c->io && vpd_tls_conn_established(c->tls)) {
        /* close_notify, as Go's client sends: OpenSSL also forgets the
         * session of a connection freed without it, and the next
         * connection could not resume it. */
        vpd_tls_conn_shutdown(c->tls);
        (void)flush_tls(c);
    }
    io_drop(c);
    uv_close((uv_handle_t *)&c->timer, timer_closed);
}

void
vpd_up_conn_abandon(vpd_up_conn *c)
{
    c->x = NULL;
    vpd_up_conn_close(c);
}

/* ---- ending an exchange ----------------------------------------------- */

static void
deliver(vpd_up_conn *c)
{
    vpd_up_exchange *x = c->x;
    c->x = NULL;
    c->due_at = 0;
    if (x && c->state == C_BUSY && c->reusable && x->error == VPD_UP_OK) {
        c->state = C_IDLE;
        c->served = true;
    } else {
        c->reusable = false;
    }
    /* An idle connection keeps the timer (set again only if it would fire
     * too late); any other stops it, so that it keeps no loop alive. */
    if (c->state == C_IDLE && c->idle_ms)
        vpd_up_conn_set_idle(c, c->idle_ms);
    else
        uv_timer_stop(&c->timer);
    if (x)
        c->ev->done(c, x);
}

/* An upgraded connection ended by itself: its reader learns why, then it
 * closes. */
static void
stream_end(vpd_up_conn *c, const char *why)
{
    const vpd_up_stream_events *sev = c->sev;
    c->sev = NULL;
    if (sev)
        sev->ended(c->sarg, why);
    vpd_up_conn_close(c);
}

static void
conn_fail(vpd_up_conn *c, vpd_up_error e, const char *fmt, ...)
{
    if (c->state == C_CLOSED)
        return;
    c->reusable = false;
    if (c->state == C_UPGRADED) {
        char why[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        stream_end(c, why);
        return;
    }
    if (c->x) {
        vpd_up_exchange *x = c->x;
        x->error = e;
        x->status = 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->errtext, sizeof x->errtext, fmt, ap);
        va_end(ap);
        deliver(c);
    }
    vpd_up_conn_close(c);
}

/* ---- writing ---------------------------------------------------------- */

static void
on_own_written(uv_write_t *req, int status)
{
    own_write *w = (own_write *)req;
    vpd_up_conn *c = w->c;
    free(w);
    if (status < 0 && status != UV_ECANCELED && c->state != C_CLOSED) {
        c->write_failed = !c->got_bytes;
        conn_fail(c, VPD_UP_UNREACHABLE, "writing to the upstream: %s",
                  uv_strerror(status));
    }
    conn_unpend(c);
}

/* Writes what the socket takes at once and returns how many bytes that
 * was: 0 when writes are queued (libuv refuses uv_try_write then, which
 * keeps the order) and on any error, which the queued write of the rest
 * then reports through its callback as before.  Why not uv_write alone:
 * libuv ends every queued write by re-arming the socket in epoll, one
 * epoll_ctl per request, while a request or a TLS record of a few hundred
 * bytes nearly always goes out whole. */
static size_t
try_write(vpd_up_conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    int r = uv_try_write(&c->io->u.s, bufs, nbufs);
    return r > 0 ? (size_t)r : 0;
}

/* Queues a copy of the bytes the socket did not take. */
static int
write_copy(vpd_up_conn *c, const char *data, size_t len)
{
    own_write *w = malloc(sizeof *w + len);
    if (!w)
        return -1;
    w->c = c;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, &c->io->u.s, &b, 1, on_own_written) != 0) {
        free(w);
        return -1;
    }
    c->pending++;
    return 0;
}

/* Sends bytes the connection made itself: at once, and a copy of what the
 * socket did not take. */
static int
send_own(vpd_up_conn *c, const char *data, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    size_t n = try_write(c, &b, 1);
    return n < len ? write_copy(c, data + n, len - n) : 0;
}

/* Sends whatever ciphertext the TLS session has produced, from where it
 * lies: usually one record, which the socket takes at once. */
static int
flush_tls(vpd_up_conn *c)
{
    if (c->state == C_CLOSED || !c->tls)
        return 0;
    size_t n;
    const char *p = vpd_tls_conn_output(c->tls, &n);
    if (!n)
        return 0;
    int rc = send_own(c, p, n);
    vpd_tls_conn_output_done(c->tls, n);
    return rc;
}

static void
on_request_written(uv_write_t *req, int status)
{
    vpd_up_conn *c = req->data;
    c->req_writing = false;
    if (status < 0 && status != UV_ECANCELED && c->state == C_BUSY &&
        !c->got_bytes) {
        /* A server that closed first leaves nothing to read: the request
         * did not get through. */
        c->write_failed = true;
        conn_fail(c, VPD_UP_UNREACHABLE, "writing to the upstream: %s",
                  uv_strerror(status));
    }
    conn_unpend(c);
}

/* ---- reading answers ------------------------------------------------ */

/* The answer (or the proxy's answer to CONNECT) is complete; `rest` bytes
 * followed it. */
static void
answer_complete(vpd_up_conn *c, const char *rest_p, size_t rest)
{
    if (c->state == C_TUNNEL) {
        int st = c->resp.parser.status_code;
        if (st / 100 != 2)
            conn_fail(c, VPD_UP_UNREACHABLE,
                      "the egress proxy refused the tunnel: status %d", st);
        else if (rest)
            conn_fail(c, VPD_UP_UNREACHABLE,
                      "the egress proxy sent data before the tunnel");
        else
            start_tls(c);
        return;
    }
    c->x->status = c->resp.status;
    c->x->headers_filtered = vpd_up_resp_filtered(&c->resp);
    if (vpd_up_resp_upgraded(&c->resp)) {
        /* The caller speaks another protocol from here on; what the
         * server sent after the 101's head is already that protocol. */
        uv_read_stop(&c->io->u.s);
        if (rest && vpd_buf_append(&c->early, rest_p, rest) != 0) {
            conn_fail(c, VPD_UP_INTERNAL, "out of memory");
            return;
        }
        vpd_up_exchange *x = c->x;
        c->state = C_UPGRADED;
        x->upgraded = c;
        deliver(c);
        return;
    }
    /* Bytes after the answer were not asked for: a server that pipelines
     * or garbles its framing does not get the connection again. */
    /* An answer that came before the whole request went out (a server
     * refusing a large body early) leaves the write request busy: such a
     * connection is not reused either. */
    bool keep = vpd_up_resp_keep_alive(&c->resp) && !rest && !c->req_writing;
    c->reusable = keep;
    /* The owner may start the next exchange on c from inside deliver. */
    deliver(c);
    if (!keep)
        vpd_up_conn_close(c);
}

static void
parse(vpd_up_conn *c, const char *p, size_t n)
{
    if (c->state == C_UPGRADED) {
        if (c->sev)
            c->sev->data(c->sarg, p, n);
        return;
    }
    if (c->state == C_IDLE) {
        /* Nothing was asked: a broken server.  Never reuse it. */
        vpd_up_conn_close(c);
        return;
    }
    if (c->state != C_BUSY && c->state != C_TUNNEL)
        return;
    if (c->send_due) {
        /* Bytes before our request went out answer nothing of ours: as
         * if the server had closed the idle connection (none of the
         * request was written, so it may go again on a fresh one). */
        conn_fail(c, VPD_UP_UNREACHABLE,
                  "the upstream sent bytes before the request");
        return;
    }
    c->got_bytes = true;
    size_t used;
    switch (vpd_up_resp_feed(&c->resp, p, n, &used)) {
    case VPD_UP_RESP_MORE:
        break;
    case VPD_UP_RESP_DONE:
        answer_complete(c, p + used, n - used);
        break;
    case VPD_UP_RESP_ERROR:
        conn_fail(c, VPD_UP_UNREACHABLE, "%s%s",
                  c->state == C_TUNNEL ? "egress proxy: " : "upstream: ",
                  vpd_up_resp_error(&c->resp));
        break;
    }
}

/* The peer closed its side (or reset). */
static void
on_peer_gone(vpd_up_conn *c, int status)
{
    if (c->state == C_BUSY && status == UV_EOF && c->got_bytes) {
        /* An answer delimited by the close ends here. */
        if (vpd_up_resp_eof(&c->resp) == VPD_UP_RESP_DONE) {
            c->x->status = c->resp.status;
            c->x->headers_filtered = vpd_up_resp_filtered(&c->resp);
            c->reusable = false;
            deliver(c);
            vpd_up_conn_close(c);
            return;
        }
    }
    switch (c->state) {
    case C_BUSY:
        conn_fail(c, VPD_UP_UNREACHABLE, "%s",
                  c->got_bytes
                      ? "the upstream closed the connection mid-answer"
                      : "the upstream closed the connection without answering");
        break;
    case C_HANDSHAKE:
        conn_fail(c, VPD_UP_TLS,
                  "TLS handshake: connection closed by the peer");
        break;
    case C_TUNNEL:
        conn_fail(c, VPD_UP_UNREACHABLE,
                  "the egress proxy closed the connection");
        break;
    case C_UPGRADED:
        stream_end(c, status == UV_EOF ? "closed by the upstream"
                                       : uv_strerror(status));
        break;
    default:
        vpd_up_conn_close(c);
    }
}

/* ---- TLS -------------------------------------------------------------- */

static void
tls_input(vpd_up_conn *c, const char *data, size_t len)
{
    char err[128];
    bool was_handshaking = c->state == C_HANDSHAKE;
    int r = vpd_tls_conn_recv(c->tls, data, len, &c->plain, err, sizeof err);
    if (flush_tls(c) != 0) {
        conn_fail(c, VPD_UP_INTERNAL, "out of memory");
        return;
    }
    if (r == VPD_TLS_ERROR) {
        char why[160];
        if (was_handshaking &&
            vpd_up_tls_verify_failed(c->tls, why, sizeof why))
            conn_fail(c, VPD_UP_TLS_VERIFY, "%s", why);
        else
            conn_fail(c, was_handshaking ? VPD_UP_TLS : VPD_UP_UNREACHABLE,
                      "%s", err);
        return;
    }
    if (was_handshaking && vpd_tls_conn_established(c->tls)) {
        begin_exchange(c);
        if (c->state == C_CLOSED)
            return;
    }
    if (c->plain.len) {
        /* The parser may end the exchange and a new one may start on this
         * connection from the callback: parse from a private copy of the
         * pointer and empty the buffer first. */
        size_t n = c->plain.len;
        c->plain.len = 0;
        parse(c, c->plain.data, n);
        memset(c->plain.data, 0, n); /* plaintext may hold tokens */
    }
    if (r == VPD_TLS_CLOSED && c->state != C_CLOSED)
        on_peer_gone(c, UV_EOF);
}

static void
start_tls(vpd_up_conn *c)
{
    c->tls = vpd_up_tls_conn_new(c->dest->tls, c->dest->tls_name);
    if (!c->tls) {
        conn_fail(c, VPD_UP_INTERNAL, "out of memory");
        return;
    }
    c->state = C_HANDSHAKE;
    tls_input(c, NULL, 0);
}

/* ---- reading ---------------------------------------------------------- */

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    io_handle *io = h->data;
    *buf = uv_buf_init(io->c->rbuf, sizeof io->c->rbuf);
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    io_handle *io = s->data;
    vpd_up_conn *c = io->c;
    if (n == 0 || c->state == C_CLOSED)
        return;
    if (n < 0) {
        on_peer_gone(c, (int)n);
        return;
    }
    if (c->tls)
        tls_input(c, buf->base, (size_t)n);
    else
        parse(c, buf->base, (size_t)n);
}

/* ---- exchanges -------------------------------------------------------- */

static void arm_deadline(vpd_up_conn *c, uint64_t cap_ms);
static void on_timer(uv_timer_t *t);

/* A failure found while starting an exchange is delivered from the loop:
 * vpd_up_conn_send may run inside its caller's own start call, and the
 * exchange callback must never run there. */
static void fail_soon(vpd_up_conn *c, vpd_up_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail_soon(vpd_up_conn *c, vpd_up_error e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->x->errtext, sizeof c->x->errtext, fmt, ap);
    va_end(ap);
    c->x->error = e;
    c->x->status = 0;
    c->reusable = false;
    c->fail_soon = true;
    c->armed_at = uv_now(c->loop);
    uv_timer_start(&c->timer, on_timer, 0, 0);
}

/* The connection takes x: parser, deadline and state; nothing written. */
static void
take_exchange(vpd_up_conn *c)
{
    vpd_up_exchange *x = c->x;
    c->state = C_BUSY;
    c->got_bytes = false;
    c->write_failed = false;
    c->reusable = false;
    vpd_up_resp_init(&c->resp, false, x->is_head, x->headers, x->body);
    if (x->for_client)
        vpd_up_resp_for_client(&c->resp);
    arm_deadline(c, 0);
}

/* Writes the request of the exchange taken. */
static void
write_request(vpd_up_conn *c)
{
    vpd_up_exchange *x = c->x;
    if (c->tls) {
        /* One SSL write for the whole request: one record, one pass of the
         * cipher, one write to the socket. */
        if (vpd_tls_conn_sendv(c->tls, x->bufs, x->nbufs) != 0) {
            fail_soon(c, VPD_UP_UNREACHABLE, "TLS: cannot send");
            return;
        }
        if (flush_tls(c) != 0)
            fail_soon(c, VPD_UP_INTERNAL, "out of memory");
        return;
    }
    if (x->nbufs > VPD_UP_MAX_BUFS) {
        fail_soon(c, VPD_UP_INTERNAL, "too many request buffers");
        return;
    }
    size_t total = 0;
    for (unsigned i = 0; i < x->nbufs; i++)
        total += x->bufs[i].len;
    size_t done = try_write(c, x->bufs, x->nbufs);
    if (done == total)
        return;
    /* The rest from where the socket stopped; x->bufs stay as they are,
     * since a retry on a fresh connection sends them again. */
    uv_buf_t rest[VPD_UP_MAX_BUFS];
    unsigned nrest = 0;
    size_t skip = done;
    for (unsigned i = 0; i < x->nbufs; i++) {
        if (skip >= x->bufs[i].len) {
            skip -= x->bufs[i].len;
            continue;
        }
        rest[nrest++] = uv_buf_init(x->bufs[i].base + skip,
                                    (unsigned)(x->bufs[i].len - skip));
        skip = 0;
    }
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, &c->io->u.s, rest, nrest, on_request_written);
    if (rc != 0) {
        c->write_failed = !done;
        fail_soon(c, VPD_UP_UNREACHABLE, "writing to the upstream: %s",
                  uv_strerror(rc));
        return;
    }
    c->req_writing = true;
    c->pending++;
}

/* On a connection just opened (connected, tunnelled, handshaken). */
static void
begin_exchange(vpd_up_conn *c)
{
    take_exchange(c);
    write_request(c);
}

int
vpd_up_conn_send(vpd_up_conn *c, vpd_up_exchange *x)
{
    if (c->state != C_IDLE || !c->reusable)
        return -1;
    c->x = x;
    take_exchange(c);
    c->send_due = true;
    return 0;
}

void
vpd_up_conn_flush(vpd_up_conn *c)
{
    if (!c->send_due)
        return;
    c->send_due = false;
    if (c->state == C_BUSY && c->x && c->io)
        write_request(c);
}

/* ---- timers ----------------------------------------------------------- */

static void conn_start(vpd_up_conn *c);

static void
on_timer(uv_timer_t *t)
{
    vpd_up_conn *c = t->data;
    if (c->early_due) {
        c->early_due = false;
        if (c->state == C_UPGRADED && c->sev && c->early.len) {
            /* Handed over from a copy of the pointer: the reader may close
             * the connection from its callback. */
            size_t n = c->early.len;
            c->early.len = 0;
            c->sev->data(c->sarg, c->early.data, n);
            OPENSSL_cleanse(c->early.data, n);
        }
        return;
    }
    if (c->fail_soon) {
        c->fail_soon = false;
        c->reusable = false;
        deliver(c);
        vpd_up_conn_close(c);
        return;
    }
    if (c->starting) {
        c->starting = false;
        conn_start(c);
        return;
    }
    uint64_t now = uv_now(c->loop);
    if (!c->due_at)
        return; /* set for a timeout that no longer applies */
    if (now < c->due_at) {
        c->armed_at = c->due_at;
        uv_timer_start(&c->timer, on_timer, c->due_at - now, 0);
        return;
    }
    c->due_at = 0;
    switch (c->state) {
    case C_IDLE:
    case C_UPGRADED:
        vpd_up_conn_close(c);
        break;
    case C_BUSY:
        conn_fail(c, VPD_UP_TIMEOUT, "timed out waiting for the upstream");
        break;
    default:
        conn_fail(c, VPD_UP_TIMEOUT, "timed out connecting to the upstream");
    }
}

/* Makes the current state's timeout due at loop time `due`.  The libuv
 * timer is set again only when it would fire too late; one set earlier
 * fires, finds the timeout not yet due and is set for the rest (on_timer).
 * So a kept-alive connection going busy, idle, busy for every exchange
 * costs no timer operation per exchange. */
static void
arm_at(vpd_up_conn *c, uint64_t due)
{
    uint64_t now = uv_now(c->loop);
    c->due_at = due > now ? due : now;
    if (uv_is_active((uv_handle_t *)&c->timer) && c->armed_at <= c->due_at)
        return;
    c->armed_at = c->due_at;
    uv_timer_start(&c->timer, on_timer, c->due_at - now, 0);
}

/* Runs the timer to the exchange's deadline, or cap_ms from now if that
 * comes first (cap_ms 0: no cap). */
static void
arm_deadline(vpd_up_conn *c, uint64_t cap_ms)
{
    uint64_t now = uv_now(c->loop);
    uint64_t due = c->x->deadline_ms > now ? c->x->deadline_ms : now;
    if (cap_ms && cap_ms < due - now)
        due = now + cap_ms;
    arm_at(c, due);
}

void
vpd_up_conn_set_idle(vpd_up_conn *c, uint64_t idle_ms)
{
    c->idle_ms = idle_ms;
    if (c->state == C_IDLE && idle_ms)
        arm_at(c, uv_now(c->loop) + idle_ms);
}

/* ---- connecting ------------------------------------------------------- */

static void connect_next(vpd_up_conn *c, int last_error);

static void
on_connected(uv_connect_t *req, int status)
{
    vpd_up_conn *c = req->data;
    conn_unpend(c);
    if (c->state == C_CLOSED)
        return;
    if (status < 0) {
        connect_next(c, status);
        return;
    }
    if (!c->dest->unix_path) {
        uv_tcp_nodelay(&c->io->u.tcp, 1);
        uv_tcp_keepalive(&c->io->u.tcp, 1, 30);
    }
    uv_read_start(&c->io->u.s, on_alloc, on_read);
    if (c->dest->https && c->dest->proxy) {
        vpd_buf b = VPD_BUF_INIT;
        c->state = C_TUNNEL;
        vpd_up_resp_init(&c->resp, true, false, NULL, NULL);
        if (vpd_egress_connect_head(&b, c->dest->proxy, c->dest->host,
                                    c->dest->port) != 0 ||
            write_copy(c, b.data, b.len) != 0)
            conn_fail(c, VPD_UP_INTERNAL, "out of memory");
        vpd_buf_free_secret(&b);
    } else if (c->dest->https) {
        start_tls(c);
    } else {
        begin_exchange(c);
    }
}

static int
io_new(vpd_up_conn *c, bool pipe)
{
    io_handle *io = calloc(1, sizeof *io);
    if (!io)
        return -1;
    int rc = pipe ? uv_pipe_init(c->loop, &io->u.pipe, 0)
                  : uv_tcp_init(c->loop, &io->u.tcp);
    if (rc != 0) {
        free(io);
        return -1;
    }
    io->c = c;
    io->u.h.data = io;
    c->io = io;
    c->pending++;
    return 0;
}

/* Tries the next resolved address, after last_error on the previous. */
static void
connect_next(vpd_up_conn *c, int last_error)
{
    io_drop(c);
    c->state = C_CONNECTING;
    while (c->ai_next) {
        struct addrinfo *ai = c->ai_next;
        c->ai_next = ai->ai_next;
        if (io_new(c, false) != 0) {
            conn_fail(c, VPD_UP_INTERNAL, "out of memory");
            return;
        }
        c->creq.data = c;
        int rc =
            uv_tcp_connect(&c->creq, &c->io->u.tcp, ai->ai_addr, on_connected);
        if (rc == 0) {
            c->pending++;
            return;
        }
        last_error = rc;
        io_drop(c);
    }
    const char *host = c->dest->proxy ? c->dest->proxy->host : c->dest->host;
    conn_fail(c, VPD_UP_UNREACHABLE, "connecting to %s%s: %s",
              c->dest->proxy ? "the egress proxy " : "", host,
              uv_strerror(last_error));
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    vpd_up_conn *c = req->data;
    c->gai_active = false;
    if (c->state == C_CLOSED) {
        if (res)
            uv_freeaddrinfo(res);
        conn_unpend(c);
        return;
    }
    conn_unpend(c);
    if (status < 0) {
        const char *host =
            c->dest->proxy ? c->dest->proxy->host : c->dest->host;
        conn_fail(c, VPD_UP_UNREACHABLE, "resolving %s: %s", host,
                  uv_strerror(status));
        return;
    }
    c->ai_list = c->ai_next = res;
    connect_next(c, UV_EADDRNOTAVAIL);
}

/* Connecting starts from the loop (the first timer run), so that every
 * outcome, failures included, reaches the owner after vpd_up_conn_open
 * has returned. */
static void
conn_start(vpd_up_conn *c)
{
    const vpd_up_dest *dest = c->dest;
    arm_deadline(c, CONN_CONNECT_TIMEOUT_MS);
    if (dest->unix_path) {
        if (io_new(c, true) != 0) {
            conn_fail(c, VPD_UP_INTERNAL, "out of memory");
            return;
        }
        c->state = C_CONNECTING;
        c->creq.data = c;
        uv_pipe_connect(&c->creq, &c->io->u.pipe, dest->unix_path,
                        on_connected);
        c->pending++;
        return;
    }
    const char *host = dest->proxy ? dest->proxy->host : dest->host;
    int port = dest->proxy ? dest->proxy->port : dest->port;
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    c->gai.data = c;
    int rc;
    if (vpd_up_host_is_ip(host)) {
        /* An address literal needs no resolver thread: a numeric lookup
         * never blocks, so it runs synchronously. */
        hints.ai_flags = AI_NUMERICHOST;
        rc = uv_getaddrinfo(c->loop, &c->gai, NULL, host, ps, &hints);
        if (rc == 0) {
            c->ai_list = c->ai_next = c->gai.addrinfo;
            connect_next(c, UV_EADDRNOTAVAIL);
            return;
        }
    } else {
        rc = uv_getaddrinfo(c->loop, &c->gai, on_resolved, host, ps, &hints);
        if (rc == 0) {
            c->gai_active = true;
            c->pending++;
            return;
        }
    }
    conn_fail(c, VPD_UP_UNREACHABLE, "resolving %s: %s", host, uv_strerror(rc));
}

vpd_up_conn *
vpd_up_conn_open(uv_loop_t *loop, const vpd_up_dest *dest,
                 const vpd_up_conn_events *ev, void *owner, vpd_up_exchange *x)
{
    vpd_up_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    c->dest = dest;
    c->ev = ev;
    c->owner = owner;
    c->x = x;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->pending = 1;
    c->state = C_RESOLVING;
    c->starting = true;
    c->armed_at = uv_now(loop);
    uv_timer_start(&c->timer, on_timer, 0, 0);
    return c;
}

static void
no_done(vpd_up_conn *c, vpd_up_exchange *x)
{
}

static void
no_closed(vpd_up_conn *c)
{
}

static const vpd_up_conn_events detached_events = {no_done, no_closed};

void
vpd_up_conn_detach(vpd_up_conn *c)
{
    c->ev = &detached_events;
    c->owner = NULL;
}

bool
vpd_up_conn_reusable(const vpd_up_conn *c)
{
    return c->state == C_IDLE && c->reusable;
}

void *
vpd_up_conn_owner(const vpd_up_conn *c)
{
    return c->owner;
}

bool
vpd_up_conn_stale(const vpd_up_conn *c, const vpd_up_exchange *x)
{
    return c->served && !c->got_bytes && x->error == VPD_UP_UNREACHABLE &&
           (x->idempotent || c->write_failed || c->send_due);
}

/* ---- after a 101 ------------------------------------------------------ */

int
vpd_up_conn_stream(vpd_up_conn *c, const vpd_up_stream_events *ev, void *arg)
{
    if (c->state != C_UPGRADED || !c->io || c->sev)
        return -1;
    c->sev = ev;
    c->sarg = arg;
    if (uv_read_start(&c->io->u.s, on_alloc, on_read) != 0) {
        c->sev = NULL;
        return -1;
    }
    if (c->early.len) {
        c->early_due = true;
        uv_timer_start(&c->timer, on_timer, 0, 0);
    }
    return 0;
}

int
vpd_up_conn_stream_write(vpd_up_conn *c, const void *p, size_t n)
{
    if (c->state != C_UPGRADED || !c->io)
        return -1;
    if (!n)
        return 0;
    if (!c->tls)
        return write_copy(c, p, n);
    if (vpd_tls_conn_send(c->tls, p, n) != 0)
        return -1;
    return flush_tls(c);
}
