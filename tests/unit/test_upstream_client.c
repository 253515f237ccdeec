/* Tests of the upstream client (core/upstream: conn.c, client.c,
 * tls_client.c, egress.c) against a scripted loopback server that runs in
 * threads of the test process: for the n-th request it reads, it writes
 * the n-th scripted answer byte for byte (in pieces, after a delay, or
 * not at all) and may close the connection.  TLS servers use certificates
 * made here with OpenSSL. */
#include "autoconf.h"

#include "upstream/client.h"
#include "upstream/egress.h"
#include "upstream/tls_client.h"
#include "loopback.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

/* ---- the scripted server ---------------------------------------------- */

#define MAX_STEPS 16

typedef struct {
    const char *reply; /* written as is; NULL: nothing */
    size_t reply_len;  /* 0: strlen(reply) */
    int delay_ms;      /* before replying */
    int piece;         /* write in pieces of this many bytes (0: at once) */
    bool close_after;  /* close the connection after replying */
    const char *later; /* written later_ms after the reply, unasked */
    int later_ms;
} step_t;

typedef struct {
    int lfd, port;
    SSL_CTX *ssl;
    step_t steps[MAX_STEPS];
    int n_steps;
    pthread_mutex_t mu;
    int n_reqs, n_conns, n_resumed, n_later;
    char last_req[4096];
} server_t;

typedef struct {
    server_t *s;
    int fd;
    SSL *ssl;
} sconn_t;

static void *
sconn_main(void *arg)
{
    sconn_t *c = arg;
    server_t *s = c->s;
    char buf[65536];
    size_t len = 0;
    if (s->ssl) {
        c->ssl = lb_tls_accept(s->ssl, c->fd);
        if (!c->ssl)
            goto out;
        pthread_mutex_lock(&s->mu);
        s->n_resumed += SSL_session_reused(c->ssl);
        pthread_mutex_unlock(&s->mu);
    }
    for (;;) {
        char *end;
        buf[len] = '\0';
        while (!(end = strstr(buf, "\r\n\r\n"))) {
            ssize_t r = lb_read(c->fd, c->ssl, buf + len, sizeof buf - 1 - len);
            if (r <= 0)
                goto out;
            len += (size_t)r;
            buf[len] = '\0';
        }
        size_t head = (size_t)(end - buf) + 4;
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        size_t blen = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        while (len < head + blen) {
            ssize_t r = lb_read(c->fd, c->ssl, buf + len, sizeof buf - 1 - len);
            if (r <= 0)
                goto out;
            len += (size_t)r;
        }
        pthread_mutex_lock(&s->mu);
        int k = s->n_reqs++;
        snprintf(s->last_req, sizeof s->last_req, "%.*s", (int)head, buf);
        pthread_mutex_unlock(&s->mu);
        memmove(buf, buf + head + blen, len - head - blen);
        len -= head + blen;
        step_t st = k < s->n_steps ? s->steps[k] : s->steps[s->n_steps - 1];
        if (st.delay_ms)
            usleep((useconds_t)st.delay_ms * 1000);
        if (st.reply) {
            size_t n = st.reply_len ? st.reply_len : strlen(st.reply);
            size_t piece = st.piece ? (size_t)st.piece : n;
            for (size_t o = 0; o < n; o += piece) {
                (void)lb_write_all(c->fd, c->ssl, st.reply + o,
                                   n - o < piece ? n - o : piece);
                if (st.piece)
                    usleep(2000);
            }
        }
        if (st.later) {
            usleep((useconds_t)st.later_ms * 1000);
            (void)lb_write_all(c->fd, c->ssl, st.later, strlen(st.later));
            pthread_mutex_lock(&s->mu);
            s->n_later++;
            pthread_mutex_unlock(&s->mu);
        }
        if (st.close_after || !st.reply)
            goto out;
    }
out:
    lb_conn_close(c->fd, c->ssl);
    free(c);
    return NULL;
}

static void *
sconn_new(int fd, void *arg)
{
    server_t *s = arg;
    pthread_mutex_lock(&s->mu);
    s->n_conns++;
    pthread_mutex_unlock(&s->mu);
    sconn_t *c = calloc(1, sizeof *c);
    c->s = s;
    c->fd = fd;
    return c;
}

static int
listen_loopback(int *port)
{
    return lb_listen(0, port);
}

static server_t *
server_start(SSL_CTX *ssl)
{
    server_t *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->ssl = ssl;
    s->lfd = listen_loopback(&s->port);
    lb_accept_in_thread(s->lfd, sconn_new, sconn_main, s);
    return s;
}

