/* The WebSocket client (upstream/ws_client) through the forwarder's
 * Upgrade hand-off, against a loopback server run by a thread of the test
 * process: the handshake and its checks (key and accept, refusals,
 * redirects), frames that come with the 101 or split across writes, pings
 * answered with pongs, both closing handshakes, malformed frames closed
 * with 1002, a dropped connection reported as 1006. */
#include "autoconf.h"

#include "upstream/forward.h"
#include "upstream/ws_client.h"
#include "upstream/ws_frame.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

/* ---- the loopback server ---------------------------------------------- */

typedef struct srv srv_t;

typedef struct {
    srv_t *s;
    int fd, index;
    char in[65536];
    size_t in_len;
    char head[4096]; /* the request head */
    char key[64];
} sc_t;

struct srv {
    int lfd, port;
    pthread_t th;
    int n_conns; /* connections to serve, one after another */
    void (*handler)(sc_t *c);
    /* What the handler saw, read by the test after the join. */
    char heads[4][4096];
    char note[512];
    bool ok;
};

static void
sc_write(sc_t *c, const void *p, size_t n)
{
    (void)!send(c->fd, p, n, MSG_NOSIGNAL);
}

/* Writes in pieces with a pause between them, so the client's reads see
 * them apart. */
static void
sc_write_split(sc_t *c, const void *p, size_t n, size_t piece)
{
    const char *b = p;
    for (size_t o = 0; o < n; o += piece) {
        sc_write(c, b + o, n - o < piece ? n - o : piece);
        usleep(3000);
    }
}

static bool
sc_fill(sc_t *c, size_t want)
{
    while (c->in_len < want) {
        ssize_t r = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        c->in_len += (size_t)r;
    }
    return true;
}

static void
sc_consume(sc_t *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* Reads the request head and its Sec-WebSocket-Key. */
static bool
sc_read_head(sc_t *c)
{
    char *end;
    for (;;) {
        c->in[c->in_len] = '\0';
        if ((end = strstr(c->in, "\r\n\r\n")))
            break;
        if (!sc_fill(c, c->in_len + 1))
            return false;
    }
    size_t hl = (size_t)(end - c->in) + 4;
    snprintf(c->head, sizeof c->head, "%.*s", (int)hl, c->in);
    if (c->index < 4)
        snprintf(c->s->heads[c->index], sizeof c->s->heads[0], "%s", c->head);
    sc_consume(c, hl);
    const char *k = strcasestr(c->head, "\r\nSec-WebSocket-Key: ");
    c->key[0] = '\0';
    if (k)
        sscanf(k + 21, "%63[^\r]", c->key);
    return true;
}

static size_t
server_frame(uint8_t *out, unsigned b0, const void *p, size_t n)
{
    size_t h = 0;
    out[h++] = (uint8_t)b0;
    if (n < 126) {
        out[h++] = (uint8_t)n;
    } else {
        out[h++] = 126;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    }
    memcpy(out + h, p, n);
    return h + n;
}

/* The 101 for the key the client sent, followed by `extra` bytes in the
 * same write. */
static void
sc_accept(sc_t *c, const void *extra, size_t extra_len)
{
    char acc[29];
    vpd_ws_accept_for(c->key, acc);
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n",
                     acc);
    memcpy(buf + n, extra, extra_len);
    sc_write(c, buf, (size_t)n + extra_len);
}

/* Reads one client frame: it must be masked; the payload is unmasked
 * into p (NUL-terminated).  Returns the opcode, or -1. */
static int
sc_read_frame(sc_t *c, char *p, size_t cap, size_t *len)
{
    if (!sc_fill(c, 2))
        return -1;
    uint8_t b0 = (uint8_t)c->in[0], b1 = (uint8_t)c->in[1];
    if (!(b1 & 0x80)) {
        snprintf(c->s->note, sizeof c->s->note, "client frame not masked");
        return -1;
    }
    size_t n = b1 & 0x7F, h = 2;
    if (n == 126) {
        if (!sc_fill(c, 4))
            return -1;
        n = ((size_t)(uint8_t)c->in[2] << 8) | (uint8_t)c->in[3];
        h = 4;
    }
    if (!sc_fill(c, h + 4 + n) || n >= cap)
        return -1;
    const uint8_t *m = (const uint8_t *)c->in + h;
    for (size_t i = 0; i < n; i++)
        p[i] = (char)((uint8_t)c->in[h + 4 + i] ^ m[i & 3]);
    p[n] = '\0';
    *len = n;
    sc_consume(c, h + 4 + n);
    return b0 & 0x0F;
}

