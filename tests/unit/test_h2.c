/* Unit tests of the HTTP/2 session (core/http/h2_conn.h): an nghttp2
 * client session talks to a vpd_h2_conn in memory, with a fake listener
 * connection (the io table) and a fake router that keeps or answers the
 * requests it gets.  Covers the pseudo-header mapping, bodies, the answer's
 * headers, resets while the router holds a request, the bound on requests
 * held for reset streams, detaching, the SETTINGS timeout, and HEADERS
 * on stream ids out of order (raw frames, no client session), and how
 * answers are gathered into few sends (also through a real listener). */
#include "autoconf.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "base/buf.h"
#include "http/h2_conn.h"
#include "http/h2_ids.h"
#include "http/h2_pool.h"
#include "http/server.h"
#include "test.h"

/* ---- the fake connection and router ------------------------------------ */

#define MAX_HELD 600

static struct {
    uv_loop_t loop;
    vpd_h2_conn *h;
    vpd_buf to_client; /* what the server sent */
    size_t sends;      /* io->send calls */
    bool kick_defers;  /* io->kick leaves the flush to the test */
    bool eager;        /* io->eager's answer */
    vpd_http_req *held[MAX_HELD];
    size_t n_held, dispatched, released, gone_calls;
    bool answer_now; /* the router answers inside dispatch */
    nghttp2_session *cli;
    /* What the client saw, per stream (ids up to 1023). */
    int status[1024];
    vpd_buf body[1024];
    char headers[1024][512];
    uint32_t rst[1024];
    bool closed[1024];
    uint32_t goaway_code;
    bool got_goaway;
} F;

static void
io_send(void *arg, const uint8_t *data, size_t len)
{
    ASSERT_INT_EQ(vpd_buf_append(&F.to_client, (const char *)data, len), 0);
    F.sends++;
}

static size_t
io_backlog(void *arg)
{
    return 0;
}

static void
io_dispatch(void *arg, vpd_http_req *req)
{
    F.dispatched++;
    if (F.answer_now) {
        vpd_http_respond_error(req, 418, "teapot");
        return;
    }
    ASSERT(F.n_held < MAX_HELD);
    F.held[F.n_held++] = req;
}

static void
io_released(void *arg)
{
    F.released++;
}

static void
io_kick(void *arg)
{
    if (!F.kick_defers)
        vpd_h2_conn_flush(F.h);
}

static const char *
io_date(void *arg)
{
    return "Thu, 01 Jan 2026 00:00:00 GMT";
}

static bool
io_eager(void *arg)
{
    return F.eager;
}

static const vpd_h2_io IO = {io_send, io_backlog, io_dispatch, io_released,
                             io_kick, io_date,    io_eager};

/* vpd_http_respond is server.c's; these tests link the whole library, so
 * h2 requests reach vpd_h2_respond through it, as in the daemon. */

/* ---- the client -------------------------------------------------------- */

static int
cli_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
           size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *u)
{
    int32_t id = f->hd.stream_id;
    if (id <= 0 || id >= 1024)
        return 0;
    if (nl == 7 && memcmp(name, ":status", 7) == 0) {
        F.status[id] = atoi((const char *)value);
        return 0;
    }
    size_t used = strlen(F.headers[id]);
    snprintf(F.headers[id] + used, sizeof F.headers[id] - used, "%.*s=%.*s;",
             (int)nl, name, (int)vl, value);
    return 0;
}

static int
cli_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
         size_t len, void *u)
{
    if (id > 0 && id < 1024)
        vpd_buf_append(&F.body[id], (const char *)data, len);
    return 0;
}

static int
cli_frame(nghttp2_session *s, const nghttp2_frame *f, void *u)
{
    if (f->hd.type == NGHTTP2_GOAWAY) {
        F.got_goaway = true;
        F.goaway_code = f->goaway.error_code;
    }
    if (f->hd.type == NGHTTP2_RST_STREAM && f->hd.stream_id < 1024)
        F.rst[f->hd.stream_id] = f->rst_stream.error_code;
    return 0;
}

static int
cli_close(nghttp2_session *s, int32_t id, uint32_t code, void *u)
{
    if (id > 0 && id < 1024)
        F.closed[id] = true;
    return 0;
}

static void
setup(const char *peer, uint64_t header_ms)
{
    memset(&F, 0, sizeof F);
    ASSERT_INT_EQ(uv_loop_init(&F.loop), 0);
    vpd_h2_limits lim = {.loop = &F.loop,
                         .max_header = 8192,
                         .max_body = 4096,
                         .header_ms = header_ms,
                         .read_ms = 0,
                         .idle_ms = 0,
                         .peer = peer};
    F.h = vpd_h2_conn_new(&IO, NULL, &lim);
    ASSERT_NOT_NULL(F.h);
    nghttp2_session_callbacks *cb;
    ASSERT_INT_EQ(nghttp2_session_callbacks_new(&cb), 0);
    nghttp2_session_callbacks_set_on_header_callback(cb, cli_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, cli_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, cli_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, cli_close);
    ASSERT_INT_EQ(nghttp2_session_client_new(&F.cli, cb, NULL), 0);
    nghttp2_session_callbacks_del(cb);
    ASSERT_INT_EQ(nghttp2_submit_settings(F.cli, NGHTTP2_FLAG_NONE, NULL, 0),
                  0);
}

