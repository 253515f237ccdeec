/* Tests of the forwarder against a tiny scripted upstream that runs in
 * threads of the test process (each test is its own forked process): it
 * records every request it reads, with the TCP connection it came on, and
 * answers what the test's responder says.  TLS upstreams use a self-signed
 * certificate made here with OpenSSL. */
#include "autoconf.h"

#include "upstream/forward.h"
#include "base/log.h"
#include "loopback.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <uv.h>

/* ---- the scripted upstream ------------------------------------------- */

#define MAX_RECS 256

typedef struct {
    char method[32];
    char target[2048];
    char head[16384]; /* header lines as received, CRLF-separated */
    char *body;
    size_t body_len;
    int conn; /* which TCP connection (0-based accept order) */
    bool peer_cert;
    char sni[256];
} rec_t;

typedef struct {
    int status;
    char headers[1024]; /* extra lines, each ending in CRLF */
    char body[4096];
    int delay_ms;
    bool close_after;
    bool hang_up; /* close without answering */
} answer_t;

typedef void (*responder_fn)(int idx, const rec_t *r, answer_t *a);

typedef struct {
    int lfd;
    int port;
    SSL_CTX *ssl;
    responder_fn fn;
    pthread_mutex_t mu;
    rec_t recs[MAX_RECS];
    int n_recs;
    int n_conns;
} upstream_t;

typedef struct {
    upstream_t *up;
    int fd;
    SSL *ssl;
    int id;
    char *buf;
    size_t len, cap;
} conn_t;

static int
c_fill(conn_t *c)
{
    if (c->cap - c->len < 65536) {
        c->cap = c->cap * 2 + 65536;
        c->buf = realloc(c->buf, c->cap + 1);
    }
    ssize_t r = lb_read(c->fd, c->ssl, c->buf + c->len, c->cap - c->len);
    if (r <= 0)
        return -1;
    c->len += (size_t)r;
    c->buf[c->len] = '\0';
    return 0;
}

static const char *
head_get(const char *head, const char *name, char *out, size_t out_len)
{
    size_t nl = strlen(name);
    const char *p = head;
    while (*p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            eol = p + strlen(p);
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 &&
            (p[nl] == ':' || p[nl] == ';')) {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, out_len, "%.*s", (int)(eol - v), v);
            return out;
        }
        p = *eol ? eol + 2 : eol;
    }
    return NULL;
}

static int
head_count(const char *head, const char *name)
{
    size_t nl = strlen(name);
    int n = 0;
    const char *p = head;
    while (*p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            eol = p + strlen(p);
        if ((size_t)(eol - p) >= nl && strncasecmp(p, name, nl) == 0 &&
            (p[nl] == ':' || p[nl] == ';'))
            n++;
        p = *eol ? eol + 2 : eol;
    }
    return n;
}

static void *
conn_main(void *arg)
{
    conn_t *c = arg;
    upstream_t *up = c->up;
    bool peer_cert = false;
    char sni[256] = "";

    if (up->ssl) {
        c->ssl = lb_tls_accept(up->ssl, c->fd);
        if (!c->ssl)
            goto out;
        const char *s = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
        if (s)
            snprintf(sni, sizeof sni, "%s", s);
        X509 *pc = SSL_get1_peer_certificate(c->ssl);
        peer_cert = pc != NULL;
        X509_free(pc);
    }
    for (;;) {
        char *end;
        while (!(c->buf && (end = strstr(c->buf, "\r\n\r\n"))))
            if (c_fill(c) != 0)
                goto out;
        size_t head_len = (size_t)(end - c->buf) + 4;
        rec_t *r = calloc(1, sizeof *r);
        char *line_end = strstr(c->buf, "\r\n");
        sscanf(c->buf, "%31s %2047s", r->method, r->target);
        snprintf(r->head, sizeof r->head, "%.*s",
                 (int)(end + 2 - (line_end + 2)), line_end + 2);
        char cl[32];
        size_t blen = head_get(r->head, "Content-Length", cl, sizeof cl)
                          ? strtoul(cl, NULL, 10)
                          : 0;
        while (c->len < head_len + blen)
            if (c_fill(c) != 0)
                goto out;
        r->body = malloc(blen + 1);
        memcpy(r->body, c->buf + head_len, blen);
        r->body[blen] = '\0';
        r->body_len = blen;
        memmove(c->buf, c->buf + head_len + blen, c->len - head_len - blen);
        c->len -= head_len + blen;
        c->buf[c->len] = '\0';
        r->conn = c->id;
        r->peer_cert = peer_cert;
        snprintf(r->sni, sizeof r->sni, "%s", sni);

        pthread_mutex_lock(&up->mu);
        int idx = up->n_recs;
        if (idx < MAX_RECS)
            up->recs[up->n_recs++] = *r;
        pthread_mutex_unlock(&up->mu);

        answer_t a;
        memset(&a, 0, sizeof a);
        a.status = 200;
        snprintf(a.body, sizeof a.body, "%s %s", r->method, r->target);
        if (up->fn)
            up->fn(idx, r, &a);
        bool head = strcmp(r->method, "HEAD") == 0;
        free(r);
        if (a.delay_ms)
            usleep((useconds_t)a.delay_ms * 1000);
        if (a.hang_up)
            goto out;
        char *resp = malloc(8192);
        int n = snprintf(
            resp, 8192, "HTTP/1.1 %d Whatever\r\n%sContent-Length: %zu\r\n\r\n",
            a.status, a.headers, strlen(a.body));
        int w = lb_write_all(c->fd, c->ssl, resp, (size_t)n);
        free(resp);
        if (w != 0 ||
            (!head && lb_write_all(c->fd, c->ssl, a.body, strlen(a.body)) != 0))
            goto out;
        if (a.close_after)
            goto out;
    }
out:
    lb_conn_close(c->fd, c->ssl);
    free(c->buf);
    free(c);
    return NULL;
}

static void *
conn_new(int fd, void *arg)
{
    upstream_t *up = arg;
    conn_t *c = calloc(1, sizeof *c);
    c->up = up;
    c->fd = fd;
    pthread_mutex_lock(&up->mu);
    c->id = up->n_conns++;
    pthread_mutex_unlock(&up->mu);
    return c;
}

/* A port nobody listens on (yet). */
static int
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_INT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

static upstream_t *
upstream_start_on(int port, responder_fn fn, SSL_CTX *ssl)
{
    upstream_t *up = calloc(1, sizeof *up);
    pthread_mutex_init(&up->mu, NULL);
    up->fn = fn;
    up->ssl = ssl;
    up->lfd = lb_listen(port, &up->port);
    lb_accept_in_thread(up->lfd, conn_new, conn_main, up);
    return up;
}

static upstream_t *
upstream_start(responder_fn fn)
{
    return upstream_start_on(0, fn, NULL);
}

static rec_t
rec_at(upstream_t *up, int i)
{
    pthread_mutex_lock(&up->mu);
    ASSERT(i < up->n_recs);
    rec_t r = up->recs[i];
    pthread_mutex_unlock(&up->mu);
    return r;
}

static int
n_recs(upstream_t *up)
{
    pthread_mutex_lock(&up->mu);
    int n = up->n_recs;
    pthread_mutex_unlock(&up->mu);
    return n;
}

/* ---- the client side -------------------------------------------------- */

typedef struct {
    bool done;
    int calls;
    vpd_fwd_error err;
    char errtext[256];
    int status;
    vpd_hdrs hdrs;
    char *body;
    size_t body_len;
    int attempts;
    uint64_t at_ms; /* loop time when the callback ran */
    uv_loop_t *loop;
} result_t;

static bool in_send;

