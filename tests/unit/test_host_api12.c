/* The host table's ABI 1.2 members on the daemon's side: timers on a real
 * loop (one-shot, repeating, stopped from their callback, cancelled with
 * their instance), reauth's registration, the JSON getters and builder,
 * and fetch against a loopback server (answer, size bound, cancel). */
#include "autoconf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/secmem.h"
#include "plugin/fetch.h"
#include "plugin/host_table.h"
#include "plugin/plugin_instance.h"
#include "plugin/reauth.h"
#include "plugin/timers.h"
#include "test.h"

static uv_loop_t loop;
/* A real vpd_instance around the plugin's view: set_error and log reach
 * into the core's side of it. */
static vpd_instance core_inst = {.kind = VP_KIND_AUTH};
#define inst (core_inst.pub)
static const vp_host_api_t *host;

static void
setup(void)
{
    uv_loop_init(&loop);
    host = vpd_host_api();
    inst = (vp_instance_t){.host = host, .name = "t", .size = sizeof inst};
    core_inst.last_error[0] = '\0';
    vpd_plugin_timers_set_loop(&loop);
    vpd_plugin_fetch_set_loop(&loop);
}

static void
teardown(void)
{
    vpd_plugin_timers_shutdown();
    vpd_plugin_fetch_shutdown();
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(uv_loop_close(&loop), 0);
}

/* ---- timers ------------------------------------------------------------- */

static int fired;
static vp_timer_t *self_stopping;

static void
count_fire(vp_instance_t *i, void *arg)
{
    ASSERT(i == &inst);
    ASSERT(arg == &fired);
    fired++;
}

static void
count_other(vp_instance_t *i, void *arg)
{
    ASSERT(i != &inst);
    ASSERT(arg == &fired);
    fired += 100;
}

static void
stop_after_three(vp_instance_t *i, void *arg)
{
    (void)i;
    (void)arg;
    if (++fired == 3)
        host->timer_stop(self_stopping);
}

TEST(a_one_shot_timer_fires_once)
{
    setup();
    fired = 0;
    ASSERT(VP_HOST_HAS(host, timer_start));
    ASSERT_NOT_NULL(host->timer_start(&inst, 5, 0, count_fire, &fired));
    uv_run(&loop, UV_RUN_DEFAULT); /* returns when nothing is left */
    ASSERT_INT_EQ(fired, 1);
    teardown();
}

TEST(a_repeating_timer_runs_until_stopped_from_its_callback)
{
    setup();
    fired = 0;
    self_stopping = host->timer_start(&inst, 1, 1, stop_after_three, NULL);
    ASSERT_NOT_NULL(self_stopping);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(fired, 3);
    teardown();
}

TEST(destroying_an_instance_cancels_its_timers_only)
{
    setup();
    fired = 0;
    vp_instance_t other = inst;
    host->timer_start(&inst, 1, 1, count_fire, &fired);
    host->timer_start(&other, 1, 0, count_other, &fired);
    vpd_plugin_timers_cancel(&inst);
    /* Only the other instance's one-shot is left: the loop ends after it
     * (a repeating timer left running would keep it going until the
     * test's alarm). */
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(fired, 100);
    teardown();
}

TEST(no_timer_without_a_loop)
{
    vpd_plugin_timers_set_loop(NULL);
    ASSERT_NULL(vpd_host_api()->timer_start(&inst, 1, 0, count_fire, NULL));
}

/* ---- reauth ------------------------------------------------------------- */

static int reauth_calls;

static void
on_reauth(void *arg)
{
    ASSERT(arg == &reauth_calls);
    reauth_calls++;
}

TEST(reauth_reaches_the_registered_method_only)
{
    vp_instance_t a = {0}, b = {0};
    const vp_host_api_t *h = vpd_host_api();
    ASSERT_INT_EQ(h->reauth(&a), VP_ENOTSUP);
    vpd_plugin_reauth_register(&a, on_reauth, &reauth_calls);
    ASSERT_INT_EQ(h->reauth(&a), 0);
    ASSERT_INT_EQ(h->reauth(&b), VP_ENOTSUP);
    ASSERT_INT_EQ(reauth_calls, 1);
    vpd_plugin_reauth_unregister(&b);
    ASSERT_INT_EQ(h->reauth(&a), 0);
    vpd_plugin_reauth_unregister(&a);
    ASSERT_INT_EQ(h->reauth(&a), VP_ENOTSUP);
    ASSERT_INT_EQ(reauth_calls, 2);
}