/* Moves bytes both ways until neither side has anything to say. */
static void
pump(void)
{
    for (int round = 0; round < 100; round++) {
        bool moved = false;
        const uint8_t *out;
        ssize_t n;
        while ((n = nghttp2_session_mem_send(F.cli, &out)) > 0) {
            vpd_h2_conn_recv(F.h, (const char *)out, (size_t)n);
            moved = true;
        }
        vpd_h2_conn_flush(F.h);
        if (F.to_client.len) {
            ASSERT(nghttp2_session_mem_recv(F.cli,
                                            (const uint8_t *)F.to_client.data,
                                            F.to_client.len) >= 0);
            vpd_buf_reset(&F.to_client);
            moved = true;
        }
        if (!moved)
            return;
    }
}

static void
teardown(void)
{
    if (F.h) {
        vpd_h2_conn_detach(F.h, true);
        vpd_h2_conn_free(F.h);
    }
    nghttp2_session_del(F.cli);
    vpd_buf_free(&F.to_client);
    for (int i = 0; i < 1024; i++)
        vpd_buf_free(&F.body[i]);
    uv_loop_close(&F.loop);
}

#define NV(n, v)                                                               \
    {                                                                          \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1,          \
            NGHTTP2_NV_FLAG_NONE                                               \
    }

static int32_t
get(const char *method, const char *path)
{
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), 0},
        NV(":scheme", "https"),
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0},
        NV(":authority", "vault.example:8200"),
        NV("x-vault-token", "s.abc"),
    };
    int32_t id = nghttp2_submit_request(F.cli, NULL, nv, 5, NULL, NULL);
    ASSERT(id > 0);
    return id;
}

static ssize_t
read_src(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
         uint32_t *flags, nghttp2_data_source *src, void *u)
{
    const char *p = src->ptr;
    size_t n = strlen(p);
    ASSERT(n <= len);
    memcpy(buf, p, n);
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* ---- tests --------------------------------------------------------------- */

TEST(get_maps_pseudo_headers)
{
    setup("10.0.0.1:5000", 0);
    int32_t id = get("GET", "/v1/secret/data/x?version=2");
    pump();
    ASSERT_INT_EQ(F.n_held, 1);
    vpd_http_req *r = F.held[0];
    ASSERT_STR_EQ(r->method, "GET");
    ASSERT_STR_EQ(r->target, "/v1/secret/data/x?version=2");
    ASSERT_STR_EQ(r->path, "/v1/secret/data/x");
    ASSERT_STR_EQ(r->query, "version=2");
    ASSERT_STR_EQ(vpd_hdrs_get(&r->headers, "Host", 0), "vault.example:8200");
    ASSERT_STR_EQ(vpd_hdrs_get(&r->headers, "X-Vault-Token", 0), "s.abc");
    ASSERT_INT_EQ(r->http_major, 2);
    ASSERT_STR_EQ(r->peer, "10.0.0.1:5000");
    ASSERT(vpd_h2_owns(r));
    ASSERT(!r->client_gone);
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "Content-Type", "application/json");
    vpd_hdrs_add(&h, "X-Cache", "HIT");
    vpd_hdrs_add(&h, "Age", "3");
    vpd_hdrs_add(&h, "Connection", "close");
    vpd_hdrs_add(&h, "Transfer-Encoding", "chunked");
    vpd_hdrs_add(&h, "Content-Length", "999");
    vpd_hdrs_add(&h, "X-Bad", "a\r\nInjected: yes");
    F.n_held = 0;
    vpd_http_respond(r, 200, &h, "{\"ok\":true}", 11);
    vpd_hdrs_free(&h);
    pump();
    ASSERT_INT_EQ(F.status[id], 200);
    ASSERT_STR_EQ(F.body[id].data, "{\"ok\":true}");
    ASSERT_STR_CONTAINS(F.headers[id], "content-type=application/json;");
    ASSERT_STR_CONTAINS(F.headers[id], "x-cache=HIT;");
    ASSERT_STR_CONTAINS(F.headers[id], "age=3;");
    ASSERT_STR_CONTAINS(F.headers[id], "content-length=11;");
    ASSERT_STR_CONTAINS(F.headers[id], "date=Thu, 01 Jan 2026");
    ASSERT(!strstr(F.headers[id], "connection"));
    ASSERT(!strstr(F.headers[id], "transfer-encoding"));
    ASSERT(!strstr(F.headers[id], "x-bad"));
    ASSERT(!strstr(F.headers[id], "999"));
    ASSERT_INT_EQ(F.released, 1);
    teardown();
}

/* More headers than the answer keeps room for on the stack: every one
 * still arrives, lower-cased, and the status and Date too. */
TEST(answer_with_many_headers)
{
    setup("p", 0);
    int32_t id = get("GET", "/v1/sys/health");
    pump();
    ASSERT_INT_EQ(F.n_held, 1);
    vpd_hdrs h = {0};
    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof name, "X-H%02d", i);
        vpd_hdrs_add(&h, name, "v");
    }
    vpd_http_respond(F.held[0], 203, &h, "x", 1);
    vpd_hdrs_free(&h);
    F.n_held = 0;
    pump();
    ASSERT_INT_EQ(F.status[id], 203);
    ASSERT_STR_CONTAINS(F.headers[id], "x-h00=v;");
    ASSERT_STR_CONTAINS(F.headers[id], "x-h23=v;");
    ASSERT_STR_CONTAINS(F.headers[id], "x-h39=v;");
    ASSERT_STR_CONTAINS(F.headers[id], "date=Thu, 01 Jan 2026");
    ASSERT_STR_CONTAINS(F.headers[id], "content-length=1;");
    ASSERT(!strstr(F.headers[id], "X-H"));
    teardown();
}

/* The pool hands a freed block out again, zeroed when asked, keeps no
 * more than its bound, and grows blocks with their contents. */
