/* Listener tests: a real server on the loop in the main thread, a blocking
 * client (plain sockets or OpenSSL) in a second thread.  Everything the
 * client waits for is bounded by socket timeouts; the harness alarm bounds
 * the whole test.  TLS certificates are generated at run time into a
 * temporary directory. */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "base/buf.h"
#include "http/http.h"
#include "base/log.h"
#include "http/server.h"
#include "test.h"

/* ---- fixture: server on the main thread, client in a thread ----------- */

typedef enum { H_ECHO = 0, H_ASYNC, H_HOLD, H_ERROR, H_HDRS } handler_mode;

static struct {
    uv_loop_t loop;
    vpd_config cfg;
    vpd_listener_config lc[2];
    vpd_server *srv;
    uv_async_t stop_async, cmd_async;
    void (*cmd)(void);
    sem_t cmd_done;
    void (*client)(void);
    handler_mode mode;
    int async_ms;
    vpd_http_req *held;
    atomic_int got_req;
    atomic_int closed;
    bool gone_seen;
    int gone_calls; /* runs of the on_gone hook (loop thread) */
    char tmp[256];
    int port;
} F;

static void
echo(vpd_http_req *req)
{
    vpd_buf b = VPD_BUF_INIT;
    vpd_buf_printf(&b,
                   "method=%s\ntarget=%s\npath=%s\nquery=%s\nversion=%d.%d\n"
                   "keepalive=%d\npeer=%s\nheaders=",
                   req->method, req->target, req->path, req->query,
                   req->http_major, req->http_minor, req->keep_alive,
                   req->peer);
    for (size_t i = 0; i < req->headers.n; i++)
        vpd_buf_printf(&b, "%s: %s|", req->headers.v[i].name,
                       req->headers.v[i].value);
    vpd_buf_printf(&b, "\nbodylen=%zu\nbody=", req->body_len);
    vpd_buf_append(&b, req->body, req->body_len);
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "Content-Type", "text/plain");
    vpd_http_respond(req, 200, &h, b.data, b.len);
    vpd_hdrs_free(&h);
    vpd_buf_free(&b);
}

typedef struct {
    uv_timer_t t;
    vpd_http_req *req;
} later;

static void
later_closed(uv_handle_t *h)
{
    free(h);
}

static void
later_fire(uv_timer_t *t)
{
    later *l = (later *)t;
    echo(l->req);
    uv_close((uv_handle_t *)t, later_closed);
}

/* The router's hook: only a real departure may run it, and only while the
 * server is open. */
static void
on_gone(vpd_http_req *req, void *arg)
{
    ASSERT(arg == &F);
    ASSERT(req == F.held);
    ASSERT(req->client_gone);
    ASSERT_NOT_NULL(F.srv);
    F.gone_calls++;
}

static void
handler(vpd_http_req *req, void *arg)
{
    ASSERT(arg == &F);
    ASSERT_NOT_NULL(req->listener);
    atomic_fetch_add(&F.got_req, 1);
    switch (F.mode) {
    case H_ECHO:
        echo(req);
        break;
    case H_ASYNC: {
        later *l = calloc(1, sizeof *l);
        l->req = req;
        uv_timer_init(&F.loop, &l->t);
        uv_timer_start(&l->t, later_fire, (uint64_t)F.async_ms, 0);
        break;
    }
    case H_HOLD:
        F.held = req;
        vpd_http_on_client_gone(req, on_gone, &F);
        break;
    case H_ERROR:
        vpd_http_respond_error(req, 412,
                               "missing \"X-Vault-Request\" header <&>");
        break;
    case H_HDRS: {
        vpd_hdrs h = {0};
        vpd_hdrs_add(&h, "X-Good", "yes");
        vpd_hdrs_add(&h, "X-Evil", "a\r\nSet-Cookie: x=1");
        /* Past the first word of eight bytes, and around it. */
        vpd_hdrs_add(&h, "X-Long-Evil", "0123456789abcdefghij\nX-Smuggled: 1");
        vpd_hdrs_add(&h, "X-Tabbed", "0123456789\tabcdefghij");
        vpd_hdrs_addn(&h, "X-Cut", 5, "cut\0rest", 8);
        vpd_hdrs_addn(&h, "X-Bad-Name-Long\rX", 17, "v", 1);
        /* A LF, or a tab, at every place of values 13 bytes long (a word
         * and an overlapping one) and 5 long (bytes alone). */
        for (int k = 0; k < 13; k++) {
            char name[16], v[16];
            memset(v, 'v', 13);
            v[13] = '\0';
            v[k] = '\n';
            snprintf(name, sizeof name, "X-Lf-%d", k);
            vpd_hdrs_add(&h, name, v);
            v[k] = '\t';
            snprintf(name, sizeof name, "X-Tab-%d", k);
            vpd_hdrs_add(&h, name, v);
            v[k] = 'v';
            v[k % 5] = '\r';
            v[5] = '\0';
            snprintf(name, sizeof name, "X-Cr-%d", k);
            vpd_hdrs_add(&h, name, v);
        }
        vpd_hdrs_add(&h, "Content-Length", "999");
        vpd_hdrs_add(&h, "Connection", "upgrade");
        vpd_hdrs_add(&h, "Date", "Mon, 01 Jan 2024 00:00:00 GMT");
        vpd_http_respond(req, 201, &h, "abc", 3);
        vpd_hdrs_free(&h);
        F.mode = H_ECHO; /* later requests on the connection: echo */
        break;
    }
    }
}

static void
on_server_closed(void *arg)
{
    atomic_store(&F.closed, 1);
}

static void
on_stop(uv_async_t *a)
{
    if (F.srv)
        vpd_server_close(F.srv, on_server_closed, NULL);
    F.srv = NULL;
    uv_close((uv_handle_t *)&F.stop_async, NULL);
    uv_close((uv_handle_t *)&F.cmd_async, NULL);
    /* A request still held is answered after the server is gone: that
     * must only free it. */
    if (F.held) {
        vpd_http_respond(F.held, 200, NULL, "late", 4);
        F.held = NULL;
    }
}

static void
on_cmd(uv_async_t *a)
{
    if (F.cmd) {
        void (*fn)(void) = F.cmd;
        F.cmd = NULL;
        fn();
        sem_post(&F.cmd_done);
    }
}

/* Runs fn on the loop thread and waits for it (client thread only). */
static void
on_loop(void (*fn)(void))
{
    F.cmd = fn;
    uv_async_send(&F.cmd_async);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 5;
    ASSERT(sem_timedwait(&F.cmd_done, &ts) == 0);
}

static vpd_listener_config *
tcp_listener(int i, const char *addr)
{
    vpd_listener_config *l = &F.lc[i];
    memset(l, 0, sizeof *l);
    l->type = VPD_LISTEN_TCP;
    l->address = (char *)addr;
    l->tls_disable = true;
    l->read_timeout_ms = 5000;
    l->idle_timeout_ms = 5000;
    return l;
}

