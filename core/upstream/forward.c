/* The forwarder: Vault's client behaviour (retries with jittered waits,
 * Retry-After, one redirect, deadlines, error mapping and header
 * filtering) on top of the upstream client (client.c), which does one
 * exchange at a time over pooled HTTP/1.1 connections.  Keeping the
 * policy here and the transport there lets each be tested alone, and
 * lets later users of the transport (the static cache's re-reads and
 * event stream) skip the forwarder's policy.
 *
 * Each request is an op; ops are recycled through a small free list with
 * their buffers (request head, response headers and body), so the steady
 * state allocates little per request.  The request head is built once per
 * destination and written with the body in one uv_write.  An op gets a
 * uv_timer_t only when it has to wait before a retry or deliver a failure
 * found while starting.
 *
 * Lifetimes: an op with a timer stays allocated until the timer's close
 * callback; one without goes back to the free list once its callback has
 * returned (the caller's op pointer is dead from then on, as documented). */
#include "autoconf.h"

#include "upstream/forward.h"

#include "base/backoff.h"
#include "base/buf.h"
#include "base/log.h"
#include "http/target_bytes.h"
#include "upstream/client.h"
#include "upstream/egress.h"
#include "upstream/tls_client.h"
#include "upstream/url.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define FWD_LOG "proxy.forward"
#define FWD_DEFAULT_TIMEOUT_MS 60000L
#define FWD_OP_POOL_MAX 256
/* Buffers larger than this are not kept by a recycled op. */
#define FWD_KEEP_BUF (64 * 1024)
/* Cert-auth identities kept with their pools (one per login certificate). */
#define FWD_IDENTITIES 8

typedef enum {
    OP_RUNNING = 0, /* an exchange is under way */
    OP_WAITING,     /* the timer runs before the next attempt */
    OP_DONE,        /* the callback ran or is running */
} op_state;

/* An idle handle that is active from a callback's delivery until the
 * loop's next check phase, and the check handle that stops it.  Freed
 * when both are closed. */
struct fwd_kick {
    uv_idle_t idle;
    uv_check_t check;
    int open;
};

/* A per-request TLS identity (the cert auth method) and its pool's key. */
typedef struct {
    char *cert, *key, *ca;
    vpd_up_tls *tls;
    uint64_t used;
} fwd_identity;

/* Where an attempt goes: the origin, and the Host header that names it. */
typedef struct {
    vpd_up_url url; /* scheme, host, port of the origin */
    char host_hdr[VPD_UP_HOST_MAX + 16];
    size_t host_len; /* of host_hdr: measured once, not per request */
} fwd_origin;

struct vpd_fwd {
    uv_loop_t *loop;
    vpd_up_client *client;
    vpd_egress *egress;
    struct fwd_kick *kick; /* see fwd_kick */

    fwd_origin origin; /* vault.address */
    char *prefix;      /* the address's path, no trailing '/'; "" if none */
    char *unix_path;
    char *tls_name; /* tls_server_name, or NULL */

    char *ca_cert, *ca_path, *client_cert, *client_key;
    bool skip_verify;
    vpd_up_tls *tls;   /* the vault block's identity; NULL until needed */
    char tls_err[200]; /* why tls could not be made, if it could not */
    fwd_identity ids[FWD_IDENTITIES];
    uint64_t id_tick;

    int num_retries;
    unsigned retry_min_ms, retry_max_ms;

    vpd_fwd_op *free_ops; /* recycled ops, linked by next */
    size_t n_free_ops;
    vpd_fwd_op *ops; /* under way, doubly linked */
    size_t n_ops;

    int busy;            /* depth of calls that may run user callbacks */
    bool free_requested; /* vpd_fwd_free ran inside a callback */
    bool freeing;
};

struct vpd_fwd_op {
    /* First, outside the part a reused op has zeroed: the buffers it
     * keeps (emptied, and wiped where they may hold a token, by
     * op_clear_request). */
    vpd_buf tbuf; /* the target's room: see target */
    /* The client's header lines, filtered, CRLF-ended, when the caller's
     * list was not checked; later, the room a new head is written into
     * (the two buffers then swap). */
    vpd_buf hdrs;
    vpd_buf head; /* request line, Host, header lines, Content-Length, CRLF */
    vpd_hdrs rhdrs;
    vpd_buf rbody;

    vpd_fwd *fwd;            /* the zeroed part starts here */
    vpd_fwd_op *prev, *next; /* under way; or the free list */
    bool timer_inited;
    op_state state;

    char *method; /* method_buf or a heap copy */
    size_t method_len;
    bool is_head, idempotent;
    bool send_body;
    char *target; /* the client's target (prefix included): tbuf.data */
    size_t prefix_len;
    char *log_path; /* set once a redirect replaced the target */

    bool redirected;
    /* The caller's checked list during vpd_fwd_send only: its lines go
     * straight into the first head, with no copy in between. */
    const vpd_hdrs *checked_in;
    /* Where the header lines lie in head once one was written: a later
     * attempt copies them from there. */
    bool lines_in_head;
    size_t lines_off, lines_len;
    char *body;
    size_t body_len;
    vpd_up_tls *own_tls; /* a per-request identity (referenced) */
    vpd_up_conn *upgraded;

    int max_retries;
    int retries; /* retries spent since the last redirect */
    int attempts;
    uint64_t deadline;   /* uv_now() milliseconds */
    uint64_t started_ns; /* uv_hrtime(), when debug logging is on */

    bool in_client; /* x is with the client */
    int status;
    vpd_fwd_error error;
    bool fail_pending; /* the timer delivers error */

    vpd_fwd_cb cb;
    void *arg;

    /* The large members last: a reused op is zeroed only up to here
     * (op_alloc), as each is written before it is read: x by
     * attempt_start, redirect with redirected, errbuf at its first use,
     * timer once timer_inited, method_buf when method points at it, dest
     * and bufs by op_prepare, upgrade by vpd_fwd_send. */
    vpd_up_exchange x;
    uv_timer_t timer;
    char method_buf[16];
    vpd_up_dest dest;
    uv_buf_t bufs[2];
    char upgrade[32];    /* the protocol asked for, "" for none */
    fwd_origin redirect; /* the origin after a redirect */
    char errbuf[256];
};

#define OP_ZERO_FROM offsetof(struct vpd_fwd_op, fwd)
#define OP_ZEROED offsetof(struct vpd_fwd_op, x)

/* ---- small helpers ---------------------------------------------------- */

static const char *
nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static char *
dup_or_null(const char *s)
{
    return (s && *s) ? strdup(s) : NULL;
}

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    if (!err || !err_len)
        return;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* RFC 9110 tchar, as a table: every header name of every request is
 * checked byte by byte, and a lookup is a few instructions where the
 * range tests and the switch were a dozen. */