static void
script(server_t *s, step_t st)
{
    ASSERT(s->n_steps < MAX_STEPS);
    s->steps[s->n_steps++] = st;
}

static int
count(server_t *s, int *field)
{
    pthread_mutex_lock(&s->mu);
    int n = *field;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- the client side -------------------------------------------------- */

typedef struct {
    uv_loop_t loop;
    vpd_up_client *cl;
    vpd_up_dest dest;
} env_t;

typedef struct {
    vpd_up_exchange x;
    vpd_hdrs hdrs;
    vpd_buf body;
    uv_buf_t req[2];
    char head[512];
    bool done;
    int calls;
} ex_t;

static void
on_done(vpd_up_exchange *x)
{
    ex_t *e = x->arg;
    e->done = true;
    e->calls++;
}

static void
env_init(env_t *e, server_t *s, unsigned max_conns)
{
    memset(e, 0, sizeof *e);
    ASSERT_INT_EQ(uv_loop_init(&e->loop), 0);
    e->cl = vpd_up_client_new(&e->loop, max_conns, 60000);
    ASSERT_NOT_NULL(e->cl);
    e->dest.host = "127.0.0.1";
    e->dest.port = s->port;
}

static void
env_done(env_t *e)
{
    vpd_up_client_free(e->cl);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(uv_loop_close(&e->loop), 0);
}

static void
ex_start(env_t *e, ex_t *x, const char *method, const char *target,
         long timeout_ms)
{
    memset(x, 0, sizeof *x);
    snprintf(x->head, sizeof x->head,
             "%s %s HTTP/1.1\r\nHost: vault\r\nContent-Length: 0\r\n\r\n",
             method, target);
    x->req[0] = uv_buf_init(x->head, (unsigned)strlen(x->head));
    x->x.bufs = x->req;
    x->x.nbufs = 1;
    x->x.idempotent = strcmp(method, "POST") != 0;
    x->x.is_head = strcmp(method, "HEAD") == 0;
    uv_update_time(&e->loop);
    x->x.deadline_ms = uv_now(&e->loop) + (uint64_t)timeout_ms;
    x->x.headers = &x->hdrs;
    x->x.body = &x->body;
    x->x.cb = on_done;
    x->x.arg = x;
    ASSERT_INT_EQ(vpd_up_client_start(e->cl, &e->dest, &x->x), 0);
    ASSERT_INT_EQ(x->calls, 0); /* never inside the start call */
}

static void
ex_wait(env_t *e, ex_t *x)
{
    while (!x->done)
        uv_run(&e->loop, UV_RUN_ONCE);
    ASSERT_INT_EQ(x->calls, 1);
}

static void
ex_free(ex_t *x)
{
    vpd_hdrs_free(&x->hdrs);
    vpd_buf_free(&x->body);
}

/* One request, waited for. */
static void
ex_do(env_t *e, ex_t *x, const char *method, long timeout_ms)
{
    ex_start(e, x, method, "/v1/x", timeout_ms);
    ex_wait(e, x);
}

/* Runs the loop for a while (lets the server's close arrive). */
static void
settle(env_t *e, int ms)
{
    uv_update_time(&e->loop);
    uint64_t until = uv_now(&e->loop) + (uint64_t)ms;
    while (uv_now(&e->loop) < until) {
        usleep(1000);
        uv_run(&e->loop, UV_RUN_NOWAIT);
        uv_update_time(&e->loop);
    }
}

#define OK2 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

/* ---- framing ---------------------------------------------------------- */

TEST(split_and_coalesced_reads)
{
    server_t *s = server_start(NULL);
    const char *r = "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 11\r\n\r\n"
                    "hello world";
    script(s, (step_t){.reply = r, .piece = 1});
    script(s, (step_t){.reply = r});
    env_t e;
    env_init(&e, s, 4);
    for (int i = 0; i < 2; i++) {
        ex_t x;
        ex_do(&e, &x, "GET", 5000);
        ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
        ASSERT_INT_EQ(x.x.status, 200);
        ASSERT_STR_EQ(x.body.data, "hello world");
        ASSERT_STR_EQ(vpd_hdrs_get(&x.hdrs, "X-A", 0), "1");
        ex_free(&x);
    }
    ASSERT_INT_EQ(count(s, &s->n_conns), 1); /* kept alive */
    env_done(&e);
}

/* Extensions as Go's and llhttp's readers take them: one per chunk (llhttp
 * 8.1 refuses a second one after a value, and quoted values; Vault sends
 * none). */
TEST(chunked_with_extensions_and_trailers)
{
    server_t *s = server_start(NULL);
    script(s,
           (step_t){.reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                             "chunked\r\n\r\n5;ext=1\r\nhello\r\n"
                             "6;flag\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"});
    script(s, (step_t){.reply = OK2});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    ex_do(&e, &x, "GET", 5000);
    if (x.x.error != VPD_UP_OK)
        TEST_FAIL_("%s", x.x.errtext);
    ASSERT_STR_EQ(x.body.data, "hello world");
    ASSERT_INT_EQ(x.body.len, 11);
    ex_free(&x);
    ex_do(&e, &x, "GET", 5000);
    ASSERT_STR_EQ(x.body.data, "ok");
    ex_free(&x);
    ASSERT_INT_EQ(count(s, &s->n_conns), 1);
    env_done(&e);
}

TEST(close_delimited)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = "HTTP/1.1 200 OK\r\n\r\nuntil the end",
                       .close_after = true});
    script(s, (step_t){.reply = OK2});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    ex_do(&e, &x, "GET", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ASSERT_STR_EQ(x.body.data, "until the end");
    ex_free(&x);
    ex_do(&e, &x, "GET", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ex_free(&x);
    ASSERT_INT_EQ(count(s, &s->n_conns), 2); /* never reused */
    env_done(&e);
}

TEST(interim_answers_skipped)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = "HTTP/1.1 100 Continue\r\n\r\n"
                                "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
                                "HTTP/1.1 201 Created\r\nX-B: 2\r\n"
                                "Content-Length: 2\r\n\r\nok",
                       .piece = 7});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    ex_do(&e, &x, "POST", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ASSERT_INT_EQ(x.x.status, 201);
    ASSERT_NULL(vpd_hdrs_get(&x.hdrs, "Link", 0));
    ASSERT_STR_EQ(vpd_hdrs_get(&x.hdrs, "X-B", 0), "2");
    ASSERT_STR_EQ(x.body.data, "ok");
    ex_free(&x);
    env_done(&e);
}