/* ---- JSON --------------------------------------------------------------- */

static const char doc_text[] =
    "{\"auth\":{\"lease_duration\":3600,\"renewable\":true,"
    "\"policies\":[\"a\",\"b\"],\"metadata\":{\"role\":\"dev\"}},"
    "\"ratio\":0.5,\"big\":1e300,\"frac\":2.5,\"none\":null,"
    "\"keys\":[{\"kid\":\"k1\"},{\"kid\":\"k2\"}]}";

TEST(typed_getters_read_nested_values)
{
    const vp_host_api_t *h = vpd_host_api();
    vp_json_t *doc = NULL;
    ASSERT_INT_EQ(h->json_parse(doc_text, strlen(doc_text), &doc), 0);
    int64_t n = 0;
    ASSERT_INT_EQ(h->json_get_int(doc, "auth.lease_duration", &n), 0);
    ASSERT_INT_EQ(n, 3600);
    int b = 0;
    ASSERT_INT_EQ(h->json_get_bool(doc, "auth.renewable", &b), 0);
    ASSERT_INT_EQ(b, 1);
    double d = 0;
    ASSERT_INT_EQ(h->json_get_number(doc, "ratio", &d), 0);
    ASSERT(d == 0.5);
    ASSERT_INT_EQ(h->json_get_int(doc, "frac", &n), VP_EINVAL);
    ASSERT_INT_EQ(h->json_get_int(doc, "big", &n), VP_EINVAL);
    ASSERT_INT_EQ(h->json_get_int(doc, "auth.nothing", &n), VP_ENOENT);
    ASSERT_INT_EQ(h->json_get_bool(doc, "ratio", &b), VP_EINVAL);
    size_t len = 0;
    ASSERT_INT_EQ(h->json_array_len(doc, "auth.policies", &len), 0);
    ASSERT_INT_EQ(len, 2);
    ASSERT_INT_EQ(h->json_array_len(doc, "auth", &len), VP_EINVAL);
    const char *s = NULL;
    ASSERT_INT_EQ(
        h->json_get_str(h->json_array_at(h->json_get(doc, "auth.policies"), 1),
                        NULL, &s, &len),
        0);
    ASSERT_STR_EQ(s, "b");
    ASSERT_NULL(h->json_array_at(h->json_get(doc, "auth.policies"), 2));
    ASSERT_INT_EQ(h->json_get_str(doc, "keys.1.kid", &s, NULL), 0);
    ASSERT_STR_EQ(s, "k2");
    ASSERT_INT_EQ(h->json_get_str(doc, "auth.metadata.role", &s, NULL), 0);
    ASSERT_STR_EQ(s, "dev");
    ASSERT_INT_EQ(h->json_type(h->json_get(doc, "auth.metadata")),
                  VP_JSON_OBJECT);
    ASSERT_INT_EQ(h->json_type(h->json_get(doc, "keys")), VP_JSON_ARRAY);
    ASSERT_NULL(h->json_get(doc, "keys.7"));
    h->json_free(doc);
}

TEST(parse_refuses_what_is_not_one_document)
{
    const vp_host_api_t *h = vpd_host_api();
    vp_json_t *doc = (vp_json_t *)&doc;
    ASSERT_INT_EQ(h->json_parse("{\"a\":", 5, &doc), VP_EINVAL);
    ASSERT_NULL(doc);
    ASSERT_INT_EQ(h->json_parse("{} {}", 5, &doc), VP_EINVAL);
    ASSERT_INT_EQ(h->json_parse("[1] \n", 5, &doc), 0);
    h->json_free(doc);
}

