/* The forwarder drives one libcurl multi handle from the libuv loop, as
 * curl's docs/examples/multi-uv.c does: curl tells us which sockets to
 * watch (CURLMOPT_SOCKETFUNCTION, one uv_poll_t each) and when to wake it
 * (CURLMOPT_TIMERFUNCTION, one uv_timer_t), and we hand readiness back with
 * curl_multi_socket_action.  Nothing here blocks and there are no threads
 * of ours (curl's threaded resolver runs its own).
 *
 * Each request is an op with its own uv_timer_t for the waits between
 * attempts.  Each attempt borrows an easy handle from a small pool; the
 * connections themselves live in the multi handle's cache, so keep-alive
 * reuse works across attempts and requests whatever easy handle is used.
 *
 * Lifetimes: an op stays allocated until its timer's close callback, so
 * vpd_fwd_cancel on an op whose callback is running is harmless.  Socket
 * contexts and the curl timer are separate allocations freed by their own
 * close callbacks, which lets vpd_fwd_free release the forwarder at once;
 * the loop finishes the closing. */
#include "autoconf.h"

#include "forward.h"

#include "buf.h"
#include "log.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define FWD_LOG "proxy.forward"
#define FWD_DEFAULT_TIMEOUT_MS 60000L
#define FWD_CONNECT_TIMEOUT_MS 30000L /* Go's dialer + TLS handshake */
#define FWD_MAX_CONNECTS 64L
#define FWD_POOL_MAX 64

typedef enum {
    OP_RUNNING = 0, /* an attempt is in the multi handle */
    OP_WAITING,     /* the timer runs before the next attempt */
    OP_DONE,        /* the callback ran or is running */
} op_state;

typedef struct fwd_sock fwd_sock;

/* One upstream socket's watcher.  It outlives curl's interest in the
 * socket: between two requests on a kept-alive connection curl says
 * CURL_POLL_REMOVE and then asks again, and re-creating the watcher each
 * time costs four epoll_ctl calls per request.  The watcher goes when curl
 * really closes the socket (on_curl_closesocket). */
struct fwd_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    vpd_fwd *fwd;
    fwd_sock *prev, *next;
    int events;     /* what the watcher is started for, 0 when stopped */
    bool wanted;    /* curl currently watches this socket */
};

struct vpd_fwd {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t *timer; /* curl's timer; freed by its close callback */

    char *base;        /* scheme://host[:port][/prefix], no trailing '/' */
    char *host_line;   /* "Host: addr[:port]" when tls_server_name is used */
    char *origin;      /* scheme://name:port the host_line applies to */
    struct curl_slist *connect_to;
    char *unix_path;

    char *ca_cert, *ca_path, *client_cert, *client_key;
    bool skip_verify;
    int num_retries;
    unsigned retry_min_ms, retry_max_ms;
    uint64_t rng;

    CURL *pool[FWD_POOL_MAX];
    size_t n_pool;

    vpd_fwd_op *ops; /* under way, doubly linked */
    size_t n_ops;
    fwd_sock *socks;

    int busy;            /* depth of calls that may run user callbacks */
    bool free_requested; /* vpd_fwd_free ran inside a callback */
    bool freeing;
};

struct vpd_fwd_op {
    vpd_fwd *fwd;
    vpd_fwd_op *prev, *next;
    uv_timer_t timer;
    op_state state;

    char *method;
    char *url;      /* what the next attempt asks for */
    char *log_path; /* the target's path, without the query */
    bool use_host_line;
    struct curl_slist *hdrs;
    char *body;
    size_t body_len;
    bool send_body;
    char *client_cert, *client_key, *ca_cert;
    bool own_identity;

    int max_retries;
    int retries; /* retries spent since the last redirect */
    int attempts;
    bool redirected;
    uint64_t deadline; /* uv_now() milliseconds */
    uint64_t started_ns;

    CURL *easy;
    int status;
    bool in_headers; /* between a status line and its blank line */
    vpd_hdrs rhdrs;
    vpd_buf hline; /* the header line being read (it may be folded) */
    vpd_buf rbody;
    vpd_fwd_error error;
    char errbuf[CURL_ERROR_SIZE];

    vpd_fwd_cb cb;
    void *arg;
};

static bool curl_ready;

/* ---- small helpers ---------------------------------------------------- */

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

/* Header lines can carry the token, so they are wiped before release. */
static void
free_slist_secret(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p; p = p->next)
        if (p->data)
            OPENSSL_cleanse(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

static uint64_t
next_rand(vpd_fwd *fwd)
{
    /* xorshift64*: jitter only needs to spread clients, not be secret. */
    uint64_t x = fwd->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    fwd->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* RFC 9110 7.6.1, plus Proxy-Connection and Trailer which some peers still
 * send; a proxy must not pass these on. */
static bool
hop_by_hop(const char *name)
{
    static const char *const names[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE",
        "Trailer",    "Transfer-Encoding", "Upgrade",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

/* Whether `name` is one of the comma-separated tokens of a Connection
 * header value. */
static bool
token_in_list(const char *list, const char *name)
{
    size_t nl = strlen(name);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == nl && strncasecmp(s, name, nl) == 0)
            return true;
    }
    return false;
}

static bool
named_by_connection(const vpd_hdrs *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->v[i].name, "Connection") == 0 &&
            token_in_list(h->v[i].value, name))
            return true;
    return false;
}