TEST(pool_recycles_within_its_bound)
{
    vpd_h2_pool pool = {0};
    char *a = vpd_h2_pool_alloc(&pool, 100);
    ASSERT_NOT_NULL(a);
    memset(a, 'x', 100);
    vpd_h2_pool_free(&pool, a);
    char *b = vpd_h2_pool_zalloc(&pool, 120); /* same class: same block */
    ASSERT(b == a);
    for (size_t i = 0; i < 120; i++)
        ASSERT_INT_EQ(b[i], 0);
    memcpy(b, "kept", 5);
    nghttp2_mem mem;
    vpd_h2_pool_mem(&pool, &mem);
    char *c = mem.realloc(b, 3000, mem.mem_user_data); /* beyond the classes */
    ASSERT_NOT_NULL(c);
    ASSERT_STR_EQ(c, "kept");
    ASSERT_INT_EQ(pool.kept[1], 1);              /* b went back to its list */
    c = mem.realloc(c, 2000, mem.mem_user_data); /* shrinking keeps it */
    ASSERT_STR_EQ(c, "kept");
    mem.free(c, mem.mem_user_data); /* a big block is not kept */
    size_t kept = 0;
    for (size_t i = 0; i < VPD_H2_POOL_CLASSES; i++)
        kept += pool.kept[i];
    ASSERT_INT_EQ(kept, 1);
    void *many[VPD_H2_POOL_KEEP + 8];
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++)
        ASSERT_NOT_NULL(many[i] = mem.calloc(4, 16, mem.mem_user_data));
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++)
        mem.free(many[i], mem.mem_user_data);
    ASSERT_INT_EQ(pool.kept[0], VPD_H2_POOL_KEEP);
    ASSERT(mem.calloc(SIZE_MAX / 2, 4, mem.mem_user_data) == NULL);
    vpd_h2_pool_clear(&pool);
    ASSERT_INT_EQ(pool.kept[0], 0);
    ASSERT(pool.free_list[0] == NULL && pool.free_list[1] == NULL);
}

/* A target with a fragment or a DEL never reaches the router: 400.  The
 * same target without them does. */
TEST(bad_bytes_in_the_target_are_400)
{
    setup("p", 0);
    int32_t hash = get("GET", "/v1/secret/data/x#frag");
    int32_t del = get("GET", "/v1/secret/data/\x7f");
    int32_t ok = get("GET", "/v1/secret/data/x~%20y");
    pump();
    ASSERT_INT_EQ(F.status[hash], 400);
    ASSERT_INT_EQ(F.status[del] == 400 || F.rst[del] != 0, 1);
    ASSERT_INT_EQ(F.n_held, 1);
    ASSERT_STR_EQ(F.held[0]->target, "/v1/secret/data/x~%20y");
    ASSERT_INT_EQ(F.status[ok], 0);
    vpd_http_respond(F.held[0], 204, NULL, NULL, 0);
    F.n_held = 0;
    pump();
    ASSERT_INT_EQ(F.status[ok], 204);
    teardown();
}

TEST(list_put_head)
{
    setup("p", 0);
    int32_t l = get("LIST", "/v1/secret/metadata/");
    int32_t hd = get("HEAD", "/v1/sys/health");
    nghttp2_nv nv[] = {NV(":method", "PUT"),
                       NV(":scheme", "https"),
                       NV(":path", "/v1/secret/data/y"),
                       NV(":authority", "a"),
                       NV("cookie", "a=1"),
                       NV("cookie", "b=2")};
    nghttp2_data_provider dp = {.source.ptr = "{\"data\":{\"k\":\"v\"}}",
                                .read_callback = read_src};
    int32_t p = nghttp2_submit_request(F.cli, NULL, nv, 6, &dp, NULL);
    pump();
    ASSERT_INT_EQ(F.n_held, 3);
    vpd_http_req *rl = NULL, *rh = NULL, *rp = NULL;
    for (size_t i = 0; i < 3; i++) {
        vpd_http_req *r = F.held[i];
        if (!strcmp(r->method, "LIST"))
            rl = r;
        else if (!strcmp(r->method, "HEAD"))
            rh = r;
        else if (!strcmp(r->method, "PUT"))
            rp = r;
    }
    ASSERT(rl && rh && rp);
    ASSERT_STR_EQ(rl->path, "/v1/secret/metadata/");
    ASSERT_STR_EQ(rp->body, "{\"data\":{\"k\":\"v\"}}");
    ASSERT_INT_EQ(rp->body_len, 18);
    ASSERT_STR_EQ(vpd_hdrs_get(&rp->headers, "Host", 0), "a");
    ASSERT_INT_EQ(vpd_hdrs_count(&rp->headers, "Cookie"), 1);
    ASSERT_STR_EQ(vpd_hdrs_get(&rp->headers, "Cookie", 0), "a=1; b=2");
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "Content-Length", "42");
    vpd_http_respond(rh, 200, &h, "ignored", 7);
    vpd_hdrs_free(&h);
    vpd_http_respond(rl, 404, NULL, NULL, 0);
    vpd_http_respond(rp, 204, NULL, NULL, 0);
    pump();
    ASSERT_INT_EQ(F.status[hd], 200);
    ASSERT_INT_EQ(F.body[hd].len, 0);
    ASSERT_STR_CONTAINS(F.headers[hd], "content-length=42;");
    ASSERT_INT_EQ(F.status[l], 404);
    ASSERT_INT_EQ(F.status[p], 204);
    ASSERT(!strstr(F.headers[p], "content-length"));
    teardown();
}

static vpd_http_req *gone_req;