#define TCHAR_RANGE(lo, hi) [lo... hi] = 1
static const unsigned char tchar[256] = {
    ['!'] = 1,
    ['#'] = 1,
    ['$'] = 1,
    ['%'] = 1,
    ['&'] = 1,
    ['\''] = 1,
    ['*'] = 1,
    ['+'] = 1,
    ['-'] = 1,
    ['.'] = 1,
    ['^'] = 1,
    ['_'] = 1,
    ['`'] = 1,
    ['|'] = 1,
    ['~'] = 1,
    TCHAR_RANGE('0', '9'),
    TCHAR_RANGE('A', 'Z'),
    TCHAR_RANGE('a', 'z'),
};

static inline bool
is_tchar(unsigned char c)
{
    return tchar[c] != 0;
}

/* The length of a valid token, 0 if s is not one. */
static size_t
token_len(const char *s)
{
    if (!s || !*s)
        return 0;
    const char *p = s;
    for (; *p; p++)
        if (!is_tchar((unsigned char)*p))
            return 0;
    return (size_t)(p - s);
}

static bool
valid_token(const char *s)
{
    return token_len(s) != 0;
}

/* Whether s is a target the forwarder may send: not empty, and none of
 * its bytes one a target may not hold (http/target_bytes.h).  Sets *len. */
static bool
valid_target(const char *s, size_t *len)
{
    *len = s ? strlen(s) : 0;
    return *len && vpd_target_bytes_ok(s, *len);
}

/* ---- entering and leaving user code ----------------------------------- */

static void fwd_destroy(vpd_fwd *fwd);

static void
enter(vpd_fwd *fwd)
{
    fwd->busy++;
}

/* Leaves a section that may have run user callbacks; a vpd_fwd_free that
 * happened inside one is finished here, when nothing of ours is on the
 * stack any more. */
static void
leave(vpd_fwd *fwd)
{
    if (--fwd->busy == 0 && fwd->free_requested)
        fwd_destroy(fwd);
}

/* ---- loop wake-up after a delivery ------------------------------------ */

/* A callback delivered from the loop's timer phase (a transfer that
 * completed inside a timer callback) must not leave the loop
 * blocking in its poll phase: a caller driving it with UV_RUN_ONCE until
 * its callback ran would wait for the next unrelated event.  An active
 * idle handle makes that poll non-blocking; it is stopped after the poll
 * (check phase).  This is what the closing per-op timers used to provide
 * when every op had one. */
static void
on_kick_idle(uv_idle_t *h)
{
    (void)h;
}

static void
on_kick_check(uv_check_t *h)
{
    struct fwd_kick *k = h->data;
    uv_idle_stop(&k->idle);
    uv_check_stop(&k->check);
}

static void
fwd_kick(vpd_fwd *fwd)
{
    struct fwd_kick *k = fwd->kick;
    if (k && !uv_is_active((uv_handle_t *)&k->idle)) {
        uv_idle_start(&k->idle, on_kick_idle);
        uv_check_start(&k->check, on_kick_check);
    }
}

static void
kick_closed(uv_handle_t *h)
{
    struct fwd_kick *k = h->data;
    if (--k->open == 0)
        free(k);
}

/* ---- op storage ------------------------------------------------------- */

/* Releases what an op holds for one request; the buffers it can reuse
 * stay (emptied; whatever may hold a token is wiped). */
static void
op_clear_request(vpd_fwd_op *op)
{
    if (op->method != op->method_buf)
        free(op->method);
    op->method = NULL;
    /* A target may name a token (the token store's URL forms). */
    if (op->tbuf.len)
        explicit_bzero(op->tbuf.data, op->tbuf.len);
    vpd_buf_reset(&op->tbuf);
    op->target = NULL;
    free(op->log_path);
    op->log_path = NULL;
    /* explicit_bzero rather than OPENSSL_cleanse: both survive the
     * optimizer, and glibc's is a vectorized memset where OpenSSL's
     * stores a byte or a word at a time, three times per request. */
    if (op->hdrs.len)
        explicit_bzero(op->hdrs.data, op->hdrs.len);
    vpd_buf_reset(&op->hdrs);
    if (op->head.len)
        explicit_bzero(op->head.data, op->head.len);
    vpd_buf_reset(&op->head);
    if (op->body) {
        explicit_bzero(op->body, op->body_len);
        free(op->body);
        op->body = NULL;
    }
    vpd_up_tls_unref(op->own_tls);
    op->own_tls = NULL;
    if (op->rbody.len)
        explicit_bzero(op->rbody.data, op->rbody.len);
    vpd_buf_reset(&op->rbody);
    vpd_hdrs_clear(&op->rhdrs);
}

static void
op_free(vpd_fwd_op *op)
{
    op_clear_request(op);
    vpd_buf_free_secret(&op->hdrs);
    vpd_buf_free_secret(&op->head);
    vpd_buf_free(&op->tbuf);
    vpd_buf_free(&op->rbody);
    vpd_hdrs_free(&op->rhdrs);
    free(op);
}

static void
op_closed(uv_handle_t *h)
{
    op_free(h->data);
}

/* A zeroed op, from the free list when there is one (its buffers kept). */
static vpd_fwd_op *
op_alloc(vpd_fwd *fwd)
{
    vpd_fwd_op *op = fwd->free_ops;
    if (!op)
        return calloc(1, sizeof *op);
    fwd->free_ops = op->next;
    fwd->n_free_ops--;
    /* The kept buffers lie before the zeroed part. */
    memset((char *)op + OP_ZERO_FROM, 0, OP_ZEROED - OP_ZERO_FROM);
    op->errbuf[0] = '\0';
    return op;
}

/* Puts an op without a timer on the free list (or frees it). */
static void
op_recycle(vpd_fwd *fwd, vpd_fwd_op *op)
{
    if (fwd->freeing || fwd->n_free_ops >= FWD_OP_POOL_MAX) {
        op_free(op);
        return;
    }
    op_clear_request(op);
    /* Keep only ordinary sizes around. */
    if (op->hdrs.cap > FWD_KEEP_BUF)
        vpd_buf_free_secret(&op->hdrs);
    if (op->head.cap > FWD_KEEP_BUF)
        vpd_buf_free_secret(&op->head);
    if (op->tbuf.cap > FWD_KEEP_BUF)
        vpd_buf_free(&op->tbuf);
    if (op->rbody.cap > FWD_KEEP_BUF)
        vpd_buf_free(&op->rbody);
    if (op->rhdrs.cap > 64)
        vpd_hdrs_free(&op->rhdrs);
    op->next = fwd->free_ops;
    fwd->free_ops = op;
    fwd->n_free_ops++;
}

/* The client's path (no query) for log lines. */
static const char *
op_log_path(const vpd_fwd_op *op, int *len)
{
    if (op->log_path) {
        *len = (int)strlen(op->log_path);
        return op->log_path;
    }
    const char *t = op->target + op->prefix_len;
    *len = (int)strcspn(t, "?");
    return t;
}

/* ---- completion ------------------------------------------------------- */

static const char *
error_name(vpd_fwd_error e)
{
    switch (e) {
    case VPD_FWD_OK:
        return "ok";
    case VPD_FWD_UNREACHABLE:
        return "unreachable";
    case VPD_FWD_TIMEOUT:
        return "timeout";
    case VPD_FWD_TLS:
        return "tls";
    case VPD_FWD_CANCELLED:
        return "cancelled";
    case VPD_FWD_INTERNAL:
        return "internal";
    }
    return "?";
}