TEST(no_body_answers)
{
    server_t *s = server_start(NULL);
    script(s,
           (step_t){.reply = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"});
    script(s, (step_t){.reply = "HTTP/1.1 204 No Content\r\n\r\n"});
    script(s, (step_t){.reply = "HTTP/1.1 304 Not Modified\r\n"
                                "Content-Length: 5\r\n\r\n"});
    script(s, (step_t){.reply = OK2});
    env_t e;
    env_init(&e, s, 4);
    const char *m[] = {"HEAD", "DELETE", "GET", "GET"};
    int want[] = {200, 204, 304, 200};
    for (int i = 0; i < 4; i++) {
        ex_t x;
        ex_do(&e, &x, m[i], 5000);
        if (x.x.error != VPD_UP_OK)
            TEST_FAIL_("%s: %s", m[i], x.x.errtext);
        ASSERT_INT_EQ(x.x.status, want[i]);
        ASSERT_INT_EQ(x.body.len, i == 3 ? 2 : 0);
        ex_free(&x);
    }
    ASSERT_INT_EQ(count(s, &s->n_conns), 1);
    env_done(&e);
}

TEST(pipelined_answers_refused)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = OK2 OK2});
    script(s, (step_t){.reply = OK2});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    ex_do(&e, &x, "GET", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ASSERT_STR_EQ(x.body.data, "ok");
    ex_free(&x);
    ex_do(&e, &x, "GET", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ex_free(&x);
    ASSERT_INT_EQ(count(s, &s->n_conns), 2);
    env_done(&e);
}

TEST(connection_close_honoured)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = "HTTP/1.1 200 OK\r\nConnection: close\r\n"
                                "Content-Length: 2\r\n\r\nok"});
    script(s,
           (step_t){.reply = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"});
    script(s, (step_t){.reply = OK2});
    env_t e;
    env_init(&e, s, 4);
    for (int i = 0; i < 3; i++) {
        ex_t x;
        ex_do(&e, &x, "GET", 5000);
        ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
        ex_free(&x);
    }
    ASSERT_INT_EQ(count(s, &s->n_conns), 3);
    env_done(&e);
}

/* ---- broken servers --------------------------------------------------- */

TEST(server_closes_idle_connection)
{
    server_t *s = server_start(NULL);
    /* Closes after the answer without saying so. */
    script(s, (step_t){.reply = OK2, .close_after = true});
    script(s, (step_t){.reply = OK2});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    ex_do(&e, &x, "GET", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ex_free(&x);
    settle(&e, 50);
    ASSERT_INT_EQ(vpd_up_client_open_connections(e.cl), 0);
    ex_do(&e, &x, "POST", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ex_free(&x);
    env_done(&e);
}

/* The connection timer is set again only when it would fire too late: an
 * idle timeout longer than the last exchange's deadline must still run
 * its full length, not end at the earlier time the timer was set for. */
TEST(idle_timeout_outlives_an_earlier_deadline)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = OK2});
    env_t e;
    env_init(&e, s, 4);
    vpd_up_client_free(e.cl);
    e.cl = vpd_up_client_new(&e.loop, 4, 800);
    ex_t x;
    ex_do(&e, &x, "GET", 200);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ex_free(&x);
    settle(&e, 350); /* past the deadline the timer was set for */
    ASSERT_INT_EQ(vpd_up_client_open_connections(e.cl), 1);
    settle(&e, 900); /* past the idle timeout */
    ASSERT_INT_EQ(vpd_up_client_open_connections(e.cl), 0);
    env_done(&e);
}