static void
on_gone(vpd_http_req *req, void *arg)
{
    F.gone_calls++;
    gone_req = req;
    ASSERT(req->client_gone);
}

TEST(reset_while_held_then_answer_frees)
{
    setup("p", 0);
    int32_t id = get("GET", "/v1/slow");
    pump();
    ASSERT_INT_EQ(F.n_held, 1);
    vpd_http_on_client_gone(F.held[0], on_gone, NULL);
    nghttp2_submit_rst_stream(F.cli, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    pump();
    ASSERT_INT_EQ(F.gone_calls, 1);
    ASSERT(gone_req == F.held[0]);
    ASSERT(F.held[0]->client_gone);
    ASSERT_INT_EQ(F.released, 0); /* still with the router */
    vpd_h2_counters c;
    vpd_h2_counters_get(&c);
    ASSERT(c.peer_resets >= 1);
    vpd_http_respond(F.held[0], 200, NULL, "late", 4);
    ASSERT_INT_EQ(F.released, 1);
    pump();
    ASSERT_INT_EQ(F.status[id], 0);
    /* Reset, then the connection goes, then the router answers: the
     * request must not point at the freed connection. */
    int32_t id2 = get("GET", "/v1/slow2");
    pump();
    ASSERT_INT_EQ(F.n_held, 2);
    nghttp2_submit_rst_stream(F.cli, NGHTTP2_FLAG_NONE, id2, NGHTTP2_CANCEL);
    pump();
    vpd_h2_conn_detach(F.h, true);
    ASSERT_INT_EQ(F.released, 2);
    vpd_h2_conn_free(F.h);
    F.h = NULL;
    vpd_http_respond(F.held[1], 200, NULL, "later", 5);
    ASSERT_INT_EQ(F.released, 2);
    teardown();
}

/* Streams reset by the client still count while the router works on
 * them: past the stream limit, new requests are refused. */
TEST(reset_streams_count_against_the_limit)
{
    setup("p", 0);
    for (int i = 0; i < VPD_H2_MAX_STREAMS; i++) {
        int32_t id = get("GET", "/v1/slow");
        pump();
        nghttp2_submit_rst_stream(F.cli, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        pump();
    }
    ASSERT_INT_EQ(F.n_held, VPD_H2_MAX_STREAMS);
    int32_t id = get("GET", "/v1/one-more");
    pump();
    ASSERT_INT_EQ(F.n_held, VPD_H2_MAX_STREAMS);
    ASSERT_INT_EQ(F.rst[id], NGHTTP2_REFUSED_STREAM);
    /* One answer frees a place. */
    vpd_http_respond(F.held[0], 200, NULL, NULL, 0);
    int32_t id2 = get("GET", "/v1/now");
    pump();
    ASSERT_INT_EQ(F.n_held, VPD_H2_MAX_STREAMS + 1);
    ASSERT_INT_EQ(F.rst[id2], 0);
    for (size_t i = 1; i < F.n_held; i++)
        vpd_http_respond(F.held[i], 200, NULL, NULL, 0);
    teardown();
}

TEST(detach_marks_requests_gone)
{
    setup("p", 0);
    get("GET", "/v1/a");
    get("GET", "/v1/b");
    pump();
    ASSERT_INT_EQ(F.n_held, 2);
    vpd_http_on_client_gone(F.held[0], on_gone, NULL);
    vpd_h2_conn_detach(F.h, true);
    ASSERT_INT_EQ(F.gone_calls, 1);
    ASSERT(F.held[0]->client_gone && F.held[1]->client_gone);
    ASSERT_INT_EQ(F.released, 2);
    vpd_http_respond(F.held[0], 200, NULL, "x", 1);
    vpd_http_respond_error(F.held[1], 500, "late");
    ASSERT_INT_EQ(F.released, 2);
    teardown();
}

TEST(sync_answer_and_body_limit)
{
    setup("p", 0);
    F.answer_now = true;
    int32_t id = get("GET", "/v1/x");
    pump();
    ASSERT_INT_EQ(F.status[id], 418);
    ASSERT_STR_CONTAINS(F.body[id].data, "teapot");
    /* A body over max_body (4096) is answered 413 and never dispatched. */
    static char big[6000];
    memset(big, 'a', sizeof big - 1);
    nghttp2_nv nv[] = {NV(":method", "PUT"), NV(":scheme", "https"),
                       NV(":path", "/v1/big"), NV(":authority", "a")};
    nghttp2_data_provider dp = {.source.ptr = big, .read_callback = read_src};
    size_t before = F.dispatched;
    int32_t p = nghttp2_submit_request(F.cli, NULL, nv, 4, &dp, NULL);
    pump();
    ASSERT_INT_EQ(F.status[p], 413);
    ASSERT_INT_EQ(F.dispatched, before);
    teardown();
}

TEST(header_list_over_the_limit_is_431)
{
    setup("p", 0);
    static char v[9000];
    memset(v, 'v', sizeof v - 1);
    nghttp2_nv nv[] = {NV(":method", "GET"),
                       NV(":scheme", "https"),
                       NV(":path", "/v1/h"),
                       NV(":authority", "a"),
                       {(uint8_t *)"x-big", (uint8_t *)v, 5, strlen(v), 0}};
    int32_t id = nghttp2_submit_request(F.cli, NULL, nv, 5, NULL, NULL);
    pump();
    ASSERT_INT_EQ(F.status[id], 431);
    ASSERT_INT_EQ(F.dispatched, 0);
    teardown();
}

TEST(settings_timeout_and_goaway)
{
    setup("p", 1);
    ASSERT(vpd_h2_conn_deadline(F.h) > 0);
    usleep(5000);
    uv_update_time(&F.loop);
    vpd_h2_conn_timeout(F.h);
    vpd_h2_conn_flush(F.h);
    /* The client never sent its preface; skip ours and read the frames
     * the server sent. */
    ASSERT_INT_EQ(nghttp2_session_mem_recv(F.cli,
                                           (const uint8_t *)F.to_client.data,
                                           F.to_client.len),
                  (ssize_t)F.to_client.len);
    ASSERT(F.got_goaway);
    ASSERT_INT_EQ(F.goaway_code, NGHTTP2_SETTINGS_TIMEOUT);
    ASSERT(vpd_h2_conn_done(F.h, false));
    teardown();
    /* Graceful: GOAWAY NO_ERROR, the open stream still answered. */
    setup("p", 0);
    int32_t id = get("GET", "/v1/a");
    pump();
    vpd_h2_conn_goaway(F.h);
    pump();
    ASSERT(F.got_goaway);
    ASSERT_INT_EQ(F.goaway_code, NGHTTP2_NO_ERROR);
    ASSERT(!vpd_h2_conn_done(F.h, false));
    vpd_http_respond(F.held[0], 200, NULL, "ok", 2);
    pump();
    ASSERT_INT_EQ(F.status[id], 200);
    ASSERT(vpd_h2_conn_done(F.h, false));
    teardown();
}

/* Idle means no stream open and nothing with the router: what the
 * listener may close at its connection limit, after a GOAWAY NO_ERROR. */
TEST(idle_and_evict)
{
    setup("p", 0);
    ASSERT(vpd_h2_conn_idle(F.h));
    int32_t id = get("GET", "/v1/a");
    pump();
    ASSERT(!vpd_h2_conn_idle(F.h));
    nghttp2_submit_rst_stream(F.cli, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    pump();
    ASSERT(!vpd_h2_conn_idle(F.h)); /* the router still has it */
    vpd_http_respond(F.held[0], 200, NULL, NULL, 0);
    pump();
    ASSERT(vpd_h2_conn_idle(F.h));
    vpd_h2_conn_evict(F.h);
    ASSERT(F.to_client.len > 0); /* handed over at once */
    pump();
    ASSERT(F.got_goaway);
    ASSERT_INT_EQ(F.goaway_code, NGHTTP2_NO_ERROR);
    ASSERT(vpd_h2_conn_done(F.h, false));
    teardown();
}

/* ---- raw frames: what a well-behaved nghttp2 client never sends ------- */

static void
raw_frame(uint8_t type, uint8_t flags, int32_t id, const void *payload,
          size_t len)
{
    uint8_t hd[9] = {(uint8_t)(len >> 16),
                     (uint8_t)(len >> 8),
                     (uint8_t)len,
                     type,
                     flags,
                     (uint8_t)(id >> 24),
                     (uint8_t)(id >> 16),
                     (uint8_t)(id >> 8),
                     (uint8_t)id};
    vpd_h2_conn_recv(F.h, (const char *)hd, sizeof hd);
    if (len)
        vpd_h2_conn_recv(F.h, payload, len);
}

/* The client preface and an empty SETTINGS. */
static void
raw_start(void)
{
    vpd_h2_conn_recv(F.h, VPD_H2_PREFACE, VPD_H2_PREFACE_LEN);
    raw_frame(NGHTTP2_SETTINGS, 0, 0, NULL, 0);
}

/* One HPACK literal without indexing and without Huffman coding (names
 * and values under 127 bytes). */
static size_t
hpack_literal(uint8_t *out, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    out[0] = 0;
    out[1] = (uint8_t)nl;
    memcpy(out + 2, name, nl);
    out[2 + nl] = (uint8_t)vl;
    memcpy(out + 3 + nl, value, vl);
    return 3 + nl + vl;
}

/* A GET on `id`, ending the stream when `end` is set. */
static void
raw_get(int32_t id, const char *path, bool end)
{
    uint8_t block[256];
    size_t n = 0;
    n += hpack_literal(block + n, ":method", "GET");
    n += hpack_literal(block + n, ":scheme", "https");
    n += hpack_literal(block + n, ":path", path);
    n += hpack_literal(block + n, ":authority", "a");
    raw_frame(NGHTTP2_HEADERS,
              NGHTTP2_FLAG_END_HEADERS | (end ? NGHTTP2_FLAG_END_STREAM : 0),
              id, block, n);
}

static void
raw_trailers(int32_t id)
{
    uint8_t block[64];
    size_t n = hpack_literal(block, "x-trailer", "t");
    raw_frame(NGHTTP2_HEADERS,
              NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, id, block, n);
}

/* The GOAWAY among the frames the server sent so far: its error code and
 * last stream id; false when there is none. */
static bool
sent_goaway(uint32_t *code, int32_t *last)
{
    vpd_h2_conn_flush(F.h);
    const uint8_t *p = (const uint8_t *)F.to_client.data;
    size_t left = F.to_client.len;
    while (left >= 9) {
        size_t len = (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2];
        ASSERT(left >= 9 + len);
        if (p[3] == NGHTTP2_GOAWAY && len >= 8) {
            *last =
                (int32_t)((uint32_t)(p[9] & 0x7f) << 24 |
                          (uint32_t)p[10] << 16 | (uint32_t)p[11] << 8 | p[12]);
            *code = (uint32_t)p[13] << 24 | (uint32_t)p[14] << 16 |
                    (uint32_t)p[15] << 8 | p[16];
            return true;
        }
        p += 9 + len;
        left -= 9 + len;
    }
    return false;
}

/* A new stream's id must be above every id the client used: HEADERS on
 * an id it skipped is a connection error PROTOCOL_ERROR, and that stream
 * is never dispatched. */
TEST(headers_on_a_skipped_id_is_protocol_error)
{
    setup("p", 0);
    raw_start();
    raw_get(5, "/v1/five", true);
    ASSERT_INT_EQ(F.n_held, 1);
    uint32_t code;
    int32_t last;
    ASSERT(!sent_goaway(&code, &last));
    raw_get(3, "/v1/three", true);
    ASSERT(sent_goaway(&code, &last));
    ASSERT_INT_EQ(code, NGHTTP2_PROTOCOL_ERROR);
    ASSERT_INT_EQ(last, 5);
    ASSERT_INT_EQ(F.dispatched, 1);
    /* Nothing more is read. */
    raw_get(7, "/v1/seven", true);
    ASSERT_INT_EQ(F.dispatched, 1);
    vpd_http_respond(F.held[0], 200, NULL, NULL, 0);
    teardown();
    /* The first id already counts: 3 first leaves 1 skipped. */
    setup("p", 0);
    raw_start();
    raw_get(3, "/v1/three", true);
    raw_get(1, "/v1/one", true);
    ASSERT(sent_goaway(&code, &last));
    ASSERT_INT_EQ(code, NGHTTP2_PROTOCOL_ERROR);
    ASSERT_INT_EQ(F.dispatched, 1);
    vpd_http_respond(F.held[0], 200, NULL, NULL, 0);
    teardown();
}

/* Ids the client did open keep nghttp2's handling: trailers on an open
 * stream below the highest id complete its request, and HEADERS again on
 * a stream whose request is complete is STREAM_CLOSED, not ours. */
TEST(headers_on_an_opened_id_keep_nghttp2s_handling)
{
    setup("p", 0);
    raw_start();
    raw_get(1, "/v1/with-trailers", false);
    raw_get(3, "/v1/three", true);
    raw_get(9, "/v1/nine", true);
    ASSERT_INT_EQ(F.dispatched, 2);
    raw_trailers(1);
    uint32_t code;
    int32_t last;
    ASSERT(!sent_goaway(&code, &last));
    ASSERT_INT_EQ(F.dispatched, 3);
    raw_get(3, "/v1/three-again", true);
    ASSERT(sent_goaway(&code, &last));
    ASSERT_INT_EQ(code, NGHTTP2_STREAM_CLOSED);
    ASSERT_INT_EQ(F.dispatched, 3);
    for (size_t i = 0; i < F.n_held; i++)
        vpd_http_respond(F.held[i], 200, NULL, NULL, 0);
    teardown();
}

/* A late HEADERS for a stream that was answered and closed is not a
 * skipped id: nghttp2 ignores it, or ends the connection with
 * STREAM_CLOSED while it remembers the stream; never our PROTOCOL_ERROR. */
TEST(late_headers_on_a_closed_stream_are_not_protocol_error)
{
    setup("p", 0);
    F.answer_now = true;
    raw_start();
    for (int32_t id = 1; id <= 41; id += 2)
        raw_get(id, "/v1/x", true);
    ASSERT_INT_EQ(F.dispatched, 21);
    raw_trailers(1);
    uint32_t code = 0;
    int32_t last;
    if (sent_goaway(&code, &last))
        ASSERT_INT_EQ(code, NGHTTP2_STREAM_CLOSED);
    teardown();
}

/* Ids fed one after the other and what each must be classified as. */
typedef struct {
    int32_t id;
    vpd_h2_id_kind kind;
} id_step;

static void
feed_ids(vpd_h2_ids *t, const id_step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ASSERT_INT_EQ(vpd_h2_ids_headers(t, steps[i].id), steps[i].kind);
}

TEST(id_record_bounds_its_gaps)
{
    vpd_h2_ids t = {0};
    static const id_step start[] = {
        {2, VPD_H2_ID_USED}, /* the server's */
        {0, VPD_H2_ID_USED},         {1, VPD_H2_ID_NEW},
        {3, VPD_H2_ID_NEW},          {1, VPD_H2_ID_USED},
        {9, VPD_H2_ID_NEW}, /* 5 and 7 skipped */
        {5, VPD_H2_ID_NEVER_OPENED}, {7, VPD_H2_ID_NEVER_OPENED},
        {9, VPD_H2_ID_USED},         {11, VPD_H2_ID_NEW},
    };
    feed_ids(&t, start, sizeof start / sizeof start[0]);
    ASSERT_INT_EQ(t.n_gaps, 1);
    /* Every other id from here: one gap each, the oldest forgotten. */
    for (int32_t id = 15; id < 15 + 4 * VPD_H2_IDS_GAPS; id += 4)
        ASSERT_INT_EQ(vpd_h2_ids_headers(&t, id), VPD_H2_ID_NEW);
    ASSERT_INT_EQ(t.n_gaps, VPD_H2_IDS_GAPS);
    static const id_step after[] = {
        {5, VPD_H2_ID_USED},
        {13, VPD_H2_ID_NEVER_OPENED},
        {15, VPD_H2_ID_USED},
        {17, VPD_H2_ID_NEVER_OPENED},
        {0x7fffffff, VPD_H2_ID_NEW}, /* the highest a client may use */
        {0x7ffffffd, VPD_H2_ID_NEVER_OPENED},
    };
    feed_ids(&t, after, sizeof after / sizeof after[0]);
}

/* An answer's HEADERS and its small DATA frame leave in one send, and so
 * do the answers of several streams flushed together. */
TEST(answers_flushed_together_are_one_send)
{
    setup("p", 0);
    pump();
    int32_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = get("GET", "/v1/secret/data/x");
    pump();
    ASSERT_INT_EQ(F.n_held, 5);
    F.sends = 0;
    vpd_http_respond(F.held[0], 200, NULL, "{\"one\":1}", 9);
    ASSERT_INT_EQ(F.sends, 1); /* io_kick flushed: HEADERS and DATA */
    ASSERT(nghttp2_session_mem_recv(F.cli, (const uint8_t *)F.to_client.data,
                                    F.to_client.len) >= 0);
    vpd_buf_reset(&F.to_client);
    ASSERT_INT_EQ(F.status[ids[0]], 200);
    ASSERT_STR_EQ(F.body[ids[0]].data, "{\"one\":1}");
    ASSERT(F.closed[ids[0]]);
    /* Four answers submitted before one flush (the listener's kick waits
     * for the end of the loop turn): one send. */
    F.sends = 0;
    F.kick_defers = true;
    for (int i = 1; i < 5; i++)
        vpd_http_respond(F.held[i], 200, NULL, "{}", 2);
    ASSERT_INT_EQ(F.sends, 0);
    vpd_h2_conn_flush(F.h);
    ASSERT_INT_EQ(F.sends, 1);
    pump();
    for (int i = 1; i < 5; i++) {
        ASSERT_INT_EQ(F.status[ids[i]], 200);
        ASSERT_STR_EQ(F.body[ids[i]].data, "{}");
    }
    F.n_held = 0;
    teardown();
}

/* What the client session has to send, gathered into one buffer. */
static void
client_bytes(vpd_buf *out)
{
    const uint8_t *p;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(F.cli, &p)) > 0)
        ASSERT_INT_EQ(vpd_buf_append(out, (const char *)p, (size_t)n), 0);
}

#define EAGER_STREAMS 5

/* Four GETs and a PUT with a body (HEADERS, then DATA with END_STREAM),
 * all answered by the router while they are read, as a cache hit is. */
static void
eager_requests(int32_t ids[EAGER_STREAMS])
{
    for (int i = 0; i < EAGER_STREAMS - 1; i++)
        ids[i] = get("GET", "/v1/database/creds/app");
    nghttp2_nv nv[] = {NV(":method", "PUT"), NV(":scheme", "https"),
                       NV(":path", "/v1/kv/x"), NV(":authority", "a")};
    nghttp2_data_provider dp = {.source.ptr = "{\"a\":1}",
                                .read_callback = read_src};
    ids[EAGER_STREAMS - 1] =
        nghttp2_submit_request(F.cli, NULL, nv, 4, &dp, NULL);
    ASSERT(ids[EAGER_STREAMS - 1] > 0);
}

/* Hands what the server sent to the client and checks every answer. */
static void
eager_check(const int32_t ids[EAGER_STREAMS])
{
    ASSERT(nghttp2_session_mem_recv(F.cli, (const uint8_t *)F.to_client.data,
                                    F.to_client.len) >= 0);
    vpd_buf_reset(&F.to_client);
    for (int i = 0; i < EAGER_STREAMS; i++) {
        ASSERT_INT_EQ(F.status[ids[i]], 418);
        ASSERT_STR_CONTAINS(F.body[ids[i]].data, "teapot");
        ASSERT(F.closed[ids[i]]);
    }
}

/* Requests answered while they are read leave one send per answer when
 * io->eager says the client waits for them (it gets to work on the first
 * while the rest are made), and one send for all when it does not.  The
 * frames are followed across reads split anywhere, also through reads
 * that were not eager, so that an eager read still finds each frame's
 * end. */
TEST(eager_answers_leave_one_by_one)
{
    setup("p", 0);
    pump();
    F.answer_now = true;
    F.kick_defers = true; /* as the listener: the flush is the caller's */
    int32_t ids[EAGER_STREAMS];

    /* One read holding every request. */
    for (int eager = 0; eager < 2; eager++) {
        eager_requests(ids);
        vpd_buf in = {0};
        client_bytes(&in);
        F.eager = eager;
        F.sends = 0;
        vpd_h2_conn_recv(F.h, in.data, in.len);
        ASSERT_INT_EQ(F.sends, eager ? EAGER_STREAMS : 0);
        vpd_h2_conn_flush(F.h);
        ASSERT_INT_EQ(F.sends, eager ? EAGER_STREAMS : 1);
        eager_check(ids);
        vpd_buf_free(&in);
    }

    /* Reads of 1, 2, 7 and 10 bytes, eager: still one send per answer. */
    static const size_t sizes[] = {1, 2, 7, 10};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        eager_requests(ids);
        vpd_buf in = {0};
        client_bytes(&in);
        F.eager = true;
        F.sends = 0;
        for (size_t off = 0; off < in.len; off += sizes[k]) {
            size_t n = in.len - off < sizes[k] ? in.len - off : sizes[k];
            vpd_h2_conn_recv(F.h, in.data + off, n);
        }
        ASSERT_INT_EQ(F.sends, EAGER_STREAMS);
        eager_check(ids);
        vpd_buf_free(&in);
    }

    /* A read that was not eager ends inside the first frame; the eager
     * read after it still answers stream by stream. */
    eager_requests(ids);
    vpd_buf in = {0};
    client_bytes(&in);
    ASSERT(in.len > 13);
    F.eager = false;
    F.sends = 0;
    vpd_h2_conn_recv(F.h, in.data, 13);
    F.eager = true;
    vpd_h2_conn_recv(F.h, in.data + 13, in.len - 13);
    ASSERT_INT_EQ(F.sends, EAGER_STREAMS);
    eager_check(ids);
    vpd_buf_free(&in);
    teardown();
}