static bool
valid_token(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
            return false;
    }
    return true;
}

static bool
valid_target(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == 0x7f || c == '#')
            return false;
    }
    return true;
}

/* CR or LF in a value would let a client smuggle header lines. */
static bool
valid_value(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

/* ---- libuv <-> curl plumbing ----------------------------------------- */

static void check_multi_info(vpd_fwd *fwd);
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

static void
sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static void
sock_close(vpd_fwd *fwd, fwd_sock *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        fwd->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, sock_closed);
}

static void on_poll(uv_poll_t *h, int status, int events);

static fwd_sock *
find_sock(vpd_fwd *fwd, curl_socket_t fd)
{
    for (fwd_sock *s = fwd->socks; s; s = s->next) {
        if (s->fd == fd)
            return s;
    }
    return NULL;
}

static int
sock_watch(fwd_sock *s, int events)
{
    if (events == s->events)
        return 0;
    if (uv_poll_start(&s->poll, events, on_poll) != 0)
        return -1;
    s->events = events;
    return 0;
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
    fwd_sock *s = h->data;
    vpd_fwd *fwd = s->fwd;
    int flags = 0;
    int running;

    if (!s->wanted) {
        /* An idle kept-alive connection became readable: the upstream
         * closed it (or sent garbage).  curl notices when it next tries to
         * reuse it; until then, stop watching so we do not spin. */
        uv_poll_stop(&s->poll);
        s->events = 0;
        return;
    }

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    enter(fwd);
    /* `s` may be closed inside this call: it is not touched afterwards. */
    curl_multi_socket_action(fwd->multi, s->fd, flags, &running);
    check_multi_info(fwd);
    leave(fwd);
}