static void
on_result(vpd_fwd_resp *resp, void *arg)
{
    result_t *r = arg;
    if (in_send)
        TEST_FAIL_("callback ran inside vpd_fwd_send");
    r->calls++;
    r->done = true;
    r->err = resp->error;
    snprintf(r->errtext, sizeof r->errtext, "%s",
             resp->error_text ? resp->error_text : "");
    r->status = resp->status;
    r->attempts = resp->attempts;
    r->hdrs = resp->headers;
    memset(&resp->headers, 0, sizeof resp->headers);
    r->body = vpd_fwd_resp_take(resp, &r->body_len);
    if (r->loop) {
        uv_update_time(r->loop);
        r->at_ms = uv_now(r->loop);
    }
}

static vpd_fwd_op *
send_req(vpd_fwd *fwd, const vpd_fwd_req *req, result_t *r)
{
    in_send = true;
    vpd_fwd_op *op = vpd_fwd_send(fwd, req, on_result, r);
    in_send = false;
    ASSERT_NOT_NULL(op);
    ASSERT_INT_EQ(r->calls, 0);
    return op;
}

static void
run_until(uv_loop_t *loop, const bool *flag)
{
    while (!*flag)
        uv_run(loop, UV_RUN_ONCE);
}

static void
result_free(result_t *r)
{
    vpd_hdrs_free(&r->hdrs);
    free(r->body);
    memset(r, 0, sizeof *r);
}

typedef struct {
    uv_loop_t loop;
    vpd_vault_config vault;
    vpd_fwd *fwd;
    char addr[256];
} env_t;

static void
env_init(env_t *e, const char *address)
{
    memset(e, 0, sizeof *e);
    ASSERT_INT_EQ(uv_loop_init(&e->loop), 0);
    snprintf(e->addr, sizeof e->addr, "%s", address);
    e->vault.address = e->addr;
    e->vault.num_retries = 0;
}

static void
env_start(env_t *e)
{
    char err[256] = "";
    e->fwd = vpd_fwd_new(&e->loop, &e->vault, err, sizeof err);
    if (!e->fwd)
        TEST_FAIL_("vpd_fwd_new: %s", err);
    vpd_fwd_set_retry_base_ms(e->fwd, 5, 15);
}

static void
env_http(env_t *e, upstream_t *up)
{
    char a[128];
    snprintf(a, sizeof a, "http://127.0.0.1:%d", up->port);
    env_init(e, a);
    env_start(e);
}

/* Frees the forwarder and checks that the loop then ends with every
 * handle closed. */
static void
env_done(env_t *e)
{
    vpd_fwd_free(e->fwd);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(uv_loop_close(&e->loop), 0);
}

static vpd_fwd_req
mkreq(const char *method, const char *target)
{
    vpd_fwd_req q;
    memset(&q, 0, sizeof q);
    q.method = method;
    q.target = target;
    q.max_retries = 0;
    return q;
}

static void
do_req(env_t *e, const vpd_fwd_req *q, result_t *r)
{
    memset(r, 0, sizeof *r);
    r->loop = &e->loop;
    send_req(e->fwd, q, r);
    run_until(&e->loop, &r->done);
    ASSERT_INT_EQ(r->calls, 1);
}

/* ---- responders ------------------------------------------------------- */

static void
resp_headers(int idx, const rec_t *r, answer_t *a)
{
    a->status = 201;
    snprintf(a->headers, sizeof a->headers,
             "X-B: 2\r\nX-A: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
             "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
             "Keep-Alive: timeout=5\r\nContent-Type: application/json\r\n"
             "X-Fold: a\r\n\t b c\r\n");
    snprintf(a->body, sizeof a->body, "{\"data\":{\"v\":\"%s\"}}", r->target);
}

static int fail_first; /* how many requests get fail_status first */
static int fail_status;

static void
resp_fail_first(int idx, const rec_t *r, answer_t *a)
{
    if (idx < fail_first) {
        a->status = fail_status;
        snprintf(a->body, sizeof a->body, "{\"errors\":[\"fail %d\"]}", idx);
        if (fail_status == 429 && getenv("FWD_TEST_RETRY_AFTER"))
            snprintf(a->headers, sizeof a->headers, "Retry-After: %s\r\n",
                     getenv("FWD_TEST_RETRY_AFTER"));
    }
}

static void
resp_always_500(int idx, const rec_t *r, answer_t *a)
{
    a->status = 500;
}

static void
resp_slow(int idx, const rec_t *r, answer_t *a)
{
    a->delay_ms = 2000;
}

/* ---- tests: what is sent ---------------------------------------------- */

TEST(get_pass_through)
{
    upstream_t *up = upstream_start(resp_headers);
    env_t e;
    env_http(&e, up);
    vpd_fwd_req q = mkreq("GET", "/v1/secret/data/app");
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    ASSERT_INT_EQ(r.status, 201);
    ASSERT_INT_EQ(r.attempts, 1);
    ASSERT_STR_EQ(r.body, "{\"data\":{\"v\":\"/v1/secret/data/app\"}}");
    ASSERT_INT_EQ(r.body_len, strlen(r.body));
    /* Upstream order, hop-by-hop and Content-Length gone. */
    ASSERT_INT_EQ(r.hdrs.n, 6);
    ASSERT_STR_EQ(r.hdrs.v[0].name, "X-B");
    ASSERT_STR_EQ(r.hdrs.v[0].value, "2");
    ASSERT_STR_EQ(r.hdrs.v[1].name, "X-A");
    ASSERT_STR_EQ(r.hdrs.v[2].name, "Set-Cookie");
    ASSERT_STR_EQ(r.hdrs.v[2].value, "a=1");
    ASSERT_STR_EQ(r.hdrs.v[3].value, "b=2");
    ASSERT_STR_EQ(r.hdrs.v[4].name, "Content-Type");
    ASSERT_STR_EQ(r.hdrs.v[4].value, "application/json");
    /* An obsolete folded line is joined with one space. */
    ASSERT_STR_EQ(r.hdrs.v[5].name, "X-Fold");
    ASSERT_STR_EQ(r.hdrs.v[5].value, "a b c");
    rec_t s = rec_at(up, 0);
    ASSERT_STR_EQ(s.method, "GET");
    ASSERT_STR_EQ(s.target, "/v1/secret/data/app");
    ASSERT_INT_EQ(s.body_len, 0);
    ASSERT_INT_EQ(head_count(s.head, "Content-Length"), 0);
    ASSERT_INT_EQ(vpd_fwd_inflight(e.fwd), 0);
    result_free(&r);
    env_done(&e);
}

TEST(list_goes_out_as_list)
{
    upstream_t *up = upstream_start(NULL);
    env_t e;
    env_http(&e, up);
    vpd_fwd_req q = mkreq("LIST", "/v1/secret/metadata/");
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body, "LIST /v1/secret/metadata/");
    rec_t s = rec_at(up, 0);
    ASSERT_STR_EQ(s.method, "LIST");
    ASSERT_INT_EQ(head_count(s.head, "Content-Length"), 0);
    result_free(&r);
    env_done(&e);
}