/* ---- through a real listener (h2c with prior knowledge) ----------------- */

#define LISTENER_STREAMS 10

static struct {
    vpd_http_req *held[LISTENER_STREAMS];
    size_t n_held;
    bool closed;
} L;

static void
hold_handler(vpd_http_req *req, void *arg)
{
    ASSERT(L.n_held < LISTENER_STREAMS);
    L.held[L.n_held++] = req;
}

static void
on_srv_closed(void *arg)
{
    L.closed = true;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One turn of the server's loop, then the client's bytes both ways. */
static void
listener_turn(int fd)
{
    uv_run(&F.loop, UV_RUN_NOWAIT);
    const uint8_t *out;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(F.cli, &out)) > 0)
        ASSERT_INT_EQ(send(fd, out, (size_t)n, 0), n);
    char buf[16384];
    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        ASSERT(nghttp2_session_mem_recv(F.cli, (const uint8_t *)buf,
                                        (size_t)n) >= 0);
}

/* Turns until cond holds; fails after 5 seconds. */
#define TURN_UNTIL(fd, cond)                                                   \
    do {                                                                       \
        uint64_t until_ = now_ms() + 5000;                                     \
        while (!(cond)) {                                                      \
            ASSERT(now_ms() < until_);                                         \
            listener_turn(fd);                                                 \
            usleep(200);                                                       \
        }                                                                      \
    } while (0)