static void *
srv_main(void *arg)
{
    srv_t *s = arg;
    for (int i = 0; i < s->n_conns; i++) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            break;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sc_t *c = calloc(1, sizeof *c);
        c->s = s;
        c->fd = fd;
        c->index = i;
        s->handler(c);
        close(fd);
        free(c);
    }
    return NULL;
}

static srv_t *
srv_start(void (*handler)(sc_t *), int n_conns)
{
    srv_t *s = calloc(1, sizeof *s);
    s->handler = handler;
    s->n_conns = n_conns;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ASSERT_INT_EQ(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_INT_EQ(listen(s->lfd, 8), 0);
    socklen_t al = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->th, NULL, srv_main, s);
    return s;
}

static void
srv_join(srv_t *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
}

/* ---- the client side ---------------------------------------------------- */

typedef struct {
    uv_loop_t loop;
    vpd_vault_config vault;
    char addr[128];
    vpd_fwd *fwd;
    vpd_ws *ws;
    /* What the callbacks saw. */
    int opens, closes;
    char msgs[2048];
    int n_msgs;
    bool last_text;
    vpd_ws_end end;
    char end_body[256], end_reason[256];
    /* Test behaviour. */
    bool close_on_message; /* vpd_ws_close from inside `message` */
    bool send_on_open;
} cl_t;

static void
on_open(void *arg)
{
    cl_t *c = arg;
    c->opens++;
    if (c->send_on_open)
        ASSERT_INT_EQ(vpd_ws_send_text(c->ws, "hello server", 12), 0);
}

static void
on_message(void *arg, const char *p, size_t n, bool text)
{
    cl_t *c = arg;
    size_t l = strlen(c->msgs);
    snprintf(c->msgs + l, sizeof c->msgs - l, "%s[%.*s]", l ? "," : "", (int)n,
             p);
    c->n_msgs++;
    c->last_text = text;
    if (c->close_on_message) {
        vpd_ws_close(c->ws, 1000, "done");
        c->ws = NULL;
    }
}

static void
on_closed(void *arg, const vpd_ws_end *e)
{
    cl_t *c = arg;
    c->closes++;
    c->end = *e;
    snprintf(c->end_body, sizeof c->end_body, "%s", e->body ? e->body : "");
    snprintf(c->end_reason, sizeof c->end_reason, "%s",
             e->reason ? e->reason : "");
    c->end.body = c->end_body;
    c->end.reason = c->end_reason;
    c->ws = NULL;
}

static const vpd_ws_events events = {on_open, on_message, on_closed};

static void
cl_start(cl_t *c, srv_t *s)
{
    memset(c, 0, sizeof *c);
    ASSERT_INT_EQ(uv_loop_init(&c->loop), 0);
    snprintf(c->addr, sizeof c->addr, "http://127.0.0.1:%d", s->port);
    c->vault.address = c->addr;
    c->vault.num_retries = -1;
    char err[256];
    c->fwd = vpd_fwd_new(&c->loop, &c->vault, err, sizeof err);
    ASSERT_NOT_NULL(c->fwd);
}

static void
cl_connect(cl_t *c)
{
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "X-Vault-Token", "s.test");
    int before = c->opens + c->closes;
    vpd_ws_opts o = {.target = "/v1/sys/events/subscribe/kv*?json=true",
                     .headers = &h,
                     .timeout_ms = 5000};
    c->ws = vpd_ws_connect(&c->loop, c->fwd, &o, &events, c);
    vpd_hdrs_free(&h);
    ASSERT_NOT_NULL(c->ws);
    ASSERT_INT_EQ(c->opens + c->closes, before); /* never inside connect */
}

