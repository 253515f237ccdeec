/* The router and its pipeline: a real listener on a Unix socket hands each
 * request to the router, which runs it through the chain (two instances of
 * the trace test plugin) and forwards it to a loopback upstream running in
 * a thread of the test process, which records what it got.  A client
 * thread sends one request and reads the answer while the loop runs.
 * Each test is its own forked process (test.h). */
#include "autoconf.h"

#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "auth/token_holder.h"
#include "base/log.h"
#include "config/config.h"
#include "http/server.h"
#include "plugin/host_table.h"
#include "plugin/plugin_instance.h"
#include "plugin/plugin_loader.h"
#include "proxy/chain.h"
#include "proxy/router.h"
#include "base/version.h"
#include "upstream/forward.h"

/* ---- the loopback upstream --------------------------------------------- */

static struct {
    int lfd, port;
    pthread_mutex_t mu;
    int requests;
    char last_target[512];
    char last_token[1024]; /* X-Vault-Token, "" if none */
    char last_head[16384];
} up = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const char UP_BODY[] = "{\"data\":{\"from\":\"upstream\"}}";

static void
header_value(const char *head, const char *name, char *out, size_t len)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2];
         p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            const char *end = strstr(v, "\r\n");
            snprintf(out, len, "%.*s", (int)(end ? end - v : 0), v);
            return;
        }
    }
}

/* One request per connection: reads the head (and a body, which the
 * tests' requests do not have), records it, answers and closes. */
static void *
upstream_main(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(up.lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        char buf[16384];
        size_t len = 0;
        while (len < sizeof buf - 1) {
            ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
            if (n <= 0)
                break;
            len += (size_t)n;
            buf[len] = '\0';
            if (strstr(buf, "\r\n\r\n"))
                break;
        }
        buf[len] = '\0';
        pthread_mutex_lock(&up.mu);
        up.requests++;
        sscanf(buf, "%*s %511s", up.last_target);
        header_value(buf, "X-Vault-Token", up.last_token, sizeof up.last_token);
        memcpy(up.last_head, buf, len + 1);
        pthread_mutex_unlock(&up.mu);
        char answer[512];
        int n = snprintf(answer, sizeof answer,
                         "HTTP/1.1 200 OK\r\nContent-Type: application/json"
                         "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n"
                         "%s",
                         strlen(UP_BODY), UP_BODY);
        (void)!write(fd, answer, (size_t)n);
        close(fd);
    }
}