TEST(bodies_and_methods)
{
    upstream_t *up = upstream_start(NULL);
    env_t e;
    env_http(&e, up);
    const char *methods[] = {"POST", "PUT", "DELETE", "PATCH", "LIST"};
    for (int i = 0; i < 5; i++) {
        char body[64];
        snprintf(body, sizeof body, "{\"n\":%d,\"bin\":\"\\u0000\"}", i);
        vpd_fwd_req q = mkreq(methods[i], "/v1/kv/x");
        q.body = body;
        q.body_len = strlen(body);
        result_t r;
        do_req(&e, &q, &r);
        ASSERT_INT_EQ(r.err, VPD_FWD_OK);
        ASSERT_INT_EQ(r.status, 200);
        rec_t s = rec_at(up, i);
        ASSERT_STR_EQ(s.method, methods[i]);
        ASSERT_STR_EQ(s.body, body);
        ASSERT_INT_EQ(s.body_len, strlen(body));
        /* No form Content-Type is made up for the body. */
        ASSERT_INT_EQ(head_count(s.head, "Content-Type"), 0);
        result_free(&r);
    }
    /* PUT without a body still says Content-Length: 0. */
    vpd_fwd_req q = mkreq("PUT", "/v1/sys/seal");
    result_t r;
    do_req(&e, &q, &r);
    rec_t s = rec_at(up, 5);
    char v[32];
    ASSERT_STR_EQ(head_get(s.head, "Content-Length", v, sizeof v), "0");
    result_free(&r);
    /* HEAD: no body in the answer, status relayed. */
    q = mkreq("HEAD", "/v1/sys/health");
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_INT_EQ(r.body_len, 0);
    ASSERT_STR_EQ(rec_at(up, 6).method, "HEAD");
    /* HEAD keeps the length of the body it did not get. */
    ASSERT_STR_EQ(vpd_hdrs_get(&r.hdrs, "Content-Length", 0), "19");
    result_free(&r);
    env_done(&e);
}

TEST(query_string_unchanged)
{
    upstream_t *up = upstream_start(NULL);
    env_t e;
    env_http(&e, up);
    const char *t = "/v1/kv/data/a%2Fb/../c?z=1&a=%20x&a=2&empty=&q=%7E";
    vpd_fwd_req q = mkreq("GET", t);
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    ASSERT_STR_EQ(rec_at(up, 0).target, t);
    result_free(&r);
    env_done(&e);
}

TEST(request_headers_filtered)
{
    upstream_t *up = upstream_start(NULL);
    env_t e;
    env_http(&e, up);
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "Connection", "close, X-Conn-Named");
    vpd_hdrs_add(&h, "X-Conn-Named", "1");
    vpd_hdrs_add(&h, "Keep-Alive", "timeout=5");
    vpd_hdrs_add(&h, "Proxy-Connection", "keep-alive");
    vpd_hdrs_add(&h, "TE", "trailers");
    vpd_hdrs_add(&h, "Trailer", "X-T");
    vpd_hdrs_add(&h, "Transfer-Encoding", "chunked");
    vpd_hdrs_add(&h, "Upgrade", "h2c");
    vpd_hdrs_add(&h, "Host", "client.example");
    vpd_hdrs_add(&h, "Content-Length", "999");
    vpd_hdrs_add(&h, "Expect", "100-continue");
    vpd_hdrs_add(&h, "Accept-Encoding", "gzip");
    vpd_hdrs_add(&h, "X-Vault-Token", "s.abc");
    vpd_hdrs_add(&h, "X-Vault-Request", "true");
    vpd_hdrs_add(&h, "X-Empty", "");
    vpd_hdrs_add(&h, "X-Evil", "a\r\nX-Injected: 1");
    size_t big = 2 * 1024 * 1024;
    char *body = malloc(big + 1);
    memset(body, 'b', big);
    body[big] = '\0';
    vpd_fwd_req q = mkreq("POST", "/v1/transit/encrypt/k");
    q.headers = &h;
    q.body = body;
    q.body_len = big;
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    ASSERT_INT_EQ(r.status, 200);
    rec_t s = rec_at(up, 0);
    char v[256], want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", up->port);
    ASSERT_STR_EQ(head_get(s.head, "Host", v, sizeof v), want);
    ASSERT_INT_EQ(head_count(s.head, "Host"), 1);
    ASSERT_STR_EQ(head_get(s.head, "X-Vault-Token", v, sizeof v), "s.abc");
    ASSERT_STR_EQ(head_get(s.head, "X-Vault-Request", v, sizeof v), "true");
    ASSERT_STR_EQ(head_get(s.head, "X-Empty", v, sizeof v), "");
    ASSERT_STR_EQ(head_get(s.head, "Content-Length", v, sizeof v), "2097152");
    const char *gone[] = {"Connection",
                          "X-Conn-Named",
                          "Keep-Alive",
                          "Proxy-Connection",
                          "TE",
                          "Trailer",
                          "Transfer-Encoding",
                          "Upgrade",
                          "Expect",
                          "Accept-Encoding",
                          "Accept",
                          "Content-Type",
                          "X-Evil",
                          "X-Injected"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        if (head_count(s.head, gone[i]) != 0)
            TEST_FAIL_("%s was forwarded: %s", gone[i], s.head);
    ASSERT_INT_EQ(s.body_len, big);
    result_free(&r);

    /* An Accept the client sent is kept, once. */
    vpd_hdrs h2 = {0};
    vpd_hdrs_add(&h2, "Accept", "application/json");
    vpd_hdrs_add(&h2, "Content-Type", "application/json");
    q = mkreq("PUT", "/v1/x");
    q.headers = &h2;
    q.body = "{}";
    q.body_len = 2;
    do_req(&e, &q, &r);
    s = rec_at(up, 1);
    ASSERT_INT_EQ(head_count(s.head, "Accept"), 1);
    ASSERT_STR_EQ(head_get(s.head, "Accept", v, sizeof v), "application/json");
    ASSERT_STR_EQ(head_get(s.head, "Content-Type", v, sizeof v),
                  "application/json");
    result_free(&r);
    vpd_hdrs_free(&h);
    vpd_hdrs_free(&h2);
    free(body);
    env_done(&e);
}

/* A caller that checked its headers (the router) has them written as
 * they are, in order: the forwarder does not filter them again. */
TEST(checked_request_headers_written_as_they_are)
{
    ASSERT(vpd_fwd_header_ok("X-A", 3, "v", 1));
    ASSERT(vpd_fwd_header_ok("X-A", 3, "", 0));
    ASSERT(!vpd_fwd_header_ok("", 0, "v", 1));
    ASSERT(!vpd_fwd_header_ok("X A", 3, "v", 1));
    ASSERT(!vpd_fwd_header_ok("X-A", 3, "a\r\nX-I: 1", 10));
    ASSERT(!vpd_fwd_header_ok("X-A", 3, "a\nb", 3));
    ASSERT(!vpd_fwd_header_ok("X-A", 3, "a\rb", 3));

    upstream_t *up = upstream_start(NULL);
    env_t e;
    env_http(&e, up);
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "X-First", "1");
    vpd_hdrs_add(&h, "X-Empty", "");
    vpd_hdrs_add(&h, "Accept-Encoding", "identity");
    vpd_hdrs_add(&h, "X-Vault-Token", "s.abc");
    vpd_fwd_req q = mkreq("GET", "/v1/x");
    q.headers = &h;
    q.headers_checked = true;
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    rec_t s = rec_at(up, 0);
    char want[128];
    snprintf(want, sizeof want,
             "Host: 127.0.0.1:%d\r\nX-First: 1\r\nX-Empty: \r\n"
             "Accept-Encoding: identity\r\nX-Vault-Token: s.abc\r\n",
             up->port);
    ASSERT_STR_CONTAINS(s.head, want);
    result_free(&r);
    /* The same list unchecked: the policy drops what it must. */
    q.headers_checked = false;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(head_count(rec_at(up, 1).head, "Accept-Encoding"), 0);
    ASSERT_INT_EQ(head_count(rec_at(up, 1).head, "X-First"), 1);
    result_free(&r);
    vpd_hdrs_free(&h);
    env_done(&e);
}