/* Runs the loop until cond holds, for at most 5 s. */
#define RUN_UNTIL(c, cond)                                                     \
    do {                                                                       \
        uint64_t until_ = uv_now(&(c)->loop) + 5000;                           \
        while (!(cond) && uv_now(&(c)->loop) < until_) {                       \
            uv_run(&(c)->loop, UV_RUN_NOWAIT);                                 \
            usleep(1000);                                                      \
            uv_update_time(&(c)->loop);                                        \
        }                                                                      \
        ASSERT(cond);                                                          \
    } while (0)

static void
cl_done(cl_t *c)
{
    if (c->ws)
        vpd_ws_close(c->ws, 1001, "test over");
    vpd_fwd_free(c->fwd);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(uv_loop_close(&c->loop), 0);
}

/* ---- tests ------------------------------------------------------------ */

static void
h_messages(sc_t *c)
{
    if (!sc_read_head(c))
        return;
    /* One message in the same write as the 101. */
    uint8_t f[512];
    size_t n = server_frame(f, 0x81, "with-the-101", 12);
    sc_accept(c, f, n);
    /* A fragmented message with a ping between the parts, sent a byte at
     * a time. */
    n = server_frame(f, 0x01, "{\"a\":", 5);
    n += server_frame(f + n, 0x89, "hb", 2);
    n += server_frame(f + n, 0x80, "1}", 2);
    sc_write_split(c, f, n, 1);
    /* The ping must come back as a masked pong with the same bytes. */
    char p[256];
    size_t pl;
    int op = sc_read_frame(c, p, sizeof p, &pl);
    c->s->ok = op == VPD_WS_OP_PONG && pl == 2 && memcmp(p, "hb", 2) == 0;
    /* Two messages coalesced in one write, one of them binary. */
    n = server_frame(f, 0x81, "x", 1);
    n += server_frame(f + n, 0x82, "y", 1);
    sc_write(c, f, n);
    /* Then the server closes; the client echoes the code. */
    n = server_frame(f, 0x88,
                     "\x03\xe8"
                     "bye",
                     5);
    sc_write(c, f, n);
    op = sc_read_frame(c, p, sizeof p, &pl);
    if (!(op == VPD_WS_OP_CLOSE && pl >= 2 && (uint8_t)p[0] == 0x03 &&
          (uint8_t)p[1] == 0xe8))
        c->s->ok = false;
}

TEST(handshake_messages_ping_and_server_close)
{
    srv_t *s = srv_start(h_messages, 1);
    cl_t c;
    cl_start(&c, s);
    cl_connect(&c);
    RUN_UNTIL(&c, c.closes == 1);
    srv_join(s);
    ASSERT_INT_EQ(c.opens, 1);
    ASSERT_STR_EQ(c.msgs, "[with-the-101],[{\"a\":1}],[x],[y]");
    ASSERT(!c.last_text);
    ASSERT(c.end.opened);
    ASSERT(c.end.by_server);
    ASSERT_INT_EQ(c.end.code, 1000);
    ASSERT_STR_EQ(c.end.reason, "bye");
    ASSERT(s->ok);
    /* The handshake request. */
    const char *h = s->heads[0];
    ASSERT_STR_CONTAINS(h, "GET /v1/sys/events/subscribe/kv*?json=true "
                           "HTTP/1.1\r\n");
    ASSERT_STR_CONTAINS(h, "\r\nConnection: Upgrade\r\n");
    ASSERT_STR_CONTAINS(h, "\r\nUpgrade: websocket\r\n");
    ASSERT_STR_CONTAINS(h, "\r\nSec-WebSocket-Version: 13\r\n");
    ASSERT_STR_CONTAINS(h, "\r\nX-Vault-Token: s.test\r\n");
    ASSERT_STR_CONTAINS(h, "\r\nSec-WebSocket-Key: ");
    cl_done(&c);
    free(s);
}

