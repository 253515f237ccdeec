/* The auto-auth state machine (auth/auto_auth.c) against a scripted Vault:
 * a blocking HTTP/1.1 server in threads of the test process that records
 * every request and answers what the test's responder says.  The state
 * machine runs on a real uv loop with the real forwarder and the shipped
 * approle plugin.  Every wait is bounded: run_until gives up after a
 * deadline and the harness alarm bounds each test. */
#include "autoconf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "auth/auto_auth.h"
#include "auth/token_holder.h"
#include "base/log.h"
#include "plugin/host_table.h"
#include "plugin/plugin_instance.h"
#include "plugin/plugin_loader.h"
#include "upstream/forward.h"
#include "test.h"

/* ---- the scripted Vault ----------------------------------------------- */

#define MAX_RECS 512

typedef enum { REQ_LOGIN, REQ_RENEW, REQ_OTHER } req_kind;

typedef struct {
    req_kind kind;
    char target[256];
    char token[128]; /* X-Vault-Token, or "" */
    char body[512];
    uint64_t at_ms; /* monotonic, when the request was read */
} rec_t;

/* Picks the answer to the n-th request of its kind (0-based). */
typedef int (*responder_fn)(const rec_t *r, int nth, char *body, size_t len);

static struct {
    int lfd;
    int port;
    responder_fn fn;
    pthread_mutex_t mu;
    rec_t recs[MAX_RECS];
    int n;
    int n_kind[3];
} V = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads one request from fd into r, using buf (with *have bytes already
 * in it) across calls.  Returns false at end of stream. */
static bool
read_request(int fd, char *buf, size_t cap, size_t *have, rec_t *r)
{
    char *end;
    while (!(end = memmem(buf, *have, "\r\n\r\n", 4))) {
        if (*have == cap)
            return false;
        ssize_t got = read(fd, buf + *have, cap - *have);
        if (got <= 0)
            return false;
        *have += (size_t)got;
    }
    size_t head_len = (size_t)(end - buf) + 4;
    memset(r, 0, sizeof *r);
    char method[16] = "";
    sscanf(buf, "%15s %255s", method, r->target);
    size_t body_len = 0;
    for (char *line = strstr(buf, "\r\n") + 2; line < end;
         line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            body_len = strtoul(line + 15, NULL, 10);
        else if (strncasecmp(line, "X-Vault-Token:", 14) == 0)
            sscanf(line + 14, " %127[^\r]", r->token);
    }
    if (head_len + body_len > cap)
        return false;
    while (*have < head_len + body_len) {
        ssize_t got = read(fd, buf + *have, cap - *have);
        if (got <= 0)
            return false;
        *have += (size_t)got;
    }
    size_t copy = body_len < sizeof r->body - 1 ? body_len : sizeof r->body - 1;
    memcpy(r->body, buf + head_len, copy);
    memmove(buf, buf + head_len + body_len, *have - head_len - body_len);
    *have -= head_len + body_len;
    if (strstr(r->target, "/login"))
        r->kind = REQ_LOGIN;
    else if (strcmp(r->target, "/v1/auth/token/renew-self") == 0)
        r->kind = REQ_RENEW;
    else
        r->kind = REQ_OTHER;
    r->at_ms = mono_ms();
    return true;
}

static void *
conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static __thread char buf[65536];
    size_t have = 0;
    rec_t r;
    while (read_request(fd, buf, sizeof buf, &have, &r)) {
        pthread_mutex_lock(&V.mu);
        int nth = V.n_kind[r.kind]++;
        if (V.n < MAX_RECS)
            V.recs[V.n++] = r;
        pthread_mutex_unlock(&V.mu);
        char body[1024] = "";
        int status = V.fn(&r, nth, body, sizeof body);
        char out[2048];
        int len = snprintf(out, sizeof out,
                           "HTTP/1.1 %d X\r\nContent-Type: application/json"
                           "\r\nContent-Length: %zu\r\n\r\n%s",
                           status, strlen(body), body);
        if (write(fd, out, (size_t)len) != len)
            break;
    }
    close(fd);
    return NULL;
}