/* And the other way round: a later exchange with a longer deadline is not
 * cut short by a timer still set for an earlier, shorter one. */
TEST(longer_deadline_after_a_shorter_one)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = OK2});
    script(s, (step_t){.reply = OK2, .delay_ms = 400});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    ex_do(&e, &x, "GET", 150);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ex_free(&x);
    ex_do(&e, &x, "GET", 3000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ASSERT_INT_EQ(count(s, &s->n_conns), 1);
    ex_free(&x);
    env_done(&e);
}

/* The race Go's transport handles: the server drops a kept-alive
 * connection just as a request goes out on it.  An idempotent request is
 * sent again on a fresh connection; a POST that may have arrived is not. */
TEST(stale_connection_retried_when_idempotent)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = OK2});
    script(s, (step_t){.reply = NULL}); /* reads, then hangs up */
    script(s, (step_t){.reply = OK2});
    script(s, (step_t){.reply = NULL});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    ex_do(&e, &x, "GET", 5000);
    ex_free(&x);
    ex_do(&e, &x, "PUT", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ASSERT_INT_EQ(count(s, &s->n_reqs), 3);
    ex_free(&x);
    ex_do(&e, &x, "POST", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_UNREACHABLE);
    ASSERT_INT_EQ(count(s, &s->n_reqs), 4);
    ex_free(&x);
    env_done(&e);
}

/* One GET answered: the pool then holds one idle connection that has
 * served, and x is cleared for the next exchange. */
static void
serve_one(env_t *e, ex_t *x)
{
    ex_do(e, x, "GET", 5000);
    ASSERT_INT_EQ(x->x.error, VPD_UP_OK);
    ex_free(x);
    memset(x, 0, sizeof *x);
}

/* Requests wait until the loop is about to wait (see vpd_up_conn_send):
 * one started by a timer must still go out before the loop sleeps, not
 * when something else wakes it (here: its deadline). */
static void
start_from_timer(uv_timer_t *t)
{
    void **a = t->data;
    ex_start(a[0], a[1], "GET", "/v1/x", 5000);
}

TEST(request_from_a_timer_goes_out_before_the_loop_waits)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = OK2});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    serve_one(&e, &x);
    uv_timer_t t;
    void *args[2] = {&e, &x};
    uv_timer_init(&e.loop, &t);
    t.data = args;
    uv_timer_start(&t, start_from_timer, 10, 0);
    uv_update_time(&e.loop);
    uint64_t t0 = uv_now(&e.loop);
    while (!x.done)
        uv_run(&e.loop, UV_RUN_ONCE);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ASSERT_STR_EQ(x.body.data, "ok");
    uv_update_time(&e.loop);
    ASSERT(uv_now(&e.loop) - t0 < 2000);
    ASSERT_INT_EQ(count(s, &s->n_conns), 1);
    ex_free(&x);
    uv_close((uv_handle_t *)&t, NULL);
    env_done(&e);
}

/* Bytes an idle connection receives in the same batch of events as the
 * request that takes it, but after it, arrive before that request was
 * written: they answer nothing of ours.  The request goes again on a
 * fresh connection instead of taking them for its answer. */
typedef struct {
    env_t *e;
    ex_t *x;
    uv_pipe_t pipe;
} trigger_t;

static void
trigger_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    (void)h;
    static char one[16];
    (void)n;
    *b = uv_buf_init(one, sizeof one);
}

static void
trigger_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    trigger_t *t = st->data;
    if (n > 0 && !t->x->calls && !t->x->x.cb)
        ex_start(t->e, t->x, "GET", "/v1/x", 5000);
    uv_read_stop(st);
}