static void
upstream_start(void)
{
    up.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_INT_EQ(bind(up.lfd, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_INT_EQ(listen(up.lfd, 16), 0);
    socklen_t al = sizeof a;
    getsockname(up.lfd, (struct sockaddr *)&a, &al);
    up.port = ntohs(a.sin_port);
    pthread_t t;
    pthread_create(&t, NULL, upstream_main, NULL);
    pthread_detach(t);
}

/* ---- the daemon side ------------------------------------------------------
 */

typedef struct {
    uv_loop_t loop;
    char dir[32], sock[64];
    vpd_config *cfg;
    vpd_registry reg;
    vpd_chain chain;
    vpd_fwd *fwd;
    vpd_token_holder holder;
    vpd_router *router;
    vpd_server *server;
    uv_async_t done;
} fixture;

/* use: the api_proxy use_auto_auth_token value, as HCL.  address NULL:
 * the loopback upstream.  num_retries: the vault retry setting. */
static void
setup(fixture *f, const char *use, const char *address, int num_retries)
{
    memset(f, 0, sizeof *f);
    char err[1024], path[128], upstream[64];
    vpd_log_set_level(VPD_LOG_ERROR);
    snprintf(f->dir, sizeof f->dir, "/tmp/vp-router-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(f->dir));
    snprintf(f->sock, sizeof f->sock, "%s/s", f->dir);
    if (!address) {
        upstream_start();
        snprintf(upstream, sizeof upstream, "http://127.0.0.1:%d", up.port);
        address = upstream;
    }
    snprintf(path, sizeof path, "%s/c.hcl", f->dir);
    FILE *cf = fopen(path, "w");
    ASSERT_NOT_NULL(cf);
    fprintf(cf,
            "vault {\n  address = \"%s\"\n  retry { num_retries = %d }\n}\n"
            "api_proxy {\n  use_auto_auth_token = %s\n}\n"
            "listener \"unix\" {\n  address = \"%s\"\n  tls_disable = true\n"
            "}\n%s",
            address, num_retries, use, f->sock,
            /* The config refuses the token modes without auto_auth; the
             * router only needs the holder, filled in below. */
            strcmp(use, "false") == 0
                ? ""
                : "auto_auth {\n  method \"token_file\" {\n  }\n}\n");
    fclose(cf);
    const char *paths[] = {path};
    f->cfg = vpd_config_load(paths, 1, err, sizeof err);
    if (!f->cfg)
        printf("# %s\n", err);
    ASSERT_NOT_NULL(f->cfg);
    unlink(path);

    ASSERT_INT_EQ(vpd_plugins_load_file(&f->reg, VP_TEST_PLUGINDIR "/trace",
                                        vpd_host_api(), err, sizeof err),
                  0);
    const char *labels[] = {"A", "B"};
    for (size_t i = 0; i < 2; i++) {
        vpd_conf_pair pair = {"label", labels[i]};
        vpd_instance *inst =
            vpd_instance_new(&f->reg, VP_KIND_CONSISTENCY, "trace", NULL, &pair,
                             1, "test", err, sizeof err);
        ASSERT_NOT_NULL(inst);
        ASSERT_INT_EQ(vpd_chain_add(&f->chain, inst), 0);
    }
    uv_loop_init(&f->loop);
    f->fwd = vpd_fwd_new(&f->loop, &f->cfg->vault, err, sizeof err);
    ASSERT_NOT_NULL(f->fwd);
    vpd_fwd_set_retry_base_ms(f->fwd, 0, 0);
    ASSERT_INT_EQ(vpd_token_set(&f->holder, "auto-auth-token"), 0);
    vpd_router_deps deps = {
        .cfg = f->cfg, .fwd = f->fwd, .chain = &f->chain, .holder = &f->holder};
    f->router = vpd_router_new(&f->loop, &deps);
    ASSERT_NOT_NULL(f->router);
    f->server = vpd_server_start(&f->loop, f->cfg, vpd_router_handle, f->router,
                                 err, sizeof err);
    if (!f->server)
        printf("# %s\n", err);
    ASSERT_NOT_NULL(f->server);
}

/* ---- the client -----------------------------------------------------------
 */

typedef struct {
    fixture *f;
    const char *request; /* the whole request, head and body */
    char answer[16384];
    int status;
    const char *body; /* in answer */
} exchange;

static void *
client_main(void *arg)
{
    exchange *x = arg;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", x->f->sock);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        write(fd, x->request, strlen(x->request)) ==
            (ssize_t)strlen(x->request)) {
        size_t len = 0;
        ssize_t n;
        while (len < sizeof x->answer - 1 &&
               (n = read(fd, x->answer + len, sizeof x->answer - 1 - len)) > 0)
            len += (size_t)n;
        x->answer[len] = '\0';
    }
    close(fd);
    uv_async_send(&x->f->done);
    return NULL;
}

static void
on_done(uv_async_t *a)
{
    uv_stop(a->loop);
}

/* Sends "METHOD TARGET" with the extra header lines (each ending in CRLF)
 * and runs the loop until the answer is read. */
static void
send_request(fixture *f, exchange *x, const char *method, const char *target,
             const char *headers)
{
    static char text[4096];
    snprintf(text, sizeof text,
             "%s %s HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n%s\r\n",
             method, target, headers);
    memset(x, 0, sizeof *x);
    x->f = f;
    x->request = text;
    uv_async_init(&f->loop, &f->done, on_done);
    pthread_t t;
    pthread_create(&t, NULL, client_main, x);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    pthread_join(t, NULL);
    uv_close((uv_handle_t *)&f->done, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    ASSERT_INT_EQ(sscanf(x->answer, "HTTP/1.1 %d", &x->status), 1);
    const char *sep = strstr(x->answer, "\r\n\r\n");
    ASSERT_NOT_NULL(sep);
    x->body = sep + 4;
    ASSERT_INT_EQ((int)vpd_router_inflight(f->router), 0);
}

/* GET /v1/secret/x with the extra header lines, answered with want_status. */
static void
get_secret(fixture *f, exchange *x, const char *headers, int want_status)
{
    send_request(f, x, "GET", "/v1/secret/x", headers);
    ASSERT_INT_EQ(x->status, want_status);
}

static int
upstream_requests(void)
{
    pthread_mutex_lock(&up.mu);
    int n = up.requests;
    pthread_mutex_unlock(&up.mu);
    return n;
}

/* ---- tests ------------------------------------------------------------------
 */

TEST(use_auto_auth_token_false_sends_only_the_clients_token)
{
    fixture f;
    setup(&f, "false", NULL, 0);
    exchange x;
    get_secret(&f, &x, "", 200);
    ASSERT_STR_CONTAINS(x.body, "upstream");
    ASSERT_STR_EQ(up.last_token, "");
    ASSERT_STR_EQ(up.last_target, "/v1/secret/x");
    get_secret(&f, &x, "X-Vault-Token: mine\r\n", 200);
    ASSERT_STR_EQ(up.last_token, "mine");
    ASSERT_INT_EQ(upstream_requests(), 2);
}

TEST(use_auto_auth_token_true_fills_in_a_missing_token_only)
{
    fixture f;
    setup(&f, "true", NULL, 0);
    exchange x;
    get_secret(&f, &x, "", 200);
    ASSERT_STR_EQ(up.last_token, "auto-auth-token");
    get_secret(&f, &x, "X-Vault-Token: mine\r\n", 200);
    ASSERT_STR_EQ(up.last_token, "mine");
}

TEST(use_auto_auth_token_force_replaces_the_clients_token)
{
    fixture f;
    setup(&f, "\"force\"", NULL, 0);
    exchange x;
    get_secret(&f, &x, "X-Vault-Token: mine\r\n", 200);
    ASSERT_STR_EQ(up.last_token, "auto-auth-token");
}

/* How many header lines of the recorded upstream head have this name. */
static int
upstream_header_count(const char *name)
{
    int n = 0;
    size_t nl = strlen(name);
    for (const char *p = strstr(up.last_head, "\r\n"); p && p[2] != '\r';
         p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':')
            n++;
    return n;
}

static const char *
upstream_header(const char *name)
{
    static char v[1024];
    header_value(up.last_head, name, v, sizeof v);
    return v;
}

TEST(the_upstream_head_has_the_clients_headers_less_the_policys_drops)
{
    fixture f;
    setup(&f, "true", NULL, 0);
    exchange x;
    get_secret(&f, &x,
               "Connection: X-Named\r\nX-Named: 1\r\nKeep-Alive: timeout=5\r\n"
               "TE: trailers\r\nProxy-Authorization: Basic eA==\r\n"
               "Accept-Encoding: gzip\r\nUser-Agent: client/1\r\n"
               "X-Custom: v\r\nX-Empty:\r\nx-vault-token: mine\r\n"
               "Accept: application/json\r\n",
               200);
    ASSERT_STR_EQ(up.last_token, "mine");
    ASSERT_INT_EQ(upstream_header_count("X-Vault-Token"), 1);
    ASSERT_STR_EQ(upstream_header("X-Custom"), "v");
    ASSERT_INT_EQ(upstream_header_count("X-Empty"), 1);
    ASSERT_STR_EQ(upstream_header("X-Empty"), "");
    ASSERT_STR_EQ(upstream_header("Accept"), "application/json");
    ASSERT_STR_EQ(upstream_header("User-Agent"), VPD_API_PROXY_UA "; client/1");
    ASSERT_INT_EQ(upstream_header_count("User-Agent"), 1);
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", up.port);
    ASSERT_STR_EQ(upstream_header("Host"), host);
    ASSERT_INT_EQ(upstream_header_count("Host"), 1);
    const char *gone[] = {"Connection",          "X-Named",
                          "Keep-Alive",          "TE",
                          "Proxy-Authorization", "Accept-Encoding",
                          "Content-Length",      "Transfer-Encoding"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        if (upstream_header_count(gone[i]) != 0)
            TEST_FAIL_("%s went upstream: %s", gone[i], up.last_head);
    /* Without a client token, auto-auth's goes, once. */
    get_secret(&f, &x, "X-Custom: w\r\n", 200);
    ASSERT_STR_EQ(up.last_token, "auto-auth-token");
    ASSERT_INT_EQ(upstream_header_count("X-Vault-Token"), 1);
    ASSERT_STR_EQ(upstream_header("X-Custom"), "w");
    ASSERT_STR_EQ(upstream_header("User-Agent"), VPD_API_PROXY_UA);
}

/* A folded value (obs-fold) must not become a header line of its own
 * upstream, in the client's User-Agent or in its token, whatever the case
 * of the token's name. */
TEST(folded_values_never_become_header_lines_upstream)
{
    fixture f;
    setup(&f, "false", NULL, 0);
    exchange x;
    send_request(&f, &x, "GET", "/v1/secret/x",
                 "User-Agent: client/2\r\n X-Evil-Ua: 1\r\n"
                 "X-VAULT-token: tok\r\n\tX-Evil-Token: 1\r\n");
    /* The listener unfolds them into one value each: a line each still. */
    ASSERT_INT_EQ(x.status, 200);
    ASSERT_INT_EQ(upstream_header_count("X-Evil-Ua"), 0);
    ASSERT_INT_EQ(upstream_header_count("X-Evil-Token"), 0);
    ASSERT_INT_EQ(upstream_header_count("X-Vault-Token"), 1);
    ASSERT_INT_EQ(upstream_header_count("User-Agent"), 1);
    /* The same names unfolded go as they are. */
    get_secret(&f, &x, "User-Agent: client/2\r\nX-VAULT-token: tok\r\n", 200);
    ASSERT_STR_EQ(upstream_header("User-Agent"), VPD_API_PROXY_UA "; client/2");
    ASSERT_STR_EQ(up.last_token, "tok");
}

/* Tokens of every length, one request after another on recycled request
 * state: a long one (kept on the heap), a short one (kept inline), and a
 * long one again. */
TEST(tokens_short_and_long_go_upstream_whole)
{
    fixture f;
    setup(&f, "false", NULL, 0);
    exchange x;
    char token[400], line[512];
    for (int round = 0; round < 3; round++) {
        size_t len = round == 1 ? 20 : sizeof token - 1;
        for (size_t i = 0; i < len; i++)
            token[i] = (char)('a' + (i + (size_t)round) % 26);
        token[len] = '\0';
        snprintf(line, sizeof line, "X-Vault-Token: %s\r\n", token);
        get_secret(&f, &x, line, 200);
        ASSERT_STR_EQ(up.last_token, token);
    }
}

/* The router checks the client's headers as it copies them; a header a
 * plugin adds afterwards is still held to the policy by the forwarder. */
TEST(a_header_a_plugin_adds_is_still_filtered_upstream)
{
    fixture f;
    setup(&f, "false", NULL, 0);
    exchange x;
    get_secret(&f, &x,
               "X-Trace-Add: A:X-Added:1\r\n"
               "X-Trace-Add: B:Accept-Encoding:br\r\n"
               "X-Trace-Add: B:Content-Length:5\r\n",
               200);
    ASSERT_STR_EQ(upstream_header("X-Added"), "1");
    ASSERT_INT_EQ(upstream_header_count("Accept-Encoding"), 0);
    ASSERT_INT_EQ(upstream_header_count("Content-Length"), 0);
}

TEST(a_request_hook_answers_early_and_nothing_goes_upstream)
{
    fixture f;
    setup(&f, "false", NULL, 0);
    exchange x;
    get_secret(&f, &x, "X-Trace-Answer: A\r\n", 200);
    ASSERT_STR_CONTAINS(x.body, "\"answered_by\":\"A\"");
    ASSERT_INT_EQ(upstream_requests(), 0);
}

TEST(the_response_phase_runs_in_reverse_order)
{
    fixture f;
    setup(&f, "false", NULL, 0);
    exchange x;
    get_secret(&f, &x, "", 200);
    ASSERT_STR_CONTAINS(x.answer, "X-Trace: A:request");
    ASSERT(strstr(x.answer, "B:response1") < strstr(x.answer, "A:response1"));
}

TEST(a_retry_a_hook_asks_for_is_bounded_by_num_retries)
{
    fixture f;
    setup(&f, "false", NULL, 2);
    exchange x;
    /* A wants 2 attempts: granted. */
    get_secret(&f, &x, "X-Trace-Retry: A:2\r\n", 200);
    ASSERT_INT_EQ(upstream_requests(), 2);
    /* A wants 9: the answer of the third attempt (two retries) goes out. */
    get_secret(&f, &x, "X-Trace-Retry: A:9\r\n", 200);
    ASSERT_STR_CONTAINS(x.body, "upstream");
    ASSERT_INT_EQ(upstream_requests(), 2 + 3);
}

TEST(an_unreachable_upstream_is_a_502_in_vaults_error_shape)
{
    fixture f;
    setup(&f, "false", "http://127.0.0.1:1", -1);
    exchange x;
    get_secret(&f, &x, "", 502);
    ASSERT_STR_CONTAINS(x.answer, "Content-Type: application/json");
    ASSERT_STR_CONTAINS(x.body, "{\"errors\":[\"failed to get the response: ");
}

TEST(cache_clear_without_a_cache_is_an_empty_200_answered_locally)
{
    fixture f;
    setup(&f, "false", NULL, 0);
    exchange x;
    send_request(&f, &x, "POST", "/proxy/v1/cache-clear",
                 "Content-Length: 2\r\n\r\n{}");
    ASSERT_INT_EQ(x.status, 200);
    ASSERT_STR_EQ(x.body, "");
    ASSERT_INT_EQ(upstream_requests(), 0);
}

int
main(void)
{
    return RUN_TESTS(
        T(use_auto_auth_token_false_sends_only_the_clients_token),
        T(use_auto_auth_token_true_fills_in_a_missing_token_only),
        T(use_auto_auth_token_force_replaces_the_clients_token),
        T(the_upstream_head_has_the_clients_headers_less_the_policys_drops),
        T(a_header_a_plugin_adds_is_still_filtered_upstream),
        T(folded_values_never_become_header_lines_upstream),
        T(tokens_short_and_long_go_upstream_whole),
        T(a_request_hook_answers_early_and_nothing_goes_upstream),
        T(the_response_phase_runs_in_reverse_order),
        T(a_retry_a_hook_asks_for_is_bounded_by_num_retries),
        T(an_unreachable_upstream_is_a_502_in_vaults_error_shape),
        T(cache_clear_without_a_cache_is_an_empty_200_answered_locally));
}
