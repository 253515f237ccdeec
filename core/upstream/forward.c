/* The forwarder drives one libcurl multi handle from the libuv loop, as
 * curl's docs/examples/multi-uv.c does: curl tells us which sockets to
 * watch (CURLMOPT_SOCKETFUNCTION, one uv_poll_t each) and when to wake it
 * (CURLMOPT_TIMERFUNCTION, one uv_timer_t), and we hand readiness back with
 * curl_multi_socket_action.  Nothing here blocks and there are no threads
 * of ours (curl's threaded resolver runs its own).
 *
 * Each request is an op; ops are recycled through a small free list with
 * their buffers (URL, header lines, response body), so the steady state
 * allocates little per request.  An op gets a uv_timer_t only when it has
 * to wait before a retry.  Each attempt borrows an easy handle from a
 * small pool; the connections themselves live in the multi handle's
 * cache, so keep-alive reuse works across attempts and requests whatever
 * easy handle is used.  A handle that served a plain GET keeps its
 * options, and the next plain GET sets only what differs per request;
 * any other request starts from curl_easy_reset.
 *
 * Lifetimes: an op with a timer stays allocated until the timer's close
 * callback; one without goes back to the free list once its callback has
 * returned (the caller's op pointer is dead from then on, as documented).
 * Socket contexts and the curl timer are separate allocations freed by
 * their own close callbacks, which lets vpd_fwd_free release the
 * forwarder at once; the loop finishes the closing. */
#include "autoconf.h"

#include "upstream/forward.h"

#include "base/buf.h"
#include "base/log.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FWD_LOG "proxy.forward"
#define FWD_DEFAULT_TIMEOUT_MS 60000L
#define FWD_CONNECT_TIMEOUT_MS 30000L /* Go's dialer + TLS handshake */
#define FWD_MAX_CONNECTS 64L
#define FWD_POOL_MAX 64
#define FWD_OP_POOL_MAX 256
/* Buffers larger than this are not kept by a recycled op. */
#define FWD_KEEP_BUF (64 * 1024)
/* Parsed URLs kept for reuse (see url_cache_get). */
#define FWD_UCACHE 32
#define FWD_UCACHE_MAX_URL 1024

typedef enum {
    OP_RUNNING = 0, /* an attempt is in the multi handle */
    OP_WAITING,     /* the timer runs before the next attempt */
    OP_DONE,        /* the callback ran or is running */
} op_state;

typedef struct fwd_sock fwd_sock;

/* An idle handle that is active from a callback's delivery until the
 * loop's next check phase, and the check handle that stops it.  Freed
 * when both are closed. */
struct fwd_kick {
    uv_idle_t idle;
    uv_check_t check;
    int open;
};

/* A URL parsed the way curl parses CURLOPT_URL, for CURLOPT_CURLU. */
typedef struct {
    char *url; /* NULL: the slot is free */
    size_t len;
    uint64_t hash;
    uint64_t used; /* for LRU eviction */
    unsigned refs; /* attempts whose easy handle points at u */
    CURLU *u;
} fwd_url;

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
    int events;  /* what the watcher is started for, 0 when stopped */
    bool wanted; /* curl currently watches this socket */
};

struct vpd_fwd {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t *timer;     /* curl's timer; freed by its close callback */
    struct fwd_kick *kick; /* see fwd_kick */

    char *base;      /* scheme://host[:port][/prefix], no trailing '/' */
    char *host_line; /* "Host: addr[:port]" when tls_server_name is used */
    char *origin;    /* scheme://name:port the host_line applies to */
    struct curl_slist *connect_to;
    char *unix_path;

    char *ca_cert, *ca_path, *client_cert, *client_key;
    bool skip_verify;
    bool tls_reloaded; /* vpd_fwd_set_tls ran: no cached CA store */
    int num_retries;
    unsigned retry_min_ms, retry_max_ms;
    uint64_t rng;

    /* Idle easy handles; `ready` ones still hold the options of a plain
     * GET (see easy_setup). */
    struct {
        CURL *e;
        bool ready;
    } pool[FWD_POOL_MAX];
    size_t n_pool;
    vpd_fwd_op *free_ops; /* recycled ops, linked by next */
    size_t n_free_ops;

    /* The proxy settings curl would read from the environment for each
     * transfer, read once: http_proxy / https_proxy (HTTPS_PROXY) /
     * all_proxy (ALL_PROXY) and no_proxy (NO_PROXY).  "" means none. */
    char *proxy_http, *proxy_https, *no_proxy;

    fwd_url ucache[FWD_UCACHE];
    uint64_t ucache_tick;