TEST(bytes_before_the_request_went_out_are_no_answer)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = OK2,
                       .later = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                "\r\nwrong",
                       .later_ms = 100});
    script(s, (step_t){.reply = OK2});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    serve_one(&e, &x);
    /* The trigger is readable first, the unasked bytes come after: one
     * epoll batch hands both over in that order (epoll's ready list keeps
     * the order in which its descriptors became ready). */
    int sv[2];
    ASSERT_INT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    trigger_t tr = {.e = &e, .x = &x};
    ASSERT_INT_EQ(uv_pipe_init(&e.loop, &tr.pipe, 0), 0);
    ASSERT_INT_EQ(uv_pipe_open(&tr.pipe, sv[0]), 0);
    tr.pipe.data = &tr;
    ASSERT_INT_EQ(
        uv_read_start((uv_stream_t *)&tr.pipe, trigger_alloc, trigger_read), 0);
    uv_run(&e.loop, UV_RUN_NOWAIT); /* libuv adds the pipe to epoll here */
    ASSERT_INT_EQ(write(sv[1], "t", 1), 1);
    for (int i = 0; i < 500 && count(s, &s->n_later) == 0; i++)
        usleep(10000);
    /* Loopback TCP queues the bytes at the receiver within the server's
     * write call, which n_later counts after. */
    ASSERT_INT_EQ(count(s, &s->n_later), 1);
    while (!x.done)
        uv_run(&e.loop, UV_RUN_ONCE);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ASSERT_STR_EQ(x.body.data, "ok");
    ASSERT_INT_EQ(count(s, &s->n_conns), 2);
    ex_free(&x);
    uv_close((uv_handle_t *)&tr.pipe, NULL);
    close(sv[1]);
    env_done(&e);
}

TEST(server_closes_mid_answer)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                                "partial",
                       .close_after = true});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    ex_do(&e, &x, "GET", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_UNREACHABLE);
    ASSERT_STR_CONTAINS(x.x.errtext, "mid-answer");
    ASSERT_INT_EQ(vpd_up_client_open_connections(e.cl), 0);
    ex_free(&x);
    env_done(&e);
}

TEST(slow_server_times_out)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = OK2, .delay_ms = 1500});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    ex_do(&e, &x, "GET", 150);
    ASSERT_INT_EQ(x.x.error, VPD_UP_TIMEOUT);
    ASSERT_INT_EQ(vpd_up_client_open_connections(e.cl), 0);
    ex_free(&x);
    env_done(&e);
}

TEST(oversize_head_refused)
{
    server_t *s = server_start(NULL);
    size_t n = 1024 * 1024;
    char *big = malloc(n + 64);
    int h = snprintf(big, 64, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(big + h, 'a', n);
    memcpy(big + h + n, "\r\n\r\n", 5);
    script(s, (step_t){.reply = big});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    ex_do(&e, &x, "GET", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_UNREACHABLE);
    ASSERT_STR_CONTAINS(x.x.errtext, "head");
    /* Nothing of it was kept. */
    ASSERT_INT_EQ(x.hdrs.n, 0);
    ASSERT_INT_EQ(vpd_up_client_open_connections(e.cl), 0);
    ex_free(&x);
    env_done(&e);
    free(big);
}

TEST(malformed_answer)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = "HTTP/1.1 2x0 OK\r\n\r\n"});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    ex_do(&e, &x, "GET", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_UNREACHABLE);
    ASSERT_STR_CONTAINS(x.x.errtext, "malformed");
    ex_free(&x);
    env_done(&e);
}

TEST(refused_connection)
{
    int port;
    int fd = listen_loopback(&port);
    close(fd);
    env_t e;
    server_t fake = {.port = port};
    env_init(&e, &fake, 4);
    ex_t x;
    ex_do(&e, &x, "GET", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_UNREACHABLE);
    ASSERT_STR_CONTAINS(x.x.errtext, "connecting");
    ex_free(&x);
    env_done(&e);
}

/* ---- pools ------------------------------------------------------------ */

TEST(bound_on_connections_queues)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = OK2, .delay_ms = 20});
    env_t e;
    env_init(&e, s, 1);
    ex_t x[5];
    for (int i = 0; i < 5; i++)
        ex_start(&e, &x[i], "GET", "/v1/x", 5000);
    ASSERT(vpd_up_client_open_connections(e.cl) <= 1);
    for (int i = 0; i < 5; i++) {
        ex_wait(&e, &x[i]);
        ASSERT_INT_EQ(x[i].x.error, VPD_UP_OK);
        ex_free(&x[i]);
    }
    ASSERT_INT_EQ(count(s, &s->n_conns), 1);
    env_done(&e);
}