/* Withdraws the op's exchange from the client, if it has one there. */
static void
op_release_exchange(vpd_fwd_op *op)
{
    if (op->in_client) {
        vpd_up_client_cancel(&op->x);
        op->in_client = false;
    }
}

/* Delivers the result and retires the op.  The callback may free the
 * forwarder: that is deferred until no call of ours is on the stack
 * (enter/leave), and op_finish always runs inside one, so recycling the op
 * afterwards is safe. */
static void
op_finish(vpd_fwd_op *op)
{
    vpd_fwd *fwd = op->fwd;

    op_release_exchange(op);
    if (op->timer_inited)
        uv_timer_stop(&op->timer);
    if (op->prev)
        op->prev->next = op->next;
    else
        fwd->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
    fwd->n_ops--;
    op->state = OP_DONE;

    vpd_fwd_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.error = op->error;
    resp.attempts = op->attempts;
    if (op->error == VPD_FWD_OK) {
        /* Hop-by-hop headers, those the Connection header names, and
         * Content-Length (the listener frames the body) except where it
         * describes a body not sent (HEAD, 304). */
        if (!op->x.headers_filtered)
            vpd_hdrs_filter(&op->rhdrs, VPD_HDR_TO_CLIENT,
                            vpd_hdr_keeps_length(op->method, op->status));
        resp.status = op->status;
        resp.headers = op->rhdrs;
        resp.upgraded = op->upgraded;
        op->upgraded = NULL;
        memset(&op->rhdrs, 0, sizeof op->rhdrs);
    } else {
        if (!op->errbuf[0])
            snprintf(op->errbuf, sizeof op->errbuf, "%s",
                     error_name(op->error));
        resp.error_text = op->errbuf;
        if (op->rbody.len)
            OPENSSL_cleanse(op->rbody.data, op->rbody.len);
        vpd_buf_reset(&op->rbody);
        vpd_hdrs_free(&op->rhdrs);
    }
    /* The body is lent from op->rbody; vpd_fwd_resp_take moves it out. */
    size_t body_len = op->rbody.len;
    if (vpd_buf_reserve(&op->rbody, 0) == 0) {
        /* A buffer allocated just now, for an answer without a body, has
         * no terminator yet. */
        op->rbody.data[body_len] = '\0';
        resp.body = op->rbody.data;
        resp.body_len = body_len;
    }

    if (vpd_log_enabled(VPD_LOG_DEBUG)) {
        /* 0 when debug logging was switched on while under way. */
        double ms =
            op->started_ns ? (double)(uv_hrtime() - op->started_ns) / 1e6 : 0;
        int pl;
        const char *path = op_log_path(op, &pl);
        if (op->error == VPD_FWD_OK)
            vpd_log(VPD_LOG_DEBUG, FWD_LOG,
                    "%s %.*s -> %d, attempts=%d, %.1f ms", op->method, pl, path,
                    resp.status, op->attempts, ms);
        else
            vpd_log(VPD_LOG_DEBUG, FWD_LOG,
                    "%s %.*s -> %s (%s), attempts=%d, %.1f ms", op->method, pl,
                    path, error_name(op->error), op->errbuf, op->attempts, ms);
    }

    if (op->upgraded) {
        vpd_up_conn_close(op->upgraded);
        op->upgraded = NULL;
    }
    char *lent = resp.body;
    fwd_kick(fwd);
    op->cb(&resp, op->arg);
    if (resp.upgraded)
        vpd_up_conn_close(resp.upgraded);

    if (lent && resp.body != lent) {
        /* Taken: the memory is the caller's now. */
        op->rbody.data = NULL;
        op->rbody.len = op->rbody.cap = 0;
        if (resp.body) {
            OPENSSL_cleanse(resp.body, resp.body_len);
            free(resp.body);
        }
    }
    /* The header list goes back to the op for reuse, emptied (values
     * wiped), unless the callback moved it out. */
    vpd_hdrs_clear(&resp.headers);
    if (!op->rhdrs.v)
        op->rhdrs = resp.headers;
    else
        vpd_hdrs_free(&resp.headers);
    if (op->timer_inited)
        uv_close((uv_handle_t *)&op->timer, op_closed);
    else
        op_recycle(fwd, op);
}

static void on_op_timer(uv_timer_t *t);

static void
op_timer_start(vpd_fwd_op *op, uint64_t ms)
{
    if (!op->timer_inited) {
        uv_timer_init(op->fwd->loop, &op->timer);
        op->timer.data = op;
        op->timer_inited = true;
    }
    uv_timer_start(&op->timer, on_op_timer, ms, 0);
}

/* A failure found while starting an attempt: delivered from the loop, as
 * the callback never runs inside vpd_fwd_send. */
static void
op_fail_soon(vpd_fwd_op *op, vpd_fwd_error e, const char *text)
{
    op->error = e;
    if (text != op->errbuf) /* a caller may hand over what is already set */
        snprintf(op->errbuf, sizeof op->errbuf, "%s", text);
    op->fail_pending = true;
    op->state = OP_WAITING;
    op_timer_start(op, 0);
}

/* Maps the client's outcome onto ours; *retry says whether Vault's client
 * (go-retryablehttp's base policy) would try again: certificate problems
 * and local mistakes are final, network trouble is not. */
static vpd_fwd_error
classify(vpd_up_error e, bool *retry)
{
    *retry = true;
    switch (e) {
    case VPD_UP_OK:
        return VPD_FWD_OK;
    case VPD_UP_TIMEOUT:
        return VPD_FWD_TIMEOUT;
    case VPD_UP_TLS:
        return VPD_FWD_TLS;
    case VPD_UP_TLS_VERIFY:
        *retry = false;
        return VPD_FWD_TLS;
    case VPD_UP_INTERNAL:
        *retry = false;
        return VPD_FWD_INTERNAL;
    case VPD_UP_UNREACHABLE:
        break;
    }
    return VPD_FWD_UNREACHABLE;
}

/* An HTTP-date in any of the three forms HTTP allows (RFC 9110 5.6.7),
 * as seconds since the epoch, or -1. */
static time_t
parse_http_date(const char *s)
{
    static const char *const forms[] = {"%a, %d %b %Y %H:%M:%S GMT",
                                        "%A, %d-%b-%y %H:%M:%S GMT",
                                        "%a %b %e %H:%M:%S %Y"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(s, forms[i], &tm);
        if (end && *end == '\0')
            return timegm(&tm);
    }
    return (time_t)-1;
}

/* The wait before the next attempt: Retry-After on 429/503 if the
 * upstream sent one, otherwise linear jitter as Vault's client waits
 * (go-retryablehttp's LinearJitterBackoff). */