static int
on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
               void *socketp)
{
    vpd_fwd *fwd = userp;
    fwd_sock *s = socketp;

    if (what == CURL_POLL_REMOVE) {
        if (s) {
            /* Keep watching for readability only, so the next request on
             * this connection needs no epoll_ctl at all. */
            curl_multi_assign(fwd->multi, fd, NULL);
            s->wanted = false;
            if (sock_watch(s, UV_READABLE) != 0) {
                uv_poll_stop(&s->poll);
                s->events = 0;
            }
        }
        return 0;
    }
    if (!s && (s = find_sock(fwd, fd)) != NULL)
        curl_multi_assign(fwd->multi, fd, s);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        if (uv_poll_init_socket(fwd->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->fwd = fwd;
        s->poll.data = s;
        s->next = fwd->socks;
        if (fwd->socks)
            fwd->socks->prev = s;
        fwd->socks = s;
        curl_multi_assign(fwd->multi, fd, s);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    s->wanted = true;
    return sock_watch(s, events);
}

/* curl closes a socket: drop its watcher first (libuv must stop watching
 * an fd before it is closed and its number reused). */
static int
on_curl_closesocket(void *clientp, curl_socket_t fd)
{
    vpd_fwd *fwd = clientp;
    fwd_sock *s = find_sock(fwd, fd);
    if (s)
        sock_close(fwd, s);
    return close(fd);
}

static void
on_curl_timeout(uv_timer_t *t)
{
    vpd_fwd *fwd = t->data;
    int running;

    enter(fwd);
    curl_multi_socket_action(fwd->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(fwd);
    leave(fwd);
}

static int
on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    vpd_fwd *fwd = userp;

    if (fwd->freeing)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(fwd->timer);
    else /* 0 means "soon": the next loop iteration, never from here. */
        uv_timer_start(fwd->timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- easy handle pool ------------------------------------------------- */

static CURL *
pool_get(vpd_fwd *fwd)
{
    if (fwd->n_pool)
        return fwd->pool[--fwd->n_pool];
    return curl_easy_init();
}

/* curl_easy_reset drops every option (and with them our pointers into the
 * op) but keeps the handle's caches; the connections stay in the multi's
 * cache either way. */
static void
pool_put(vpd_fwd *fwd, CURL *e)
{
    curl_easy_reset(e);
    if (fwd->n_pool < FWD_POOL_MAX)
        fwd->pool[fwd->n_pool++] = e;
    else
        curl_easy_cleanup(e);
}

/* ---- an attempt ------------------------------------------------------- */

static size_t
on_body(char *data, size_t size, size_t n, void *userp)
{
    vpd_fwd_op *op = userp;
    size_t len = size * n;
    if (vpd_buf_append(&op->rbody, data, len) != 0)
        return 0; /* CURLE_WRITE_ERROR */
    return len;
}

/* Adds the header line held in op->hline (already unfolded) to the
 * response headers.  Returns 0 or -1 (out of memory). */
static int
commit_header_line(vpd_fwd_op *op)
{
    const char *data = op->hline.data;
    size_t l = op->hline.len;
    int rc = 0;

    if (!l)
        return 0;
    const char *colon = memchr(data, ':', l);
    if (colon && colon != data) {
        size_t nl = (size_t)(colon - data);
        const char *v = colon + 1;
        const char *end = data + l;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        rc = vpd_hdrs_addn(&op->rhdrs, data, nl, v, (size_t)(end - v));
    }
    OPENSSL_cleanse(op->hline.data, op->hline.len);
    vpd_buf_reset(&op->hline);
    return rc;
}

/* curl hands over one header line at a time.  A line is kept back until
 * the next one shows it was not folded (obsolete line folding joins a
 * continuation to it with one space). */
static size_t
on_header(char *data, size_t size, size_t n, void *userp)
{
    vpd_fwd_op *op = userp;
    size_t len = size * n;
    size_t l = len;

    while (l && (data[l - 1] == '\n' || data[l - 1] == '\r'))
        l--;
    if (l >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new response (an interim 1xx came first): forget its headers. */
        vpd_buf_reset(&op->hline);
        vpd_hdrs_free(&op->rhdrs);
        memset(&op->rhdrs, 0, sizeof op->rhdrs);
        op->in_headers = true;
        return len;
    }
    if (!op->in_headers)
        return len; /* trailers after a chunked body are not relayed */
    if (l == 0) {
        op->in_headers = false;
        return commit_header_line(op) == 0 ? len : 0;
    }
    if (data[0] == ' ' || data[0] == '\t') {
        size_t i = 0;
        while (i < l && (data[i] == ' ' || data[i] == '\t'))
            i++;
        if (op->hline.len && (vpd_buf_append(&op->hline, " ", 1) != 0 ||
                              vpd_buf_append(&op->hline, data + i, l - i) != 0))
            return 0;
        return len;
    }
    if (commit_header_line(op) != 0 ||
        vpd_buf_append(&op->hline, data, l) != 0)
        return 0; /* CURLE_WRITE_ERROR */
    return len;
}

static void
attempt_reset(vpd_fwd_op *op)
{
    if (op->hline.data)
        OPENSSL_cleanse(op->hline.data, op->hline.len);
    vpd_buf_reset(&op->hline);
    vpd_hdrs_free(&op->rhdrs);
    memset(&op->rhdrs, 0, sizeof op->rhdrs);
    if (op->rbody.data)
        OPENSSL_cleanse(op->rbody.data, op->rbody.len);
    vpd_buf_reset(&op->rbody);
    op->status = 0;
    op->in_headers = false;
    op->error = VPD_FWD_OK;
    op->errbuf[0] = '\0';
}

#define SETOPT(e, o, v)                                                      \
    do {                                                                     \
        if (curl_easy_setopt((e), (o), (v)) != CURLE_OK)                     \
            goto fail;                                                       \
    } while (0)

/* Starts one attempt.  Returns 0, or -1 with op->error set. */
static int
attempt_start(vpd_fwd_op *op)
{
    vpd_fwd *fwd = op->fwd;
    uint64_t now = uv_now(fwd->loop);

    attempt_reset(op);
    if (now >= op->deadline) {
        op->error = VPD_FWD_TIMEOUT;
        snprintf(op->errbuf, sizeof op->errbuf,
                 "no time left for another attempt");
        return -1;
    }
    long left = (long)(op->deadline - now);
    CURL *e = pool_get(fwd);
    if (!e) {
        op->error = VPD_FWD_INTERNAL;
        snprintf(op->errbuf, sizeof op->errbuf, "out of memory");
        return -1;
    }
    op->easy = e;

    SETOPT(e, CURLOPT_PRIVATE, op);
    SETOPT(e, CURLOPT_ERRORBUFFER, op->errbuf);
    SETOPT(e, CURLOPT_URL, op->url);
    /* The target goes out byte for byte: no dot-segment squashing. */
    SETOPT(e, CURLOPT_PATH_AS_IS, 1L);
    SETOPT(e, CURLOPT_NOSIGNAL, 1L);
    SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* HTTP/1.1: simple and well-behaved with Vault; h2 could come later. */
    SETOPT(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    /* Redirects are handled in op_attempt_done (one, like Vault's client);
     * curl itself follows none. */
    SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
    /* Bodies are relayed exactly as sent: never decode. */
    SETOPT(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    SETOPT(e, CURLOPT_TCP_NODELAY, 1L);
    SETOPT(e, CURLOPT_CLOSESOCKETFUNCTION, on_curl_closesocket);
    SETOPT(e, CURLOPT_CLOSESOCKETDATA, fwd);
    SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(e, CURLOPT_TCP_KEEPIDLE, 30L);
    SETOPT(e, CURLOPT_TCP_KEEPINTVL, 15L);
    SETOPT(e, CURLOPT_TIMEOUT_MS, left);
    SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS,
           left < FWD_CONNECT_TIMEOUT_MS ? left : FWD_CONNECT_TIMEOUT_MS);
    SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(e, CURLOPT_HEADERDATA, op);
    SETOPT(e, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(e, CURLOPT_WRITEDATA, op);

    struct curl_slist *hdrs = op->hdrs;
    if (fwd->host_line && !op->use_host_line)
        hdrs = hdrs->next; /* the first line is the Host override */
    SETOPT(e, CURLOPT_HTTPHEADER, hdrs);

    if (strcmp(op->method, "GET") == 0 && !op->send_body) {
        SETOPT(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(op->method, "HEAD") == 0) {
        SETOPT(e, CURLOPT_NOBODY, 1L);
    } else {
        if (op->send_body) {
            SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE,
                   (curl_off_t)op->body_len);
            SETOPT(e, CURLOPT_POSTFIELDS, op->body);
        }
        if (strcmp(op->method, "POST") != 0 || !op->send_body)
            SETOPT(e, CURLOPT_CUSTOMREQUEST, op->method);
    }

    /* TLS towards Vault. */
    SETOPT(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SETOPT(e, CURLOPT_SSL_VERIFYPEER, fwd->skip_verify ? 0L : 1L);
    SETOPT(e, CURLOPT_SSL_VERIFYHOST, fwd->skip_verify ? 0L : 2L);
    const char *ca = op->ca_cert ? op->ca_cert : fwd->ca_cert;
    if (ca)
        SETOPT(e, CURLOPT_CAINFO, ca);
    if (fwd->ca_path)
        SETOPT(e, CURLOPT_CAPATH, fwd->ca_path);
    const char *cert = op->own_identity ? op->client_cert : fwd->client_cert;
    const char *key = op->own_identity ? op->client_key : fwd->client_key;
    if (cert)
        SETOPT(e, CURLOPT_SSLCERT, cert);
    if (key)
        SETOPT(e, CURLOPT_SSLKEY, key);
    if (op->own_identity) {
        /* A per-request identity (the cert auth method) must neither ride
         * on a connection made with another one nor leave its connection
         * or TLS session behind for others. */
        SETOPT(e, CURLOPT_FRESH_CONNECT, 1L);
        SETOPT(e, CURLOPT_FORBID_REUSE, 1L);
        SETOPT(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    }
    if (fwd->connect_to)
        SETOPT(e, CURLOPT_CONNECT_TO, fwd->connect_to);
    if (fwd->unix_path)
        SETOPT(e, CURLOPT_UNIX_SOCKET_PATH, fwd->unix_path);

    if (curl_multi_add_handle(fwd->multi, e) != CURLM_OK)
        goto fail;
    op->attempts++;
    op->state = OP_RUNNING;
    return 0;

fail:
    op->easy = NULL;
    pool_put(fwd, e);
    op->error = VPD_FWD_INTERNAL;
    snprintf(op->errbuf, sizeof op->errbuf, "could not set up the request");
    return -1;
}

/* Detaches the op's easy handle, if any, and returns it to the pool. */
static void
op_release_easy(vpd_fwd_op *op)
{
    if (!op->easy)
        return;
    curl_multi_remove_handle(op->fwd->multi, op->easy);
    pool_put(op->fwd, op->easy);
    op->easy = NULL;
}

/* ---- completion ------------------------------------------------------- */

static void
op_closed(uv_handle_t *h)
{
    free(h->data);
}

static const char *
error_name(vpd_fwd_error e)
{
    switch (e) {
    case VPD_FWD_OK: return "ok";
    case VPD_FWD_UNREACHABLE: return "unreachable";
    case VPD_FWD_TIMEOUT: return "timeout";
    case VPD_FWD_TLS: return "tls";
    case VPD_FWD_CANCELLED: return "cancelled";
    case VPD_FWD_INTERNAL: return "internal";
    }
    return "?";
}

/* Removes what must not be relayed from the upstream's headers, in one
 * pass over the list (this runs for every answer): the hop-by-hop headers,
 * any header a Connection header names, and Content-Length (the body is
 * whole and the server frames it) except on HEAD and 304 answers, where
 * it describes a body not sent. */
static void
filter_response_headers(vpd_hdrs *h, bool keep_length)
{
    bool has_connection = false;
    for (size_t i = 0; i < h->n && !has_connection; i++)
        has_connection = strcasecmp(h->v[i].name, "Connection") == 0;
    /* Decide first, then compact: the Connection header must still be in
     * place while other names are checked against it. */
    bool small[64];
    bool *drop = h->n <= 64 ? small : malloc(h->n * sizeof *drop);
    if (!drop)
        return;
    for (size_t i = 0; i < h->n; i++) {
        const char *n = h->v[i].name;
        drop[i] = hop_by_hop(n)
                  || (!keep_length && strcasecmp(n, "Content-Length") == 0)
                  || (has_connection && named_by_connection(h, n));
    }
    size_t kept = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (drop[i]) {
            explicit_bzero(h->v[i].value, strlen(h->v[i].value));
            free(h->v[i].name); /* one allocation holds name and value */
        } else {
            h->v[kept++] = h->v[i];
        }
    }
    h->n = kept;
    if (drop != small)
        free(drop);
}

/* Delivers the result and retires the op.  Nothing of the forwarder is
 * touched once the callback has been called: it may free the forwarder. */
static void
op_finish(vpd_fwd_op *op)
{
    vpd_fwd *fwd = op->fwd;

    op_release_easy(op);
    uv_timer_stop(&op->timer);
    if (op->prev)
        op->prev->next = op->next;
    else
        fwd->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    fwd->n_ops--;
    op->state = OP_DONE;

    vpd_fwd_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.error = op->error;
    resp.attempts = op->attempts;
    if (op->error == VPD_FWD_OK) {
        filter_response_headers(&op->rhdrs,
                                strcmp(op->method, "HEAD") == 0 ||
                                    op->status == 304);
        resp.status = op->status;
        resp.headers = op->rhdrs;
        memset(&op->rhdrs, 0, sizeof op->rhdrs);
    } else {
        if (!op->errbuf[0])
            snprintf(op->errbuf, sizeof op->errbuf, "%s",
                     error_name(op->error));
        resp.error_text = op->errbuf;
        if (op->rbody.data)
            OPENSSL_cleanse(op->rbody.data, op->rbody.len);
        vpd_buf_reset(&op->rbody);
        vpd_hdrs_free(&op->rhdrs);
        memset(&op->rhdrs, 0, sizeof op->rhdrs);
    }
    size_t body_len = op->rbody.len;
    if (vpd_buf_reserve(&op->rbody, 0) == 0) {
        resp.body = vpd_buf_steal(&op->rbody);
        resp.body_len = body_len;
    } else {
        resp.body = NULL;
        resp.body_len = 0;
    }

    if (vpd_log_enabled(VPD_LOG_DEBUG)) {
        double ms = (double)(uv_hrtime() - op->started_ns) / 1e6;
        if (op->error == VPD_FWD_OK)
            vpd_log(VPD_LOG_DEBUG, FWD_LOG,
                    "%s %s -> %d, attempts=%d, %.1f ms", op->method,
                    op->log_path, resp.status, op->attempts, ms);
        else
            vpd_log(VPD_LOG_DEBUG, FWD_LOG,
                    "%s %s -> %s (%s), attempts=%d, %.1f ms", op->method,
                    op->log_path, error_name(op->error), op->errbuf,
                    op->attempts, ms);
    }

    op->cb(&resp, op->arg);

    if (resp.body) {
        OPENSSL_cleanse(resp.body, body_len);
        free(resp.body);
    }
    vpd_hdrs_free(&resp.headers);
    free(op->method);
    free(op->url);
    free(op->log_path);
    free_slist_secret(op->hdrs);
    if (op->body) {
        OPENSSL_cleanse(op->body, op->body_len);
        free(op->body);
    }
    free(op->client_cert);
    free(op->client_key);
    free(op->ca_cert);
    vpd_buf_free(&op->rbody);
    vpd_buf_free_secret(&op->hline);
    uv_close((uv_handle_t *)&op->timer, op_closed);
}

static void on_op_timer(uv_timer_t *t);

/* Maps a curl failure onto our errors; *retry says whether Vault's client
 * (go-retryablehttp's base policy) would try again: certificate problems
 * and local mistakes are final, network trouble is not. */
static vpd_fwd_error
classify(CURLcode rc, bool *retry)
{
    *retry = true;
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return VPD_FWD_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
        return VPD_FWD_TLS;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        *retry = false;
        return VPD_FWD_TLS;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_FAILED_INIT:
        *retry = false;
        return VPD_FWD_INTERNAL;
    default:
        /* Refused, DNS, reset, nothing or garbage received. */
        return VPD_FWD_UNREACHABLE;
    }
}

/* The wait before the next attempt: Retry-After on 429/503 if the
 * upstream sent one, otherwise linear jitter (spec 1.4). */
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
            time_t when = curl_getdate(ra, NULL);
            if (when != (time_t)-1) {
                time_t now = time(NULL);
                return when > now ? (uint64_t)(when - now) * 1000ULL : 0;
            }
        }
    }
    uint64_t base = fwd->retry_min_ms;
    if (fwd->retry_max_ms > fwd->retry_min_ms)
        base += next_rand(fwd) % (fwd->retry_max_ms - fwd->retry_min_ms + 1);
    /* attempt n (0-based) waits base * (n + 1) */
    return base * (uint64_t)(op->retries + 1);
}

static bool
is_retryable_status(int status)
{
    return status == 429 || (status >= 500 && status <= 599 && status != 501);
}

/* Redirect handling as in Vault's client: one 301/302/307 is followed with
 * the same method, headers and body; never from https to http.  Returns 1
 * when op->url now names the new location (the caller sends again), 0 to
 * relay the response as is, -1 when the op failed (op->error set). */
static int
maybe_redirect(vpd_fwd_op *op, CURL *e)
{
    vpd_fwd *fwd = op->fwd;
    char *loc = NULL;

    if (op->redirected ||
        (op->status != 301 && op->status != 302 && op->status != 307))
        return 0;
    if (curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc) != CURLE_OK ||
        !loc || !*loc)
        return 0;
    if (strncasecmp(op->url, "https:", 6) == 0 &&
        strncasecmp(loc, "https:", 6) != 0) {
        op->error = VPD_FWD_UNREACHABLE;
        snprintf(op->errbuf, sizeof op->errbuf,
                 "redirect would cause protocol downgrade");
        return -1;
    }
    char *url = strdup(loc);
    if (!url) {
        op->error = VPD_FWD_INTERNAL;
        snprintf(op->errbuf, sizeof op->errbuf, "out of memory");
        return -1;
    }
    free(op->url);
    op->url = url;
    /* The Host override belongs to the configured origin only. */
    if (fwd->origin) {
        size_t ol = strlen(fwd->origin);
        op->use_host_line = strncasecmp(url, fwd->origin, ol) == 0 &&
                            (url[ol] == '/' || url[ol] == '\0' ||
                             url[ol] == '?');
    }
    op->redirected = true;
    op->retries = 0; /* Vault's client starts over with a fresh budget */
    return 1;
}

/* One attempt has ended with curl result rc. */
static void
op_attempt_done(vpd_fwd_op *op, CURLcode rc)
{
    vpd_fwd *fwd = op->fwd;
    CURL *e = op->easy;
    bool retry = false;

    if (rc == CURLE_OK) {
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        op->status = (int)code;
        op->error = VPD_FWD_OK;
        op->errbuf[0] = '\0';
        int r = maybe_redirect(op, e);
        if (r != 0) {
            op_release_easy(op);
            if (r > 0 && attempt_start(op) == 0)
                return;
            op_finish(op);
            return;
        }
        retry = is_retryable_status(op->status);
    } else {
        op->error = classify(rc, &retry);
        if (!op->errbuf[0])
            snprintf(op->errbuf, sizeof op->errbuf, "%s",
                     curl_easy_strerror(rc));
    }
    op_release_easy(op);

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
                vpd_log(VPD_LOG_DEBUG, FWD_LOG,
                        "%s %s -> %s, retrying in %llu ms (retry %d of %d)",
                        op->method, op->log_path, what,
                        (unsigned long long)wait, op->retries + 1,
                        op->max_retries);
            }
            op->retries++;
            op->state = OP_WAITING;
            uv_timer_start(&op->timer, on_op_timer, wait, 0);
            return;
        }
    }
    op_finish(op);
}