TEST(bad_requests_refused_without_callback)
{
    upstream_t *up = upstream_start(NULL);
    env_t e;
    env_http(&e, up);
    result_t r = {0};
    vpd_fwd_req q = mkreq("GET /x HTTP/1.1\r\n", "/v1/x");
    ASSERT_NULL(vpd_fwd_send(e.fwd, &q, on_result, &r));
    q = mkreq("GET", "/v1/x y");
    ASSERT_NULL(vpd_fwd_send(e.fwd, &q, on_result, &r));
    q = mkreq("GET", "/v1/x\r\nX-A: 1");
    ASSERT_NULL(vpd_fwd_send(e.fwd, &q, on_result, &r));
    ASSERT_INT_EQ(vpd_fwd_inflight(e.fwd), 0);
    env_done(&e);
    ASSERT_INT_EQ(r.calls, 0);
}

/* Every byte, in a method and at the end of a target: a method takes
 * RFC 9110 tchars only, a target anything but controls, space, DEL and
 * '#'.  An accepted request is cancelled at once. */
TEST(each_byte_of_method_and_target_is_checked)
{
    upstream_t *up = upstream_start(NULL);
    env_t e;
    env_http(&e, up);
    static const char tchars[] = "!#$%&'*+-.^_`|~";
    for (int c = 1; c < 256; c++) {
        bool tchar = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
                     (c >= 'a' && c <= 'z') || strchr(tchars, c) != NULL;
        bool target_ok = c > 0x20 && c != 0x7f && c != '#';
        char method[4] = {'G', (char)c, 'T', '\0'};
        char target[8] = {'/', 'v', '1', '/', 'x', (char)c, '\0'};
        struct {
            vpd_fwd_req q;
            bool ok;
        } cases[] = {{mkreq(method, "/v1/x"), tchar},
                     {mkreq("GET", target), target_ok}};
        for (size_t k = 0; k < 2; k++) {
            result_t r = {0};
            vpd_fwd_op *op = vpd_fwd_send(e.fwd, &cases[k].q, on_result, &r);
            if ((op != NULL) != cases[k].ok)
                TEST_FAIL_("byte 0x%02x in the %s: %s", c,
                           k ? "target" : "method",
                           op ? "accepted" : "refused");
            if (op) {
                vpd_fwd_cancel(op);
                ASSERT_INT_EQ(r.calls, 1);
                result_free(&r);
            }
        }
    }
    ASSERT_INT_EQ(vpd_fwd_inflight(e.fwd), 0);
    env_done(&e);
}

TEST(connection_reuse)
{
    upstream_t *up = upstream_start(NULL);
    env_t e;
    env_http(&e, up);
    for (int i = 0; i < 3; i++) {
        vpd_fwd_req q = mkreq(i == 1 ? "PUT" : "GET", "/v1/sys/health");
        result_t r;
        do_req(&e, &q, &r);
        ASSERT_INT_EQ(r.status, 200);
        result_free(&r);
    }
    ASSERT_INT_EQ(n_recs(up), 3);
    for (int i = 0; i < 3; i++)
        ASSERT_INT_EQ(rec_at(up, i).conn, 0);
    ASSERT_INT_EQ(up->n_conns, 1);
    env_done(&e);
}

TEST(path_prefix)
{
    upstream_t *up = upstream_start(NULL);
    env_t e;
    char a[128];
    snprintf(a, sizeof a, "http://127.0.0.1:%d/prefix/", up->port);
    env_init(&e, a);
    env_start(&e);
    vpd_fwd_req q = mkreq("GET", "/v1/sys/health?standbyok=true");
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    ASSERT_STR_EQ(rec_at(up, 0).target, "/prefix/v1/sys/health?standbyok=true");
    result_free(&r);
    env_done(&e);
}

TEST(bad_address)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    vpd_vault_config v = {0};
    char err[256] = "";
    v.address = "ftp://127.0.0.1:21";
    ASSERT_NULL(vpd_fwd_new(&loop, &v, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "vault.address");
    v.address = "http://[::1";
    err[0] = '\0';
    ASSERT_NULL(vpd_fwd_new(&loop, &v, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "vault.address");
    ASSERT_INT_EQ(uv_loop_close(&loop), 0);
}

/* ---- tests: retries --------------------------------------------------- */

static void
retry_case(int status, int fails, int max_retries, int want_status,
           int want_attempts)
{
    fail_first = fails;
    fail_status = status;
    upstream_t *up = upstream_start(resp_fail_first);
    env_t e;
    env_http(&e, up);
    vpd_fwd_req q = mkreq("PUT", "/v1/kv/data/x");
    q.body = "{\"a\":1}";
    q.body_len = 7;
    q.max_retries = max_retries;
    /* A checked list, as the router hands over: it is gone once the call
     * returns, so later attempts must carry what the first one wrote. */
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "X-Vault-Token", "s.retried-token");
    vpd_hdrs_add(&h, "X-Second", "2");
    q.headers = &h;
    q.headers_checked = true;
    result_t r;
    do_req(&e, &q, &r);
    vpd_hdrs_free(&h);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    ASSERT_INT_EQ(r.status, want_status);
    ASSERT_INT_EQ(r.attempts, want_attempts);
    ASSERT_INT_EQ(n_recs(up), want_attempts);
    /* Every attempt carries the whole body and the headers again. */
    for (int i = 0; i < want_attempts; i++) {
        rec_t s = rec_at(up, i);
        char v[64];
        ASSERT_STR_EQ(s.body, "{\"a\":1}");
        ASSERT_STR_EQ(head_get(s.head, "X-Vault-Token", v, sizeof v),
                      "s.retried-token");
        ASSERT_STR_EQ(head_get(s.head, "X-Second", v, sizeof v), "2");
        ASSERT_INT_EQ(head_count(s.head, "Content-Length"), 1);
    }
    if (want_status == 200)
        ASSERT_STR_EQ(r.body, "PUT /v1/kv/data/x");
    else
        ASSERT_STR_CONTAINS(r.body, "fail");
    result_free(&r);
    env_done(&e);
}

TEST(retry_500_then_ok)
{
    retry_case(500, 2, 2, 200, 3);
}

TEST(retry_500_exhausted)
{
    retry_case(500, 2, 1, 500, 2);
}

TEST(retry_default_from_vault_config)
{
    fail_first = 2;
    fail_status = 502;
    upstream_t *up = upstream_start(resp_fail_first);
    env_t e;
    char a[128];
    snprintf(a, sizeof a, "http://127.0.0.1:%d", up->port);
    env_init(&e, a);
    e.vault.num_retries = 12;
    env_start(&e);
    vpd_fwd_req q = mkreq("GET", "/v1/x");
    q.max_retries = -1;
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_INT_EQ(r.attempts, 3);
    result_free(&r);
    env_done(&e);
}

TEST(no_retry_501)
{
    retry_case(501, 2, 5, 501, 1);
}

TEST(no_retry_412)
{
    retry_case(412, 2, 5, 412, 1);
}

TEST(retry_429)
{
    retry_case(429, 1, 3, 200, 2);
}

TEST(retry_after_honoured)
{
    setenv("FWD_TEST_RETRY_AFTER", "1", 1);
    fail_first = 1;
    fail_status = 429;
    upstream_t *up = upstream_start(resp_fail_first);
    env_t e;
    env_http(&e, up);
    vpd_fwd_req q = mkreq("GET", "/v1/x");
    q.max_retries = 2;
    uint64_t t0 = uv_hrtime();
    result_t r;
    do_req(&e, &q, &r);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_INT_EQ(r.attempts, 2);
    if (ms < 900)
        TEST_FAIL_("Retry-After: 1 waited only %llu ms",
                   (unsigned long long)ms);
    result_free(&r);
    env_done(&e);
}