TEST(queued_request_times_out)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = OK2, .delay_ms = 600});
    env_t e;
    env_init(&e, s, 1);
    ex_t a, b;
    ex_start(&e, &a, "GET", "/v1/a", 5000);
    ex_start(&e, &b, "GET", "/v1/b", 100);
    ex_wait(&e, &b);
    ASSERT_INT_EQ(b.x.error, VPD_UP_TIMEOUT);
    ASSERT_STR_CONTAINS(b.x.errtext, "max_connections");
    ASSERT(!a.done);
    ex_wait(&e, &a);
    ASSERT_INT_EQ(a.x.error, VPD_UP_OK);
    ex_free(&a);
    ex_free(&b);
    env_done(&e);
}

TEST(cancel_drops_connection)
{
    server_t *s = server_start(NULL);
    script(s, (step_t){.reply = OK2, .delay_ms = 300});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    ex_start(&e, &x, "GET", "/v1/x", 5000);
    settle(&e, 50);
    vpd_up_client_cancel(&x.x);
    ASSERT_INT_EQ(vpd_up_client_open_connections(e.cl), 0);
    settle(&e, 400);
    ASSERT_INT_EQ(x.calls, 0);
    ex_free(&x);
    env_done(&e);
}

TEST(upgrade_hands_connection_over)
{
    server_t *s = server_start(NULL);
    script(s,
           (step_t){.reply =
                        "HTTP/1.1 101 Switching Protocols\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"});
    env_t e;
    env_init(&e, s, 4);
    ex_t x;
    ex_do(&e, &x, "GET", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ASSERT_INT_EQ(x.x.status, 101);
    ASSERT_NOT_NULL(x.x.upgraded);
    ASSERT_INT_EQ(vpd_up_client_open_connections(e.cl), 0); /* left the pool */
    vpd_up_conn_close(x.x.upgraded);
    ex_free(&x);
    env_done(&e);
}

/* ---- TLS -------------------------------------------------------------- */

typedef lb_tls tls_files;

static void
tls_make(tls_files *t, bool expired)
{
    lb_tls_make(t, (lb_tls_opts){.expired = expired});
}

static void
tls_cleanup(tls_files *t)
{
    lb_tls_cleanup(t);
}

static vpd_up_error
tls_case(tls_files *server, const char *ca, const char *name, char *errtext,
         size_t errlen)
{
    server_t *s = server_start(server->ctx);
    script(s, (step_t){.reply = OK2});
    env_t e;
    env_init(&e, s, 4);
    char err[256] = "";
    vpd_up_tls_opts o = {.ca_cert = ca};
    vpd_up_tls *tls = vpd_up_tls_new(&o, err, sizeof err);
    ASSERT_NOT_NULL(tls);
    e.dest.https = true;
    e.dest.tls = tls;
    e.dest.tls_name = name;
    ex_t x;
    ex_do(&e, &x, "GET", 5000);
    vpd_up_error r = x.x.error;
    snprintf(errtext, errlen, "%s", x.x.errtext);
    ex_free(&x);
    vpd_up_tls_unref(tls);
    env_done(&e);
    return r;
}

TEST(tls_ok_and_session_resumed)
{
    tls_files t;
    tls_make(&t, false);
    server_t *s = server_start(t.ctx);
    script(s, (step_t){.reply = OK2, .close_after = true});
    env_t e;
    env_init(&e, s, 4);
    char err[256] = "";
    vpd_up_tls_opts o = {.ca_cert = t.cert};
    vpd_up_tls *tls = vpd_up_tls_new(&o, err, sizeof err);
    ASSERT_NOT_NULL(tls);
    e.dest.https = true;
    e.dest.tls = tls;
    e.dest.tls_name = "127.0.0.1";
    for (int i = 0; i < 3; i++) {
        ex_t x;
        ex_do(&e, &x, "GET", 5000);
        ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
        ASSERT_STR_EQ(x.body.data, "ok");
        ex_free(&x);
    }
    ASSERT_INT_EQ(count(s, &s->n_conns), 3);
    /* The second and third connections resumed the first one's session. */
    ASSERT_INT_EQ(count(s, &s->n_resumed), 2);
    vpd_up_tls_unref(tls);
    env_done(&e);
    tls_cleanup(&t);
}

TEST(tls_failures)
{
    tls_files good, other, expired;
    tls_make(&good, false);
    tls_make(&other, false);
    tls_make(&expired, true);
    char err[256];
    ASSERT_INT_EQ(tls_case(&good, good.cert, "vault.test", err, sizeof err),
                  VPD_UP_OK);
    /* Wrong CA: the certificate is not trusted. */
    ASSERT_INT_EQ(tls_case(&good, other.cert, "vault.test", err, sizeof err),
                  VPD_UP_TLS_VERIFY);
    ASSERT_STR_CONTAINS(err, "verify");
    /* Wrong name. */
    ASSERT_INT_EQ(tls_case(&good, good.cert, "other.test", err, sizeof err),
                  VPD_UP_TLS_VERIFY);
    /* Expired. */
    ASSERT_INT_EQ(
        tls_case(&expired, expired.cert, "vault.test", err, sizeof err),
        VPD_UP_TLS_VERIFY);
    ASSERT_STR_CONTAINS(err, "expired");
    tls_cleanup(&good);
    tls_cleanup(&other);
    tls_cleanup(&expired);
}

/* ---- egress proxies --------------------------------------------------- */

typedef struct {
    int lfd, port;
    pthread_mutex_t mu;
    char first_line[256];
    int tunnels;
} cproxy_t;

static void
pipe_both(int a, int b)
{
    char buf[16384];
    for (;;) {
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(a, &rs);
        FD_SET(b, &rs);
        if (select((a > b ? a : b) + 1, &rs, NULL, NULL, NULL) <= 0)
            return;
        int from = FD_ISSET(a, &rs) ? a : b, to = from == a ? b : a;
        ssize_t n = read(from, buf, sizeof buf);
        if (n <= 0 || send(to, buf, (size_t)n, MSG_NOSIGNAL) != n)
            return;
    }
}

/* A CONNECT proxy that serves one tunnel at a time. */
static void *
cproxy_main(void *arg)
{
    cproxy_t *p = arg;
    for (;;) {
        int fd = accept(p->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        char buf[2048];
        size_t len = 0;
        while (len < sizeof buf - 1) {
            ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
            if (r <= 0)
                break;
            len += (size_t)r;
            buf[len] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        int port = 0;
        pthread_mutex_lock(&p->mu);
        snprintf(p->first_line, sizeof p->first_line, "%.*s",
                 (int)strcspn(buf, "\r"), buf);
        p->tunnels++;
        pthread_mutex_unlock(&p->mu);
        char *colon = strrchr(p->first_line, ':');
        if (strncmp(buf, "CONNECT 127.0.0.1:", 18) == 0 && colon)
            port = atoi(colon + 1);
        int up = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin_port = htons((uint16_t)port);
        if (port && connect(up, (struct sockaddr *)&sa, sizeof sa) == 0) {
            const char *ok = "HTTP/1.1 200 Connection established\r\n\r\n";
            (void)!send(fd, ok, strlen(ok), MSG_NOSIGNAL);
            pipe_both(fd, up);
        } else {
            const char *no =
                "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
            (void)!send(fd, no, strlen(no), MSG_NOSIGNAL);
        }
        close(up);
        close(fd);
    }
}

TEST(egress_connect_tunnel)
{
    tls_files t;
    tls_make(&t, false);
    server_t *s = server_start(t.ctx);
    script(s, (step_t){.reply = OK2});
    cproxy_t *p = calloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->lfd = listen_loopback(&p->port);
    pthread_t th;
    pthread_create(&th, NULL, cproxy_main, p);
    pthread_detach(th);

    char url[64], err[256] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d", p->port);
    setenv("HTTPS_PROXY", url, 1);
    unsetenv("NO_PROXY");
    vpd_egress *eg = vpd_egress_from_env(err, sizeof err);
    ASSERT_NOT_NULL(eg);
    env_t e;
    env_init(&e, s, 4);
    vpd_up_tls_opts o = {.ca_cert = t.cert};
    vpd_up_tls *tls = vpd_up_tls_new(&o, err, sizeof err);
    e.dest.https = true;
    e.dest.tls = tls;
    e.dest.tls_name = "vault.test";
    e.dest.proxy = vpd_egress_for(eg, true, "127.0.0.1", s->port);
    ASSERT_NOT_NULL(e.dest.proxy);
    ex_t x;
    ex_do(&e, &x, "GET", 5000);
    ASSERT_INT_EQ(x.x.error, VPD_UP_OK);
    ASSERT_STR_EQ(x.body.data, "ok");
    char want[64];
    snprintf(want, sizeof want, "CONNECT 127.0.0.1:%d HTTP/1.1", s->port);
    pthread_mutex_lock(&p->mu);
    ASSERT_STR_EQ(p->first_line, want);
    ASSERT_INT_EQ(p->tunnels, 1);
    pthread_mutex_unlock(&p->mu);
    ex_free(&x);
    vpd_up_tls_unref(tls);
    env_done(&e);
    vpd_egress_free(eg);

    /* NO_PROXY takes the host out. */
    setenv("NO_PROXY", "example.com, 127.0.0.1", 1);
    eg = vpd_egress_from_env(err, sizeof err);
    ASSERT_NULL(vpd_egress_for(eg, true, "127.0.0.1", s->port));
    ASSERT_NOT_NULL(vpd_egress_for(eg, true, "vault.example.org", 443));
    ASSERT_NULL(vpd_egress_for(eg, false, "vault.example.org", 80));
    vpd_egress_free(eg);
    unsetenv("HTTPS_PROXY");
    unsetenv("NO_PROXY");
    tls_cleanup(&t);
}

TEST(egress_no_proxy_rules)
{
    ASSERT(vpd_egress_bypassed("*", "vault.example.com", 8200));
    ASSERT(vpd_egress_bypassed("example.com", "example.com", 8200));
    ASSERT(vpd_egress_bypassed("example.com", "vault.example.com", 8200));
    ASSERT(!vpd_egress_bypassed(".example.com", "example.com", 8200));
    ASSERT(vpd_egress_bypassed(".example.com", "a.example.com", 8200));
    ASSERT(!vpd_egress_bypassed("example.com", "badexample.com", 8200));
    ASSERT(vpd_egress_bypassed("10.0.0.0/8", "10.1.2.3", 8200));
    ASSERT(!vpd_egress_bypassed("10.0.0.0/8", "11.1.2.3", 8200));
    ASSERT(vpd_egress_bypassed("vault:8200", "vault", 8200));
    ASSERT(!vpd_egress_bypassed("vault:8201", "vault", 8200));
    ASSERT(vpd_egress_bypassed("[::1]:8200", "::1", 8200));
    ASSERT(vpd_egress_bypassed("::1", "::1", 8200));
    ASSERT(!vpd_egress_bypassed("", "vault", 8200));
    /* CONNECT carries the proxy's credentials. */
    setenv("HTTPS_PROXY", "http://user:pa%20ss@proxy.example:3128", 1);
    char err[256] = "";
    vpd_egress *eg = vpd_egress_from_env(err, sizeof err);
    ASSERT_NOT_NULL(eg);
    const vpd_up_proxy *p = vpd_egress_for(eg, true, "vault", 8200);
    ASSERT_STR_EQ(p->host, "proxy.example");
    ASSERT_INT_EQ(p->port, 3128);
    vpd_buf b = VPD_BUF_INIT;
    ASSERT_INT_EQ(vpd_egress_connect_head(&b, p, "vault", 8200), 0);
    ASSERT_STR_EQ(b.data,
                  "CONNECT vault:8200 HTTP/1.1\r\nHost: vault:8200\r\n"
                  "Proxy-Authorization: Basic dXNlcjpwYSUyMHNz\r\n\r\n");
    vpd_buf_free(&b);
    vpd_egress_free(eg);
    setenv("HTTPS_PROXY", "https://proxy.example", 1);
    ASSERT_NULL(vpd_egress_from_env(err, sizeof err));
    unsetenv("HTTPS_PROXY");
}

int
main(void)
{
    unsetenv("HTTP_PROXY");
    unsetenv("HTTPS_PROXY");
    unsetenv("http_proxy");
    unsetenv("https_proxy");
    /* The scripted server writes to clients that may have left. */
    signal(SIGPIPE, SIG_IGN);
    return RUN_TESTS(
        T(split_and_coalesced_reads), T(chunked_with_extensions_and_trailers),
        T(close_delimited), T(interim_answers_skipped), T(no_body_answers),
        T(pipelined_answers_refused), T(connection_close_honoured),
        T(server_closes_idle_connection),
        T(idle_timeout_outlives_an_earlier_deadline),
        T(longer_deadline_after_a_shorter_one),
        T(stale_connection_retried_when_idempotent),
        T(request_from_a_timer_goes_out_before_the_loop_waits),
        T(bytes_before_the_request_went_out_are_no_answer),
        T(server_closes_mid_answer), T(slow_server_times_out),
        T(oversize_head_refused), T(malformed_answer), T(refused_connection),
        T(bound_on_connections_queues), T(queued_request_times_out),
        T(cancel_drops_connection), T(upgrade_hands_connection_over),
        T(tls_ok_and_session_resumed), T(tls_failures),
        T(egress_connect_tunnel), T(egress_no_proxy_rules));
}