TEST(the_builder_makes_nested_objects_and_arrays)
{
    const vp_host_api_t *h = vpd_host_api();
    vp_json_t *root = h->json_new(VP_JSON_OBJECT);
    vp_json_t *arr = h->json_new(VP_JSON_ARRAY);
    vp_json_t *inner = h->json_new(VP_JSON_OBJECT);
    ASSERT_NULL(h->json_new(VP_JSON_STRING));
    ASSERT_INT_EQ(h->json_add_str(root, "role", "dev"), 0);
    ASSERT_INT_EQ(h->json_add_int(root, "n", -7), 0);
    ASSERT_INT_EQ(h->json_add_bool(root, "ok", 1), 0);
    ASSERT_INT_EQ(h->json_add_number(root, "x", 1.5), 0);
    ASSERT_INT_EQ(h->json_add_str(arr, NULL, "a/b"), 0);
    ASSERT_INT_EQ(h->json_add_str(arr, "key", "v"), VP_EINVAL);
    ASSERT_INT_EQ(h->json_add_str(root, NULL, "v"), VP_EINVAL);
    ASSERT_INT_EQ(h->json_add_int(inner, "depth", 2), 0);
    ASSERT_INT_EQ(h->json_add(arr, NULL, inner), 0);
    ASSERT_INT_EQ(h->json_add(root, "list", arr), 0);
    size_t len = 0;
    char *text = h->json_to_text(root, &len);
    ASSERT_STR_EQ(text, "{\"role\":\"dev\",\"n\":-7,\"ok\":true,\"x\":1.5,"
                        "\"list\":[\"a/b\",{\"depth\":2}]}");
    ASSERT_INT_EQ(len, strlen(text));
    h->secret_free(text);
    h->json_free(root);
}

/* ---- fetch -------------------------------------------------------------- */

typedef struct {
    uv_tcp_t server;
    const char *answer;
    char request[4096];
    size_t request_len;
} canned_server;

typedef struct {
    uv_tcp_t tcp;
    canned_server *srv;
    uv_write_t w;
} canned_conn;

static void
on_conn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void
on_written(uv_write_t *w, int status)
{
    (void)status;
    canned_conn *c = w->data;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    static char space[4096];
    (void)suggested;
    *buf = uv_buf_init(space, sizeof space);
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    canned_conn *c = s->data;
    canned_server *srv = c->srv;
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_conn_closed);
        return;
    }
    size_t room = sizeof srv->request - 1 - srv->request_len;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(srv->request + srv->request_len, buf->base, take);
    srv->request_len += take;
    srv->request[srv->request_len] = '\0';
    /* The whole request, body included: closing with unread bytes would
     * reset the connection before the client reads the answer. */
    const char *end = strstr(srv->request, "\r\n\r\n");
    if (!end)
        return;
    const char *cl = strstr(srv->request, "Content-Length: ");
    size_t body = cl ? (size_t)atoi(cl + 16) : 0;
    if (srv->request_len < (size_t)(end + 4 - srv->request) + body)
        return;
    uv_read_stop(s);
    uv_buf_t out = uv_buf_init((char *)srv->answer, strlen(srv->answer));
    c->w.data = c;
    uv_write(&c->w, s, &out, 1, on_written);
}

static void
on_connection(uv_stream_t *server, int status)
{
    ASSERT_INT_EQ(status, 0);
    canned_conn *c = calloc(1, sizeof *c);
    c->srv = server->data;
    uv_tcp_init(&loop, &c->tcp);
    c->tcp.data = c;
    uv_accept(server, (uv_stream_t *)&c->tcp);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
}

static int
server_start(canned_server *srv, const char *answer)
{
    memset(srv, 0, sizeof *srv);
    srv->answer = answer;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(&loop, &srv->server);
    srv->server.data = srv;
    uv_tcp_bind(&srv->server, (const struct sockaddr *)&addr, 0);
    uv_listen((uv_stream_t *)&srv->server, 8, on_connection);
    struct sockaddr_in got;
    int len = sizeof got;
    uv_tcp_getsockname(&srv->server, (struct sockaddr *)&got, &len);
    return ntohs(got.sin_port);
}

typedef struct {
    int calls;
    int status;
    char error[256];
    char body[256];
    canned_server *srv;
} fetch_result;

static void
on_fetched(vp_instance_t *i, const vp_fetch_answer_t *a, void *arg)
{
    fetch_result *r = arg;
    ASSERT(i == &inst);
    ASSERT(a->size >= sizeof *a);
    r->calls++;
    r->status = a->status;
    snprintf(r->error, sizeof r->error, "%s", a->error ? a->error : "");
    snprintf(r->body, sizeof r->body, "%.*s", (int)a->body_len, a->body);
    uv_close((uv_handle_t *)&r->srv->server, NULL);
}