TEST(retry_respects_deadline)
{
    upstream_t *up = upstream_start(resp_always_500);
    env_t e;
    env_http(&e, up);
    vpd_fwd_set_retry_base_ms(e.fwd, 200, 200);
    vpd_fwd_req q = mkreq("GET", "/v1/x");
    q.max_retries = 10;
    q.timeout_ms = 500;
    uint64_t t0 = uv_hrtime();
    result_t r;
    do_req(&e, &q, &r);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    /* Waits of 200 then 400 ms: the second retry would end past 500 ms,
     * so the 500 of the second attempt is relayed at once. */
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    ASSERT_INT_EQ(r.status, 500);
    ASSERT_INT_EQ(r.attempts, 2);
    if (ms >= 500)
        TEST_FAIL_("took %llu ms", (unsigned long long)ms);
    result_free(&r);
    env_done(&e);
}

TEST(refused_is_unreachable_after_retries)
{
    int port = free_port();
    env_t e;
    char a[128];
    snprintf(a, sizeof a, "http://127.0.0.1:%d", port);
    env_init(&e, a);
    env_start(&e);
    vpd_fwd_req q = mkreq("GET", "/v1/x");
    q.max_retries = 2;
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_UNREACHABLE);
    ASSERT_INT_EQ(r.attempts, 3);
    ASSERT_INT_EQ(r.status, 0);
    ASSERT(r.errtext[0] != '\0');
    ASSERT_NOT_NULL(r.body);
    ASSERT_INT_EQ(r.body_len, 0);
    result_free(&r);
    env_done(&e);
}

TEST(upstream_comes_back)
{
    int port = free_port();
    env_t e;
    char a[128];
    snprintf(a, sizeof a, "http://127.0.0.1:%d", port);
    env_init(&e, a);
    env_start(&e);
    vpd_fwd_req q = mkreq("GET", "/v1/x");
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_UNREACHABLE);
    result_free(&r);
    upstream_t *up = upstream_start_on(port, NULL, NULL);
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_INT_EQ(n_recs(up), 1);
    result_free(&r);
    env_done(&e);
}

static void
resp_hang_up_first(int idx, const rec_t *r, answer_t *a)
{
    if (idx == 0)
        a->hang_up = true;
}

TEST(reset_is_retried)
{
    upstream_t *up = upstream_start(resp_hang_up_first);
    env_t e;
    env_http(&e, up);
    vpd_fwd_req q = mkreq("GET", "/v1/x");
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_UNREACHABLE);
    ASSERT_INT_EQ(r.attempts, 1);
    result_free(&r);
    q.max_retries = 1;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    ASSERT_INT_EQ(r.status, 200);
    result_free(&r);
    (void)up;
    env_done(&e);
}

TEST(timeout)
{
    upstream_t *up = upstream_start(resp_slow);
    env_t e;
    env_http(&e, up);
    vpd_fwd_req q = mkreq("GET", "/v1/slow");
    q.timeout_ms = 300;
    q.max_retries = 3;
    uint64_t t0 = uv_hrtime();
    result_t r;
    do_req(&e, &q, &r);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    ASSERT_INT_EQ(r.err, VPD_FWD_TIMEOUT);
    ASSERT_INT_EQ(r.attempts, 1);
    ASSERT(r.errtext[0] != '\0');
    if (ms < 250 || ms > 1500)
        TEST_FAIL_("timed out after %llu ms", (unsigned long long)ms);
    result_free(&r);
    env_done(&e);
}

/* ---- tests: redirects ------------------------------------------------- */

static void
resp_redirect_once(int idx, const rec_t *r, answer_t *a)
{
    if (idx == 0) {
        a->status = 307;
        snprintf(a->headers, sizeof a->headers, "Location: /v1/moved?x=1\r\n");
    }
}

static void
resp_redirect_always(int idx, const rec_t *r, answer_t *a)
{
    a->status = 302;
    snprintf(a->headers, sizeof a->headers, "Location: /v1/again%d\r\n", idx);
}

TEST(redirect_followed_once)
{
    upstream_t *up = upstream_start(resp_redirect_once);
    env_t e;
    env_http(&e, up);
    vpd_fwd_req q = mkreq("PUT", "/v1/kv/a");
    q.body = "{\"x\":1}";
    q.body_len = 7;
    /* Unchecked this time: the filtered lines go to both attempts. */
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "X-Kept", "k");
    vpd_hdrs_add(&h, "Connection", "close");
    q.headers = &h;
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_INT_EQ(r.attempts, 2);
    rec_t s = rec_at(up, 1);
    char v[32];
    ASSERT_STR_EQ(s.method, "PUT");
    ASSERT_STR_EQ(s.target, "/v1/moved?x=1");
    ASSERT_STR_EQ(s.body, "{\"x\":1}");
    ASSERT_STR_EQ(head_get(s.head, "X-Kept", v, sizeof v), "k");
    ASSERT_INT_EQ(head_count(s.head, "Connection"), 0);
    ASSERT_INT_EQ(head_count(s.head, "Host"), 1);
    result_free(&r);
    vpd_hdrs_free(&h);
    q.headers = NULL;

    /* A second redirect is relayed as is. */
    up->fn = resp_redirect_always;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    ASSERT_INT_EQ(r.status, 302);
    ASSERT_INT_EQ(r.attempts, 2);
    ASSERT_STR_CONTAINS(vpd_hdrs_get(&r.hdrs, "Location", 0), "/v1/again");
    result_free(&r);
    env_done(&e);
}

/* ---- tests: cancel, free, concurrency --------------------------------- */

typedef struct {
    vpd_fwd_op *op;
} cancel_ctx;

static void
do_cancel(uv_timer_t *t)
{
    cancel_ctx *c = t->data;
    vpd_fwd_cancel(c->op);
    uv_close((uv_handle_t *)t, NULL);
}

TEST(cancel)
{
    upstream_t *up = upstream_start(resp_slow);
    env_t e;
    env_http(&e, up);
    vpd_fwd_req q = mkreq("GET", "/v1/slow");
    result_t r = {0};
    cancel_ctx c;
    c.op = send_req(e.fwd, &q, &r);
    ASSERT_INT_EQ(vpd_fwd_inflight(e.fwd), 1);
    uv_timer_t t;
    uv_timer_init(&e.loop, &t);
    t.data = &c;
    uv_timer_start(&t, do_cancel, 100, 0);
    uint64_t t0 = uv_hrtime();
    run_until(&e.loop, &r.done);
    ASSERT((uv_hrtime() - t0) / 1000000 < 1000);
    ASSERT_INT_EQ(r.calls, 1);
    ASSERT_INT_EQ(r.err, VPD_FWD_CANCELLED);
    ASSERT_INT_EQ(vpd_fwd_inflight(e.fwd), 0);
    result_free(&r);

    /* Cancelling during the wait before a retry. */
    up->fn = resp_always_500;
    vpd_fwd_set_retry_base_ms(e.fwd, 5000, 5000);
    q.max_retries = 3;
    memset(&r, 0, sizeof r);
    c.op = send_req(e.fwd, &q, &r);
    uv_timer_t t2;
    uv_timer_init(&e.loop, &t2);
    t2.data = &c;
    uv_timer_start(&t2, do_cancel, 300, 0);
    run_until(&e.loop, &r.done);
    ASSERT_INT_EQ(r.err, VPD_FWD_CANCELLED);
    ASSERT_INT_EQ(r.attempts, 1);
    result_free(&r);
    env_done(&e);
}

TEST(free_cancels_in_flight)
{
    upstream_t *up = upstream_start(resp_slow);
    env_t e;
    env_http(&e, up);
    vpd_fwd_req q = mkreq("GET", "/v1/slow");
    result_t r[3];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 3; i++)
        send_req(e.fwd, &q, &r[i]);
    /* Let the requests reach the upstream. */
    while (n_recs(up) < 3)
        uv_run(&e.loop, UV_RUN_NOWAIT), usleep(1000);
    vpd_fwd_free(e.fwd);
    for (int i = 0; i < 3; i++) {
        ASSERT_INT_EQ(r[i].calls, 1);
        ASSERT_INT_EQ(r[i].err, VPD_FWD_CANCELLED);
        result_free(&r[i]);
    }
    uint64_t t0 = uv_hrtime();
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ASSERT((uv_hrtime() - t0) / 1000000 < 500);
    ASSERT_INT_EQ(uv_loop_close(&e.loop), 0);
}