static uint64_t
retry_wait_ms(vpd_fwd_op *op)
{
    vpd_fwd *fwd = op->fwd;

    if (op->error == VPD_FWD_OK && (op->status == 429 || op->status == 503)) {
        const char *ra = vpd_hdrs_get(&op->rhdrs, "Retry-After", 0);
        if (ra && *ra) {
            char *end;
            unsigned long long secs = strtoull(ra, &end, 10);
            if (*end == '\0' && ra[0] != '-')
                return secs > 86400 ? 86400000ULL : secs * 1000ULL;
            time_t when = parse_http_date(ra);
            if (when != (time_t)-1) {
                time_t now = time(NULL);
                return when > now ? (uint64_t)(when - now) * 1000ULL : 0;
            }
        }
    }
    /* attempt n (0-based) waits (n + 1) * a random value in min..max */
    return vpd_backoff_linear(fwd->retry_min_ms, fwd->retry_max_ms,
                              (unsigned)op->retries + 1);
}

static bool
is_retryable_status(int status)
{
    return status == 429 || (status >= 500 && status <= 599 && status != 501);
}

/* ---- building an attempt ---------------------------------------------- */

/* The Host header value for an origin, as Go writes it: the port only when
 * it is not the scheme's default. */
static void
origin_set(fwd_origin *o, const vpd_up_url *u)
{
    o->url = *u;
    o->url.rest = NULL;
    bool v6 = strchr(u->host, ':') != NULL;
    bool dflt = u->port == (u->https ? 443 : 80);
    if (dflt)
        snprintf(o->host_hdr, sizeof o->host_hdr, "%s%s%s", v6 ? "[" : "",
                 u->host, v6 ? "]" : "");
    else
        snprintf(o->host_hdr, sizeof o->host_hdr, "%s%s%s:%d", v6 ? "[" : "",
                 u->host, v6 ? "]" : "", u->port);
    o->host_len = strlen(o->host_hdr);
}

static bool
same_origin(const fwd_origin *a, const fwd_origin *b)
{
    return a->url.https == b->url.https && a->url.port == b->url.port &&
           strcasecmp(a->url.host, b->url.host) == 0;
}

/* The vault block's TLS identity, made when first needed; NULL with
 * fwd->tls_err set when its files cannot be used. */
static vpd_up_tls *
fwd_default_tls(vpd_fwd *fwd)
{
    if (!fwd->tls && !fwd->tls_err[0]) {
        vpd_up_tls_opts o = {fwd->ca_cert, fwd->ca_path, fwd->client_cert,
                             fwd->client_key, fwd->skip_verify};
        fwd->tls = vpd_up_tls_new(&o, fwd->tls_err, sizeof fwd->tls_err);
        if (!fwd->tls && !fwd->tls_err[0])
            snprintf(fwd->tls_err, sizeof fwd->tls_err, "TLS set-up failed");
    }
    return fwd->tls;
}

static void
identities_clear(vpd_fwd *fwd)
{
    for (int i = 0; i < FWD_IDENTITIES; i++) {
        fwd_identity *id = &fwd->ids[i];
        if (id->tls && fwd->client)
            vpd_up_client_retire(fwd->client, id->tls);
        vpd_up_tls_unref(id->tls);
        free(id->cert);
        free(id->key);
        free(id->ca);
        memset(id, 0, sizeof *id);
    }
}

static bool
same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The identity of a cert-auth login: its own context, so its pool and TLS
 * sessions are never shared with requests made without it.  Returns a new
 * reference, or NULL with a reason in err. */
static vpd_up_tls *
fwd_identity_tls(vpd_fwd *fwd, const char *cert, const char *key,
                 const char *ca, char *err, size_t err_len)
{
    fwd_identity *slot = &fwd->ids[0];
    for (int i = 0; i < FWD_IDENTITIES; i++) {
        fwd_identity *id = &fwd->ids[i];
        if (id->tls && same_str(id->cert, cert) && same_str(id->key, key) &&
            same_str(id->ca, ca)) {
            id->used = ++fwd->id_tick;
            return vpd_up_tls_ref(id->tls);
        }
        if (!id->tls || (slot->tls && id->used < slot->used))
            slot = id;
    }
    vpd_up_tls_opts o = {ca ? ca : fwd->ca_cert, fwd->ca_path, cert, key,
                         fwd->skip_verify};
    vpd_up_tls *t = vpd_up_tls_new(&o, err, err_len);
    if (!t)
        return NULL;
    if (slot->tls) {
        vpd_up_client_retire(fwd->client, slot->tls);
        vpd_up_tls_unref(slot->tls);
        free(slot->cert);
        free(slot->key);
        free(slot->ca);
    }
    slot->cert = dup_or_null(cert);
    slot->key = dup_or_null(key);
    slot->ca = dup_or_null(ca);
    slot->tls = t;
    slot->used = ++fwd->id_tick;
    return vpd_up_tls_ref(t);
}