static const char ok_answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n"
                                "Connection: close\r\n\r\n{\"token\":\"t1\"}";

TEST(fetch_sends_the_request_and_hands_over_the_answer)
{
    setup();
    canned_server srv;
    int port = server_start(&srv, ok_answer);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/meta/token?x=1", port);
    const char *headers[] = {"Metadata-Flavor: Google", NULL};
    vp_fetch_request_t req = {.size = sizeof req,
                              .method = "PUT",
                              .url = url,
                              .headers = headers,
                              .body = "abc",
                              .body_len = 3};
    fetch_result r = {.srv = &srv};
    ASSERT_NOT_NULL(host->fetch(&inst, &req, on_fetched, &r));
    ASSERT_INT_EQ(r.calls, 0); /* never inside the call */
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(r.calls, 1);
    ASSERT_STR_EQ(r.error, "");
    ASSERT_INT_EQ(r.status, 200);
    ASSERT_STR_EQ(r.body, "{\"token\":\"t1\"}");
    ASSERT_STR_EQ(r.error, "");
    ASSERT_STR_CONTAINS(srv.request, "PUT /meta/token?x=1 HTTP/1.1\r\n");
    ASSERT_STR_CONTAINS(srv.request, "Metadata-Flavor: Google\r\n");
    ASSERT_STR_CONTAINS(srv.request, "Content-Length: 3\r\n");
    teardown();
}

TEST(fetch_refuses_an_answer_above_its_bound)
{
    setup();
    canned_server srv;
    int port = server_start(&srv, ok_answer);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    vp_fetch_request_t req = {.size = sizeof req, .url = url, .max_answer = 4};
    fetch_result r = {.srv = &srv};
    ASSERT_NOT_NULL(host->fetch(&inst, &req, on_fetched, &r));
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(r.calls, 1);
    ASSERT_INT_EQ(r.status, 0);
    ASSERT_STR_EQ(r.error, "the answer is larger than allowed");
    ASSERT_STR_EQ(r.body, "");
    teardown();
}

TEST(fetch_reports_a_refused_connection)
{
    setup();
    canned_server srv;
    int port = server_start(&srv, ok_answer);
    uv_close((uv_handle_t *)&srv.server, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    vp_fetch_request_t req = {.size = sizeof req, .url = url};
    fetch_result r = {.srv = NULL};
    vp_fetch_t *f = host->fetch(&inst, &req, on_fetched, &r);
    ASSERT_NOT_NULL(f);
    /* The callback would close srv.server again: cancel instead, and
     * check the cancel leaves nothing behind. */
    host->fetch_cancel(f);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(r.calls, 0);
    teardown();
}

TEST(destroying_an_instance_abandons_its_fetches)
{
    setup();
    canned_server srv;
    int port = server_start(&srv, ok_answer);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    vp_fetch_request_t req = {.size = sizeof req, .url = url};
    fetch_result r = {.srv = &srv};
    ASSERT_NOT_NULL(host->fetch(&inst, &req, on_fetched, &r));
    vpd_plugin_fetch_cancel_instance(&inst);
    uv_close((uv_handle_t *)&srv.server, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(r.calls, 0);
    teardown();
}

TEST(fetch_without_a_url_fails_at_once)
{
    setup();
    vp_fetch_request_t req = {.size = sizeof req};
    ASSERT_NULL(host->fetch(&inst, &req, on_fetched, NULL));
    ASSERT_STR_CONTAINS(core_inst.last_error, "no url");
    teardown();
}

int
main(void)
{
    return RUN_TESTS(T(a_one_shot_timer_fires_once),
                     T(a_repeating_timer_runs_until_stopped_from_its_callback),
                     T(destroying_an_instance_cancels_its_timers_only),
                     T(no_timer_without_a_loop),
                     T(reauth_reaches_the_registered_method_only),
                     T(typed_getters_read_nested_values),
                     T(parse_refuses_what_is_not_one_document),
                     T(the_builder_makes_nested_objects_and_arrays),
                     T(fetch_sends_the_request_and_hands_over_the_answer),
                     T(fetch_refuses_an_answer_above_its_bound),
                     T(fetch_reports_a_refused_connection),
                     T(destroying_an_instance_abandons_its_fetches),
                     T(fetch_without_a_url_fails_at_once));
}