static vpd_fwd *free_me;

static void
on_result_free(vpd_fwd_resp *resp, void *arg)
{
    on_result(resp, arg);
    if (free_me) {
        vpd_fwd_free(free_me);
        free_me = NULL;
    }
}

static void
resp_slow_second(int idx, const rec_t *r, answer_t *a)
{
    if (strstr(r->target, "slow"))
        a->delay_ms = 2000;
}

TEST(free_inside_callback)
{
    upstream_t *up = upstream_start(resp_slow_second);
    env_t e;
    env_http(&e, up);
    result_t fast = {0}, slow = {0};
    vpd_fwd_req q1 = mkreq("GET", "/v1/slow");
    vpd_fwd_req q2 = mkreq("GET", "/v1/fast");
    send_req(e.fwd, &q1, &slow);
    in_send = true;
    ASSERT_NOT_NULL(vpd_fwd_send(e.fwd, &q2, on_result_free, &fast));
    in_send = false;
    free_me = e.fwd;
    run_until(&e.loop, &fast.done);
    ASSERT_INT_EQ(fast.err, VPD_FWD_OK);
    ASSERT_INT_EQ(slow.calls, 1);
    ASSERT_INT_EQ(slow.err, VPD_FWD_CANCELLED);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(uv_loop_close(&e.loop), 0);
    result_free(&fast);
    result_free(&slow);
}

TEST(many_concurrent)
{
    upstream_t *up = upstream_start(NULL);
    env_t e;
    env_http(&e, up);
    enum { N = 50 };
    static result_t r[N];
    static char targets[N][64];
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        snprintf(targets[i], sizeof targets[i], "/v1/kv/data/item%d?i=%d", i,
                 i);
        vpd_fwd_req q = mkreq(i % 2 ? "GET" : "POST", targets[i]);
        q.body = i % 2 ? NULL : "{}";
        q.body_len = i % 2 ? 0 : 2;
        send_req(e.fwd, &q, &r[i]);
    }
    ASSERT_INT_EQ(vpd_fwd_inflight(e.fwd), N);
    for (int i = 0; i < N; i++)
        run_until(&e.loop, &r[i].done);
    for (int i = 0; i < N; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s %.63s", i % 2 ? "GET" : "POST",
                 targets[i]);
        ASSERT_INT_EQ(r[i].calls, 1);
        ASSERT_INT_EQ(r[i].err, VPD_FWD_OK);
        ASSERT_INT_EQ(r[i].status, 200);
        ASSERT_STR_EQ(r[i].body, want);
        result_free(&r[i]);
    }
    ASSERT_INT_EQ(n_recs(up), N);
    ASSERT_INT_EQ(vpd_fwd_inflight(e.fwd), 0);
    /* The connections were kept: a second wave opens none. */
    int conns = up->n_conns;
    for (int i = 0; i < N; i++) {
        vpd_fwd_req q = mkreq("GET", targets[i]);
        send_req(e.fwd, &q, &r[i]);
    }
    for (int i = 0; i < N; i++)
        run_until(&e.loop, &r[i].done);
    for (int i = 0; i < N; i++) {
        ASSERT_INT_EQ(r[i].status, 200);
        result_free(&r[i]);
    }
    ASSERT_INT_EQ(up->n_conns, conns);
    env_done(&e);
}

/* vault { max_connections } bounds the connections: requests beyond it
 * wait their turn and still all succeed. */
TEST(max_connections_bound)
{
    upstream_t *up = upstream_start(NULL);
    env_t e;
    char a[128];
    snprintf(a, sizeof a, "http://127.0.0.1:%d", up->port);
    env_init(&e, a);
    e.vault.max_connections = 2;
    env_start(&e);
    enum { N = 10 };
    static result_t r[N];
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        vpd_fwd_req q = mkreq("GET", "/v1/sys/health");
        send_req(e.fwd, &q, &r[i]);
    }
    for (int i = 0; i < N; i++) {
        run_until(&e.loop, &r[i].done);
        ASSERT(vpd_fwd_open_connections(e.fwd) <= 2);
    }
    for (int i = 0; i < N; i++) {
        ASSERT_INT_EQ(r[i].status, 200);
        result_free(&r[i]);
    }
    ASSERT(up->n_conns <= 2);
    env_done(&e);
}

/* ---- tests: what recycled ops and handles carry over ----------------- */

/* Requests of every kind in a row on recycled ops and easy handles: each
 * goes out with its own method, headers and body and nothing of the one
 * before (a handle that served a plain GET keeps its options). */
TEST(reuse_carries_nothing_over)
{
    upstream_t *up = upstream_start(NULL);
    env_t e;
    env_http(&e, up);
    struct {
        const char *method, *target, *body, *hdr;
    } seq[] = {
        {"GET", "/v1/a?x=1", NULL, "X-One"},
        {"POST", "/v1/b", "{\"p\":1}", "X-Two"},
        {"GET", "/v1/a?x=1", NULL, NULL},
        {"HEAD", "/v1/c", NULL, "X-Three"},
        {"GET", "/v1/d", NULL, "X-Four"},
        {"DELETE", "/v1/e", NULL, NULL},
        {"GET", "/v1/d", NULL, NULL},
        {"PUT", "/v1/f", "{}", "X-Five"},
        {"LIST", "/v1/g/", NULL, NULL},
        {"GET", "/v1/a?x=1", NULL, "X-Six"},
    };
    size_t n = sizeof seq / sizeof seq[0];
    for (size_t i = 0; i < n; i++) {
        vpd_hdrs h = {0};
        if (seq[i].hdr)
            vpd_hdrs_add(&h, seq[i].hdr, "v");
        vpd_fwd_req q = mkreq(seq[i].method, seq[i].target);
        q.headers = &h;
        q.body = seq[i].body;
        q.body_len = seq[i].body ? strlen(seq[i].body) : 0;
        result_t r;
        do_req(&e, &q, &r);
        ASSERT_INT_EQ(r.err, VPD_FWD_OK);
        ASSERT_INT_EQ(r.status, 200);
        rec_t s = rec_at(up, (int)i);
        ASSERT_STR_EQ(s.method, seq[i].method);
        ASSERT_STR_EQ(s.target, seq[i].target);
        ASSERT_STR_EQ(s.body, seq[i].body ? seq[i].body : "");
        const char *all[] = {"X-One",  "X-Two",  "X-Three",
                             "X-Four", "X-Five", "X-Six"};
        for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
            bool want = seq[i].hdr && strcmp(seq[i].hdr, all[k]) == 0;
            if (head_count(s.head, all[k]) != (want ? 1 : 0))
                TEST_FAIL_("request %zu: %s: %s", i, all[k], s.head);
        }
        char v[32];
        if (!seq[i].body && strcmp(seq[i].method, "PUT") != 0 &&
            strcmp(seq[i].method, "POST") != 0)
            ASSERT_INT_EQ(head_count(s.head, "Content-Length"), 0);
        else
            ASSERT_NOT_NULL(head_get(s.head, "Content-Length", v, sizeof v));
        ASSERT_INT_EQ(head_count(s.head, "Content-Type"), 0);
        ASSERT_INT_EQ(head_count(s.head, "Accept"), 0);
        ASSERT_INT_EQ(head_count(s.head, "Expect"), 0);
        if (strcmp(seq[i].method, "HEAD") == 0)
            ASSERT_INT_EQ(r.body_len, 0);
        else
            ASSERT_INT_EQ(r.body_len,
                          strlen(seq[i].method) + 1 + strlen(seq[i].target));
        result_free(&r);
        vpd_hdrs_free(&h);
    }
    ASSERT_INT_EQ(up->n_conns, 1);
    env_done(&e);
}