    vpd_fwd_op *ops; /* under way, doubly linked */
    size_t n_ops;
    fwd_sock *socks;
    size_t n_sockets; /* opened by curl and not yet closed (metrics) */

    int busy;            /* depth of calls that may run user callbacks */
    bool free_requested; /* vpd_fwd_free ran inside a callback */
    bool freeing;
};

struct vpd_fwd_op {
    vpd_fwd *fwd;
    vpd_fwd_op *prev, *next; /* under way; or the free list */
    uv_timer_t timer;        /* initialised only for a retry wait */
    bool timer_inited;
    op_state state;

    char *method; /* method_buf or a heap copy */
    char method_buf[16];
    bool is_get, is_head, is_post;
    bool plain;        /* GET, no body, no own TLS identity */
    vpd_buf url;       /* what the next attempt asks for */
    size_t target_off; /* where the client's target starts in url */
    char *log_path;    /* set once a redirect replaced the url */
    bool use_host_line;
    vpd_buf hbuf;              /* header lines sent upstream, NUL-separated */
    struct curl_slist *hnodes; /* the list curl gets, in hbuf's order */
    size_t hnodes_cap;
    struct curl_slist *hdrs; /* first node (the Host override, if any) */
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
    bool easy_keep;  /* the handle may keep its options for a plain GET */
    int ucache_slot; /* the fwd->ucache entry the attempt uses, or -1 */
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

/* Case-insensitive comparison of a name of known length with a literal. */
static inline bool
name_is(const char *n, size_t nl, const char *lit, size_t ll)
{
    return nl == ll && strncasecmp(n, lit, ll) == 0;
}
#define NAME_IS(n, nl, lit) name_is((n), (nl), lit, sizeof lit - 1)

/* Whether `name` (nl bytes) is one of the comma-separated tokens of a
 * Connection header value. */
static bool
token_in_list(const char *list, const char *name, size_t nl)
{
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

/* The Connection headers of a list, found once per message so that the
 * check of every other name does not scan the whole list again. */
typedef struct {
    const char *small[4];
    const char **v;
    size_t n;
} conn_values;

static void
conn_values_init(conn_values *cv, const vpd_hdrs *h)
{
    cv->v = cv->small;
    cv->n = 0;
    size_t cap = sizeof cv->small / sizeof cv->small[0];
    for (size_t i = 0; h && i < h->n; i++) {
        const char *n = h->v[i].name;
        if ((n[0] | 0x20) != 'c' || strcasecmp(n, "Connection") != 0)
            continue;
        if (cv->n == cap) {
            const char **nv = malloc(2 * cap * sizeof *nv);
            if (!nv)
                continue; /* out of memory: fewer names dropped */
            memcpy(nv, cv->v, cv->n * sizeof *nv);
            if (cv->v != cv->small)
                free(cv->v);
            cv->v = nv;
            cap *= 2;
        }
        cv->v[cv->n++] = h->v[i].value ? h->v[i].value : "";
    }
}

static void
conn_values_free(conn_values *cv)
{
    if (cv->v != cv->small)
        free(cv->v);
}

static bool
named_by_connection(const conn_values *cv, const char *name, size_t nl)
{
    for (size_t i = 0; i < cv->n; i++)
        if (token_in_list(cv->v[i], name, nl))
            return true;
    return false;
}

/* RFC 9110 tchar. */
static inline bool
is_tchar(unsigned char c)
{
    if (c <= 0x20 || c >= 0x7f)
        return false;
    switch (c) {
    case '"':
    case '(':
    case ')':
    case ',':
    case '/':
    case ':':
    case ';':
    case '<':
    case '=':
    case '>':
    case '?':
    case '@':
    case '[':
    case '\\':
    case ']':
    case '{':
    case '}':
        return false;
    default:
        return true;
    }
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

/* curl opens a connection: as curl would, only counted (the open
 * upstream connections gauge). */
static curl_socket_t
on_curl_opensocket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    vpd_fwd *fwd = clientp;
    (void)purpose;
    curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
    if (fd != CURL_SOCKET_BAD)
        fwd->n_sockets++;
    return fd;
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
    if (fwd->n_sockets)
        fwd->n_sockets--;
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
    else if (timeout_ms == 0 && uv_is_active((uv_handle_t *)fwd->timer) &&
             uv_timer_get_due_in(fwd->timer) == 0)
        ; /* already due: curl asks again for each transfer it is given */
    else  /* 0 means "soon": the next loop iteration, never from here. */
        uv_timer_start(fwd->timer, on_curl_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- easy handle pool ------------------------------------------------- */

/* Returns an idle handle (*ready: it still holds a plain GET's options)
 * or a new one. */
static CURL *
pool_get(vpd_fwd *fwd, bool *ready)
{
    if (fwd->n_pool) {
        fwd->n_pool--;
        *ready = fwd->pool[fwd->n_pool].ready;
        return fwd->pool[fwd->n_pool].e;
    }
    *ready = false;
    return curl_easy_init();
}

/* curl_easy_reset drops every option (and with them our pointers into the
 * op) but keeps the handle's caches; the connections stay in the multi's
 * cache either way.  A handle that served a plain GET (keep) is not reset:
 * the next plain GET overwrites every option that differs per request,
 * and anything else resets it first (attempt_start). */
static void
pool_put(vpd_fwd *fwd, CURL *e, bool keep)
{
    if (fwd->n_pool < FWD_POOL_MAX) {
        if (!keep)
            curl_easy_reset(e);
        fwd->pool[fwd->n_pool].e = e;
        fwd->pool[fwd->n_pool].ready = keep;
        fwd->n_pool++;
    } else {
        curl_easy_cleanup(e);
    }
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
        vpd_hdrs_clear(&op->rhdrs);
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
    if (commit_header_line(op) != 0 || vpd_buf_append(&op->hline, data, l) != 0)
        return 0; /* CURLE_WRITE_ERROR */
    return len;
}

static void
attempt_reset(vpd_fwd_op *op)
{
    if (op->hline.len)
        OPENSSL_cleanse(op->hline.data, op->hline.len);
    vpd_buf_reset(&op->hline);
    vpd_hdrs_clear(&op->rhdrs);
    if (op->rbody.len)
        OPENSSL_cleanse(op->rbody.data, op->rbody.len);
    vpd_buf_reset(&op->rbody);
    op->status = 0;
    op->in_headers = false;
    op->error = VPD_FWD_OK;
    op->errbuf[0] = '\0';
}

#define SETOPT(e, o, v)                                                        \
    do {                                                                       \
        if (curl_easy_setopt((e), (o), (v)) != CURLE_OK)                       \
            goto fail;                                                         \
    } while (0)

/* ---- parsed URL cache ------------------------------------------------- */

/* curl parses the URL of every transfer (curl_url_set) and then rebuilds
 * it (curl_url_get), both through its byte-at-a-time printf: a large part
 * of its per-request work.  Given CURLOPT_CURLU, it copies the parsed
 * handle instead (curl_url_dup), so the URLs in use are parsed once, here,
 * with the flags curl itself uses for CURLOPT_URL (url.c
 * parseurlandfillconn: GUESS_SCHEME, NON_SUPPORT_SCHEME, PATH_AS_IS since
 * we set it).  CURLOPT_URL is still set to the same string, so everything
 * curl derives from the URL text is unchanged.  An entry is pinned while
 * an attempt uses it; the least recently used unpinned one makes room. */
static uint64_t
url_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void
url_slot_clear(fwd_url *e)
{
    free(e->url);
    curl_url_cleanup(e->u);
    memset(e, 0, sizeof *e);
}

/* Returns the slot holding `url` parsed (pinned once more), or -1 when it
 * is not cacheable (too long, unparsable, an IPv6 zone id, which
 * curl_url_dup does not copy in 7.88) or every slot is pinned. */
static int
url_cache_get(vpd_fwd *fwd, const char *url, size_t len)
{
    if (len > FWD_UCACHE_MAX_URL)
        return -1;
    uint64_t h = url_hash(url, len);
    int free_slot = -1, lru = -1;
    for (int i = 0; i < FWD_UCACHE; i++) {
        fwd_url *e = &fwd->ucache[i];
        if (!e->url) {
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        if (e->hash == h && e->len == len && memcmp(e->url, url, len) == 0) {
            e->used = ++fwd->ucache_tick;
            e->refs++;
            return i;
        }
        if (!e->refs && (lru < 0 || e->used < fwd->ucache[lru].used))
            lru = i;
    }
    int slot = free_slot >= 0 ? free_slot : lru;
    if (slot < 0)
        return -1;
    CURLU *u = curl_url();
    char *copy = malloc(len + 1);
    char *zone = NULL;
    if (!u || !copy ||
        curl_url_set(u, CURLUPART_URL, url,
                     CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME |
                         CURLU_PATH_AS_IS) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
        curl_free(zone);
        curl_url_cleanup(u);
        free(copy);
        return -1;
    }
    memcpy(copy, url, len + 1);
    fwd_url *e = &fwd->ucache[slot];
    url_slot_clear(e);
    e->url = copy;
    e->len = len;
    e->hash = h;
    e->u = u;
    e->refs = 1;
    e->used = ++fwd->ucache_tick;
    return slot;
}

static void
url_cache_unpin(vpd_fwd *fwd, int slot)
{
    if (slot >= 0 && fwd->ucache[slot].refs)
        fwd->ucache[slot].refs--;
}

/* The options every attempt of this op shares with every other op of the
 * same kind: everything but the per-request ones of attempt_start.  For a
 * plain GET these are the same for all requests, which is what lets a
 * handle keep them (pool_put). */
static int
easy_setup(vpd_fwd_op *op, CURL *e)
{
    vpd_fwd *fwd = op->fwd;

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
    SETOPT(e, CURLOPT_OPENSOCKETFUNCTION, on_curl_opensocket);
    SETOPT(e, CURLOPT_OPENSOCKETDATA, fwd);
    SETOPT(e, CURLOPT_CLOSESOCKETFUNCTION, on_curl_closesocket);
    SETOPT(e, CURLOPT_CLOSESOCKETDATA, fwd);
    SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(e, CURLOPT_TCP_KEEPIDLE, 30L);
    SETOPT(e, CURLOPT_TCP_KEEPINTVL, 15L);
    SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(e, CURLOPT_WRITEFUNCTION, on_body);
    /* The environment's proxy settings, read once (vpd_fwd_new) instead of
     * by curl on every transfer.  When http and https differ, the attempt
     * picks by the URL's scheme. */
    SETOPT(e, CURLOPT_NOPROXY, fwd->no_proxy);
    if (strcmp(fwd->proxy_http, fwd->proxy_https) == 0)
        SETOPT(e, CURLOPT_PROXY, fwd->proxy_http);

    /* TLS towards Vault. */
    SETOPT(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SETOPT(e, CURLOPT_SSL_VERIFYPEER, fwd->skip_verify ? 0L : 1L);
    SETOPT(e, CURLOPT_SSL_VERIFYHOST, fwd->skip_verify ? 0L : 2L);
    const char *ca = op->ca_cert ? op->ca_cert : fwd->ca_cert;
    if (ca)
        SETOPT(e, CURLOPT_CAINFO, ca);
    if (fwd->ca_path)
        SETOPT(e, CURLOPT_CAPATH, fwd->ca_path);
#if LIBCURL_VERSION_NUM >= 0x075700
    /* curl caches a CA store by file name for a day; after a SIGHUP the
     * same name may hold new certificates, so new connections read the
     * files again. */
    if (fwd->tls_reloaded)
        SETOPT(e, CURLOPT_CA_CACHE_TIMEOUT, 0L);
#endif
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
    return 0;
fail:
    return -1;
}

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
    bool ready;
    CURL *e = pool_get(fwd, &ready);
    if (!e) {
        op->error = VPD_FWD_INTERNAL;
        snprintf(op->errbuf, sizeof op->errbuf, "out of memory");
        return -1;
    }
    op->easy = e;
    op->easy_keep = false;
    if (ready && !op->plain) {
        curl_easy_reset(e);
        ready = false;
    }
    if (!ready && easy_setup(op, e) != 0)
        goto fail;

    /* What differs per request or attempt. */
    SETOPT(e, CURLOPT_PRIVATE, op);
    SETOPT(e, CURLOPT_ERRORBUFFER, op->errbuf);
    SETOPT(e, CURLOPT_HEADERDATA, op);
    SETOPT(e, CURLOPT_WRITEDATA, op);
    op->ucache_slot = url_cache_get(fwd, op->url.data, op->url.len);
    SETOPT(e, CURLOPT_CURLU,
           op->ucache_slot >= 0 ? fwd->ucache[op->ucache_slot].u : NULL);
    SETOPT(e, CURLOPT_URL, op->url.data);
    SETOPT(e, CURLOPT_TIMEOUT_MS, left);
    SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS,
           left < FWD_CONNECT_TIMEOUT_MS ? left : FWD_CONNECT_TIMEOUT_MS);
    struct curl_slist *hdrs = op->hdrs;
    if (fwd->host_line && !op->use_host_line)
        hdrs = hdrs->next; /* the first line is the Host override */
    SETOPT(e, CURLOPT_HTTPHEADER, hdrs);
    bool keep = op->plain;
    if (strcmp(fwd->proxy_http, fwd->proxy_https) != 0) {
        const char *u = op->url.data;
        if (strncasecmp(u, "https:", 6) == 0) {
            SETOPT(e, CURLOPT_PROXY, fwd->proxy_https);
        } else if (strncasecmp(u, "http:", 5) == 0) {
            SETOPT(e, CURLOPT_PROXY, fwd->proxy_http);
        } else {
            /* Another scheme (curl refuses it): leave it to curl. */
            SETOPT(e, CURLOPT_PROXY, NULL);
            SETOPT(e, CURLOPT_NOPROXY, NULL);
            keep = false;
        }
    }

    if (!op->plain) {
        if (op->is_get && !op->send_body) {
            SETOPT(e, CURLOPT_HTTPGET, 1L);
        } else if (op->is_head) {
            SETOPT(e, CURLOPT_NOBODY, 1L);
        } else {
            if (op->send_body) {
                SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE,
                       (curl_off_t)op->body_len);
                SETOPT(e, CURLOPT_POSTFIELDS, op->body ? op->body : "");
            }
            if (!op->is_post || !op->send_body)
                SETOPT(e, CURLOPT_CUSTOMREQUEST, op->method);
        }
    }

    if (curl_multi_add_handle(fwd->multi, e) != CURLM_OK)
        goto fail;
    op->easy_keep = keep;
    op->attempts++;
    op->state = OP_RUNNING;
    return 0;

fail:
    op->easy = NULL;
    pool_put(fwd, e, false);
    url_cache_unpin(fwd, op->ucache_slot);
    op->ucache_slot = -1;
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
    pool_put(op->fwd, op->easy, op->easy_keep);
    op->easy = NULL;
    op->easy_keep = false;
    url_cache_unpin(op->fwd, op->ucache_slot);
    op->ucache_slot = -1;
}

/* ---- loop wake-up after a delivery ------------------------------------ */

/* A callback delivered from the loop's timer phase (a transfer that
 * completed inside curl's timeout handling) must not leave the loop
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
    free(op->log_path);
    op->log_path = NULL;
    if (op->hbuf.len)
        OPENSSL_cleanse(op->hbuf.data, op->hbuf.len);
    vpd_buf_reset(&op->hbuf);
    op->hdrs = NULL;
    if (op->body) {
        OPENSSL_cleanse(op->body, op->body_len);
        free(op->body);
        op->body = NULL;
    }
    free(op->client_cert);
    free(op->client_key);
    free(op->ca_cert);
    op->client_cert = op->client_key = op->ca_cert = NULL;
    if (op->rbody.len)
        OPENSSL_cleanse(op->rbody.data, op->rbody.len);
    vpd_buf_reset(&op->rbody);
    if (op->hline.len)
        OPENSSL_cleanse(op->hline.data, op->hline.len);
    vpd_buf_reset(&op->hline);
    vpd_hdrs_clear(&op->rhdrs);
    vpd_buf_reset(&op->url);
}

static void
op_free(vpd_fwd_op *op)
{
    op_clear_request(op);
    vpd_buf_free_secret(&op->hbuf);
    vpd_buf_free(&op->url);
    vpd_buf_free(&op->rbody);
    vpd_buf_free_secret(&op->hline);
    vpd_hdrs_free(&op->rhdrs);
    free(op->hnodes);
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
    if (!op) {
        op = calloc(1, sizeof *op);
        if (op)
            op->ucache_slot = -1;
        return op;
    }
    fwd->free_ops = op->next;
    fwd->n_free_ops--;
    vpd_buf url = op->url, hbuf = op->hbuf, hline = op->hline,
            rbody = op->rbody;
    vpd_hdrs rhdrs = op->rhdrs;
    struct curl_slist *hnodes = op->hnodes;
    size_t hnodes_cap = op->hnodes_cap;
    memset(op, 0, sizeof *op);
    op->url = url;
    op->hbuf = hbuf;
    op->hline = hline;
    op->rbody = rbody;
    op->rhdrs = rhdrs;
    op->hnodes = hnodes;
    op->hnodes_cap = hnodes_cap;
    op->ucache_slot = -1;
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
    if (op->url.cap > FWD_KEEP_BUF)
        vpd_buf_free(&op->url);
    if (op->hbuf.cap > FWD_KEEP_BUF)
        vpd_buf_free_secret(&op->hbuf);
    if (op->rbody.cap > FWD_KEEP_BUF)
        vpd_buf_free(&op->rbody);
    if (op->hline.cap > FWD_KEEP_BUF)
        vpd_buf_free_secret(&op->hline);
    if (op->hnodes_cap > 64) {
        free(op->hnodes);
        op->hnodes = NULL;
        op->hnodes_cap = 0;
    }
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
    const char *t = op->url.data + op->target_off;
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

/* Removes what must not be relayed from the upstream's headers, in one
 * pass over the list (this runs for every answer): the hop-by-hop headers,
 * any header a Connection header names, and Content-Length (the body is
 * whole and the server frames it) except on HEAD and 304 answers, where
 * it describes a body not sent. */
static void
filter_response_headers(vpd_hdrs *h, bool keep_length)
{
    conn_values cv;
    conn_values_init(&cv, h);
    /* Decide first, then compact: the Connection header must still be in
     * place while other names are checked against it. */
    bool small[64];
    bool *drop = h->n <= 64 ? small : malloc(h->n * sizeof *drop);
    if (!drop) {
        conn_values_free(&cv);
        return;
    }
    bool any = false;
    for (size_t i = 0; i < h->n; i++) {
        const char *n = h->v[i].name;
        size_t nl = (size_t)(h->v[i].value - n) - 1; /* "name\0value" */
        drop[i] = vpd_hdr_is_hop_by_hop_n(n, nl) ||
                  (!keep_length && NAME_IS(n, nl, "Content-Length")) ||
                  (cv.n && named_by_connection(&cv, n, nl));
        any |= drop[i];
    }
    conn_values_free(&cv);
    if (any) {
        size_t kept = 0;
        for (size_t i = 0; i < h->n; i++) {
            if (drop[i]) {
                explicit_bzero(h->v[i].value, strlen(h->v[i].value));
                free(h->v[i].name); /* one allocation: name and value */
            } else {
                h->v[kept++] = h->v[i];
            }
        }
        h->n = kept;
    }
    if (drop != small)
        free(drop);
}

/* Delivers the result and retires the op.  The callback may free the
 * forwarder: that is deferred until no call of ours is on the stack
 * (enter/leave), and op_finish always runs inside one, so recycling the op
 * afterwards is safe. */
static void
op_finish(vpd_fwd_op *op)
{
    vpd_fwd *fwd = op->fwd;

    op_release_easy(op);
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
        filter_response_headers(&op->rhdrs, op->is_head || op->status == 304);
        resp.status = op->status;
        resp.headers = op->rhdrs;
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
        resp.body = op->rbody.data;
        resp.body_len = body_len;
    }

    if (vpd_log_enabled(VPD_LOG_DEBUG)) {
        double ms = (double)(uv_hrtime() - op->started_ns) / 1e6;
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

    char *lent = resp.body;
    fwd_kick(fwd);
    op->cb(&resp, op->arg);

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
    if (curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc) != CURLE_OK || !loc ||
        !*loc)
        return 0;
    if (strncasecmp(op->url.data, "https:", 6) == 0 &&
        strncasecmp(loc, "https:", 6) != 0) {
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
    vpd_buf_reset(&op->url);
    if (!op->log_path || vpd_buf_append_str(&op->url, loc) != 0) {
        op->error = VPD_FWD_INTERNAL;
        snprintf(op->errbuf, sizeof op->errbuf, "out of memory");
        return -1;
    }
    const char *url = op->url.data;
    /* The Host override belongs to the configured origin only. */
    if (fwd->origin) {
        size_t ol = strlen(fwd->origin);
        op->use_host_line =
            strncasecmp(url, fwd->origin, ol) == 0 &&
            (url[ol] == '/' || url[ol] == '\0' || url[ol] == '?');
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
                int pl;
                const char *path = op_log_path(op, &pl);
                vpd_log(VPD_LOG_DEBUG, FWD_LOG,
                        "%s %.*s -> %s, retrying in %llu ms (retry %d of %d)",
                        op->method, pl, path, what, (unsigned long long)wait,
                        op->retries + 1, op->max_retries);
            }
            op->retries++;
            op->state = OP_WAITING;
            if (!op->timer_inited) {
                uv_timer_init(fwd->loop, &op->timer);
                op->timer.data = op;
                op->timer_inited = true;
            }
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
        curl_easy_cleanup(fwd->pool[i].e);
    fwd->n_pool = 0;
    while (fwd->free_ops) {
        vpd_fwd_op *op = fwd->free_ops;
        fwd->free_ops = op->next;
        op_free(op);
    }
    fwd->n_free_ops = 0;
    if (fwd->multi)
        curl_multi_cleanup(fwd->multi);
    fwd->multi = NULL;
    for (int i = 0; i < FWD_UCACHE; i++)
        url_slot_clear(&fwd->ucache[i]);
    if (fwd->timer)
        uv_close((uv_handle_t *)fwd->timer, timer_closed);
    if (fwd->kick) {
        uv_close((uv_handle_t *)&fwd->kick->idle, kick_closed);
        uv_close((uv_handle_t *)&fwd->kick->check, kick_closed);
        fwd->kick = NULL;
    }
    free(fwd->base);
    free(fwd->origin);
    free(fwd->host_line);
    curl_slist_free_all(fwd->connect_to);
    free(fwd->unix_path);
    free(fwd->ca_cert);
    free(fwd->ca_path);
    free(fwd->client_cert);
    free(fwd->client_key);
    free(fwd->proxy_http);
    free(fwd->proxy_https);
    free(fwd->no_proxy);
    free(fwd);
}

/* The first of these environment variables that is set (even to ""), as
 * curl's proxy detection reads them; "" when none is. */
static char *
env_first(const char *const *names)
{
    for (; *names; names++) {
        const char *v = getenv(*names);
        if (v)
            return strdup(v);
    }
    return strdup("");
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
    /* curl copied the old strings into every handle and transfer, so
     * requests under way keep their settings. */
    free(fwd->ca_cert);
    free(fwd->ca_path);
    free(fwd->client_cert);
    free(fwd->client_key);
    fwd->ca_cert = ca;
    fwd->ca_path = cap;
    fwd->client_cert = cert;
    fwd->client_key = key;
    fwd->skip_verify = vault->tls_skip_verify;
    fwd->tls_reloaded = true;
    /* Idle handles that kept a plain GET's options hold the old TLS ones. */
    for (size_t i = 0; i < fwd->n_pool; i++) {
        if (fwd->pool[i].ready) {
            curl_easy_reset(fwd->pool[i].e);
            fwd->pool[i].ready = false;
        }
    }
    return 0;
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
    /* What curl 7.88 would read on each transfer (url.c detect_proxy and
     * create_conn_helper_init_proxy): <scheme>_proxy, HTTPS_PROXY for
     * https only (never HTTP_PROXY), then all_proxy / ALL_PROXY; and
     * no_proxy / NO_PROXY.  The first one set wins even when empty. */
    static const char *const env_http[] = {"http_proxy", "all_proxy",
                                           "ALL_PROXY", NULL};
    static const char *const env_https[] = {"https_proxy", "HTTPS_PROXY",
                                            "all_proxy", "ALL_PROXY", NULL};
    static const char *const env_no[] = {"no_proxy", "NO_PROXY", NULL};
    fwd->proxy_http = env_first(env_http);
    fwd->proxy_https = env_first(env_https);
    fwd->no_proxy = env_first(env_no);
    if (!fwd->proxy_http || !fwd->proxy_https || !fwd->no_proxy) {
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
    fwd->kick = calloc(1, sizeof *fwd->kick);
    if (!fwd->kick) {
        set_err(err, err_len, "forwarder: %s", "out of memory");
        goto fail;
    }
    uv_idle_init(loop, &fwd->kick->idle);
    uv_check_init(loop, &fwd->kick->check);
    fwd->kick->idle.data = fwd->kick->check.data = fwd->kick;
    fwd->kick->open = 2;
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

size_t
vpd_fwd_open_connections(const vpd_fwd *fwd)
{
    return fwd->n_sockets;
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

/* Header lines that remove what curl would add on its own. */
static char line_no_expect[] = "Expect:";
static char line_no_accept[] = "Accept:";
static char line_no_ctype[] = "Content-Type:";

/* Builds the header lines sent upstream from the client's headers: one
 * buffer of NUL-terminated lines (op->hbuf) and the curl_slist nodes
 * pointing into it (op->hnodes), both kept by recycled ops, so no
 * allocation in the steady state.  curl only reads the list. */
static int
build_headers(vpd_fwd_op *op, const vpd_hdrs *in)
{
    vpd_fwd *fwd = op->fwd;
    size_t nin = in ? in->n : 0;
    bool accept = false, ctype = false;

    size_t need = nin + 4;
    if (need > op->hnodes_cap) {
        struct curl_slist *nodes = realloc(op->hnodes, need * sizeof *nodes);
        if (!nodes)
            return -1;
        op->hnodes = nodes;
        op->hnodes_cap = need;
    }
    struct curl_slist *nodes = op->hnodes;
    size_t k = 0;
    if (fwd->host_line)
        nodes[k++].data = fwd->host_line;
    size_t first = k;
    vpd_buf *b = &op->hbuf;
    vpd_buf_reset(b);
    conn_values cv;
    conn_values_init(&cv, in);
    for (size_t i = 0; i < nin; i++) {
        const char *n = in->v[i].name,
                   *v = in->v[i].value ? in->v[i].value : "";
        size_t nl = token_len(n);
        size_t vl = strcspn(v, "\r\n");
        /* CR or LF in a value would let a client smuggle header lines. */
        if (!nl || v[vl])
            continue;
        if (vpd_hdr_is_hop_by_hop_n(n, nl) || NAME_IS(n, nl, "Host") ||
            NAME_IS(n, nl, "Content-Length") || NAME_IS(n, nl, "Expect") ||
            /* The body is relayed identity-encoded, as Vault Proxy does. */
            NAME_IS(n, nl, "Accept-Encoding") ||
            (cv.n && named_by_connection(&cv, n, nl)))
            continue;
        if (NAME_IS(n, nl, "Accept"))
            accept = true;
        if (NAME_IS(n, nl, "Content-Type"))
            ctype = true;
        /* "Name;" is how curl sends a header with an empty value.  The
         * offset is turned into a pointer once the buffer stops moving. */
        size_t off = b->len;
        if (vpd_buf_reserve(b, nl + vl + 3) != 0) {
            conn_values_free(&cv);
            return -1;
        }
        memcpy(b->data + b->len, n, nl);
        b->len += nl;
        if (vl) {
            memcpy(b->data + b->len, ": ", 2);
            memcpy(b->data + b->len + 2, v, vl);
            b->len += vl + 2;
        } else {
            b->data[b->len++] = ';';
        }
        b->data[b->len++] = '\0';
        nodes[k++].data = (char *)(uintptr_t)off;
    }
    conn_values_free(&cv);
    size_t last = k;
    /* "Name:" removes what curl would add on its own: Accept: * / *, and,
     * on requests with a body, Expect: 100-continue (big bodies) and the
     * form Content-Type it puts on POSTFIELDS.  Without a body curl adds
     * neither, so those two lines would only cost it time. */
    if (op->send_body)
        nodes[k++].data = line_no_expect;
    if (!accept)
        nodes[k++].data = line_no_accept;
    if (!ctype && op->send_body)
        nodes[k++].data = line_no_ctype;
    for (size_t i = first; i < last; i++)
        nodes[i].data = b->data + (uintptr_t)nodes[i].data;
    for (size_t i = 0; i < k; i++)
        nodes[i].next = i + 1 < k ? &nodes[i + 1] : NULL;
    op->hdrs = k ? nodes : NULL;
    return 0;
}

vpd_fwd_op *
vpd_fwd_send(vpd_fwd *fwd, const vpd_fwd_req *req, vpd_fwd_cb cb, void *arg)
{
    if (!fwd || !req || !cb || fwd->freeing || fwd->free_requested ||
        !valid_token(req->method) || !valid_target(req->target) ||
        (req->body_len && !req->body))
        return NULL;

    vpd_fwd_op *op = op_alloc(fwd);
    if (!op)
        return NULL;
    op->fwd = fwd;
    op->cb = cb;
    op->arg = arg;
    op->started_ns = uv_hrtime();
    size_t ml = strlen(req->method);
    if (ml < sizeof op->method_buf) {
        memcpy(op->method_buf, req->method, ml + 1);
        op->method = op->method_buf;
    } else if (!(op->method = strdup(req->method))) {
        goto fail;
    }
    op->is_get = strcmp(op->method, "GET") == 0;
    op->is_head = strcmp(op->method, "HEAD") == 0;
    op->is_post = strcmp(op->method, "POST") == 0;
    bool bodyful = op->is_post || strcmp(op->method, "PUT") == 0 ||
                   strcmp(op->method, "PATCH") == 0;
    op->send_body = !op->is_head && (req->body_len > 0 || bodyful);

    vpd_buf_reset(&op->url);
    if (vpd_buf_append_str(&op->url, fwd->base) != 0 ||
        (req->target[0] != '/' && vpd_buf_append(&op->url, "/", 1) != 0))
        goto fail;
    op->target_off = op->url.len;
    if (vpd_buf_append_str(&op->url, req->target) != 0)
        goto fail;
    op->use_host_line = fwd->host_line != NULL;
    if (build_headers(op, req->headers) != 0)
        goto fail;

    op->body_len = req->body_len;
    if (req->body_len) {
        op->body = malloc(req->body_len + 1);
        if (!op->body)
            goto fail;
        memcpy(op->body, req->body, req->body_len);
        op->body[req->body_len] = '\0';
    }

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
    op->plain = op->is_get && !op->send_body && !op->own_identity;

    op->max_retries =
        req->max_retries < 0 ? fwd->num_retries : req->max_retries;
    long tmo = req->timeout_ms > 0 ? req->timeout_ms : FWD_DEFAULT_TIMEOUT_MS;
    op->deadline = uv_now(fwd->loop) + (uint64_t)tmo;

    /* curl_multi_add_handle only arms curl's timer: the transfer, and so
     * the callback, start on a later loop iteration. */
    if (attempt_start(op) != 0) {
        /* The call fails and the callback will never run. */
        op_recycle(fwd, op);
        return NULL;
    }
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