static int
listener_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_INT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd; /* the client session sends the preface itself */
}

/* Streams the router answers in one loop turn (as when several upstream
 * replies come in one batch of events) leave in one send: one TLS record
 * run and one write for all of them, not one per stream.  A connection
 * closed while its answers wait for the flush, and a server closed then,
 * leave nothing behind (the sanitizer build checks the memory). */
TEST(listener_gathers_the_answers_of_one_turn)
{
    setup("p", 0);
    memset(&L, 0, sizeof L);
    vpd_listener_config lc = {.type = VPD_LISTEN_TCP,
                              .address = "127.0.0.1:0",
                              .tls_disable = true,
                              .http2_prior_knowledge = true,
                              .read_timeout_ms = 5000,
                              .idle_timeout_ms = 5000};
    vpd_config cfg = {.listeners = &lc, .n_listeners = 1};
    char err[256] = "";
    vpd_server *srv =
        vpd_server_start(&F.loop, &cfg, hold_handler, NULL, err, sizeof err);
    if (!srv)
        TEST_FAIL_("vpd_server_start: %s", err);
    int fd = listener_connect(vpd_server_port(srv, 0));
    int32_t ids[LISTENER_STREAMS];
    for (int i = 0; i < LISTENER_STREAMS; i++)
        ids[i] = get("GET", "/v1/secret/data/x");
    TURN_UNTIL(fd, L.n_held == LISTENER_STREAMS);

    vpd_h2_counters before, after;
    vpd_h2_counters_get(&before);
    for (int i = 0; i < LISTENER_STREAMS; i++) {
        char body[32];
        int n = snprintf(body, sizeof body, "{\"stream\":%d}", ids[i]);
        vpd_http_respond(L.held[i], 200, NULL, body, (size_t)n);
    }
    vpd_h2_counters_get(&after);
    ASSERT_INT_EQ(after.sends - before.sends, 0); /* nothing yet */
    TURN_UNTIL(fd, F.closed[ids[LISTENER_STREAMS - 1]]);
    vpd_h2_counters_get(&after);
    ASSERT_INT_EQ(after.sends - before.sends, 1);
    for (int i = 0; i < LISTENER_STREAMS; i++) {
        char want[32];
        snprintf(want, sizeof want, "{\"stream\":%d}", ids[i]);
        ASSERT_INT_EQ(F.status[ids[i]], 200);
        ASSERT_STR_EQ(F.body[ids[i]].data, want);
    }

    /* Answers queued for the flush, then the server closes before the
     * loop turns: the connection leaves the queue as it closes. */
    L.n_held = 0;
    int32_t last[2];
    for (int i = 0; i < 2; i++)
        last[i] = get("GET", "/v1/secret/data/y");
    TURN_UNTIL(fd, L.n_held == 2);
    vpd_http_respond(L.held[0], 200, NULL, "{}", 2);
    vpd_server_close(srv, on_srv_closed, NULL);
    vpd_http_respond(L.held[1], 200, NULL, "{}", 2); /* only freed */
    TURN_UNTIL(fd, L.closed);
    ASSERT(!F.closed[last[0]] || F.status[last[0]] == 200);
    close(fd);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    teardown();
}

int
main(void)
{
    return RUN_TESTS(
        T(get_maps_pseudo_headers), T(answer_with_many_headers),
        T(pool_recycles_within_its_bound), T(bad_bytes_in_the_target_are_400),
        T(list_put_head), T(reset_while_held_then_answer_frees),
        T(reset_streams_count_against_the_limit), T(detach_marks_requests_gone),
        T(sync_answer_and_body_limit), T(header_list_over_the_limit_is_431),
        T(settings_timeout_and_goaway),
        T(headers_on_a_skipped_id_is_protocol_error),
        T(headers_on_an_opened_id_keep_nghttp2s_handling),
        T(late_headers_on_a_closed_stream_are_not_protocol_error),
        T(id_record_bounds_its_gaps), T(idle_and_evict),
        T(answers_flushed_together_are_one_send),
        T(eager_answers_leave_one_by_one),
        T(listener_gathers_the_answers_of_one_turn));
}