static void
on_op_timer(uv_timer_t *t)
{
    vpd_fwd_op *op = t->data;
    vpd_fwd *fwd = op->fwd;

    if (op->state != OP_WAITING)
        return;
    enter(fwd);
    if (attempt_start(op) != 0)
        op_finish(op);
    leave(fwd);
}

static void
check_multi_info(vpd_fwd *fwd)
{
    CURLMsg *msg;
    int left;

    while (!fwd->free_requested &&
           (msg = curl_multi_info_read(fwd->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        vpd_fwd_op *op = (vpd_fwd_op *)(void *)priv;
        CURLcode rc = msg->data.result;
        if (!op || op->easy != msg->easy_handle) {
            curl_multi_remove_handle(fwd->multi, msg->easy_handle);
            continue;
        }
        op_attempt_done(op, rc);
    }
}

/* ---- public API ------------------------------------------------------- */

/* Parses vault.address into the base URL and, for tls_server_name, the
 * CONNECT_TO mapping.  curl 7.88 has no option to set the SNI apart from
 * the URL's host, so the URL names tls_server_name (SNI and certificate
 * check use it) and CURLOPT_CONNECT_TO "name:port:host:port" sends the
 * connection to the real address; a Host header keeps the address's
 * host, as Vault's Go client would send. */
static int
parse_address(vpd_fwd *fwd, const vpd_vault_config *vault, char *err,
              size_t err_len)
{
    const char *addr = vault->address && *vault->address
                           ? vault->address
                           : "https://127.0.0.1:8200";
    int rc = -1;
    char *scheme = NULL, *host = NULL, *port = NULL, *dport = NULL,
         *path = NULL;
    vpd_buf b = VPD_BUF_INIT;

    if (strncasecmp(addr, "unix://", 7) == 0) {
        /* As Vault's client: HTTP over the socket, host "localhost". */
        if (!addr[7]) {
            set_err(err, err_len, "vault.address: %s: no socket path", addr);
            return -1;
        }
        fwd->unix_path = strdup(addr + 7);
        fwd->base = strdup("http://localhost");
        return fwd->unix_path && fwd->base ? 0 : -1;
    }

    CURLU *u = curl_url();
    if (!u)
        return -1;
    if (curl_url_set(u, CURLUPART_URL, addr, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        set_err(err, err_len, "vault.address: %s: not a valid URL", addr);
        goto out;
    }
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        set_err(err, err_len, "vault.address: %s: scheme must be http or https",
                addr);
        goto out;
    }
    curl_url_get(u, CURLUPART_PORT, &port, 0);
    curl_url_get(u, CURLUPART_PORT, &dport, CURLU_DEFAULT_PORT);
    curl_url_get(u, CURLUPART_PATH, &path, 0);
    size_t pl = path ? strlen(path) : 0;
    while (pl && path[pl - 1] == '/')
        pl--;

    bool https = strcasecmp(scheme, "https") == 0;
    const char *sni = vault->tls_server_name;
    if (https && sni && *sni) {
        bool v6 = strchr(sni, ':') != NULL;
        if (vpd_buf_printf(&b, "https://%s%s%s:%s", v6 ? "[" : "", sni,
                           v6 ? "]" : "", dport) != 0)
            goto out;
        fwd->origin = strdup(b.data);
        char *ct = NULL;
        size_t ctl = strlen(sni) + strlen(host) + 2 * strlen(dport) + 8;
        ct = malloc(ctl);
        if (!ct || !fwd->origin)
            goto oom;
        snprintf(ct, ctl, "%s%s%s:%s:%s:%s", v6 ? "[" : "", sni, v6 ? "]" : "",
                 dport, host, dport);
        fwd->connect_to = curl_slist_append(NULL, ct);
        free(ct);
        size_t hl = strlen(host) + (port ? strlen(port) : 0) + 8;
        fwd->host_line = malloc(hl);
        if (!fwd->connect_to || !fwd->host_line)
            goto oom;
        snprintf(fwd->host_line, hl, "Host: %s%s%s", host, port ? ":" : "",
                 port ? port : "");
    } else {
        if (vpd_buf_printf(&b, "%s://%s%s%s", https ? "https" : "http", host,
                           port ? ":" : "", port ? port : "") != 0)
            goto oom;
    }
    if (pl && vpd_buf_append(&b, path, pl) != 0)
        goto oom;
    fwd->base = vpd_buf_steal(&b);
    rc = fwd->base ? 0 : -1;
    goto out;
oom:
    set_err(err, err_len, "vault.address: %s: out of memory", addr);
out:
    vpd_buf_free(&b);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(dport);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

static void
timer_closed(uv_handle_t *h)
{
    free(h);
}

static void
fwd_release(vpd_fwd *fwd)
{
    /* Our watchers go first (curl forgets them), then curl closes its
     * sockets; a late CURL_POLL_REMOVE then finds no context. */
    while (fwd->socks) {
        curl_multi_assign(fwd->multi, fwd->socks->fd, NULL);
        sock_close(fwd, fwd->socks);
    }
    for (size_t i = 0; i < fwd->n_pool; i++)
        curl_easy_cleanup(fwd->pool[i]);
    fwd->n_pool = 0;
    if (fwd->multi)
        curl_multi_cleanup(fwd->multi);
    fwd->multi = NULL;
    if (fwd->timer)
        uv_close((uv_handle_t *)fwd->timer, timer_closed);
    free(fwd->base);
    free(fwd->origin);
    free(fwd->host_line);
    curl_slist_free_all(fwd->connect_to);
    free(fwd->unix_path);
    free(fwd->ca_cert);
    free(fwd->ca_path);
    free(fwd->client_cert);
    free(fwd->client_key);
    free(fwd);
}

vpd_fwd *
vpd_fwd_new(uv_loop_t *loop, const vpd_vault_config *vault, char *err,
            size_t err_len)
{
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            set_err(err, err_len, "libcurl: %s", "global init failed");
            return NULL;
        }
        curl_ready = true;
    }
    vpd_fwd *fwd = calloc(1, sizeof *fwd);
    if (!fwd) {
        set_err(err, err_len, "forwarder: %s", "out of memory");
        return NULL;
    }
    fwd->loop = loop;
    fwd->retry_min_ms = 1000;
    fwd->retry_max_ms = 1500;
    fwd->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)fwd;
    if (!fwd->rng)
        fwd->rng = 0x9E3779B97F4A7C15ULL;
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
    fwd->timer = malloc(sizeof *fwd->timer);
    fwd->multi = curl_multi_init();
    if (!fwd->timer || !fwd->multi) {
        free(fwd->timer);
        fwd->timer = NULL;
        set_err(err, err_len, "libcurl: %s", "cannot create a multi handle");
        goto fail;
    }
    uv_timer_init(loop, fwd->timer);
    fwd->timer->data = fwd;
    curl_multi_setopt(fwd->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(fwd->multi, CURLMOPT_SOCKETDATA, fwd);
    curl_multi_setopt(fwd->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(fwd->multi, CURLMOPT_TIMERDATA, fwd);
    /* Enough idle connections kept for a busy proxy's concurrency. */
    curl_multi_setopt(fwd->multi, CURLMOPT_MAXCONNECTS, FWD_MAX_CONNECTS);
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

/* Builds the header lines sent upstream from the client's headers. */
static int
build_headers(vpd_fwd_op *op, const vpd_hdrs *in)
{
    vpd_fwd *fwd = op->fwd;
    struct curl_slist *l = NULL, *t;
    bool accept = false, ctype = false;
    vpd_buf line = VPD_BUF_INIT;

    if (fwd->host_line) {
        if (!(l = curl_slist_append(NULL, fwd->host_line)))
            return -1;
    }
    for (size_t i = 0; in && i < in->n; i++) {
        const char *n = in->v[i].name, *v = in->v[i].value ? in->v[i].value
                                                            : "";
        if (!valid_token(n) || !valid_value(v))
            continue;
        if (hop_by_hop(n) || strcasecmp(n, "Host") == 0 ||
            strcasecmp(n, "Content-Length") == 0 ||
            strcasecmp(n, "Expect") == 0 ||
            /* The body is relayed identity-encoded, as Vault Proxy does. */
            strcasecmp(n, "Accept-Encoding") == 0 ||
            named_by_connection(in, n))
            continue;
        if (strcasecmp(n, "Accept") == 0)
            accept = true;
        if (strcasecmp(n, "Content-Type") == 0)
            ctype = true;
        vpd_buf_reset(&line);
        /* "Name;" is how curl sends a header with an empty value. */
        if ((*v ? vpd_buf_printf(&line, "%s: %s", n, v)
                : vpd_buf_printf(&line, "%s;", n)) != 0)
            goto fail;
        if (!(t = curl_slist_append(l, line.data)))
            goto fail;
        l = t;
    }
    /* "Name:" removes what curl would add on its own: Accept: * / *,
     * Expect: 100-continue on big bodies, and the form Content-Type it
     * puts on POSTFIELDS. */
    if (!(t = curl_slist_append(l, "Expect:")))
        goto fail;
    l = t;
    if (!accept) {
        if (!(t = curl_slist_append(l, "Accept:")))
            goto fail;
        l = t;
    }
    if (!ctype) {
        if (!(t = curl_slist_append(l, "Content-Type:")))
            goto fail;
        l = t;
    }
    vpd_buf_free_secret(&line);
    op->hdrs = l;
    return 0;
fail:
    vpd_buf_free_secret(&line);
    free_slist_secret(l);
    return -1;
}

static void
op_free_unstarted(vpd_fwd_op *op)
{
    free(op->method);
    free(op->url);
    free(op->log_path);
    free_slist_secret(op->hdrs);
    if (op->body) {
        OPENSSL_cleanse(op->body, op->body_len);
        free(op->body);
    }
    free(op->client_cert);
    free(op->client_key);
    free(op->ca_cert);
    vpd_buf_free(&op->rbody);
    vpd_buf_free_secret(&op->hline);
    vpd_hdrs_free(&op->rhdrs);
    free(op);
}

static void
op_closed_unstarted(uv_handle_t *h)
{
    op_free_unstarted(h->data);
}

vpd_fwd_op *
vpd_fwd_send(vpd_fwd *fwd, const vpd_fwd_req *req, vpd_fwd_cb cb, void *arg)
{
    if (!fwd || !req || !cb || fwd->freeing || fwd->free_requested ||
        !valid_token(req->method) || !valid_target(req->target) ||
        (req->body_len && !req->body))
        return NULL;

    vpd_fwd_op *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->fwd = fwd;
    op->cb = cb;
    op->arg = arg;
    op->started_ns = uv_hrtime();
    op->method = strdup(req->method);
    size_t tl = strlen(req->target);
    bool slash = req->target[0] == '/';
    size_t ul = strlen(fwd->base) + tl + 2;
    op->url = malloc(ul);
    op->log_path = strndup(req->target, strcspn(req->target, "?"));
    if (!op->method || !op->url || !op->log_path)
        goto fail;
    snprintf(op->url, ul, "%s%s%s", fwd->base, slash ? "" : "/", req->target);
    op->use_host_line = fwd->host_line != NULL;
    if (build_headers(op, req->headers) != 0)
        goto fail;

    bool bodyful = strcmp(op->method, "POST") == 0 ||
                   strcmp(op->method, "PUT") == 0 ||
                   strcmp(op->method, "PATCH") == 0;
    op->send_body = strcmp(op->method, "HEAD") != 0 &&
                    (req->body_len > 0 || bodyful);
    op->body_len = req->body_len;
    op->body = malloc(req->body_len + 1);
    if (!op->body)
        goto fail;
    if (req->body_len)
        memcpy(op->body, req->body, req->body_len);
    op->body[req->body_len] = '\0';

    if ((req->client_cert && *req->client_cert) ||
        (req->client_key && *req->client_key) ||
        (req->ca_cert && *req->ca_cert)) {
        op->own_identity = true;
        op->client_cert = dup_or_null(req->client_cert);
        op->client_key = dup_or_null(req->client_key);
        op->ca_cert = dup_or_null(req->ca_cert);
        if ((req->client_cert && *req->client_cert && !op->client_cert) ||
            (req->client_key && *req->client_key && !op->client_key) ||
            (req->ca_cert && *req->ca_cert && !op->ca_cert))
            goto fail;
    }

    op->max_retries = req->max_retries < 0 ? fwd->num_retries
                                           : req->max_retries;
    long tmo = req->timeout_ms > 0 ? req->timeout_ms : FWD_DEFAULT_TIMEOUT_MS;
    op->deadline = uv_now(fwd->loop) + (uint64_t)tmo;

    uv_timer_init(fwd->loop, &op->timer);
    op->timer.data = op;
    /* curl_multi_add_handle only arms curl's timer: the transfer, and so
     * the callback, start on a later loop iteration. */
    if (attempt_start(op) != 0) {
        /* The call fails and the callback will never run; the op goes
         * with its (never started) timer's close callback. */
        uv_close((uv_handle_t *)&op->timer, op_closed_unstarted);
        return NULL;
    }
    op->next = fwd->ops;
    if (fwd->ops)
        fwd->ops->prev = op;
    fwd->ops = op;
    fwd->n_ops++;
    return op;

fail:
    op_free_unstarted(op);
    return NULL;
}

void
vpd_fwd_cancel(vpd_fwd_op *op)
{
    if (!op || op->state == OP_DONE)
        return;
    vpd_fwd *fwd = op->fwd;
    enter(fwd);
    op_release_easy(op);
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
        op_release_easy(op);
        op->error = VPD_FWD_CANCELLED;
        snprintf(op->errbuf, sizeof op->errbuf, "forwarder shut down");
        op_finish(op);
    }
    leave(fwd); /* destroys now unless a callback of ours is running */
}