TEST(accept_for_the_rfc_example)
{
    /* The worked example of RFC 6455 section 1.3. */
    char out[29];
    vpd_ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", out);
    ASSERT_STR_EQ(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void
h_bad_accept(sc_t *c)
{
    if (!sc_read_head(c))
        return;
    const char *r =
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    sc_write(c, r, strlen(r));
    char b[16];
    c->s->ok = recv(c->fd, b, sizeof b, 0) == 0; /* the client hangs up */
}

TEST(wrong_accept_is_refused)
{
    srv_t *s = srv_start(h_bad_accept, 1);
    cl_t c;
    cl_start(&c, s);
    cl_connect(&c);
    RUN_UNTIL(&c, c.closes == 1);
    ASSERT_INT_EQ(c.opens, 0);
    ASSERT(!c.end.opened);
    ASSERT_INT_EQ(c.end.http_status, 101);
    ASSERT_STR_CONTAINS(c.end.reason, "Sec-WebSocket-Accept");
    cl_done(&c);
    srv_join(s);
    ASSERT(s->ok);
    free(s);
}

static void
h_refuse(sc_t *c)
{
    if (!sc_read_head(c))
        return;
    const char *r = c->index == 0
                        ? "HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n"
                          "Connection: close\r\n"
                          "\r\n{\"errors\":[]}"
                        : "HTTP/1.1 403 Forbidden\r\nContent-Length: 37\r\n"
                          "\r\n{\"errors\":[\"permission denied\"]}     ";
    sc_write(c, r, strlen(r));
}

TEST(refused_handshake_reports_status_and_body)
{
    srv_t *s = srv_start(h_refuse, 2);
    cl_t c;
    cl_start(&c, s);
    cl_connect(&c);
    RUN_UNTIL(&c, c.closes == 1);
    ASSERT_INT_EQ(c.opens, 0);
    ASSERT(!c.end.opened);
    ASSERT_INT_EQ(c.end.error, VPD_FWD_OK);
    ASSERT_INT_EQ(c.end.http_status, 404);
    ASSERT_STR_EQ(c.end_body, "{\"errors\":[]}");
    cl_connect(&c);
    RUN_UNTIL(&c, c.closes == 2);
    ASSERT_INT_EQ(c.end.http_status, 403);
    ASSERT_STR_CONTAINS(c.end_body, "permission denied");
    cl_done(&c);
    srv_join(s);
    free(s);
}

static void
h_redirect(sc_t *c)
{
    if (!sc_read_head(c))
        return;
    if (c->index == 0) {
        const char *r =
            "HTTP/1.1 307 Temporary Redirect\r\n"
            "Location: /v1/sys/events/subscribe/kv*?json=true&x=1\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n";
        sc_write(c, r, strlen(r));
        return;
    }
    uint8_t f[64];
    size_t n = server_frame(f, 0x81, "after-redirect", 14);
    sc_accept(c, f, n);
    char p[64];
    size_t pl;
    /* The client's own close, answered. */
    int op = sc_read_frame(c, p, sizeof p, &pl);
    c->s->ok = op == VPD_WS_OP_CLOSE && pl == 6 && (uint8_t)p[1] == 0xe8 &&
               strcmp(p + 2, "done") == 0;
    n = server_frame(f, 0x88, "\x03\xe8", 2);
    sc_write(c, f, n);
}

TEST(redirect_followed_and_client_close)
{
    srv_t *s = srv_start(h_redirect, 2);
    cl_t c;
    cl_start(&c, s);
    c.close_on_message = true;
    cl_connect(&c);
    RUN_UNTIL(&c, c.n_msgs == 1);
    srv_join(s);
    ASSERT_STR_EQ(c.msgs, "[after-redirect]");
    ASSERT_STR_CONTAINS(s->heads[1],
                        "GET /v1/sys/events/subscribe/kv*?json=true&x=1 ");
    ASSERT_STR_CONTAINS(s->heads[1], "\r\nX-Vault-Token: s.test\r\n");
    ASSERT(s->ok);
    /* No callback after our own close. */
    ASSERT_INT_EQ(c.closes, 0);
    cl_done(&c);
    ASSERT_INT_EQ(c.closes, 0);
    free(s);
}

static void
h_malformed(sc_t *c)
{
    if (!sc_read_head(c))
        return;
    sc_accept(c, "", 0);
    /* A masked frame: servers never mask. */
    const uint8_t bad[] = {0x81, 0x81, 1, 2, 3, 4, 'x' ^ 1};
    sc_write(c, bad, sizeof bad);
    char p[256];
    size_t pl;
    int op = sc_read_frame(c, p, sizeof p, &pl);
    c->s->ok = op == VPD_WS_OP_CLOSE && pl >= 2 && (uint8_t)p[0] == 0x03 &&
               (uint8_t)p[1] == 0xea; /* 1002 */
}

TEST(malformed_frame_closes_with_1002)
{
    srv_t *s = srv_start(h_malformed, 1);
    cl_t c;
    cl_start(&c, s);
    cl_connect(&c);
    RUN_UNTIL(&c, c.closes == 1);
    srv_join(s);
    ASSERT_INT_EQ(c.opens, 1);
    ASSERT(c.end.opened);
    ASSERT(!c.end.by_server);
    ASSERT_INT_EQ(c.end.code, VPD_WS_CLOSE_PROTOCOL);
    ASSERT(s->ok);
    cl_done(&c);
    free(s);
}

static void
h_drop(sc_t *c)
{
    if (!sc_read_head(c))
        return;
    sc_accept(c, "", 0);
    char p[256];
    size_t pl;
    /* The client's text, then the server vanishes mid-frame. */
    int op = sc_read_frame(c, p, sizeof p, &pl);
    c->s->ok = op == VPD_WS_OP_TEXT && strcmp(p, "hello server") == 0;
    sc_write(c, "\x81\x05hel", 5);
    usleep(20000);
}

TEST(text_sent_and_dropped_connection_is_1006)
{
    srv_t *s = srv_start(h_drop, 1);
    cl_t c;
    cl_start(&c, s);
    c.send_on_open = true;
    cl_connect(&c);
    RUN_UNTIL(&c, c.closes == 1);
    srv_join(s);
    ASSERT(s->ok);
    ASSERT_INT_EQ(c.n_msgs, 0);
    ASSERT(c.end.opened);
    ASSERT(!c.end.by_server);
    ASSERT_INT_EQ(c.end.code, VPD_WS_CLOSE_ABNORMAL);
    cl_done(&c);
    free(s);
}

TEST(unreachable_server_fails_the_handshake)
{
    srv_t *s = srv_start(h_drop, 0);
    srv_join(s); /* closed: nobody listens any more */
    cl_t c;
    cl_start(&c, s);
    cl_connect(&c);
    RUN_UNTIL(&c, c.closes == 1);
    ASSERT(!c.end.opened);
    ASSERT_INT_EQ(c.end.error, VPD_FWD_UNREACHABLE);
    ASSERT_INT_EQ(c.end.http_status, 0);
    cl_done(&c);
    free(s);
}

static void
h_hold(sc_t *c)
{
    if (!sc_read_head(c))
        return;
    usleep(300000);
}

TEST(close_during_handshake_cancels_quietly)
{
    srv_t *s = srv_start(h_hold, 1);
    cl_t c;
    cl_start(&c, s);
    cl_connect(&c);
    for (int i = 0; i < 20; i++) {
        uv_run(&c.loop, UV_RUN_NOWAIT);
        usleep(2000);
    }
    vpd_ws_close(c.ws, 1000, NULL);
    c.ws = NULL;
    cl_done(&c);
    ASSERT_INT_EQ(c.opens + c.closes, 0);
    srv_join(s);
    free(s);
}

int
main(void)
{
    unsetenv("http_proxy");
    unsetenv("https_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("HTTPS_PROXY");
    signal(SIGPIPE, SIG_IGN);
    return RUN_TESTS(T(accept_for_the_rfc_example),
                     T(handshake_messages_ping_and_server_close),
                     T(wrong_accept_is_refused),
                     T(refused_handshake_reports_status_and_body),
                     T(redirect_followed_and_client_close),
                     T(malformed_frame_closes_with_1002),
                     T(text_sent_and_dropped_connection_is_1006),
                     T(unreachable_server_fails_the_handshake),
                     T(close_during_handshake_cancels_quietly));
}