static void
setup(void)
{
    memset(&F, 0, sizeof F);
    if (!getenv("VP_TEST_DEBUG"))
        vpd_log_set_level(VPD_LOG_WARN);
    else
        vpd_log_set_level(VPD_LOG_DEBUG);
    ASSERT_INT_EQ(uv_loop_init(&F.loop), 0);
    snprintf(F.tmp, sizeof F.tmp, "/tmp/vpd-test-server-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(F.tmp));
    sem_init(&F.cmd_done, 0, 0);
    tcp_listener(0, "127.0.0.1:0");
}

static vpd_server *
try_start(size_t n, char *err, size_t err_len)
{
    F.cfg.listeners = F.lc;
    F.cfg.n_listeners = n;
    return vpd_server_start(&F.loop, &F.cfg, handler, &F, err, err_len);
}

static void
start(size_t n)
{
    char err[512] = "";
    F.srv = try_start(n, err, sizeof err);
    if (!F.srv)
        TEST_FAIL_("vpd_server_start: %s", err);
    F.port = vpd_server_port(F.srv, 0);
}

static void *
client_main(void *arg)
{
    F.client();
    uv_async_send(&F.stop_async);
    return NULL;
}

static void
rm_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* Runs the loop until the client is done and the server closed. */
static void
run(void (*client)(void))
{
    pthread_t th;
    F.client = client;
    uv_async_init(&F.loop, &F.stop_async, on_stop);
    uv_async_init(&F.loop, &F.cmd_async, on_cmd);
    ASSERT_INT_EQ(pthread_create(&th, NULL, client_main, NULL), 0);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    ASSERT_INT_EQ(atomic_load(&F.closed), 1);
    ASSERT_INT_EQ(uv_loop_close(&F.loop), 0); /* every handle was closed */
    rm_tree(F.tmp);
}

/* ---- blocking client -------------------------------------------------- */

typedef struct {
    int fd;
    SSL *ssl;
    SSL_CTX *ctx;
    char buf[1 << 18];
    size_t len;
} cli;

typedef struct {
    int status;
    char head[8192];
    char body[1 << 17];
    size_t body_len;
} resp;

static void
set_timeouts(int fd, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int
connect_tcp_family(int family, int port)
{
    int fd = socket(family, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_timeouts(fd, 5000);
    int r;
    if (family == AF_INET) {
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        r = connect(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in6 a = {0};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons((uint16_t)port);
        a.sin6_addr = in6addr_loopback;
        r = connect(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (r != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static cli *
cli_new_fd(int fd)
{
    cli *c = calloc(1, sizeof *c);
    ASSERT_NOT_NULL(c);
    c->fd = fd;
    return c;
}

static cli *
cli_tcp(void)
{
    int fd = connect_tcp_family(AF_INET, F.port);
    if (fd < 0)
        TEST_FAIL_("connect to port %d: %s", F.port, strerror(errno));
    return cli_new_fd(fd);
}

static cli *
cli_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    set_timeouts(fd, 5000);
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    ASSERT(strlen(path) < sizeof a.sun_path);
    memcpy(a.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        TEST_FAIL_("connect %s: %s", path, strerror(errno));
    return cli_new_fd(fd);
}

static void
cli_free(cli *c)
{
    if (!c)
        return;
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

static void
cli_write(cli *c, const char *data, size_t len)
{
    while (len) {
        ssize_t n = c->ssl ? SSL_write(c->ssl, data, (int)len)
                           : send(c->fd, data, len, MSG_NOSIGNAL);
        ASSERT(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

static void
cli_puts(cli *c, const char *s)
{
    cli_write(c, s, strlen(s));
}

/* >0 bytes, 0 at EOF, <0 on error or timeout. */
static ssize_t
cli_fill(cli *c)
{
    if (c->len >= sizeof c->buf - 1)
        return -1;
    ssize_t n;
    if (c->ssl) {
        n = SSL_read(c->ssl, c->buf + c->len,
                     (int)(sizeof c->buf - 1 - c->len));
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, (int)n);
            ERR_clear_error();
            return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
        }
    } else {
        n = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
    }
    if (n > 0) {
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
    }
    return n;
}

static const char *
find_header(const char *head, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':')
            return p + 2 + nl + 1 + strspn(p + 3 + nl, " ");
    }
    return NULL;
}

/* Reads one response (HEAD answers have no body).  Returns 0, or -1 if
 * the connection ended first. */
static int
cli_response(cli *c, resp *r, bool head)
{
    memset(r, 0, sizeof *r);
    char *end;
    while (!(end = c->len ? strstr(c->buf, "\r\n\r\n") : NULL)) {
        if (cli_fill(c) <= 0)
            return -1;
    }
    size_t hl = (size_t)(end - c->buf) + 4;
    ASSERT(hl < sizeof r->head);
    memcpy(r->head, c->buf, hl);
    r->head[hl] = '\0';
    ASSERT(strncmp(r->head, "HTTP/1.", 7) == 0);
    r->status = atoi(r->head + 9);
    size_t bl = 0;
    const char *cl = find_header(r->head, "Content-Length");
    if (cl && !head && r->status >= 200 && r->status != 204 && r->status != 304)
        bl = strtoul(cl, NULL, 10);
    ASSERT(bl < sizeof r->body);
    while (c->len < hl + bl) {
        if (cli_fill(c) <= 0)
            return -1;
    }
    memcpy(r->body, c->buf + hl, bl);
    r->body[bl] = '\0';
    r->body_len = bl;
    memmove(c->buf, c->buf + hl + bl, c->len - hl - bl);
    c->len -= hl + bl;
    c->buf[c->len] = '\0';
    return 0;
}

/* True if the server closes the connection (EOF or reset) in time. */
static bool
cli_closed(cli *c)
{
    for (int i = 0; i < 100; i++) {
        ssize_t n = cli_fill(c);
        if (n == 0)
            return true;
        if (n < 0)
            return errno == ECONNRESET || c->ssl;
    }
    return false;
}

static void
get_ok(cli *c, const char *path, resp *r)
{
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    cli_puts(c, req);
    ASSERT_INT_EQ(cli_response(c, r, false), 0);
    ASSERT_INT_EQ(r->status, 200);
}

static void
msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- certificates ----------------------------------------------------- */

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    ASSERT_NOT_NULL(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* Writes DIR/NAME.crt and DIR/NAME.key; self-signed unless an issuer is
 * given.  Returns the certificate (caller frees) and the key in *key_out. */
static X509 *
make_cert(const char *name, const char *cn, X509 *issuer, EVP_PKEY *ikey,
          bool ca, EVP_PKEY **key_out)
{
    static long serial = 1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    ASSERT_NOT_NULL(key);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                               -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    if (ca) {
        add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, issuer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    }
    ASSERT(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.crt", F.tmp, name);
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    PEM_write_X509(f, x);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s.key", F.tmp, name);
    f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    if (key_out)
        *key_out = key;
    else
        EVP_PKEY_free(key);
    return x;
}

/* A path in the temp dir; a few static slots, enough for one config. */
static char *
tpath(const char *name)
{
    static char slots[8][512];
    static int next;
    char *p = slots[next++ % 8];
    snprintf(p, 512, "%s/%s", F.tmp, name);
    return p;
}

static void
copy_file(const char *from, const char *to)
{
    char a[512], b[512], data[16384];
    snprintf(a, sizeof a, "%s/%s", F.tmp, from);
    snprintf(b, sizeof b, "%s/%s", F.tmp, to);
    FILE *in = fopen(a, "r"), *out = fopen(b, "w");
    ASSERT(in && out);
    size_t n = fread(data, 1, sizeof data, in);
    fwrite(data, 1, n, out);
    fclose(in);
    fclose(out);
}

static SSL_CTX *
client_ctx(const char *ca, const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    ASSERT_NOT_NULL(ctx);
    char p[512];
    snprintf(p, sizeof p, "%s/%s", F.tmp, ca);
    ASSERT(SSL_CTX_load_verify_locations(ctx, p, NULL) == 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (cert) {
        snprintf(p, sizeof p, "%s/%s", F.tmp, cert);
        ASSERT(SSL_CTX_use_certificate_file(ctx, p, SSL_FILETYPE_PEM) == 1);
        snprintf(p, sizeof p, "%s/%s", F.tmp, key);
        ASSERT(SSL_CTX_use_PrivateKey_file(ctx, p, SSL_FILETYPE_PEM) == 1);
    }
    /* These clients speak HTTP/1.1; h2 by ALPN is test_h2's. */
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
    return ctx;
}

/* Connects with TLS; returns NULL if the handshake fails. */
static cli *
cli_tls(SSL_CTX *ctx)
{
    cli *c = cli_tcp();
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    if (SSL_connect(c->ssl) != 1) {
        ERR_clear_error();
        cli_free(c);
        return NULL;
    }
    return c;
}

static void
peer_cn(cli *c, char *out, size_t len)
{
    X509 *x = SSL_get1_peer_certificate(c->ssl);
    ASSERT_NOT_NULL(x);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out,
                              (int)len);
    X509_free(x);
}

/* ---- tests: plain HTTP ------------------------------------------------ */

static void
c_simple_get(void)
{
    cli *c = cli_tcp();
    resp r;
    cli_puts(c, "GET /v1/sys/health?standbyok=true&x=1 HTTP/1.1\r\n"
                "Host: 127.0.0.1\r\nX-Vault-Token: hvs.abc\r\n"
                "x-lower: v  \r\nX-Empty:\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_STR_CONTAINS(r.head, "HTTP/1.1 200 OK\r\n");
    ASSERT_STR_CONTAINS(r.head, "Content-Type: text/plain\r\n");
    ASSERT_NOT_NULL(find_header(r.head, "Date"));
    ASSERT_NOT_NULL(find_header(r.head, "Content-Length"));
    ASSERT(!find_header(r.head, "Connection"));
    ASSERT_STR_CONTAINS(r.body, "method=GET\n");
    ASSERT_STR_CONTAINS(r.body, "target=/v1/sys/health?standbyok=true&x=1\n");
    ASSERT_STR_CONTAINS(r.body, "path=/v1/sys/health\n");
    ASSERT_STR_CONTAINS(r.body, "query=standbyok=true&x=1\n");
    ASSERT_STR_CONTAINS(r.body, "version=1.1\nkeepalive=1\npeer=127.0.0.1:");
    ASSERT_STR_CONTAINS(r.body, "headers=Host: 127.0.0.1|X-Vault-Token: "
                                "hvs.abc|x-lower: v|X-Empty: |\n");
    ASSERT_STR_CONTAINS(r.body, "bodylen=0\nbody=");
    /* No query: query is "". */
    get_ok(c, "/v1/a", &r);
    ASSERT_STR_CONTAINS(r.body, "path=/v1/a\nquery=\n");
    cli_free(c);
}

TEST(simple_get)
{
    setup();
    start(1);
    run(c_simple_get);
}

static void
c_list(void)
{
    cli *c = cli_tcp();
    resp r;
    cli_puts(c, "LIST /v1/secret/metadata/hvac HTTP/1.1\r\nHost: t\r\n"
                "Content-Length: 0\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_STR_CONTAINS(r.body, "method=LIST\n");
    ASSERT_STR_CONTAINS(r.body, "path=/v1/secret/metadata/hvac\n");
    /* Other methods pass through as llhttp names them. */
    cli_puts(c, "PATCH /v1/p HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_STR_CONTAINS(r.body, "method=PATCH\n");
    cli_puts(c, "LOCK /v1/l HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_STR_CONTAINS(r.body, "method=LOCK\n");
    cli_puts(c, "DELETE /v1/d HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_STR_CONTAINS(r.body, "method=DELETE\n");
    cli_free(c);
}

TEST(list_method)
{
    setup();
    start(1);
    run(c_list);
}

static void
c_list_split(void)
{
    resp r;
    static const char *const first[] = {"LI", "L", "LIST", "LIS"};
    for (size_t i = 0; i < sizeof first / sizeof first[0]; i++) {
        cli *c = cli_tcp();
        char rest[256];
        /* The rest of "LIST " after the first piece, then the request. */
        snprintf(rest, sizeof rest, "%s/v1/x%zu HTTP/1.1\r\nHost: t\r\n\r\n",
                 &"LIST "[strlen(first[i])], i);
        cli_puts(c, first[i]);
        msleep(50);
        cli_puts(c, rest);
        ASSERT_INT_EQ(cli_response(c, &r, false), 0);
        ASSERT_INT_EQ(r.status, 200);
        ASSERT_STR_CONTAINS(r.body, "method=LIST\n");
        char want[64];
        snprintf(want, sizeof want, "path=/v1/x%zu\n", i);
        ASSERT_STR_CONTAINS(r.body, want);
        /* And a second split LIST on the same connection. */
        cli_puts(c, "LI");
        msleep(30);
        cli_puts(c, "ST /v1/again HTTP/1.1\r\nHost: t\r\n\r\n");
        ASSERT_INT_EQ(cli_response(c, &r, false), 0);
        ASSERT_STR_CONTAINS(r.body, "method=LIST\ntarget=/v1/again\n");
        cli_free(c);
    }
    /* "LIS" followed by something else is no LIST: malformed. */
    cli *c = cli_tcp();
    cli_puts(c, "LIS");
    msleep(30);
    cli_puts(c, "X /v1/x HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 400);
    cli_free(c);
}

TEST(list_split)
{
    setup();
    start(1);
    run(c_list_split);
}

/* A request head cut at every byte: target, names and values that
 * straddle two reads arrive whole (the listener points into its input
 * while a piece lies in it whole, and copies what a read leaves unfinished). */
static void
c_head_split(void)
{
    static const char head[] =
        "GET /v1/secret/data/split?q=1 HTTP/1.1\r\nHost: t\r\n"
        "X-Vault-Token: hvs.straddle\r\nX-Two: a b \r\n\r\n";
    cli *c = cli_tcp();
    resp r;
    for (size_t cut = 1; cut < sizeof head - 1; cut++) {
        char first[sizeof head];
        snprintf(first, sizeof first, "%.*s", (int)cut, head);
        cli_puts(c, first);
        msleep(2); /* most often, two reads */
        cli_puts(c, head + cut);
        ASSERT_INT_EQ(cli_response(c, &r, false), 0);
        ASSERT_INT_EQ(r.status, 200);
        ASSERT_STR_CONTAINS(r.body, "target=/v1/secret/data/split?q=1\n");
        ASSERT_STR_CONTAINS(r.body, "headers=Host: t|X-Vault-Token: "
                                    "hvs.straddle|X-Two: a b|\n");
    }
    cli_free(c);
}

TEST(head_split)
{
    setup();
    start(1);
    run(c_head_split);
}

static void
c_post(void)
{
    cli *c = cli_tcp();
    resp r;
    const char *body = "{\"role_id\": \"my-role-id\", \"secret_id\": \"s\"}";
    char req[512];
    snprintf(req, sizeof req,
             "POST /v1/auth/approle/login HTTP/1.1\r\nHost: t\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    cli_puts(c, req);
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_STR_CONTAINS(r.body, "method=POST\n");
    char want[256];
    snprintf(want, sizeof want, "bodylen=%zu\nbody=%s", strlen(body), body);
    ASSERT_STR_CONTAINS(r.body, want);
    /* The body arriving in pieces. */
    cli_puts(c,
             "PUT /v1/k HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01");
    msleep(30);
    cli_puts(c, "2345");
    msleep(30);
    cli_puts(c, "6789");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_STR_CONTAINS(r.body, "method=PUT\n");
    ASSERT_STR_CONTAINS(r.body, "bodylen=10\nbody=0123456789");
    cli_free(c);
}

TEST(post_body)
{
    setup();
    start(1);
    run(c_post);
}

static void
c_chunked(void)
{
    cli *c = cli_tcp();
    resp r;
    cli_puts(c, "POST /v1/c HTTP/1.1\r\nHost: t\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
                "5\r\nhello\r\n6;ext=1\r\n wor");
    msleep(30);
    cli_puts(c, "ld\r\n0\r\nX-Trailer: t\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_STR_CONTAINS(r.body, "bodylen=11\nbody=hello world");
    ASSERT(!strstr(r.body, "X-Trailer"));
    /* The connection goes on. */
    get_ok(c, "/v1/after", &r);
    cli_free(c);
}

TEST(chunked_body)
{
    setup();
    start(1);
    run(c_chunked);
}

static void
c_pipelined(void)
{
    cli *c = cli_tcp();
    resp r;
    cli_puts(
        c, "LIST /v1/a HTTP/1.1\r\nHost: t\r\n\r\n"
           "GET /v1/b HTTP/1.1\r\nHost: t\r\n\r\n"
           "\r\nLIST /v1/c HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz"
           "POST /v1/d HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nok");
    const char *want[] = {
        "method=LIST\ntarget=/v1/a\n", "method=GET\ntarget=/v1/b\n",
        "method=LIST\ntarget=/v1/c\n", "method=POST\ntarget=/v1/d\n"};
    for (int i = 0; i < 4; i++) {
        ASSERT_INT_EQ(cli_response(c, &r, false), 0);
        ASSERT_INT_EQ(r.status, 200);
        ASSERT_STR_CONTAINS(r.body, want[i]);
    }
    ASSERT_STR_CONTAINS(r.body, "body=ok");
    cli_free(c);
}

TEST(pipelined_in_order)
{
    setup();
    F.mode = H_ASYNC;
    F.async_ms = 20;
    start(1);
    run(c_pipelined);
}

TEST(pipelined_sync_handler)
{
    setup();
    start(1);
    run(c_pipelined);
}

static void
c_keepalive(void)
{
    cli *c = cli_tcp();
    resp r;
    char peer[64] = "";
    for (int i = 0; i < 5; i++) {
        get_ok(c, "/v1/ka", &r);
        const char *p = strstr(r.body, "peer=");
        ASSERT_NOT_NULL(p);
        char now[64];
        snprintf(now, sizeof now, "%.*s", (int)strcspn(p, "\n"), p);
        if (i)
            ASSERT_STR_EQ(now, peer);
        snprintf(peer, sizeof peer, "%s", now);
    }
    /* Connection: close from the client is honoured. */
    cli_puts(c,
             "GET /v1/last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_STR_CONTAINS(r.head, "Connection: close\r\n");
    ASSERT_STR_CONTAINS(r.body, "keepalive=0\n");
    ASSERT(cli_closed(c));
    cli_free(c);
}

TEST(keepalive_reuse)
{
    setup();
    start(1);
    run(c_keepalive);
}

static void
c_http10(void)
{
    cli *c = cli_tcp();
    resp r;
    cli_puts(c, "GET /v1/old HTTP/1.0\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT(strncmp(r.head, "HTTP/1.0 200 OK\r\n", 17) == 0);
    ASSERT_STR_CONTAINS(r.head, "Connection: close\r\n");
    ASSERT_STR_CONTAINS(r.body, "version=1.0\nkeepalive=0\n");
    ASSERT(cli_closed(c));
    cli_free(c);

    c = cli_tcp();
    for (int i = 0; i < 2; i++) {
        cli_puts(c, "GET /v1/old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        ASSERT_INT_EQ(cli_response(c, &r, false), 0);
        ASSERT_INT_EQ(r.status, 200);
        ASSERT_STR_CONTAINS(r.head, "Connection: keep-alive\r\n");
        ASSERT_STR_CONTAINS(r.body, "keepalive=1\n");
    }
    cli_free(c);
}

TEST(http10)
{
    setup();
    start(1);
    run(c_http10);
}

static void
c_header_limit(void)
{
    cli *c = cli_tcp();
    resp r;
    char big[4096];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cli_puts(c, "GET /v1/x HTTP/1.1\r\nHost: t\r\nX-Big: ");
    cli_puts(c, big);
    cli_puts(c, "\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 431);
    ASSERT_STR_CONTAINS(r.head, "Content-Type: application/json\r\n");
    ASSERT_STR_CONTAINS(r.head, "Connection: close\r\n");
    ASSERT_STR_EQ(r.body, "{\"errors\":[\"request header too large\"]}\n");
    ASSERT(cli_closed(c));
    cli_free(c);
    /* A long URL counts too; under the limit is fine. */
    c = cli_tcp();
    memset(big, 'u', 2000);
    big[2000] = '\0';
    char req[sizeof big + 32];
    snprintf(req, sizeof req, "GET /%s HTTP/1.1\r\n\r\n", big);
    cli_puts(c, req);
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 431);
    cli_free(c);
    c = cli_tcp();
    big[500] = '\0';
    snprintf(req, sizeof req, "GET /%s HTTP/1.1\r\n\r\n", big);
    cli_puts(c, req);
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 200);
    cli_free(c);
}

TEST(header_limit_431)
{
    setup();
    F.lc[0].max_header_bytes = 1024;
    start(1);
    run(c_header_limit);
}

static void
c_body_limit(void)
{
    cli *c = cli_tcp();
    resp r;
    cli_puts(c,
             "POST /v1/x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 413);
    ASSERT_STR_EQ(r.body, "{\"errors\":[\"request body too large\"]}\n");
    ASSERT(cli_closed(c));
    cli_free(c);
    c = cli_tcp();
    cli_puts(c, "POST /v1/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked"
                "\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 413);
    cli_free(c);
    c = cli_tcp();
    cli_puts(c, "POST /v1/x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n"
                "0123456789");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 200);
    cli_free(c);
}

TEST(body_limit_413)
{
    setup();
    F.lc[0].max_body_bytes = 10;
    start(1);
    run(c_body_limit);
}

static void
c_malformed(void)
{
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "GET /x HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET /x HTTP/9.9\r\n\r\n",
        ("POST /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: "
         "chunked\r\n\r\n0\r\n\r\n"),
        "POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "list /x HTTP/1.1\r\n\r\n",
    };
    resp r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cli *c = cli_tcp();
        cli_puts(c, bad[i]);
        if (cli_response(c, &r, false) != 0)
            TEST_FAIL_("no answer to malformed request %zu", i);
        ASSERT_INT_EQ(r.status, 400);
        ASSERT_STR_CONTAINS(r.head, "Content-Type: application/json\r\n");
        ASSERT_STR_CONTAINS(r.body, "{\"errors\":[\"malformed request: ");
        ASSERT(cli_closed(c));
        cli_free(c);
    }
    cli *c = cli_tcp();
    cli_puts(c, "GARBAGE\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_STR_EQ(r.body, "{\"errors\":[\"malformed request: Invalid method "
                          "encountered\"]}\n");
    cli_free(c);
    /* The server still serves. */
    c = cli_tcp();
    get_ok(c, "/v1/fine", &r);
    cli_free(c);
}

TEST(malformed_400)
{
    setup();
    start(1);
    run(c_malformed);
}

/* The target's bytes: the ones a URL may carry are served, a fragment
 * mark or DEL gets the listener's own 400 (llhttp lets them through). */
static void
c_target_bytes(void)
{
    static const char ok[] = "!$&'()*+,;=:@~%-._/?09AZaz";
    resp r;
    cli *c = cli_tcp();
    for (const char *b = ok; *b; b++) {
        char path[16];
        snprintf(path, sizeof path, "/v1/x%c", *b);
        get_ok(c, path, &r);
    }
    cli_free(c);
    static const char bad[] = {'#', 0x7f};
    for (size_t i = 0; i < sizeof bad; i++) {
        char req[64];
        snprintf(req, sizeof req, "GET /v1/x%cy HTTP/1.1\r\nHost: t\r\n\r\n",
                 bad[i]);
        c = cli_tcp();
        cli_puts(c, req);
        if (cli_response(c, &r, false) != 0)
            TEST_FAIL_("no answer to a target with byte 0x%02x", bad[i]);
        ASSERT_INT_EQ(r.status, 400);
        ASSERT_STR_CONTAINS(r.body, "malformed request: ");
        cli_free(c);
    }
}

TEST(target_bytes)
{
    setup();
    start(1);
    run(c_target_bytes);
}

static void
check_gone(void)
{
    if (F.held && F.held->client_gone)
        F.gone_seen = true;
}

static void
respond_held(void)
{
    ASSERT_NOT_NULL(F.held);
    vpd_http_respond(F.held, 200, NULL, "late", 4);
    F.held = NULL;
}

static int inflight_seen;

static void
read_inflight(void)
{
    inflight_seen = (int)vpd_server_inflight(F.srv);
}

/* Closes with a reset (SO_LINGER 0): the client is really gone. */
static void
cli_reset(cli *c)
{
    struct linger lg = {1, 0};
    ASSERT_INT_EQ(setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    cli_free(c);
}

static int gone_calls_seen;

static void
read_gone_calls(void)
{
    gone_calls_seen = F.gone_calls;
}

static void
c_disconnect(void)
{
    cli *c = cli_tcp();
    cli_puts(c, "GET /v1/slow HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 0; i < 500 && !atomic_load(&F.got_req); i++)
        msleep(10);
    ASSERT_INT_EQ(atomic_load(&F.got_req), 1);
    on_loop(read_inflight);
    ASSERT_INT_EQ(inflight_seen, 1);
    cli_reset(c);
    for (int i = 0; i < 300; i++) {
        on_loop(check_gone);
        if (F.gone_seen)
            break;
        msleep(10);
    }
    ASSERT(F.gone_seen);
    on_loop(read_gone_calls);
    ASSERT_INT_EQ(gone_calls_seen, 1);
    on_loop(respond_held);
    on_loop(read_inflight);
    ASSERT_INT_EQ(inflight_seen, 0);
    /* The server is fine. */
    F.mode = H_ECHO;
    c = cli_tcp();
    resp r;
    get_ok(c, "/v1/next", &r);
    cli_free(c);
}

TEST(client_disconnect_while_held)
{
    setup();
    F.mode = H_HOLD;
    start(1);
    run(c_disconnect);
}

/* Reads until the server closes; true when it did (EOF) in time. */
static bool
cli_read_to_eof(cli *c)
{
    for (;;) {
        ssize_t n = cli_fill(c);
        if (n == 0)
            return true;
        if (n < 0)
            return false;
    }
}

/* A client that sends its request and then ends its side (nc -N, some
 * HTTP/1.0 clients) still reads: it gets the answer, then the close, and
 * is never taken for gone. */
static void
c_half_close(void)
{
    cli *c = cli_tcp();
    cli_puts(c, "POST /v1/write HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
                "\r\nok");
    ASSERT_INT_EQ(shutdown(c->fd, SHUT_WR), 0);
    for (int i = 0; i < 500 && !atomic_load(&F.got_req); i++)
        msleep(10);
    ASSERT_INT_EQ(atomic_load(&F.got_req), 1);
    /* Time for the server to see the end of stream before it answers. */
    msleep(100);
    on_loop(check_gone);
    ASSERT(!F.gone_seen);
    on_loop(respond_held);
    resp r;
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body, "late");
    ASSERT(cli_read_to_eof(c));
    cli_free(c);
    on_loop(read_gone_calls);
    ASSERT_INT_EQ(gone_calls_seen, 0);
    on_loop(read_inflight);
    ASSERT_INT_EQ(inflight_seen, 0);
}

TEST(half_close_gets_answer)
{
    setup();
    F.mode = H_HOLD;
    start(1);
    run(c_half_close);
}

/* Pipelined requests, then the end of stream: every request is answered,
 * in order, then the connection closes; a partial request left at the end
 * is dropped without an answer. */
static void
c_pipelined_eof(void)
{
    cli *c = cli_tcp();
    cli_puts(c, "GET /v1/a HTTP/1.1\r\nHost: t\r\n\r\n"
                "LIST /v1/b HTTP/1.1\r\nHost: t\r\n\r\n"
                "POST /v1/c HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nz"
                "GET /v1/partial HTTP/1.1\r\nHost:");
    ASSERT_INT_EQ(shutdown(c->fd, SHUT_WR), 0);
    const char *want[] = {"method=GET\ntarget=/v1/a\n",
                          "method=LIST\ntarget=/v1/b\n",
                          "method=POST\ntarget=/v1/c\n"};
    resp r;
    for (int i = 0; i < 3; i++) {
        ASSERT_INT_EQ(cli_response(c, &r, false), 0);
        ASSERT_INT_EQ(r.status, 200);
        ASSERT_STR_CONTAINS(r.body, want[i]);
    }
    ASSERT(cli_read_to_eof(c));
    ASSERT_INT_EQ(c->len, 0);
    cli_free(c);
    ASSERT_INT_EQ(atomic_load(&F.got_req), 3);
}

TEST(pipelined_then_eof_all_answered)
{
    setup();
    F.mode = H_ASYNC;
    F.async_ms = 20;
    start(1);
    run(c_pipelined_eof);
}

static void
c_held_at_close(void)
{
    cli *c = cli_tcp();
    cli_puts(c, "GET /v1/slow HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 0; i < 500 && !atomic_load(&F.got_req); i++)
        msleep(10);
    ASSERT_INT_EQ(atomic_load(&F.got_req), 1);
    /* The fixture closes the server with the request still held and
     * answers it afterwards. */
    cli_free(c);
}

TEST(respond_after_server_close)
{
    setup();
    F.mode = H_HOLD;
    start(1);
    run(c_held_at_close);
}

static void
c_async(void)
{
    cli *c = cli_tcp();
    resp r;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    get_ok(c, "/v1/async", &r);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    ASSERT(ms >= 90);
    ASSERT_STR_CONTAINS(r.body, "path=/v1/async\n");
    get_ok(c, "/v1/async2", &r);
    cli_free(c);
}

TEST(async_respond)
{
    setup();
    F.mode = H_ASYNC;
    F.async_ms = 100;
    start(1);
    run(c_async);
}

static void
c_head(void)
{
    cli *c = cli_tcp();
    resp r;
    cli_puts(c, "HEAD /v1/h HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, true), 0);
    ASSERT_INT_EQ(r.status, 200);
    const char *cl = find_header(r.head, "Content-Length");
    ASSERT_NOT_NULL(cl);
    ASSERT(atoi(cl) > 0);
    /* No body bytes followed: the next answer starts right away. */
    get_ok(c, "/v1/after", &r);
    ASSERT_STR_CONTAINS(r.body, "method=GET\ntarget=/v1/after\n");
    cli_free(c);
}

TEST(head_no_body)
{
    setup();
    start(1);
    run(c_head);
}

static void
c_continue(void)
{
    cli *c = cli_tcp();
    resp r;
    cli_puts(c, "POST /v1/e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                "Content-Length: 5\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 100);
    ASSERT_STR_EQ(r.head, "HTTP/1.1 100 Continue\r\n\r\n");
    cli_puts(c, "hello");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_STR_CONTAINS(r.body, "body=hello");
    /* Over the body limit: 413 instead of 100. */
    cli_puts(c, "POST /v1/e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                "Content-Length: 5000\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 413);
    cli_free(c);
}

TEST(expect_100_continue)
{
    setup();
    F.lc[0].max_body_bytes = 1000;
    start(1);
    run(c_continue);
}

static void
c_error_json(void)
{
    cli *c = cli_tcp();
    resp r;
    cli_puts(c, "GET /v1/x HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 412);
    ASSERT_STR_CONTAINS(r.head, "HTTP/1.1 412 Precondition Failed\r\n");
    ASSERT_STR_CONTAINS(r.head, "Content-Type: application/json\r\n");
    ASSERT_STR_EQ(r.body, "{\"errors\":[\"missing \\\"X-Vault-Request\\\" "
                          "header \\u003c\\u0026\\u003e\"]}\n");
    cli_free(c);
}

TEST(respond_error_json)
{
    setup();
    F.mode = H_ERROR;
    start(1);
    run(c_error_json);
}

static void
c_resp_headers(void)
{
    cli *c = cli_tcp();
    resp r;
    cli_puts(c, "GET /v1/x HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 201);
    ASSERT_STR_CONTAINS(r.head, "X-Good: yes\r\n");
    ASSERT(!strstr(r.head, "X-Evil"));
    ASSERT(!strstr(r.head, "Set-Cookie"));
    ASSERT(!strstr(r.head, "X-Long-Evil"));
    ASSERT(!strstr(r.head, "X-Smuggled"));
    ASSERT(!strstr(r.head, "X-Bad-Name"));
    ASSERT_STR_CONTAINS(r.head, "X-Tabbed: 0123456789\tabcdefghij\r\n");
    /* A NUL ends a value, as the C string it is ends there. */
    ASSERT_STR_CONTAINS(r.head, "X-Cut: cut\r\n");
    ASSERT(!strstr(r.head, "X-Lf-"));
    ASSERT(!strstr(r.head, "X-Cr-"));
    for (int k = 0; k < 13; k++) {
        char line[40];
        snprintf(line, sizeof line, "X-Tab-%d: %.*s\t%.*s\r\n", k, k,
                 "vvvvvvvvvvvvv", 12 - k, "vvvvvvvvvvvvv");
        ASSERT_STR_CONTAINS(r.head, line);
    }
    ASSERT_STR_CONTAINS(r.head, "Content-Length: 3\r\n");
    ASSERT(!strstr(r.head, "999"));
    ASSERT(!strstr(r.head, "upgrade"));
    ASSERT_STR_CONTAINS(r.head, "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n");
    ASSERT_STR_EQ(r.body, "abc");
    get_ok(c, "/v1/y", &r); /* still framed correctly */
    cli_free(c);
}

TEST(response_header_framing)
{
    setup();
    F.mode = H_HDRS;
    start(1);
    run(c_resp_headers);
}

/* ---- unix listeners --------------------------------------------------- */

static char unix_path[300];

static void
c_unix(void)
{
    struct stat st;
    ASSERT_INT_EQ(stat(unix_path, &st), 0);
    ASSERT(S_ISSOCK(st.st_mode));
    ASSERT_INT_EQ(st.st_mode & 07777, 0600);
    ASSERT_INT_EQ(st.st_uid, geteuid());
    cli *c = cli_unix(unix_path);
    resp r;
    get_ok(c, "/v1/u", &r);
    ASSERT_STR_CONTAINS(r.body, "peer=unix\n");
    cli_puts(c, "LIST /v1/u HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_STR_CONTAINS(r.body, "method=LIST\n");
    cli_free(c);
}

TEST(unix_listener_mode)
{
    setup();
    snprintf(unix_path, sizeof unix_path, "%s/agent.sock", F.tmp);
    /* A stale file is removed first. */
    FILE *f = fopen(unix_path, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    vpd_listener_config *l = &F.lc[0];
    l->type = VPD_LISTEN_UNIX;
    l->address = unix_path;
    l->socket_mode = "0600";
    start(1);
    ASSERT_INT_EQ(vpd_server_port(F.srv, 0), -1);
    char keep[300];
    snprintf(keep, sizeof keep, "%s", unix_path);
    /* run() removes the temp dir; check the file first on our own. */
    pthread_t th;
    F.client = c_unix;
    uv_async_init(&F.loop, &F.stop_async, on_stop);
    uv_async_init(&F.loop, &F.cmd_async, on_cmd);
    ASSERT_INT_EQ(pthread_create(&th, NULL, client_main, NULL), 0);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    ASSERT_INT_EQ(atomic_load(&F.closed), 1);
    struct stat st;
    ASSERT(lstat(keep, &st) != 0); /* removed on stop */
    ASSERT_INT_EQ(uv_loop_close(&F.loop), 0);
    rm_tree(F.tmp);
}

static void
c_unix_owner(void)
{
    struct stat st;
    ASSERT_INT_EQ(stat(unix_path, &st), 0);
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("nobody");
        ASSERT_NOT_NULL(pw);
        ASSERT_INT_EQ(st.st_uid, pw->pw_uid);
        ASSERT_INT_EQ(st.st_gid, getegid()); /* group untouched */
    } else {
        ASSERT_INT_EQ(st.st_uid, geteuid());
    }
    /* Mode untouched: whatever the umask gave, not forced. */
    cli *c = cli_unix(unix_path);
    resp r;
    get_ok(c, "/v1/u", &r);
    cli_free(c);
}

TEST(unix_listener_user_only)
{
    setup();
    snprintf(unix_path, sizeof unix_path, "%s/u.sock", F.tmp);
    vpd_listener_config *l = &F.lc[0];
    l->type = VPD_LISTEN_UNIX;
    l->address = unix_path;
    static char uid[32];
    if (geteuid() == 0)
        l->socket_user = "nobody";
    else {
        snprintf(uid, sizeof uid, "%u", (unsigned)geteuid());
        l->socket_user = uid;
    }
    start(1);
    run(c_unix_owner);
}

static void
c_unix_group(void)
{
    struct stat st;
    ASSERT_INT_EQ(stat(unix_path, &st), 0);
    ASSERT_INT_EQ(st.st_gid, getegid());
    ASSERT_INT_EQ(st.st_mode & 0777, 0660);
}

TEST(unix_listener_group_and_mode)
{
    setup();
    snprintf(unix_path, sizeof unix_path, "%s/g.sock", F.tmp);
    vpd_listener_config *l = &F.lc[0];
    l->type = VPD_LISTEN_UNIX;
    l->address = unix_path;
    l->socket_mode = "660";
    static char gid[32];
    snprintf(gid, sizeof gid, "%u", (unsigned)getegid());
    l->socket_group = gid;
    start(1);
    run(c_unix_group);
}

TEST(unix_listener_errors)
{
    setup();
    char err[512];
    snprintf(unix_path, sizeof unix_path, "%s/e.sock", F.tmp);
    vpd_listener_config *l = &F.lc[0];
    l->type = VPD_LISTEN_UNIX;
    l->address = unix_path;
    struct stat st;

    l->socket_mode = "0998";
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "socket_mode \"0998\"");
    ASSERT(lstat(unix_path, &st) != 0);

    l->socket_mode = "0660";
    l->socket_user = "no-such-user-vpd";
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "socket_user \"no-such-user-vpd\": no such user");
    ASSERT(lstat(unix_path, &st) != 0);
    /* Numbers chown would read as "leave unchanged", or beyond any id. */
    l->socket_user = "4294967295";
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "socket_user \"4294967295\": no such user");
    l->socket_user = "99999999999999999999999";
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "no such user");
    l->socket_user = NULL;
    l->socket_group = "4294967295";
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "socket_group \"4294967295\": no such group");
    ASSERT(lstat(unix_path, &st) != 0);

    l->socket_user = NULL;
    l->socket_group = "no-such-group-vpd";
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err,
                        "socket_group \"no-such-group-vpd\": no such group");

    /* TCP address errors too. */
    tcp_listener(0, "127.0.0.1");
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "want host:port");
    tcp_listener(0, "::1:8200");
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "[addr]:port");
    tcp_listener(0, "127.0.0.1:99999");
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "bad port");
    /* TLS without files. */
    tcp_listener(0, "127.0.0.1:0")->tls_disable = false;
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "tls_cert_file");
    /* Failed starts leave handles to close: the loop finishes them. */
    uv_run(&F.loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(uv_loop_close(&F.loop), 0);
    rm_tree(F.tmp);
}

/* ---- IPv6 ------------------------------------------------------------- */

static void
c_ipv6(void)
{
    int fd = connect_tcp_family(AF_INET6, F.port);
    ASSERT(fd >= 0);
    cli *c = cli_new_fd(fd);
    resp r;
    get_ok(c, "/v1/six", &r);
    ASSERT_STR_CONTAINS(r.body, "peer=[::1]:");
    cli_free(c);
}

TEST(ipv6_listener)
{
    setup();
    tcp_listener(0, "[::1]:0");
    start(1);
    ASSERT(F.port > 0);
    run(c_ipv6);
}

/* ---- limits and timeouts ---------------------------------------------- */

/* Waits until the handler got n requests in all. */
static void
wait_requests(int n)
{
    for (int i = 0; i < 500 && atomic_load(&F.got_req) < n; i++)
        msleep(10);
    ASSERT_INT_EQ(atomic_load(&F.got_req), n);
}

/* At the limit a new connection takes the place of the oldest idle
 * keep-alive one; when every connection is busy (a request with the
 * router, a body arriving), the newcomer is accepted and closed. */
static void
c_max_conns(void)
{
    resp r;
    cli *a = cli_tcp(), *b = cli_tcp();
    get_ok(a, "/v1/1", &r);
    get_ok(b, "/v1/2", &r);
    cli *c = cli_tcp();
    get_ok(c, "/v1/3", &r);
    ASSERT(cli_closed(a)); /* the oldest idle one made room */
    cli_free(a);
    get_ok(b, "/v1/4", &r);
    /* b waits for its answer, c sends its body slowly: both are busy. */
    F.mode = H_HOLD;
    cli_puts(b, "GET /v1/held HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_requests(5);
    cli_puts(c, "POST /v1/body HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
                "\r\nab");
    msleep(50);
    cli *d = cli_tcp(); /* the kernel accepts; the server drops it */
    cli_puts(d, "GET /v1/5 HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT(cli_response(d, &r, false) != 0);
    cli_free(d);
    F.mode = H_ECHO;
    cli_puts(c, "cd");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_STR_CONTAINS(r.body, "body=abcd");
    on_loop(respond_held);
    ASSERT_INT_EQ(cli_response(b, &r, false), 0);
    ASSERT_STR_EQ(r.body, "late");
    cli_free(b);
    cli_free(c);
}

TEST(max_connections)
{
    setup();
    F.lc[0].max_connections = 2;
    start(1);
    run(c_max_conns);
}

/* With no idle connection to close, the one that has waited longest for
 * its request head makes room: clients that connect and drip header lines
 * cannot lock a normal client out. */
static void
c_evict_unfinished(void)
{
    resp r;
    cli *h1 = cli_tcp();
    cli_puts(h1, "GET /v1/h1 HTTP/1.1\r\n");
    msleep(50);
    cli *h2 = cli_tcp();
    cli_puts(h2, "GET /v1/h2 HTTP/1.1\r\n");
    msleep(50);
    cli *n = cli_tcp();
    get_ok(n, "/v1/normal", &r);
    cli_free(n);
    /* The oldest unfinished one was closed without an answer... */
    ASSERT(cli_read_to_eof(h1));
    ASSERT_INT_EQ(h1->len, 0);
    cli_free(h1);
    /* ...and the younger one still completes its request. */
    cli_puts(h2, "Host: t\r\n\r\n");
    ASSERT_INT_EQ(cli_response(h2, &r, false), 0);
    ASSERT_STR_CONTAINS(r.body, "target=/v1/h2\n");
    cli_free(h2);
}

TEST(limit_closes_oldest_unfinished)
{
    setup();
    F.lc[0].max_connections = 2;
    start(1);
    run(c_evict_unfinished);
}

/* Idle keep-alive connections go before unfinished requests, even
 * younger ones. */
static void
c_evict_idle_first(void)
{
    resp r;
    cli *h = cli_tcp();
    cli_puts(h, "GET /v1/h HTTP/1.1\r\n");
    msleep(50);
    cli *idle = cli_tcp();
    get_ok(idle, "/v1/idle", &r);
    cli *n = cli_tcp();
    get_ok(n, "/v1/normal", &r);
    cli_free(n);
    ASSERT(cli_closed(idle));
    cli_free(idle);
    cli_puts(h, "Host: t\r\n\r\n");
    ASSERT_INT_EQ(cli_response(h, &r, false), 0);
    ASSERT_STR_CONTAINS(r.body, "target=/v1/h\n");
    cli_free(h);
}

TEST(limit_closes_idle_first)
{
    setup();
    F.lc[0].max_connections = 2;
    start(1);
    run(c_evict_idle_first);
}

/* http_read_header_timeout bounds the request head from its start;
 * dripping header lines does not extend it, and it does not apply to the
 * body (http_read_timeout does). */
static void
c_header_timeout(void)
{
    resp r;
    cli *c = cli_tcp();
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    cli_puts(c, "GET /v1/drip HTTP/1.1\r\n");
    int sent = 0;
    for (int i = 0; i < 40; i++) {
        msleep(50);
        if (send(c->fd, "X-Drip: 1\r\n", 11, MSG_NOSIGNAL) != 11)
            break;
        sent++;
        struct pollfd pfd = {c->fd, POLLIN, 0};
        if (poll(&pfd, 1, 0) == 1)
            break; /* the answer is there */
    }
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 408);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    ASSERT(ms >= 250);
    ASSERT(ms < 1500);
    ASSERT(sent >= 3);
    cli_free(c);
    /* A head sent at once and a body that takes longer than the header
     * timeout: answered. */
    c = cli_tcp();
    cli_puts(c, "POST /v1/slow-body HTTP/1.1\r\nHost: t\r\n"
                "Content-Length: 8\r\n\r\n");
    for (int i = 0; i < 8; i++) {
        msleep(60);
        cli_puts(c, "b");
    }
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_STR_CONTAINS(r.body, "body=bbbbbbbb");
    /* A later request's head is timed from its first byte, not from the
     * end of the answer before: an idle pause does not count. */
    msleep(400);
    cli_puts(c, "GET /v1/next HTTP/1.1\r\n");
    msleep(150);
    cli_puts(c, "Host: t\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 200);
    cli_free(c);
}

TEST(read_header_timeout)
{
    setup();
    F.lc[0].read_header_timeout_ms = 300;
    F.lc[0].read_timeout_ms = 5000;
    F.lc[0].idle_timeout_ms = 5000;
    start(1);
    run(c_header_timeout);
}

static void
c_read_timeout(void)
{
    resp r;
    cli *c = cli_tcp();
    cli_puts(c, "GET /v1/x HTTP/1.1\r\nHost: t\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 408);
    ASSERT_STR_CONTAINS(r.head, "Connection: close\r\n");
    ASSERT_STR_CONTAINS(r.body, "\"errors\"");
    ASSERT(cli_closed(c));
    cli_free(c);
    /* Trickling bytes does not extend the whole-request timeout. */
    c = cli_tcp();
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    cli_puts(c, "POST /v1/x HTTP/1.1\r\nContent-Length: 100\r\n\r\n");
    for (int i = 0; i < 6; i++) {
        msleep(50);
        if (send(c->fd, "x", 1, MSG_NOSIGNAL) != 1)
            break;
    }
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(r.status, 408);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    ASSERT(ms < 2000);
    cli_free(c);
    /* A connection that never sends anything is closed too. */
    c = cli_tcp();
    ASSERT(cli_closed(c));
    cli_free(c);
    /* Idle keep-alive connections are closed after idle_timeout. */
    c = cli_tcp();
    get_ok(c, "/v1/y", &r);
    clock_gettime(CLOCK_MONOTONIC, &a);
    ASSERT(cli_closed(c));
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    ASSERT(ms >= 250);
    cli_free(c);
}

TEST(read_and_idle_timeout)
{
    setup();
    F.lc[0].read_timeout_ms = 200;
    F.lc[0].idle_timeout_ms = 300;
    start(1);
    run(c_read_timeout);
}

/* A busy keep-alive connection outlives both timeouts: the idle time
 * counts from each answer, not from the first one (the server keeps one
 * timer running across requests and re-arms it for the rest). */
static void
c_idle_counts_from_last_answer(void)
{
    resp r;
    cli *c = cli_tcp();
    for (int i = 0; i < 8; i++) {
        get_ok(c, "/v1/y", &r);
        msleep(120);
    }
    get_ok(c, "/v1/y", &r);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ASSERT(cli_closed(c));
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    ASSERT(ms >= 250);
    ASSERT(ms < 2000);
    cli_free(c);
}

TEST(idle_timeout_counts_from_last_answer)
{
    setup();
    F.lc[0].read_timeout_ms = 200;
    F.lc[0].idle_timeout_ms = 300;
    start(1);
    run(c_idle_counts_from_last_answer);
}

static void
stop_accepting(void)
{
    vpd_server_stop_accepting(F.srv);
    inflight_seen = (int)vpd_server_inflight(F.srv);
}

static void
c_graceful(void)
{
    resp r;
    cli *busy = cli_tcp();
    cli *idle = cli_tcp();
    get_ok(idle, "/v1/i", &r); /* echo mode for now */
    F.mode = H_HOLD;
    cli_puts(busy, "GET /v1/busy HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 0; i < 500 && atomic_load(&F.got_req) < 2; i++)
        msleep(10);
    ASSERT_INT_EQ(atomic_load(&F.got_req), 2);
    on_loop(stop_accepting);
    ASSERT_INT_EQ(inflight_seen, 1);
    ASSERT(cli_closed(idle));
    cli_free(idle);
    ASSERT_INT_EQ(connect_tcp_family(AF_INET, F.port), -1);
    on_loop(respond_held);
    ASSERT_INT_EQ(cli_response(busy, &r, false), 0);
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_STR_CONTAINS(r.head, "Connection: close\r\n");
    ASSERT_STR_EQ(r.body, "late");
    ASSERT(cli_closed(busy));
    cli_free(busy);
    on_loop(read_inflight);
    ASSERT_INT_EQ(inflight_seen, 0);
}

TEST(graceful_stop)
{
    setup();
    start(1);
    run(c_graceful);
}

/* Garbage and mutated requests must never crash the server. */
static void
c_garbage(void)
{
    static const char *const seeds[] = {
        "GET /v1/x HTTP/1.1\r\nHost: t\r\n\r\n",
        "LIST /v1/x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        "POST /v1/x HTTP/1.1\r\nTransfer-Encoding: "
        "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "POST /v1/x HTTP/1.1\r\nContent-Length: 3\r\nExpect: "
        "100-continue\r\n\r\nabc",
    };
    unsigned seed = 12345;
    char buf[512];
    int iters = 300; /* VP_TEST_GARBAGE_ITERS raises it for soak runs */
    if (getenv("VP_TEST_GARBAGE_ITERS"))
        iters = atoi(getenv("VP_TEST_GARBAGE_ITERS"));
    for (int i = 0; i < iters; i++) {
        const char *s = seeds[i % 4];
        size_t n = strlen(s);
        memcpy(buf, s, n);
        int flips = 1 + (int)(rand_r(&seed) % 4);
        for (int k = 0; k < flips; k++)
            buf[rand_r(&seed) % n] = (char)(rand_r(&seed) & 0xff);
        if (i % 7 == 0)
            n = rand_r(&seed) % n;
        cli *c = cli_tcp();
        set_timeouts(c->fd, 300);
        size_t cut = n ? rand_r(&seed) % n : 0;
        if (send(c->fd, buf, cut, MSG_NOSIGNAL) < 0 ||
            send(c->fd, buf + cut, n - cut, MSG_NOSIGNAL) < 0) {
            cli_free(c);
            continue;
        }
        if (i % 3 == 0) {
            resp r;
            (void)cli_response(c, &r, false);
        }
        cli_free(c);
    }
    cli *c = cli_tcp();
    resp r;
    get_ok(c, "/v1/still-alive", &r);
    cli_free(c);
}

TEST(garbage_does_not_crash)
{
    setup();
    F.lc[0].read_timeout_ms = 500;
    start(1);
    run(c_garbage);
}

/* ---- TLS -------------------------------------------------------------- */

static void
c_tls(void)
{
    SSL_CTX *ctx = client_ctx("srv.crt", NULL, NULL);
    cli *c = cli_tls(ctx);
    ASSERT_NOT_NULL(c);
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
    ASSERT_INT_EQ(alpn_len, 8);
    ASSERT(memcmp(alpn, "http/1.1", 8) == 0);
    char cn[64];
    peer_cn(c, cn, sizeof cn);
    ASSERT_STR_EQ(cn, "server-a");
    resp r;
    get_ok(c, "/v1/tls", &r);
    ASSERT_STR_CONTAINS(r.body, "path=/v1/tls\n");
    cli_puts(c, "LIST /v1/tls HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_STR_CONTAINS(r.body, "method=LIST\n");
    /* A larger body both ways. */
    static char big[60000];
    memset(big, 'b', sizeof big);
    char head[128];
    snprintf(head, sizeof head,
             "PUT /v1/big HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
             sizeof big);
    cli_puts(c, head);
    cli_write(c, big, sizeof big);
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_STR_CONTAINS(r.body, "bodylen=60000\n");
    /* Connection: close gets a close_notify. */
    cli_puts(c, "GET /v1/bye HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    ASSERT_INT_EQ(cli_response(c, &r, false), 0);
    ASSERT_INT_EQ(cli_fill(c), 0);
    cli_free(c);
    /* A plain-text client gets Go's clear-text 400 and the server goes
     * on. */
    cli *p = cli_tcp();
    cli_puts(p, "GET / HTTP/1.1\r\n\r\n");
    ASSERT(cli_read_to_eof(p));
    ASSERT_STR_EQ(p->buf, "HTTP/1.0 400 Bad Request\r\n\r\n"
                          "Client sent an HTTP request to an HTTPS server.\n");
    cli_free(p);
    c = cli_tls(ctx);
    ASSERT_NOT_NULL(c);
    get_ok(c, "/v1/again", &r);
    cli_free(c);
    SSL_CTX_free(ctx);
}

static void
tls_listener(void)
{
    X509_free(make_cert("srv", "server-a", NULL, NULL, false, NULL));
    vpd_listener_config *l = &F.lc[0];
    l->tls_disable = false;
    l->tls_cert_file = tpath("srv.crt");
    l->tls_key_file = tpath("srv.key");
}

TEST(tls_listener_basic)
{
    setup();
    tls_listener();
    start(1);
    run(c_tls);
}

/* A TLS client that sends its requests and then close_notify still gets
 * every answer, then the server's close_notify; TLS 1.3 and 1.2. */
static void
c_tls_close_notify(void)
{
    for (int v = 0; v < 2; v++) {
        SSL_CTX *ctx = client_ctx("srv.crt", NULL, NULL);
        if (v == 1)
            SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
        cli *c = cli_tls(ctx);
        ASSERT_NOT_NULL(c);
        cli_puts(c, "GET /v1/one HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /v1/two HTTP/1.1\r\nHost: t\r\n\r\n");
        ASSERT_INT_EQ(SSL_shutdown(c->ssl), 0); /* sent, not yet answered */
        resp r;
        ASSERT_INT_EQ(cli_response(c, &r, false), 0);
        ASSERT_STR_CONTAINS(r.body, "target=/v1/one\n");
        ASSERT_INT_EQ(cli_response(c, &r, false), 0);
        ASSERT_STR_CONTAINS(r.body, "target=/v1/two\n");
        ASSERT_INT_EQ(cli_fill(c), 0); /* the server's close_notify */
        cli_free(c);
        SSL_CTX_free(ctx);
    }
}

TEST(tls_close_notify_gets_answers)
{
    setup();
    tls_listener();
    F.mode = H_ASYNC;
    F.async_ms = 20;
    start(1);
    run(c_tls_close_notify);
}

static void
c_tls_client_cert(void)
{
    resp r;
    SSL_CTX *nocert = client_ctx("srv.crt", NULL, NULL);
    cli *c = cli_tls(nocert);
    if (c) { /* TLS 1.3: the refusal comes after the client's Finished */
        cli_puts(c, "GET /v1/x HTTP/1.1\r\nHost: t\r\n\r\n");
        ASSERT(cli_response(c, &r, false) != 0);
        cli_free(c);
    }
    SSL_CTX_free(nocert);
    /* TLS 1.2 fails in the handshake itself. */
    nocert = client_ctx("srv.crt", NULL, NULL);
    SSL_CTX_set_max_proto_version(nocert, TLS1_2_VERSION);
    c = cli_tls(nocert);
    ASSERT_NULL(c);
    SSL_CTX_free(nocert);
    /* A certificate from another CA is refused too. */
    SSL_CTX *other = client_ctx("srv.crt", "rogue.crt", "rogue.key");
    c = cli_tls(other);
    if (c) {
        cli_puts(c, "GET /v1/x HTTP/1.1\r\nHost: t\r\n\r\n");
        ASSERT(cli_response(c, &r, false) != 0);
        cli_free(c);
    }
    SSL_CTX_free(other);
    SSL_CTX *good = client_ctx("srv.crt", "client.crt", "client.key");
    c = cli_tls(good);
    ASSERT_NOT_NULL(c);
    get_ok(c, "/v1/mtls", &r);
    cli_free(c);
    SSL_CTX_free(good);
}

TEST(tls_client_cert_required)
{
    setup();
    tls_listener();
    EVP_PKEY *cakey = NULL;
    X509 *ca = make_cert("ca", "test-ca", NULL, NULL, true, &cakey);
    X509_free(make_cert("client", "client", ca, cakey, false, NULL));
    X509_free(make_cert("rogue", "rogue", NULL, NULL, false, NULL));
    F.lc[0].tls_require_and_verify_client_cert = true;
    F.lc[0].tls_client_ca_file = tpath("ca.crt");
    start(1);
    run(c_tls_client_cert);
    X509_free(ca);
    EVP_PKEY_free(cakey);
}

static int reload_failed;

static void
do_reload(void)
{
    reload_failed = vpd_server_reload_tls(F.srv);
}

static void
c_tls_reload(void)
{
    resp r;
    char cn[64];
    SSL_CTX *ctx = client_ctx("both.crt", NULL, NULL);
    cli *old = cli_tls(ctx);
    ASSERT_NOT_NULL(old);
    peer_cn(old, cn, sizeof cn);
    ASSERT_STR_EQ(cn, "server-a");
    get_ok(old, "/v1/1", &r);
    /* New files in place, then SIGHUP. */
    copy_file("b.crt", "srv.crt");
    copy_file("b.key", "srv.key");
    on_loop(do_reload);
    ASSERT_INT_EQ(reload_failed, 0);
    cli *fresh = cli_tls(ctx);
    ASSERT_NOT_NULL(fresh);
    peer_cn(fresh, cn, sizeof cn);
    ASSERT_STR_EQ(cn, "server-b");
    get_ok(fresh, "/v1/2", &r);
    get_ok(old, "/v1/3", &r); /* the old connection lives on */
    cli_free(fresh);
    /* A broken key: reload fails, the current certificate stays. */
    char path[512];
    snprintf(path, sizeof path, "%s/srv.key", F.tmp);
    FILE *f = fopen(path, "w");
    fputs("not a key\n", f);
    fclose(f);
    on_loop(do_reload);
    ASSERT_INT_EQ(reload_failed, 1);
    fresh = cli_tls(ctx);
    ASSERT_NOT_NULL(fresh);
    peer_cn(fresh, cn, sizeof cn);
    ASSERT_STR_EQ(cn, "server-b");
    get_ok(fresh, "/v1/4", &r);
    cli_free(fresh);
    cli_free(old);
    SSL_CTX_free(ctx);
}

TEST(tls_reload)
{
    setup();
    tls_listener();
    X509_free(make_cert("b", "server-b", NULL, NULL, false, NULL));
    /* The client trusts both self-signed certificates. */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cat '%s/srv.crt' '%s/b.crt' > '%s/both.crt'",
             F.tmp, F.tmp, F.tmp);
    ASSERT_INT_EQ(system(cmd), 0);
    start(1);
    run(c_tls_reload);
}

TEST(tls_config_errors)
{
    setup();
    char err[512];
    tls_listener();
    F.lc[0].tls_min_version = "tls14";
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "tls_min_version \"tls14\"");
    F.lc[0].tls_min_version = "tls13";
    F.lc[0].tls_max_version = "tls12";
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "lower than");
    F.lc[0].tls_min_version = NULL;
    F.lc[0].tls_max_version = NULL;
    F.lc[0].tls_key_file = tpath("missing.key");
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "missing.key");
    F.lc[0].tls_key_file = tpath("srv.key");
    F.lc[0].tls_cipher_suites = "NOT_A_CIPHER";
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "tls_cipher_suites");
    /* Go names map to OpenSSL names. */
    F.lc[0].tls_cipher_suites =
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,TLS_AES_128_GCM_SHA256";
    F.lc[0].tls_require_and_verify_client_cert = true;
    F.lc[0].tls_disable_client_certs = true;
    ASSERT_NULL(try_start(1, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "mutually exclusive");
    F.lc[0].tls_require_and_verify_client_cert = false;
    vpd_server *s = try_start(1, err, sizeof err);
    if (!s)
        TEST_FAIL_("start: %s", err);
    vpd_server_close(s, NULL, NULL);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(uv_loop_close(&F.loop), 0);
    rm_tree(F.tmp);
}

/* ---- header list helpers ---------------------------------------------- */

TEST(hdrs_helpers)
{
    vpd_hdrs h = {0}, d = {0};
    ASSERT_INT_EQ(vpd_hdrs_add(&h, "X-A", "1"), 0);
    ASSERT_INT_EQ(vpd_hdrs_add(&h, "x-b", "2"), 0);
    ASSERT_INT_EQ(vpd_hdrs_add(&h, "X-a", "3"), 0);
    ASSERT_INT_EQ(vpd_hdrs_addn(&h, "X-Cut", 3, "value", 2), 0);
    for (int i = 0; i < 40; i++)
        ASSERT_INT_EQ(vpd_hdrs_add(&h, "X-Many", "m"), 0);
    ASSERT_STR_EQ(vpd_hdrs_get(&h, "x-a", 0), "1");
    ASSERT_STR_EQ(vpd_hdrs_get(&h, "X-A", 1), "3");
    ASSERT_NULL(vpd_hdrs_get(&h, "X-A", 2));
    ASSERT_STR_EQ(vpd_hdrs_get(&h, "x-c", 0), "va");
    ASSERT_INT_EQ(vpd_hdrs_count(&h, "X-A"), 2);
    ASSERT_INT_EQ(vpd_hdrs_copy(&d, &h), 0);
    ASSERT_INT_EQ(vpd_hdrs_del(&h, "x-A"), 2);
    ASSERT_INT_EQ(vpd_hdrs_del(&h, "X-Many"), 40);
    ASSERT_INT_EQ(h.n, 2);
    ASSERT_STR_EQ(h.v[0].name, "x-b");
    ASSERT_STR_EQ(h.v[1].name, "X-C");
    ASSERT_INT_EQ(d.n, 44);
    ASSERT_STR_EQ(d.v[2].value, "3");
    vpd_hdrs_free(&h);
    vpd_hdrs_free(&d);
    ASSERT_INT_EQ(h.n, 0);
    ASSERT(vpd_hdr_is_hop_by_hop("connection"));
    ASSERT(vpd_hdr_is_hop_by_hop("Transfer-Encoding"));
    ASSERT(vpd_hdr_is_hop_by_hop("te"));
    ASSERT(!vpd_hdr_is_hop_by_hop("X-Vault-Token"));
    ASSERT(!vpd_hdr_is_hop_by_hop("Content-Length"));
    ASSERT_STR_EQ(vpd_http_reason(412), "Precondition Failed");
    ASSERT_STR_EQ(vpd_http_reason(431), "Request Header Fields Too Large");
    ASSERT_STR_EQ(vpd_http_reason(599), "");
    size_t len = 0;
    char *j = vpd_http_error_json("a\"b\\c\n\x01", &len);
    ASSERT_STR_EQ(j, "{\"errors\":[\"a\\\"b\\\\c\\n\\u0001\"]}\n");
    ASSERT_INT_EQ(len, strlen(j));
    free(j);
}

int
main(void)
{
    return RUN_TESTS(
        T(hdrs_helpers), T(simple_get), T(list_method), T(list_split),
        T(head_split), T(post_body), T(chunked_body), T(pipelined_in_order),
        T(pipelined_sync_handler), T(keepalive_reuse), T(http10),
        T(header_limit_431), T(body_limit_413), T(malformed_400),
        T(target_bytes), T(client_disconnect_while_held),
        T(half_close_gets_answer), T(pipelined_then_eof_all_answered),
        T(respond_after_server_close), T(async_respond), T(head_no_body),
        T(expect_100_continue), T(respond_error_json),
        T(response_header_framing), T(unix_listener_mode),
        T(unix_listener_user_only), T(unix_listener_group_and_mode),
        T(unix_listener_errors), T(ipv6_listener), T(max_connections),
        T(limit_closes_oldest_unfinished), T(limit_closes_idle_first),
        T(read_header_timeout), T(read_and_idle_timeout),
        T(idle_timeout_counts_from_last_answer), T(graceful_stop),
        T(garbage_does_not_crash), T(tls_listener_basic),
        T(tls_close_notify_gets_answers), T(tls_client_cert_required),
        T(tls_reload), T(tls_config_errors));
}