/* A callback that reads the answer in place (no vpd_fwd_resp_take, headers
 * left in the response): the next answers on the recycled op are whole
 * and their own. */
static void
on_result_borrow(vpd_fwd_resp *resp, void *arg)
{
    result_t *r = arg;
    r->calls++;
    r->done = true;
    r->err = resp->error;
    r->status = resp->status;
    r->body = malloc(resp->body_len + 1);
    memcpy(r->body, resp->body, resp->body_len + 1);
    r->body_len = resp->body_len;
    vpd_hdrs_copy(&r->hdrs, &resp->headers);
}

static void
resp_sized(int idx, const rec_t *r, answer_t *a)
{
    size_t len = (size_t)(idx % 2 ? 10 : 3000);
    memset(a->body, 'a' + idx % 26, len);
    a->body[len] = '\0';
    snprintf(a->headers, sizeof a->headers, "X-Idx: %d\r\n", idx);
}

TEST(borrowed_answers_stay_separate)
{
    upstream_t *up = upstream_start(resp_sized);
    env_t e;
    env_http(&e, up);
    for (int i = 0; i < 6; i++) {
        vpd_fwd_req q = mkreq("GET", "/v1/x");
        result_t r;
        memset(&r, 0, sizeof r);
        ASSERT_NOT_NULL(vpd_fwd_send(e.fwd, &q, on_result_borrow, &r));
        run_until(&e.loop, &r.done);
        ASSERT_INT_EQ(r.err, VPD_FWD_OK);
        size_t len = (size_t)(i % 2 ? 10 : 3000);
        ASSERT_INT_EQ(r.body_len, len);
        ASSERT_INT_EQ(strlen(r.body), len);
        for (size_t k = 0; k < len; k++)
            ASSERT_INT_EQ(r.body[k], 'a' + i % 26);
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        ASSERT_INT_EQ(vpd_hdrs_count(&r.hdrs, "X-Idx"), 1);
        ASSERT_STR_EQ(vpd_hdrs_get(&r.hdrs, "X-Idx", 0), want);
        result_free(&r);
    }
    env_done(&e);
}

/* More distinct targets than the parsed-URL cache holds, some in flight
 * together: each goes out byte for byte. */
TEST(many_targets)
{
    upstream_t *up = upstream_start(NULL);
    env_t e;
    env_http(&e, up);
    enum { N = 100, W = 20 };
    static result_t r[W];
    static char t[W][96];
    for (int base = 0; base < N; base += W) {
        memset(r, 0, sizeof r);
        for (int i = 0; i < W; i++) {
            int k = base + i;
            snprintf(t[i], sizeof t[i], "/v1/kv/data/k%d%s", k,
                     k % 3 == 0   ? "?a=%2F&b=%7e"
                     : k % 3 == 1 ? "/../x/./y?"
                                  : "");
            vpd_fwd_req q = mkreq("GET", t[i]);
            send_req(e.fwd, &q, &r[i]);
        }
        for (int i = 0; i < W; i++)
            run_until(&e.loop, &r[i].done);
        for (int i = 0; i < W; i++) {
            char want[128];
            snprintf(want, sizeof want, "GET %.95s", t[i]);
            ASSERT_INT_EQ(r[i].err, VPD_FWD_OK);
            ASSERT_STR_EQ(r[i].body, want);
            result_free(&r[i]);
        }
    }
    ASSERT_INT_EQ(n_recs(up), N);
    env_done(&e);
}

/* ---- tests: proxies from the environment ------------------------------ */

/* The proxy variables count as Vault's Go client counts them: HTTP_PROXY
 * or http_proxy for http, HTTPS_PROXY or https_proxy for https, no
 * all_proxy, NO_PROXY or no_proxy exempting hosts.  (The forwarder reads
 * them once, at vpd_fwd_new: the daemon never changes its environment.) */
static void
proxy_case(const char *var, const char *no_proxy, bool via_proxy)
{
    upstream_t *vault = upstream_start(NULL);
    upstream_t *proxy = upstream_start(NULL);
    char purl[64];
    snprintf(purl, sizeof purl, "http://127.0.0.1:%d", proxy->port);
    setenv(var, purl, 1);
    if (no_proxy)
        setenv("no_proxy", no_proxy, 1);
    env_t e;
    env_http(&e, vault);
    vpd_fwd_req q = mkreq("GET", "/v1/sys/health");
    result_t r;
    do_req(&e, &q, &r);
    unsetenv(var);
    unsetenv("no_proxy");
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    if (via_proxy) {
        char want[96];
        snprintf(want, sizeof want, "http://127.0.0.1:%d/v1/sys/health",
                 vault->port);
        ASSERT_INT_EQ(n_recs(vault), 0);
        ASSERT_STR_EQ(rec_at(proxy, 0).target, want);
    } else {
        ASSERT_INT_EQ(n_recs(proxy), 0);
        ASSERT_STR_EQ(rec_at(vault, 0).target, "/v1/sys/health");
    }
    result_free(&r);
    env_done(&e);
}

TEST(proxy_from_environment)
{
    proxy_case("http_proxy", NULL, true);
    proxy_case("HTTP_PROXY", NULL, true);
    proxy_case("all_proxy", NULL, false); /* Go does not read it */
    proxy_case("ALL_PROXY", NULL, false);
    proxy_case("https_proxy", NULL, false);
    proxy_case("http_proxy", "127.0.0.1", false);
    proxy_case("http_proxy", "*", false);
    proxy_case("http_proxy", "example.com", true);
}

/* ---- tests: logging --------------------------------------------------- */

TEST(debug_log_has_no_secrets)
{
    char path[] = "/tmp/fwdlogXXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    vpd_log_set_level(VPD_LOG_DEBUG);
    fail_first = 1;
    fail_status = 503;
    upstream_t *up = upstream_start(resp_fail_first);
    env_t e;
    env_http(&e, up);
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "X-Vault-Token", "s.TOKENSECRET");
    vpd_fwd_req q = mkreq("POST", "/v1/auth/approle/login?k=QUERYSECRET");
    q.headers = &h;
    q.body = "{\"secret_id\":\"BODYSECRET\"}";
    q.body_len = strlen(q.body);
    q.max_retries = 1;
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.status, 200);
    result_free(&r);
    env_done(&e);
    vpd_hdrs_free(&h);
    fflush(stderr);
    dup2(saved, 2);
    char buf[8192] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    ASSERT(n > 0);
    buf[n] = '\0';
    close(fd);
    unlink(path);
    ASSERT_STR_CONTAINS(buf, "POST /v1/auth/approle/login");
    ASSERT_STR_CONTAINS(buf, "attempts=2");
    if (strstr(buf, "SECRET"))
        TEST_FAIL_("a secret reached the log: %s", buf);
}

/* ---- tests: TLS ------------------------------------------------------- */

typedef lb_tls tls_files;

static void
tls_make(tls_files *t, bool ask_client_cert)
{
    lb_tls_make(t, (lb_tls_opts){.ask_client_cert = ask_client_cert});
}

static int
accept_any(X509_STORE_CTX *c, void *arg)
{
    return 1;
}

static void
tls_cleanup(tls_files *t)
{
    lb_tls_cleanup(t);
}

static void
env_tls(env_t *e, upstream_t *up)
{
    char a[128];
    snprintf(a, sizeof a, "https://127.0.0.1:%d", up->port);
    env_init(e, a);
}