static void *
accept_main(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(V.lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_t t;
        if (pthread_create(&t, NULL, conn_main, (void *)(intptr_t)fd) == 0)
            pthread_detach(t);
        else
            close(fd);
    }
}

static void
vault_start(responder_fn fn)
{
    V.fn = fn;
    V.lfd = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(V.lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_INT_EQ(bind(V.lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ASSERT_INT_EQ(listen(V.lfd, 16), 0);
    socklen_t sl = sizeof sa;
    ASSERT_INT_EQ(getsockname(V.lfd, (struct sockaddr *)&sa, &sl), 0);
    V.port = ntohs(sa.sin_port);
    pthread_t t;
    ASSERT_INT_EQ(pthread_create(&t, NULL, accept_main, NULL), 0);
    pthread_detach(t);
}

static int
count_of(req_kind k)
{
    pthread_mutex_lock(&V.mu);
    int n = V.n_kind[k];
    pthread_mutex_unlock(&V.mu);
    return n;
}

/* The i-th recorded request of kind k (the test fails if there is none). */
static rec_t
rec_of(req_kind k, int i)
{
    rec_t r;
    bool found = false;
    pthread_mutex_lock(&V.mu);
    for (int j = 0; j < V.n && !found; j++)
        if (V.recs[j].kind == k && i-- == 0) {
            r = V.recs[j];
            found = true;
        }
    pthread_mutex_unlock(&V.mu);
    if (!found)
        TEST_FAIL_("no request %d of kind %d", i, (int)k);
    return r;
}

static int
login_ok(int nth, char *body, size_t len, int lease_s)
{
    snprintf(body, len,
             "{\"auth\":{\"client_token\":\"tok-%d\",\"lease_duration\":%d,"
             "\"renewable\":true}}",
             nth + 1, lease_s);
    return 200;
}

static int
renew_ok(const rec_t *r, char *body, size_t len, int lease_s)
{
    snprintf(body, len,
             "{\"auth\":{\"client_token\":\"%s\",\"lease_duration\":%d,"
             "\"renewable\":true}}",
             r->token, lease_s);
    return 200;
}

static int
vault_error(char *body, size_t len, int status, const char *msg)
{
    snprintf(body, len, "{\"errors\":[\"%s\"]}", msg);
    return status;
}

/* ---- the state machine under test ------------------------------------- */

static struct {
    uv_loop_t loop;
    vpd_registry reg;
    vpd_instance *inst;
    vpd_method_config method;
    vpd_vault_config vault;
    char addr[64];
    vpd_fwd *fwd;
    vpd_token_holder holder;
    vpd_auto_auth *aa;
    char dir[64];
    /* What the events saw. */
    int tokens;
    char last_token[128];
    int logins_ok, logins_failed;
    bool closed;
} F;

static void
on_token(const char *token, bool wrapped, void *arg)
{
    (void)arg;
    ASSERT(!wrapped);
    F.tokens++;
    snprintf(F.last_token, sizeof F.last_token, "%s", token);
}

static void
on_login_done(bool ok, void *arg)
{
    (void)arg;
    if (ok)
        F.logins_ok++;
    else
        F.logins_failed++;
}

static void
write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", F.dir, name);
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fputs(text, f);
    fclose(f);
}

static void
start(responder_fn fn, uint64_t min_backoff_ms, uint64_t max_backoff_ms)
{
    char err[1024] = "";
    vault_start(fn);
    ASSERT_INT_EQ(uv_loop_init(&F.loop), 0);
    snprintf(F.dir, sizeof F.dir, "/tmp/vp_test_aa.XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(F.dir));
    write_file("role_id", "the-role\n");
    write_file("secret_id", "the-secret\n");
    char role[128], secret[128];
    snprintf(role, sizeof role, "%s/role_id", F.dir);
    snprintf(secret, sizeof secret, "%s/secret_id", F.dir);
    if (vpd_plugins_load_file(&F.reg, VP_BUILD_PLUGINDIR "/auth_approle",
                              vpd_host_api(), err, sizeof err) != 0)
        TEST_FAIL_("loading approle: %s", err);
    vpd_conf_pair pairs[] = {{"role_id_file_path", role},
                             {"secret_id_file_path", secret}};
    F.inst = vpd_instance_new(&F.reg, VP_KIND_AUTH, "approle", NULL, pairs, 2,
                              "test", err, sizeof err);
    if (!F.inst)
        TEST_FAIL_("approle instance: %s", err);

    snprintf(F.addr, sizeof F.addr, "http://127.0.0.1:%d", V.port);
    F.vault.address = F.addr;
    F.fwd = vpd_fwd_new(&F.loop, &F.vault, err, sizeof err);
    if (!F.fwd)
        TEST_FAIL_("vpd_fwd_new: %s", err);

    F.method.type = "approle";
    F.method.mount_path = "auth/approle";
    F.method.min_backoff_ms = min_backoff_ms;
    F.method.max_backoff_ms = max_backoff_ms;
    vpd_auto_auth_events ev = {
        .on_token = on_token,
        .on_login_done = on_login_done,
    };
    F.aa = vpd_auto_auth_new(&F.loop, &F.method, F.inst, F.fwd, &F.holder, &ev);
    ASSERT_NOT_NULL(F.aa);
    vpd_auto_auth_start(F.aa);
}

typedef bool (*cond_fn)(void);

static cond_fn waiting_for;
static uint64_t deadline_ms;
static bool met;

static void
on_check(uv_timer_t *t)
{
    if (waiting_for()) {
        met = true;
        uv_stop(t->loop);
    } else if (mono_ms() >= deadline_ms) {
        uv_stop(t->loop);
    }
}

/* Runs the loop until cond holds or timeout_ms have passed; returns
 * whether it held. */
static bool
run_until(cond_fn cond, uint64_t timeout_ms)
{
    uv_timer_t check;
    uv_timer_init(&F.loop, &check);
    waiting_for = cond;
    deadline_ms = mono_ms() + timeout_ms;
    met = cond();
    if (!met) {
        uv_timer_start(&check, on_check, 2, 2);
        uv_run(&F.loop, UV_RUN_DEFAULT);
    }
    uv_close((uv_handle_t *)&check, NULL);
    uv_run(&F.loop, UV_RUN_NOWAIT);
    return met;
}

static void
on_closed(void *arg)
{
    (void)arg;
    F.closed = true;
}

static bool
is_closed(void)
{
    return F.closed;
}

static void
finish(void)
{
    vpd_auto_auth_close(F.aa, on_closed, NULL);
    ASSERT(run_until(is_closed, 5000));
    vpd_fwd_free(F.fwd);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(uv_loop_close(&F.loop), 0);
    vpd_instance_free(F.inst);
    vpd_plugins_unload(&F.reg);
    vpd_token_holder_clear(&F.holder);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", F.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", F.dir);
}

/* ---- scripts ---------------------------------------------------------- */

static int renewals_ok = 1000; /* renewals that succeed before failing */
static int renew_fail_status = 500;
static const char *renew_fail_msg = "internal error";

static int
script_renewing(const rec_t *r, int nth, char *body, size_t len)
{
    if (r->kind == REQ_LOGIN)
        return login_ok(nth, body, len, 1);
    if (r->kind == REQ_RENEW) {
        if (nth < renewals_ok)
            return renew_ok(r, body, len, 1);
        return vault_error(body, len, renew_fail_status, renew_fail_msg);
    }
    return vault_error(body, len, 404, "no handler");
}

static int logins_fail = 1000; /* logins that fail before one succeeds */
static int fail_again_at = -1; /* and one more login that fails */

static int
script_failing_logins(const rec_t *r, int nth, char *body, size_t len)
{
    if (r->kind == REQ_LOGIN && (nth < logins_fail || nth == fail_again_at))
        return vault_error(body, len, 500, "internal error");
    if (r->kind == REQ_LOGIN)
        return login_ok(nth, body, len, 3600);
    if (r->kind == REQ_RENEW)
        return renew_ok(r, body, len, 3600);
    return vault_error(body, len, 404, "no handler");
}

static bool
one_token(void)
{
    return F.tokens >= 1 && count_of(REQ_RENEW) >= 1;
}

static bool
three_renewals(void)
{
    return count_of(REQ_RENEW) >= 3;
}

static bool
two_logins(void)
{
    return count_of(REQ_LOGIN) >= 2 && F.tokens >= 2;
}

static bool
seven_logins(void)
{
    return count_of(REQ_LOGIN) >= 7;
}

/* ---- tests ------------------------------------------------------------ */

TEST(first_login_reaches_the_holder_and_the_sinks)
{
    start(script_renewing, 1000, 5000);
    ASSERT(run_until(one_token, 5000));
    rec_t login = rec_of(REQ_LOGIN, 0);
    ASSERT_STR_EQ(login.target, "/v1/auth/approle/login");
    ASSERT_STR_CONTAINS(login.body, "\"role_id\":\"the-role\"");
    ASSERT_STR_CONTAINS(login.body, "\"secret_id\":\"the-secret\"");
    /* The token goes to the holder (the API proxy) and to the on_token
     * event (the sinks). */
    ASSERT_STR_EQ(vpd_token_current(&F.holder), "tok-1");
    ASSERT_STR_EQ(F.last_token, "tok-1");
    ASSERT_INT_EQ(F.tokens, 1);
    ASSERT_INT_EQ(F.logins_ok, 1);
    /* The first renewal goes out at once, with the new token. */
    ASSERT_STR_EQ(rec_of(REQ_RENEW, 0).token, "tok-1");
    ASSERT_INT_EQ(vpd_auto_auth_counters_get(F.aa)->login_attempts, 1);
    finish();
}

TEST(renewals_follow_the_lease)
{
    /* A 1 s lease: after each renewal the next comes after two thirds of
     * the lease plus a third of the grace (a tenth to a fifth of it), so
     * 700..734 ms later; never a new login. */
    start(script_renewing, 1000, 5000);
    ASSERT(run_until(three_renewals, 5000));
    uint64_t t1 = rec_of(REQ_RENEW, 1).at_ms, t2 = rec_of(REQ_RENEW, 2).at_ms;
    uint64_t gap = t2 - t1;
    if (gap < 690 || gap > 900)
        TEST_FAIL_("renewals %llu ms apart", (unsigned long long)(t2 - t1));
    ASSERT_INT_EQ(count_of(REQ_LOGIN), 1);
    ASSERT_STR_EQ(rec_of(REQ_RENEW, 2).token, "tok-1");
    ASSERT_INT_EQ(F.tokens, 1);
    finish();
}

TEST(a_failed_renewal_means_a_new_login)
{
    renewals_ok = 1; /* the first renewal works, the second gets a 500 */
    start(script_renewing, 1000, 5000);
    ASSERT(run_until(two_logins, 5000));
    /* The new login followed the failed renewal at once, not after a
     * backoff: the failure was the renewal's, not the login's. */
    uint64_t failed = rec_of(REQ_RENEW, 1).at_ms;
    uint64_t relogin = rec_of(REQ_LOGIN, 1).at_ms;
    ASSERT(relogin >= failed && relogin - failed < 500);
    ASSERT_STR_EQ(vpd_token_current(&F.holder), "tok-2");
    ASSERT_STR_EQ(F.last_token, "tok-2");
    ASSERT_INT_EQ(F.logins_ok, 2);
    finish();
}

TEST(an_invalid_token_on_renewal_means_a_new_login)
{
    renewals_ok = 1;
    renew_fail_status = 403;
    renew_fail_msg = "permission denied; invalid token";
    start(script_renewing, 1000, 5000);
    ASSERT(run_until(two_logins, 5000));
    ASSERT_STR_EQ(vpd_token_current(&F.holder), "tok-2");
    /* The renewals after the new login carry the new token.  The first of
     * them may still be on its way when the login is counted. */
    ASSERT(run_until(three_renewals, 5000));
    ASSERT_STR_EQ(rec_of(REQ_RENEW, 2).token, "tok-2");
    finish();
}

TEST(reauth_logs_in_again_at_once)
{
    /* What the API proxy asks for when Vault calls the token invalid. */
    logins_fail = 0; /* an hour's lease: no renewal comes on its own */
    start(script_failing_logins, 1000, 5000);
    ASSERT(run_until(one_token, 5000));
    ASSERT(!vpd_auto_auth_logging_in(F.aa));
    vpd_token_mark_dead(&F.holder, F.holder.generation);
    ASSERT_NULL(vpd_token_current(&F.holder));
    uint64_t asked = mono_ms();
    vpd_auto_auth_reauth(F.aa);
    ASSERT(run_until(two_logins, 5000));
    /* At once: at most after the first renewal's answer, never after a
     * renewal schedule or a backoff. */
    ASSERT(rec_of(REQ_LOGIN, 1).at_ms - asked < 500);
    ASSERT_STR_EQ(vpd_token_current(&F.holder), "tok-2");
    ASSERT_STR_EQ(F.last_token, "tok-2");
    finish();
}

TEST(failed_logins_back_off_exponentially_up_to_the_max)
{
    /* min 40 ms, max 160 ms: the waits are 40, then 60..80, then 90..160
     * and from then on 120..160: capped, never below a quarter under. */
    start(script_failing_logins, 40, 160);
    ASSERT(run_until(seven_logins, 5000));
    uint64_t gap[6];
    for (int i = 0; i < 6; i++)
        gap[i] = rec_of(REQ_LOGIN, i + 1).at_ms - rec_of(REQ_LOGIN, i).at_ms;
    /* Timers never fire early; the slack above covers a loaded machine
     * and the round trip. */
    const uint64_t slack = 60;
    if (gap[0] < 40 || gap[0] > 40 + slack)
        TEST_FAIL_("first wait %llu ms", (unsigned long long)gap[0]);
    if (gap[1] < 60 || gap[1] > 80 + slack)
        TEST_FAIL_("second wait %llu ms", (unsigned long long)gap[1]);
    for (int i = 3; i < 6; i++)
        if (gap[i] < 120 || gap[i] > 160 + slack)
            TEST_FAIL_("wait %d: %llu ms", i + 1, (unsigned long long)gap[i]);
    ASSERT(F.logins_failed >= 6);
    ASSERT_INT_EQ(F.tokens, 0);
    ASSERT_NULL(vpd_token_current(&F.holder));
    finish();
}

static bool
logged_in(void)
{
    return F.tokens >= 1;
}

TEST(a_successful_login_resets_the_backoff)
{
    logins_fail = 4;
    fail_again_at = 5;
    start(script_failing_logins, 40, 1000);
    ASSERT(run_until(logged_in, 5000));
    ASSERT_INT_EQ(count_of(REQ_LOGIN), 5);
    ASSERT_STR_EQ(vpd_token_current(&F.holder), "tok-5");
    ASSERT_INT_EQ(F.logins_failed, 4);
    /* The waits grew while it failed (40, then at least 60, 90, 135). */
    uint64_t grown = rec_of(REQ_LOGIN, 4).at_ms - rec_of(REQ_LOGIN, 3).at_ms;
    ASSERT(grown >= 135);
    /* The next login fails: its wait starts from min_backoff again, not
     * from twice the last one (at least 200 ms). */
    vpd_auto_auth_reauth(F.aa);
    ASSERT(run_until(seven_logins, 5000));
    uint64_t again = rec_of(REQ_LOGIN, 6).at_ms - rec_of(REQ_LOGIN, 5).at_ms;
    if (again < 40 || again > 100)
        TEST_FAIL_("wait after the reset: %llu ms", (unsigned long long)again);
    ASSERT_STR_EQ(vpd_token_current(&F.holder), "tok-7");
    finish();
}

int
main(void)
{
    return RUN_TESTS(T(first_login_reaches_the_holder_and_the_sinks),
                     T(renewals_follow_the_lease),
                     T(a_failed_renewal_means_a_new_login),
                     T(an_invalid_token_on_renewal_means_a_new_login),
                     T(reauth_logs_in_again_at_once),
                     T(failed_logins_back_off_exponentially_up_to_the_max),
                     T(a_successful_login_resets_the_backoff));
}