/* Decimal digits of v, written backwards from end; returns the start. */
static char *
fmt_size(char *end, size_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

/* Appends without a bounds check: the caller reserved the room. */
static char *
put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* The caller's checked headers as lines at p (the room was reserved). */
static char *
put_checked_lines(char *p, const vpd_hdrs *in)
{
    for (size_t i = 0; i < in->n; i++) {
        const vpd_hdr *hd = &in->v[i];
        p = put(p, hd->name, hd->name_len);
        *p++ = ':';
        *p++ = ' ';
        p = put(p, hd->value, hd->value_len);
        *p++ = '\r';
        *p++ = '\n';
    }
    return p;
}

/* op->head: the request line, Host (and Proxy-Authorization for a plain
 * request through an egress proxy, which then gets the absolute form), the
 * client's header lines, Content-Length and the blank line.  Plain copies
 * into one reserved stretch: this runs for every request.  The header
 * lines come from the caller's checked list on the first attempt (written
 * once, here), from op->hdrs for an unchecked list, and from the previous
 * head on a later attempt, which is then written into the spare buffer
 * and swapped in. */
static int
head_write(vpd_fwd_op *op, const fwd_origin *o, bool absolute)
{
    const vpd_up_dest *d = &op->dest;
    const vpd_hdrs *list = op->checked_in;
    vpd_buf *h = &op->head;
    const char *lines = op->hdrs.data;
    size_t ll = op->hdrs.len;
    if (list) {
        ll = 0;
        for (size_t i = 0; i < list->n; i++)
            ll += list->v[i].name_len + list->v[i].value_len + 4;
    } else if (op->lines_in_head) {
        lines = op->head.data + op->lines_off;
        ll = op->lines_len;
        h = &op->hdrs;
        /* The spare may hold an older head (tokens): wiped before reuse. */
        if (h->len)
            explicit_bzero(h->data, h->len);
    }
    /* The target is tbuf's whole text (vpd_fwd_send, maybe_redirect). */
    size_t ml = op->method_len, tl = op->tbuf.len, hl = o->host_len;
    size_t al = absolute && d->proxy->auth[0] ? strlen(d->proxy->auth) : 0;
    size_t ul = op->upgrade[0] ? strlen(op->upgrade) : 0;
    char num[24], *ne = num + sizeof num;
    char *ns = op->send_body ? fmt_size(ne, op->body_len) : ne;
    size_t total = ml + 1 + (absolute ? 7 + hl : 0) + tl + 11 + 6 + hl + 2 +
                   (al ? 21 + al + 2 : 0) + ll + (ul ? 30 + ul + 2 : 0) +
                   (op->send_body ? 16 + (size_t)(ne - ns) + 2 : 0) + 2;
    vpd_buf_reset(h);
    if (vpd_buf_reserve(h, total) != 0)
        return -1;
    char *p = h->data;
    p = put(p, op->method, ml);
    *p++ = ' ';
    if (absolute) {
        p = put(p, "http://", 7);
        p = put(p, o->host_hdr, hl);
    }
    p = put(p, op->target, tl);
    p = put(p, " HTTP/1.1\r\nHost: ", 17);
    p = put(p, o->host_hdr, hl);
    p = put(p, "\r\n", 2);
    if (al) {
        p = put(p, "Proxy-Authorization: ", 21);
        p = put(p, d->proxy->auth, al);
        p = put(p, "\r\n", 2);
    }
    size_t lines_off = (size_t)(p - h->data);
    if (list)
        p = put_checked_lines(p, list);
    else if (ll)
        p = put(p, lines, ll);
    if (ul) {
        p = put(p, "Connection: Upgrade\r\nUpgrade: ", 30);
        p = put(p, op->upgrade, ul);
        p = put(p, "\r\n", 2);
    }
    if (op->send_body) {
        p = put(p, "Content-Length: ", 16);
        p = put(p, ns, (size_t)(ne - ns));
        p = put(p, "\r\n", 2);
    }
    p = put(p, "\r\n", 2);
    h->len = (size_t)(p - h->data);
    h->data[h->len] = '\0';
    if (h != &op->head) {
        vpd_buf old = op->head;
        op->head = *h;
        *h = old;
    }
    op->lines_in_head = true;
    op->lines_off = lines_off;
    op->lines_len = ll;
    return 0;
}

/* Fills op->dest and op->head for the op's current origin.  Returns 0, -1
 * when out of memory, or 1 with op->error set (no TLS identity). */
static int
op_prepare(vpd_fwd_op *op)
{
    vpd_fwd *fwd = op->fwd;
    const fwd_origin *o = &fwd->origin;
    bool base = true;
    if (op->redirected && !same_origin(&op->redirect, &fwd->origin)) {
        o = &op->redirect;
        base = false;
    }
    vpd_up_dest *d = &op->dest;
    memset(d, 0, sizeof *d);
    d->https = o->url.https;
    d->host = o->url.host;
    d->port = o->url.port;
    d->unix_path = base ? fwd->unix_path : NULL;
    d->tls_name = base && fwd->tls_name ? fwd->tls_name : o->url.host;
    if (!d->unix_path)
        d->proxy = vpd_egress_for(fwd->egress, d->https, d->host, d->port);
    bool absolute = d->proxy && !d->https;

    /* The head first: the caller's checked lines exist only during
     * vpd_fwd_send, so the first attempt must copy them whatever else
     * fails. */
    if (head_write(op, o, absolute) != 0)
        return -1;
    if (d->https) {
        d->tls = op->own_tls ? op->own_tls : fwd_default_tls(fwd);
        if (!d->tls) {
            op->error = VPD_FWD_TLS;
            snprintf(op->errbuf, sizeof op->errbuf, "%s", fwd->tls_err);
            return 1;
        }
    }
    vpd_buf *h = &op->head;
    op->bufs[0] = uv_buf_init(h->data, (unsigned)h->len);
    op->bufs[1] = uv_buf_init(op->body, (unsigned)op->body_len);
    return 0;
}

static void on_exchange_done(vpd_up_exchange *x);

/* Starts one attempt.  Returns 0 (the outcome comes through the loop), or
 * -1 with op->error set when nothing could be started. */
static int
attempt_start(vpd_fwd_op *op)
{
    vpd_fwd *fwd = op->fwd;
    uint64_t now = uv_now(fwd->loop);

    op->error = VPD_FWD_OK;
    op->errbuf[0] = '\0';
    op->status = 0;
    if (now >= op->deadline) {
        op->error = VPD_FWD_TIMEOUT;
        snprintf(op->errbuf, sizeof op->errbuf,
                 "no time left for another attempt");
        return -1;
    }
    int rc = op_prepare(op);
    if (rc > 0) {
        op->attempts++;
        op_fail_soon(op, op->error, op->errbuf);
        return 0;
    }
    /* Field by field rather than a memset of the whole exchange (its
     * error text is large): the client sets its own fields and the
     * answer's in vpd_up_client_start, the rest is here. */
    vpd_up_exchange *x = &op->x;
    x->priv_pool = NULL;
    x->priv_conn = NULL;
    x->qnext = x->qprev = NULL;
    x->queued = false;
    x->status = 0;
    x->error = VPD_UP_OK;
    x->errtext[0] = '\0';
    x->upgraded = NULL;
    x->bufs = op->bufs;
    x->nbufs = op->send_body && op->body_len ? 2 : 1;
    x->idempotent = op->idempotent;
    x->is_head = op->is_head;
    x->for_client = true;
    x->deadline_ms = op->deadline;
    x->headers = &op->rhdrs;
    x->body = &op->rbody;
    x->cb = on_exchange_done;
    x->arg = op;
    if (rc < 0 || vpd_up_client_start(fwd->client, &op->dest, x) != 0) {
        op->error = VPD_FWD_INTERNAL;
        snprintf(op->errbuf, sizeof op->errbuf, "out of memory");
        return -1;
    }
    op->in_client = true;
    op->attempts++;
    op->state = OP_RUNNING;
    return 0;
}

/* Resolves a Location value against the op's current origin and target
 * into *o and a new target (heap).  Returns 0 or -1. */
static int
resolve_location(vpd_fwd_op *op, const char *loc, fwd_origin *o, char **target)
{
    const fwd_origin *cur = op->redirected ? &op->redirect : &op->fwd->origin;
    vpd_up_url u;
    vpd_buf t = VPD_BUF_INIT;
    if (strncasecmp(loc, "http://", 7) == 0 ||
        strncasecmp(loc, "https://", 8) == 0) {
        if (vpd_up_url_parse(loc, false, &u) != 0)
            return -1;
        origin_set(o, &u);
        if (vpd_buf_append_str(&t, *u.rest == '/' ? "" : "/") != 0 ||
            vpd_buf_append_str(&t, u.rest) != 0)
            goto oom;
    } else if (loc[0] == '/' && loc[1] == '/') {
        char abs[2048];
        snprintf(abs, sizeof abs, "%s:%s", cur->url.https ? "https" : "http",
                 loc);
        if (vpd_up_url_parse(abs, false, &u) != 0)
            return -1;
        origin_set(o, &u);
        if (vpd_buf_append_str(&t, *u.rest == '/' ? "" : "/") != 0 ||
            vpd_buf_append_str(&t, u.rest) != 0)
            goto oom;
    } else {
        *o = *cur;
        if (loc[0] != '/') {
            /* Relative to the current path's directory. */
            size_t pl = strcspn(op->target, "?");
            while (pl && op->target[pl - 1] != '/')
                pl--;
            if (vpd_buf_append(&t, op->target, pl) != 0)
                goto oom;
        }
        if (vpd_buf_append_str(&t, loc) != 0)
            goto oom;
    }
    *target = vpd_buf_steal(&t);
    return *target ? 0 : -1;
oom:
    vpd_buf_free(&t);
    return -1;
}

/* Redirect handling as in Vault's client: one 301/302/307 is followed with
 * the same method, headers and body; never from https to http.  Returns 1
 * when the op now names the new location (the caller sends again), 0 to
 * relay the response as is, -1 when the op failed (op->error set). */
static int
maybe_redirect(vpd_fwd_op *op)
{
    if (op->redirected ||
        (op->status != 301 && op->status != 302 && op->status != 307))
        return 0;
    const char *loc = vpd_hdrs_get(&op->rhdrs, "Location", 0);
    if (!loc || !*loc)
        return 0;
    fwd_origin o;
    char *target = NULL;
    if (resolve_location(op, loc, &o, &target) != 0)
        return 0; /* not a place we can go: relay the answer */
    const fwd_origin *cur = op->redirected ? &op->redirect : &op->fwd->origin;
    if (cur->url.https && !o.url.https) {
        free(target);
        op->error = VPD_FWD_UNREACHABLE;
        snprintf(op->errbuf, sizeof op->errbuf,
                 "redirect would cause protocol downgrade");
        return -1;
    }
    /* Log lines keep naming the client's path. */
    if (!op->log_path) {
        int pl;
        const char *path = op_log_path(op, &pl);
        op->log_path = strndup(path, (size_t)pl);
    }
    if (!op->log_path) {
        free(target);
        op->error = VPD_FWD_INTERNAL;
        snprintf(op->errbuf, sizeof op->errbuf, "out of memory");
        return -1;
    }
    vpd_buf_reset(&op->tbuf);
    int rc = vpd_buf_append_str(&op->tbuf, target);
    free(target);
    op->target = op->tbuf.data;
    if (rc != 0) {
        op->error = VPD_FWD_INTERNAL;
        snprintf(op->errbuf, sizeof op->errbuf, "out of memory");
        return -1;
    }
    op->prefix_len = 0;
    op->redirect = o;
    op->redirected = true;
    op->retries = 0; /* Vault's client starts over with a fresh budget */
    return 1;
}

/* One attempt has ended: relay, redirect or retry. */
static void
op_attempt_done(vpd_fwd_op *op, vpd_up_error e, const char *text)
{
    vpd_fwd *fwd = op->fwd;
    bool retry = false;

    if (e == VPD_UP_OK) {
        op->status = op->x.status;
        op->error = VPD_FWD_OK;
        op->errbuf[0] = '\0';
        if (op->x.upgraded) {
            /* Only a caller that asked for the new protocol speaks it;
             * for anyone else the 101 is relayed alone. */
            if (op->upgrade[0] && op->status == 101)
                op->upgraded = op->x.upgraded;
            else
                vpd_up_conn_close(op->x.upgraded);
            op->x.upgraded = NULL;
        }
        int r = maybe_redirect(op);
        if (r != 0) {
            if (r > 0 && attempt_start(op) == 0)
                return;
            op_finish(op);
            return;
        }
        retry = is_retryable_status(op->status);
    } else {
        op->error = classify(e, &retry);
        snprintf(op->errbuf, sizeof op->errbuf, "%s",
                 text && *text ? text : error_name(op->error));
    }

    if (retry && op->retries < op->max_retries) {
        uint64_t wait = retry_wait_ms(op);
        uint64_t now = uv_now(fwd->loop);
        /* A retry that could not finish before the deadline is not
         * started: the last answer is relayed instead. */
        if (now + wait < op->deadline) {
            if (vpd_log_enabled(VPD_LOG_DEBUG)) {
                char what[32];
                if (op->error == VPD_FWD_OK)
                    snprintf(what, sizeof what, "%d", op->status);
                else
                    snprintf(what, sizeof what, "%s", error_name(op->error));
                int pl;
                const char *path = op_log_path(op, &pl);
                vpd_log(VPD_LOG_DEBUG, FWD_LOG,
                        "%s %.*s -> %s, retrying in %llu ms (retry %d of %d)",
                        op->method, pl, path, what, (unsigned long long)wait,
                        op->retries + 1, op->max_retries);
            }
            op->retries++;
            op->state = OP_WAITING;
            op_timer_start(op, wait);
            return;
        }
    }
    op_finish(op);
}

static void
on_exchange_done(vpd_up_exchange *x)
{
    vpd_fwd_op *op = x->arg;
    vpd_fwd *fwd = op->fwd;
    op->in_client = false;
    enter(fwd);
    op_attempt_done(op, x->error, x->errtext);
    leave(fwd);
}

static void
on_op_timer(uv_timer_t *t)
{
    vpd_fwd_op *op = t->data;
    vpd_fwd *fwd = op->fwd;

    if (op->state != OP_WAITING)
        return;
    enter(fwd);
    if (op->fail_pending) {
        op->fail_pending = false;
        op_finish(op);
    } else if (attempt_start(op) != 0) {
        op_finish(op);
    }
    leave(fwd);
}

/* ---- public API ------------------------------------------------------- */

/* Parses vault.address: the origin (with tls_server_name as the TLS name
 * while the connection still goes to the address's host, and the Host
 * header stays the address's, as Vault's Go client does), the path prefix,
 * or a unix socket. */
static int
parse_address(vpd_fwd *fwd, const vpd_vault_config *vault, char *err,
              size_t err_len)
{
    const char *addr = vault->address && *vault->address
                           ? vault->address
                           : "https://127.0.0.1:8200";
    vpd_up_url u;

    if (strncasecmp(addr, "unix://", 7) == 0) {
        /* As Vault's client: HTTP over the socket, host "localhost". */
        if (!addr[7]) {
            set_err(err, err_len, "vault.address: %s: no socket path", addr);
            return -1;
        }
        fwd->unix_path = strdup(addr + 7);
        fwd->prefix = strdup("");
        vpd_up_url_parse("http://localhost", false, &u);
        origin_set(&fwd->origin, &u);
        return fwd->unix_path && fwd->prefix ? 0 : -1;
    }
    if (strncasecmp(addr, "http://", 7) != 0 &&
        strncasecmp(addr, "https://", 8) != 0) {
        set_err(err, err_len,
                strstr(addr, "://")
                    ? "vault.address: %s: scheme must be http or https"
                    : "vault.address: %s: not a valid URL",
                addr);
        return -1;
    }
    if (vpd_up_url_parse(addr, false, &u) != 0) {
        set_err(err, err_len, "vault.address: %s: not a valid URL", addr);
        return -1;
    }
    origin_set(&fwd->origin, &u);
    size_t pl = strcspn(u.rest, "?#");
    while (pl && u.rest[pl - 1] == '/')
        pl--;
    fwd->prefix = strndup(u.rest, pl);
    const char *sni = vault->tls_server_name;
    if (u.https && sni && *sni)
        fwd->tls_name = strdup(sni);
    if (!fwd->prefix || (u.https && sni && *sni && !fwd->tls_name)) {
        set_err(err, err_len, "vault.address: %s: out of memory", addr);
        return -1;
    }
    return 0;
}

static void
fwd_release(vpd_fwd *fwd)
{
    while (fwd->free_ops) {
        vpd_fwd_op *op = fwd->free_ops;
        fwd->free_ops = op->next;
        op_free(op);
    }
    fwd->n_free_ops = 0;
    identities_clear(fwd);
    if (fwd->client)
        vpd_up_client_free(fwd->client);
    fwd->client = NULL;
    vpd_up_tls_unref(fwd->tls);
    vpd_egress_free(fwd->egress);
    if (fwd->kick) {
        uv_close((uv_handle_t *)&fwd->kick->idle, kick_closed);
        uv_close((uv_handle_t *)&fwd->kick->check, kick_closed);
        fwd->kick = NULL;
    }
    free(fwd->prefix);
    free(fwd->unix_path);
    free(fwd->tls_name);
    free(fwd->ca_cert);
    free(fwd->ca_path);
    free(fwd->client_cert);
    free(fwd->client_key);
    free(fwd);
}

int
vpd_fwd_set_tls(vpd_fwd *fwd, const vpd_vault_config *vault)
{
    char *ca = dup_or_null(vault->ca_cert);
    char *cap = dup_or_null(vault->ca_path);
    char *cert = dup_or_null(vault->client_cert);
    char *key = dup_or_null(vault->client_key);
    if ((vault->ca_cert && *vault->ca_cert && !ca) ||
        (vault->ca_path && *vault->ca_path && !cap) ||
        (vault->client_cert && *vault->client_cert && !cert) ||
        (vault->client_key && *vault->client_key && !key)) {
        free(ca);
        free(cap);
        free(cert);
        free(key);
        return -1;
    }
    free(fwd->ca_cert);
    free(fwd->ca_path);
    free(fwd->client_cert);
    free(fwd->client_key);
    fwd->ca_cert = ca;
    fwd->ca_path = cap;
    fwd->client_cert = cert;
    fwd->client_key = key;
    fwd->skip_verify = vault->tls_skip_verify;
    /* Requests under way keep the identity they hold a reference to; new
     * ones get the new files (read again even under the same names). */
    if (fwd->tls) {
        vpd_up_client_retire(fwd->client, fwd->tls);
        vpd_up_tls_unref(fwd->tls);
        fwd->tls = NULL;
    }
    fwd->tls_err[0] = '\0';
    identities_clear(fwd);
    if (fwd->origin.url.https)
        (void)fwd_default_tls(fwd);
    return 0;
}

vpd_fwd *
vpd_fwd_new(uv_loop_t *loop, const vpd_vault_config *vault, char *err,
            size_t err_len)
{
    vpd_fwd *fwd = calloc(1, sizeof *fwd);
    if (!fwd) {
        set_err(err, err_len, "forwarder: %s", "out of memory");
        return NULL;
    }
    fwd->loop = loop;
    fwd->retry_min_ms = 1000;
    fwd->retry_max_ms = 1500;
    fwd->num_retries = vault->num_retries < 0 ? 0 : vault->num_retries;
    fwd->skip_verify = vault->tls_skip_verify;
    fwd->ca_cert = dup_or_null(vault->ca_cert);
    fwd->ca_path = dup_or_null(vault->ca_path);
    fwd->client_cert = dup_or_null(vault->client_cert);
    fwd->client_key = dup_or_null(vault->client_key);
    if ((vault->ca_cert && *vault->ca_cert && !fwd->ca_cert) ||
        (vault->ca_path && *vault->ca_path && !fwd->ca_path) ||
        (vault->client_cert && *vault->client_cert && !fwd->client_cert) ||
        (vault->client_key && *vault->client_key && !fwd->client_key)) {
        set_err(err, err_len, "forwarder: %s", "out of memory");
        goto fail;
    }
    if (err && err_len)
        err[0] = '\0';
    if (parse_address(fwd, vault, err, err_len) != 0) {
        if (err && err_len && !err[0])
            set_err(err, err_len, "forwarder: %s", "out of memory");
        goto fail;
    }
    char perr[256] = "";
    fwd->egress = vpd_egress_from_env(perr, sizeof perr);
    if (!fwd->egress) {
        set_err(err, err_len, "forwarder: %s", perr);
        goto fail;
    }
    fwd->client = vpd_up_client_new(loop,
                                    vault->max_connections > 0
                                        ? (unsigned)vault->max_connections
                                        : VPD_UP_DEFAULT_MAX_CONNECTIONS,
                                    VPD_UP_DEFAULT_IDLE_MS);
    fwd->kick = calloc(1, sizeof *fwd->kick);
    if (!fwd->client || !fwd->kick) {
        free(fwd->kick);
        fwd->kick = NULL;
        set_err(err, err_len, "forwarder: %s", "out of memory");
        goto fail;
    }
    uv_idle_init(loop, &fwd->kick->idle);
    uv_check_init(loop, &fwd->kick->check);
    fwd->kick->idle.data = fwd->kick->check.data = fwd->kick;
    fwd->kick->open = 2;
    /* The vault block's files are read now, as at every SIGHUP; a failure
     * shows on the requests (a TLS error), not as a start-up failure. */
    if (fwd->origin.url.https)
        (void)fwd_default_tls(fwd);
    return fwd;

fail:
    fwd_release(fwd);
    return NULL;
}

void
vpd_fwd_set_retry_base_ms(vpd_fwd *fwd, unsigned min_ms, unsigned max_ms)
{
    fwd->retry_min_ms = min_ms;
    fwd->retry_max_ms = max_ms < min_ms ? min_ms : max_ms;
}

size_t
vpd_fwd_inflight(const vpd_fwd *fwd)
{
    return fwd->n_ops;
}

size_t
vpd_fwd_open_connections(const vpd_fwd *fwd)
{
    return vpd_up_client_open_connections(fwd->client);
}

char *
vpd_fwd_resp_take(vpd_fwd_resp *resp, size_t *len)
{
    char *b = resp->body;
    if (len)
        *len = resp->body_len;
    resp->body = NULL;
    resp->body_len = 0;
    return b;
}

bool
vpd_fwd_header_value_ok(const char *value, size_t value_len)
{
    return !memchr(value, '\n', value_len) && !memchr(value, '\r', value_len);
}

bool
vpd_fwd_header_ok(const char *name, size_t name_len, const char *value,
                  size_t value_len)
{
    if (!name_len)
        return false;
    for (size_t i = 0; i < name_len; i++)
        if (!is_tchar((unsigned char)name[i]))
            return false;
    return vpd_fwd_header_value_ok(value, value_len);
}

/* The client's headers as lines for the upstream (op->hdrs), minus what
 * the header policy keeps from Vault (http/hdr_policy.h: hop-by-hop and
 * Connection-named headers, framing, Host, Expect, Accept-Encoding).  A
 * name that is not a token or a value with CR or LF would let a client
 * smuggle header lines: such headers are dropped too.  A caller that
 * checked all this already (the router) has its list written as is. */
static int
build_headers(vpd_fwd_op *op, const vpd_hdrs *in, bool checked)
{
    size_t nin = in ? in->n : 0;
    vpd_buf *b = &op->hdrs;
    vpd_buf_reset(b);
    if (checked) {
        /* Written straight into the head (head_write). */
        op->checked_in = in;
        return 0;
    }
    vpd_hdr_filter f;
    vpd_hdr_filter_init(&f, in, VPD_HDR_TO_UPSTREAM, false);
    int rc = 0;
    for (size_t i = 0; i < nin && rc == 0; i++) {
        const char *n = in->v[i].name,
                   *v = in->v[i].value ? in->v[i].value : "";
        size_t nl = token_len(n);
        size_t vl =
            in->v[i].value ? vpd_hdr_line_len(v, in->v[i].value_len) : 0;
        if (!nl || vl == SIZE_MAX)
            continue;
        if (vpd_hdr_filter_drops(&f, n, nl))
            continue;
        if (vpd_buf_reserve(b, nl + vl + 4) != 0) {
            rc = -1;
            break;
        }
        memcpy(b->data + b->len, n, nl);
        b->len += nl;
        memcpy(b->data + b->len, ": ", 2);
        b->len += 2;
        memcpy(b->data + b->len, v, vl);
        b->len += vl;
        memcpy(b->data + b->len, "\r\n", 2);
        b->len += 2;
        b->data[b->len] = '\0';
    }
    return rc;
}

/* Whether method m is lit; the first byte turns away most without a
 * call, as each request asks this about half a dozen names. */
static inline bool
method_is(const char *m, const char *lit)
{
    return m[0] == lit[0] && strcmp(m, lit) == 0;
}

/* Methods Go's transport may send again on a fresh connection. */
static bool
is_idempotent(const char *m)
{
    return method_is(m, "GET") || method_is(m, "HEAD") ||
           method_is(m, "OPTIONS") || method_is(m, "TRACE") ||
           method_is(m, "PUT") || method_is(m, "DELETE");
}

vpd_fwd_op *
vpd_fwd_send(vpd_fwd *fwd, const vpd_fwd_req *req, vpd_fwd_cb cb, void *arg)
{
    size_t tl;
    if (!fwd || !req || !cb || fwd->freeing || fwd->free_requested ||
        !valid_token(req->method) || !valid_target(req->target, &tl) ||
        (req->body_len && !req->body))
        return NULL;

    vpd_fwd_op *op = op_alloc(fwd);
    if (!op)
        return NULL;
    op->fwd = fwd;
    op->cb = cb;
    op->arg = arg;
    /* Only the debug line reads it: no clock read per request otherwise. */
    op->started_ns = vpd_log_enabled(VPD_LOG_DEBUG) ? uv_hrtime() : 0;
    size_t ml = strlen(req->method);
    op->method_len = ml;
    if (ml < sizeof op->method_buf) {
        memcpy(op->method_buf, req->method, ml + 1);
        op->method = op->method_buf;
    } else if (!(op->method = strdup(req->method))) {
        goto fail;
    }
    if (req->upgrade) {
        if (!valid_token(req->upgrade) ||
            strlen(req->upgrade) >= sizeof op->upgrade)
            goto fail;
        memcpy(op->upgrade, req->upgrade, strlen(req->upgrade) + 1);
    } else {
        op->upgrade[0] = '\0';
    }
    op->is_head = method_is(op->method, "HEAD");
    op->idempotent = is_idempotent(op->method);
    bool bodyful = method_is(op->method, "POST") ||
                   method_is(op->method, "PUT") ||
                   method_is(op->method, "PATCH");
    op->send_body = !op->is_head && (req->body_len > 0 || bodyful);

    size_t pl = strlen(fwd->prefix);
    bool slash = req->target[0] != '/';
    vpd_buf_reset(&op->tbuf);
    if (vpd_buf_reserve(&op->tbuf, pl + slash + tl) != 0)
        goto fail;
    op->target = op->tbuf.data;
    memcpy(op->target, fwd->prefix, pl);
    if (slash)
        op->target[pl] = '/';
    memcpy(op->target + pl + slash, req->target, tl + 1);
    op->tbuf.len = pl + slash + tl;
    op->prefix_len = pl + slash;
    if (build_headers(op, req->headers, req->headers_checked) != 0)
        goto fail;

    op->body_len = op->send_body ? req->body_len : 0;
    if (op->body_len) {
        op->body = malloc(req->body_len + 1);
        if (!op->body)
            goto fail;
        memcpy(op->body, req->body, req->body_len);
        op->body[req->body_len] = '\0';
    }

    op->max_retries =
        req->max_retries < 0 ? fwd->num_retries : req->max_retries;
    long tmo = req->timeout_ms > 0 ? req->timeout_ms : FWD_DEFAULT_TIMEOUT_MS;
    op->deadline = uv_now(fwd->loop) + (uint64_t)tmo;

    if ((req->client_cert && *req->client_cert) ||
        (req->client_key && *req->client_key) ||
        (req->ca_cert && *req->ca_cert)) {
        char terr[200] = "";
        op->own_tls = fwd_identity_tls(
            fwd, nonempty(req->client_cert), nonempty(req->client_key),
            nonempty(req->ca_cert), terr, sizeof terr);
        if (!op->own_tls) {
            /* An unusable certificate or key: a TLS error, not retried. */
            op->attempts++;
            op_fail_soon(op, VPD_FWD_TLS, terr[0] ? terr : "TLS set-up failed");
            goto started;
        }
    }

    int started_rc = attempt_start(op);
    op->checked_in = NULL; /* the caller's list is gone after the call */
    if (started_rc != 0) {
        /* The call fails and the callback will never run. */
        op_recycle(fwd, op);
        return NULL;
    }
started:
    op->checked_in = NULL;
    op->next = fwd->ops;
    if (fwd->ops)
        fwd->ops->prev = op;
    fwd->ops = op;
    fwd->n_ops++;
    return op;

fail:
    op_recycle(fwd, op);
    return NULL;
}

void
vpd_fwd_cancel(vpd_fwd_op *op)
{
    if (!op || op->state == OP_DONE)
        return;
    vpd_fwd *fwd = op->fwd;
    enter(fwd);
    op_release_exchange(op);
    op->error = VPD_FWD_CANCELLED;
    snprintf(op->errbuf, sizeof op->errbuf, "request cancelled");
    op_finish(op);
    leave(fwd);
}

static void
fwd_destroy(vpd_fwd *fwd)
{
    fwd->freeing = true;
    fwd_release(fwd);
}

void
vpd_fwd_free(vpd_fwd *fwd)
{
    if (!fwd || fwd->free_requested || fwd->freeing)
        return;
    fwd->free_requested = true;
    enter(fwd);
    while (fwd->ops) {
        vpd_fwd_op *op = fwd->ops;
        op_release_exchange(op);
        op->error = VPD_FWD_CANCELLED;
        snprintf(op->errbuf, sizeof op->errbuf, "forwarder shut down");
        op_finish(op);
    }
    leave(fwd); /* destroys now unless a callback of ours is running */
}