TEST(tls_verification_on_by_default)
{
    tls_files t;
    tls_make(&t, false);
    upstream_t *up = upstream_start_on(0, NULL, t.ctx);
    env_t e;
    env_tls(&e, up);
    env_start(&e);
    vpd_fwd_req q = mkreq("GET", "/v1/sys/health");
    q.max_retries = 3;
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_TLS);
    ASSERT_INT_EQ(r.attempts, 1); /* a bad certificate is not retried */
    ASSERT(r.errtext[0] != '\0');
    result_free(&r);
    env_done(&e);
    tls_cleanup(&t);
}

TEST(tls_with_ca_cert)
{
    tls_files t;
    tls_make(&t, false);
    upstream_t *up = upstream_start_on(0, NULL, t.ctx);
    env_t e;
    env_tls(&e, up);
    e.vault.ca_cert = t.cert;
    env_start(&e);
    vpd_fwd_req q = mkreq("GET", "/v1/sys/health");
    result_t r;
    for (int i = 0; i < 2; i++) {
        do_req(&e, &q, &r);
        ASSERT_INT_EQ(r.err, VPD_FWD_OK);
        ASSERT_INT_EQ(r.status, 200);
        ASSERT_STR_EQ(r.body, "GET /v1/sys/health");
        result_free(&r);
    }
    ASSERT_INT_EQ(up->n_conns, 1); /* kept alive over TLS too */
    env_done(&e);
    tls_cleanup(&t);
}

/* An error some other OpenSSL user left in this thread's queue does not
 * make a healthy TLS exchange look failed: the connection's reads and
 * writes start from an empty queue. */
TEST(tls_ignores_a_stale_openssl_error)
{
    tls_files t;
    tls_make(&t, false);
    upstream_t *up = upstream_start_on(0, NULL, t.ctx);
    env_t e;
    env_tls(&e, up);
    e.vault.ca_cert = t.cert;
    env_start(&e);
    vpd_fwd_req q = mkreq("GET", "/v1/sys/health");
    result_t r;
    for (int i = 0; i < 3; i++) {
        ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
        do_req(&e, &q, &r);
        ASSERT_INT_EQ(r.err, VPD_FWD_OK);
        ASSERT_INT_EQ(r.status, 200);
        result_free(&r);
    }
    ASSERT_INT_EQ(up->n_conns, 1);
    env_done(&e);
    tls_cleanup(&t);
}

TEST(tls_skip_verify)
{
    tls_files t;
    tls_make(&t, false);
    upstream_t *up = upstream_start_on(0, NULL, t.ctx);
    env_t e;
    env_tls(&e, up);
    e.vault.tls_skip_verify = true;
    env_start(&e);
    vpd_fwd_req q = mkreq("GET", "/v1/sys/health");
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    ASSERT_INT_EQ(r.status, 200);
    result_free(&r);
    env_done(&e);
    tls_cleanup(&t);
}

TEST(tls_server_name)
{
    tls_files t;
    tls_make(&t, false);
    upstream_t *up = upstream_start_on(0, NULL, t.ctx);
    env_t e;
    env_tls(&e, up);
    e.vault.ca_cert = t.cert;
    e.vault.tls_server_name = "vault.test";
    env_start(&e);
    vpd_fwd_req q = mkreq("GET", "/v1/sys/health");
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    ASSERT_INT_EQ(r.status, 200);
    rec_t s = rec_at(up, 0);
    ASSERT_STR_EQ(s.sni, "vault.test");
    char v[128], want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", up->port);
    ASSERT_STR_EQ(head_get(s.head, "Host", v, sizeof v), want);
    ASSERT_INT_EQ(head_count(s.head, "Host"), 1);
    result_free(&r);
    env_done(&e);

    /* A name the certificate does not carry fails verification. */
    env_tls(&e, up);
    e.vault.ca_cert = t.cert;
    e.vault.tls_server_name = "other.test";
    env_start(&e);
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_TLS);
    result_free(&r);
    env_done(&e);
    tls_cleanup(&t);
}

TEST(tls_per_request_identity)
{
    tls_files t;
    tls_make(&t, true);
    /* Any client certificate will do: the test looks at whether one came. */
    SSL_CTX_set_cert_verify_callback(t.ctx, accept_any, NULL);
    upstream_t *up = upstream_start_on(0, NULL, t.ctx);
    env_t e;
    env_tls(&e, up);
    e.vault.ca_cert = t.cert;
    env_start(&e);
    vpd_fwd_req q = mkreq("GET", "/v1/sys/health");
    result_t r;
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    result_free(&r);
    vpd_fwd_req login = mkreq("PUT", "/v1/auth/cert/login");
    login.client_cert = t.cert;
    login.client_key = t.key;
    do_req(&e, &login, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    result_free(&r);
    do_req(&e, &q, &r);
    ASSERT_INT_EQ(r.err, VPD_FWD_OK);
    result_free(&r);
    rec_t a = rec_at(up, 0), b = rec_at(up, 1), c = rec_at(up, 2);
    ASSERT(!a.peer_cert);
    ASSERT(b.peer_cert);
    ASSERT(!c.peer_cert);
    ASSERT(b.conn != a.conn);
    ASSERT_INT_EQ(c.conn, a.conn);
    env_done(&e);
    tls_cleanup(&t);
}

static void
resp_downgrade(int idx, const rec_t *r, answer_t *a)
{
    a->status = 307;
    snprintf(a->headers, sizeof a->headers,
             "Location: http://127.0.0.1:1/v1/x\r\n");
}

TEST(tls_redirect_downgrade_refused)
{
    tls_files t;
    tls_make(&t, false);
    upstream_t *up = upstream_start_on(0, resp_downgrade, t.ctx);
    env_t e;
    env_tls(&e, up);
    e.vault.tls_skip_verify = true;
    env_start(&e);
    vpd_fwd_req q = mkreq("GET", "/v1/x");
    result_t r;
    do_req(&e, &q, &r);
    ASSERT(r.err != VPD_FWD_OK);
    ASSERT_STR_CONTAINS(r.errtext, "downgrade");
    ASSERT_INT_EQ(n_recs(up), 1);
    result_free(&r);
    env_done(&e);
    tls_cleanup(&t);
}

int
main(void)
{
    /* The upstream is local: no proxy from the environment. */
    unsetenv("http_proxy");
    unsetenv("https_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    /* The TLS upstream writes with SSL_write, which can hit a peer that
     * already left. */
    signal(SIGPIPE, SIG_IGN);
    return RUN_TESTS(
        T(get_pass_through), T(list_goes_out_as_list), T(bodies_and_methods),
        T(query_string_unchanged), T(request_headers_filtered),
        T(checked_request_headers_written_as_they_are),
        T(bad_requests_refused_without_callback),
        T(each_byte_of_method_and_target_is_checked), T(connection_reuse),
        T(path_prefix), T(bad_address), T(retry_500_then_ok),
        T(retry_500_exhausted), T(retry_default_from_vault_config),
        T(no_retry_501), T(no_retry_412), T(retry_429), T(retry_after_honoured),
        T(retry_respects_deadline), T(refused_is_unreachable_after_retries),
        T(upstream_comes_back), T(reset_is_retried), T(timeout),
        T(redirect_followed_once), T(cancel), T(free_cancels_in_flight),
        T(free_inside_callback), T(many_concurrent), T(max_connections_bound),
        T(reuse_carries_nothing_over), T(borrowed_answers_stay_separate),
        T(many_targets), T(proxy_from_environment), T(debug_log_has_no_secrets),
        T(tls_verification_on_by_default), T(tls_with_ca_cert),
        T(tls_ignores_a_stale_openssl_error), T(tls_skip_verify),
        T(tls_server_name), T(tls_per_request_identity),
        T(tls_redirect_downgrade_refused));
}
