/* The agent runner with a fake template engine and a fake Vault: one
 * fetch per secret however many templates read it, re-renders when an
 * answer changes, renewal of renewable leases instead of re-reads, the
 * refresh schedule, commands once per change, one-shot exit, and a
 * benchmark of 100 templates over 1,000 secrets. */
#include "autoconf.h"

#include "agent/engine_tmpl.h"
#include "agent/runner.h"
#include "agent/schedule.h"
#include "config/config.h"
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

static char dir[64];
static char err[1024];

static const char *
tmp(const char *name)
{
    static char buf[8][256];
    static int next;
    char *b = buf[next++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static vpd_config *
load(const char *text)
{
    const char *p = tmp("a.hcl");
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    vpd_config *cfg = vpd_config_load(&p, 1, err, sizeof err);
    if (!cfg)
        TEST_FAIL_("load: %s", err);
    return cfg;
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

/* ---- the fake engine: a template is a list of "R:path" words; each
 * known answer is printed on its own line. ---- */

static void *
fake_compile(const char *text, size_t len, const char *name,
             const vpd_agent_tmpl_options *opt, char *e, size_t elen)
{
    (void)name;
    (void)opt;
    if (len >= 3 && strncmp(text, "BAD", 3) == 0) {
        snprintf(e, elen, "%s:1:1: bad template", name);
        return NULL;
    }
    return strndup(text, len);
}

static int
fake_render(void *tmpl, const vpd_agent_source *src, vpd_buf *out, char *e,
            size_t elen)
{
    (void)e;
    (void)elen;
    char *copy = strdup(tmpl), *save = NULL;
    for (char *w = strtok_r(copy, " \n", &save); w;
         w = strtok_r(NULL, " \n", &save)) {
        vpd_agent_op op = w[0] == 'W'   ? VPD_AGENT_WRITE
                          : w[0] == 'L' ? VPD_AGENT_LIST
                                        : VPD_AGENT_READ;
        char *path = w + 2, *arg = strchr(path, ':');
        const char *kv[1];
        size_t n = 0;
        if (arg) {
            *arg = '\0';
            kv[n++] = arg + 1;
        }
        const char *a = src->lookup(src->ctx, op, path, kv, n);
        if (a) {
            vpd_buf_append(out, a, strlen(a));
            vpd_buf_append(out, "\n", 1);
        }
    }
    free(copy);
    return 0;
}

static void
fake_free(void *t)
{
    free(t);
}

static const vpd_agent_engine fake_engine = {fake_compile, fake_render,
                                             fake_free};

/* ---- the fake Vault: answers on the next loop turn. ---- */

#define MAX_PATHS 1100
static struct {
    char path[64];
    char body[256];
    int status;
} vault[MAX_PATHS];
static size_t n_vault;
static int reads, renews, writes;
/* Requests sent and not yet answered, and the most seen at once. */
static int in_flight, max_in_flight;
static char last_write_body[256];

static void
vault_set(const char *path, int status, const char *body)
{
    for (size_t i = 0; i < n_vault; i++)
        if (strcmp(vault[i].path, path) == 0) {
            snprintf(vault[i].body, sizeof vault[i].body, "%s", body);
            vault[i].status = status;
            return;
        }
    snprintf(vault[n_vault].path, sizeof vault[0].path, "%s", path);
    snprintf(vault[n_vault].body, sizeof vault[0].body, "%s", body);
    vault[n_vault++].status = status;
}

typedef struct {
    uv_timer_t t;
    vpd_agent_fetch_done done;
    void *arg;
    int status;
    char body[256];
} pending;

static void
pending_closed(uv_handle_t *h)
{
    free(h->data);
}

static void
pending_fire(uv_timer_t *t)
{
    pending *p = t->data;
    in_flight--;
    p->done(p->status, NULL, p->body, strlen(p->body), p->arg);
    uv_close((uv_handle_t *)&p->t, pending_closed);
}

static int
fake_fetch(void *ctx, const char *method, const char *target, const char *body,
           size_t body_len, vpd_agent_fetch_done done, void *arg)
{
    uv_loop_t *loop = ctx;
    pending *p = calloc(1, sizeof *p);
    p->done = done;
    p->arg = arg;
    p->status = 404;
    snprintf(p->body, sizeof p->body, "{\"errors\":[]}");
    if (strcmp(target, "/v1/sys/leases/renew") == 0) {
        renews++;
        p->status = 200;
        snprintf(p->body, sizeof p->body,
                 "{\"lease_id\":\"l1\",\"renewable\":true,"
                 "\"lease_duration\":1}");
    } else {
        if (strcmp(method, "PUT") == 0) {
            writes++;
            snprintf(last_write_body, sizeof last_write_body, "%.*s",
                     (int)body_len, body);
        } else {
            reads++;
        }
        for (size_t i = 0; i < n_vault; i++)
            if (strcmp(target + 4, vault[i].path) == 0) {
                p->status = vault[i].status;
                snprintf(p->body, sizeof p->body, "%s", vault[i].body);
            }
    }
    if (++in_flight > max_in_flight)
        max_in_flight = in_flight;
    uv_timer_init(loop, &p->t);
    p->t.data = p;
    uv_timer_start(&p->t, pending_fire, 0, 0);
    return 0;
}

static int exit_code = -100;

static void
on_exit_cb(int code, void *arg)
{
    (void)arg;
    exit_code = code;
}

static const vpd_agent_engine *engine = &fake_engine;

static vpd_agent_runner *
start(uv_loop_t *loop, vpd_config *cfg, bool once)
{
    vpd_agent_runner_deps deps = {
        .cfg = cfg,
        .engine = engine,
        .fetch = fake_fetch,
        .fetch_ctx = loop,
        .once = once,
        .on_exit = on_exit_cb,
        .retry_min_ms = 10,
        .retry_max_ms = 20,
    };
    vpd_agent_runner *r = vpd_agent_runner_new(loop, &deps, err, sizeof err);
    if (!r)
        TEST_FAIL_("runner: %s", err);
    vpd_agent_runner_start(r);
    return r;
}

static void
run_for(uv_loop_t *loop, uint64_t ms)
{
    uint64_t end = uv_now(loop) + ms;
    while (uv_now(loop) < end) {
        uv_run(loop, UV_RUN_NOWAIT);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        uv_update_time(loop);
    }
}

static void
stop(uv_loop_t *loop, vpd_agent_runner *r)
{
    vpd_agent_runner_close(r);
    run_for(loop, 30);
    uv_run(loop, UV_RUN_DEFAULT);
    ASSERT_INT_EQ(uv_loop_close(loop), 0);
}

#define AUTH                                                                   \
    "auto_auth {\n method \"token_file\" {\n config = { token_file_path = "    \
    "\"/t\" } } }\n"

TEST(schedule_rules)
{
    vpd_agent_lease none = {false, false, 0};
    vpd_agent_next n = vpd_agent_schedule(&none, 0.9, 300000);
    ASSERT_INT_EQ(n.kind, VPD_AGENT_NEXT_REFETCH);
    ASSERT_INT_EQ(n.delay_ms, 300000);
    vpd_agent_lease fixed = {true, false, 100000};
    vpd_agent_lease renewable = {true, true, 100000};
    for (int i = 0; i < 200; i++) {
        n = vpd_agent_schedule(&fixed, 0.9, 300000);
        ASSERT_INT_EQ(n.kind, VPD_AGENT_NEXT_REFETCH);
        ASSERT(n.delay_ms >= 85000 && n.delay_ms <= 95000);
        n = vpd_agent_schedule(&renewable, 0.9, 300000);
        ASSERT_INT_EQ(n.kind, VPD_AGENT_NEXT_RENEW);
        ASSERT(n.delay_ms >= 61600 && n.delay_ms <= 71700);
    }
    vpd_agent_lease parsed;
    ASSERT_INT_EQ(vpd_agent_lease_parse("{\"lease_id\":\"x\",\"renewable\":"
                                        "true,\"lease_duration\":30}",
                                        &parsed),
                  0);
    ASSERT(parsed.has_lease && parsed.renewable);
    ASSERT_INT_EQ(parsed.duration_ms, 30000);
    ASSERT_INT_EQ(vpd_agent_lease_parse("{\"lease_id\":\"\",\"renewable\":"
                                        "false,\"lease_duration\":2764800}",
                                        &parsed),
                  0);
    ASSERT(!parsed.has_lease);
    ASSERT_INT_EQ(vpd_agent_lease_parse("nope", &parsed), -1);
}

TEST(dedup_render_and_refresh)
{
    char text[2048];
    snprintf(text, sizeof text,
             AUTH
             "template_config {\n static_secret_render_interval = "
             "\"150ms\"\n}\n"
             "template {\n contents = \"R:kv/a R:kv/b\"\n destination = "
             "\"%s\"\n command = [\"/bin/sh\", \"-c\", \"echo x >> %s\"]\n}\n"
             "template {\n contents = \"R:kv/a\"\n destination = \"%s\"\n"
             " perms = \"0600\"\n}\n",
             tmp("one.txt"), tmp("cmd.log"), tmp("two.txt"));
    vpd_config *cfg = load(text);
    vault_set("kv/a", 200, "{\"data\":{\"v\":1}}");
    vault_set("kv/b", 200, "{\"data\":{\"v\":2}}");
    uv_loop_t loop;
    uv_loop_init(&loop);
    vpd_agent_runner *r = start(&loop, cfg, false);
    run_for(&loop, 60);
    ASSERT_STR_EQ(slurp(tmp("one.txt")),
                  "{\"data\":{\"v\":1}}\n{\"data\":{\"v\":2}}\n");
    ASSERT_STR_EQ(slurp(tmp("two.txt")), "{\"data\":{\"v\":1}}\n");
    struct stat st;
    ASSERT_INT_EQ(stat(tmp("two.txt"), &st), 0);
    ASSERT_INT_EQ(st.st_mode & 0777, 0600);
    vpd_agent_stats s;
    vpd_agent_runner_stats(r, &s);
    ASSERT_INT_EQ(s.secrets, 2);
    ASSERT_INT_EQ(s.fetches, 2); /* kv/a once for both templates */
    ASSERT_INT_EQ(s.writes, 2);
    /* Unchanged answers after the interval: nothing written, no
     * command. */
    run_for(&loop, 200);
    vpd_agent_runner_stats(r, &s);
    ASSERT(s.fetches >= 4);
    ASSERT_INT_EQ(s.writes, 2);
    /* A changed answer is rendered within the interval, and the command
     * runs once for it. */
    vault_set("kv/b", 200, "{\"data\":{\"v\":3}}");
    run_for(&loop, 300);
    ASSERT_STR_EQ(slurp(tmp("one.txt")),
                  "{\"data\":{\"v\":1}}\n{\"data\":{\"v\":3}}\n");
    ASSERT_STR_EQ(slurp(tmp("two.txt")), "{\"data\":{\"v\":1}}\n");
    vpd_agent_runner_stats(r, &s);
    ASSERT_INT_EQ(s.writes, 3);
    ASSERT_INT_EQ(s.commands, 2);
    run_for(&loop, 100);
    ASSERT_STR_EQ(slurp(tmp("cmd.log")), "x\nx\n");
    stop(&loop, r);
    vpd_config_free(cfg);
}

TEST(wait_debounces_changes)
{
    char text[1024];
    snprintf(text, sizeof text,
             AUTH "template_config {\n static_secret_render_interval = "
                  "\"100ms\"\n}\n"
                  "template {\n contents = \"R:kv/w\"\n destination = \"%s\"\n"
                  " wait {\n min = \"600ms\"\n max = \"5s\"\n }\n}\n",
             tmp("w.txt"));
    vpd_config *cfg = load(text);
    vault_set("kv/w", 200, "1");
    uv_loop_t loop;
    uv_loop_init(&loop);
    vpd_agent_runner *r = start(&loop, cfg, false);
    /* The first render is not held back. */
    run_for(&loop, 80);
    ASSERT_STR_EQ(slurp(tmp("w.txt")), "1\n");
    vault_set("kv/w", 200, "2");
    run_for(&loop, 200);
    vault_set("kv/w", 200, "3");
    run_for(&loop, 200);
    ASSERT_STR_EQ(slurp(tmp("w.txt")), "1\n"); /* still held */
    run_for(&loop, 1200);
    ASSERT_STR_EQ(slurp(tmp("w.txt")), "3\n");
    vpd_agent_stats s;
    vpd_agent_runner_stats(r, &s);
    ASSERT_INT_EQ(s.writes, 2); /* two changes, one write */
    stop(&loop, r);
    vpd_config_free(cfg);
}

TEST(renewable_lease_is_renewed_not_refetched)
{
    char text[1024];
    snprintf(text, sizeof text,
             AUTH "template {\n contents = \"R:db/creds/x\"\n destination = "
                  "\"%s\"\n}\n",
             tmp("db.txt"));
    vpd_config *cfg = load(text);
    vault_set("db/creds/x", 200,
              "{\"lease_id\":\"l1\",\"renewable\":true,\"lease_duration\":1,"
              "\"data\":{\"u\":\"a\"}}");
    reads = renews = 0;
    uv_loop_t loop;
    uv_loop_init(&loop);
    vpd_agent_runner *r = start(&loop, cfg, false);
    /* Renewed at about two thirds of each 1 s lease; never below the
     * 1 s floor of the schedule. */
    run_for(&loop, 2600);
    ASSERT_INT_EQ(reads, 1);
    ASSERT(renews >= 1);
    stop(&loop, r);
    vpd_config_free(cfg);
}

/* lease_renewal_threshold sets the fraction of a non-renewable lease at
 * which the secret is read again: with 0.5, a 4 s lease is read again
 * between 1.8 s and 2.2 s (0.5 +- 5 %); the default 0.9 would wait until
 * 3.4 s at least. */
TEST(lease_renewal_threshold_sets_the_refetch_point)
{
    vpd_agent_lease fixed = {true, false, 100000};
    for (int i = 0; i < 200; i++) {
        vpd_agent_next n = vpd_agent_schedule(&fixed, 0.5, 300000);
        ASSERT_INT_EQ(n.kind, VPD_AGENT_NEXT_REFETCH);
        ASSERT(n.delay_ms >= 45000 && n.delay_ms <= 55000);
    }
    char text[1024];
    snprintf(text, sizeof text,
             AUTH "template_config {\n lease_renewal_threshold = 0.5\n}\n"
                  "template {\n contents = \"R:db/static/x\"\n destination = "
                  "\"%s\"\n}\n",
             tmp("lease.txt"));
    vpd_config *cfg = load(text);
    vault_set("db/static/x", 200,
              "{\"lease_id\":\"l2\",\"renewable\":false,"
              "\"lease_duration\":4,\"data\":{\"u\":\"a\"}}");
    reads = renews = 0;
    uv_loop_t loop;
    uv_loop_init(&loop);
    vpd_agent_runner *r = start(&loop, cfg, false);
    run_for(&loop, 1600);
    ASSERT_INT_EQ(reads, 1);
    run_for(&loop, 1100);
    ASSERT_INT_EQ(reads, 2);
    ASSERT_INT_EQ(renews, 0);
    stop(&loop, r);
    vpd_config_free(cfg);
}

/* max_connections_per_host = 3: 30 distinct secrets are fetched at most
 * three at a time, and every template still renders all of them. */
TEST(max_connections_per_host_bounds_fetches)
{
    char text[4096];
    size_t at = (size_t)snprintf(
        text, sizeof text,
        AUTH "template_config {\n max_connections_per_host = 3\n}\n");
    for (int t = 0; t < 3; t++) {
        at += (size_t)snprintf(text + at, sizeof text - at,
                               "template {\n contents = \"");
        for (int k = 0; k < 10; k++)
            at += (size_t)snprintf(text + at, sizeof text - at, "R:kv/c%d ",
                                   t * 10 + k);
        at += (size_t)snprintf(text + at, sizeof text - at,
                               "\"\n destination = \"%s\"\n}\n",
                               tmp(t == 0   ? "c0.txt"
                                   : t == 1 ? "c1.txt"
                                            : "c2.txt"));
    }
    vpd_config *cfg = load(text);
    for (int i = 0; i < 30; i++) {
        char p[32], b[32];
        snprintf(p, sizeof p, "kv/c%d", i);
        snprintf(b, sizeof b, "%d", i);
        vault_set(p, 200, b);
    }
    in_flight = max_in_flight = 0;
    exit_code = -100;
    uv_loop_t loop;
    uv_loop_init(&loop);
    vpd_agent_runner *r = start(&loop, cfg, true);
    run_for(&loop, 300);
    ASSERT_INT_EQ(exit_code, 0);
    ASSERT_INT_EQ(max_in_flight, 3);
    vpd_agent_stats s;
    vpd_agent_runner_stats(r, &s);
    ASSERT_INT_EQ(s.fetches, 30);
    ASSERT_INT_EQ(s.writes, 3);
    ASSERT_STR_EQ(slurp(tmp("c1.txt")),
                  "10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n");
    stop(&loop, r);
    vpd_config_free(cfg);
}

TEST(write_with_arguments_and_one_shot)
{
    char text[1024];
    snprintf(text, sizeof text,
             AUTH "template {\n contents = \"W:pki/issue/r:common_name=a.b\"\n"
                  " destination = \"%s\"\n}\n",
             tmp("cert.txt"));
    vpd_config *cfg = load(text);
    vault_set("pki/issue/r", 200, "{\"data\":{\"certificate\":\"C\"}}");
    writes = 0;
    exit_code = -100;
    uv_loop_t loop;
    uv_loop_init(&loop);
    vpd_agent_runner *r = start(&loop, cfg, true);
    run_for(&loop, 100);
    ASSERT_INT_EQ(exit_code, 0);
    ASSERT_INT_EQ(writes, 1);
    ASSERT_STR_EQ(last_write_body, "{\"common_name\":\"a.b\"}");
    ASSERT_STR_EQ(slurp(tmp("cert.txt")),
                  "{\"data\":{\"certificate\":\"C\"}}\n");
    stop(&loop, r);
    vpd_config_free(cfg);
}

TEST(exit_on_retry_failure)
{
    char text[1024];
    snprintf(text, sizeof text,
             AUTH "vault {\n retry {\n num_retries = 2\n }\n}\n"
                  "template_config {\n exit_on_retry_failure = true\n}\n"
                  "template {\n contents = \"R:kv/missing\"\n destination = "
                  "\"%s\"\n}\n",
             tmp("never.txt"));
    vpd_config *cfg = load(text);
    reads = 0;
    exit_code = -100;
    uv_loop_t loop;
    uv_loop_init(&loop);
    vpd_agent_runner *r = start(&loop, cfg, false);
    run_for(&loop, 300);
    ASSERT_INT_EQ(exit_code, 1);
    ASSERT_INT_EQ(reads, 3); /* the first attempt and two retries */
    ASSERT(slurp(tmp("never.txt")) == NULL);
    stop(&loop, r);
    vpd_config_free(cfg);
}

TEST(bad_template_fails_at_start)
{
    vpd_config *cfg = load(AUTH "template {\n contents = \"BAD\"\n"
                                " destination = \"/x\"\n}\n");
    uv_loop_t loop;
    uv_loop_init(&loop);
    vpd_agent_runner_deps deps = {.cfg = cfg,
                                  .engine = &fake_engine,
                                  .fetch = fake_fetch,
                                  .fetch_ctx = &loop};
    ASSERT_NULL(vpd_agent_runner_new(&loop, &deps, err, sizeof err));
    ASSERT_STR_CONTAINS(err, "a.hcl:4: template: /x:1:1: bad template");
    uv_loop_close(&loop);
    vpd_config_free(cfg);
}

/* 100 templates, each reading 10 of 1,000 secrets: everything fetched
 * once and rendered well under a second (with the fake engine, the
 * runner's own cost; with the template library, the whole render). */
static void
benchmark(bool real)
{
    /* Files in memory when possible: the render is measured, not the
     * disk's fsync. */
    char bench_dir[128];
    snprintf(bench_dir, sizeof bench_dir, "%s", tmp("bench"));
    if (access("/dev/shm", W_OK) == 0)
        snprintf(bench_dir, sizeof bench_dir, "/dev/shm/vp_bench.%ld",
                 (long)getpid());
    size_t cap = 100 * 1200;
    char *text = malloc(cap);
    size_t at = (size_t)snprintf(text, cap, "%s", AUTH);
    for (int t = 0; t < 100; t++) {
        at +=
            (size_t)snprintf(text + at, cap - at, "template {\n contents = \"");
        for (int k = 0; k < 10; k++)
            at += (size_t)snprintf(
                text + at, cap - at,
                real ? "{{ with secret \\\"kv/s%d\\\" }}{{ .Data.data.value "
                       "}}{{ end }} "
                     : "R:kv/s%d ",
                t * 10 + k);
        at +=
            (size_t)snprintf(text + at, cap - at,
                             "\"\n destination = \"%s/%d\"\n}\n", bench_dir, t);
    }
    vpd_config *cfg = load(text);
    free(text);
    n_vault = 0;
    for (int i = 0; i < 1000; i++) {
        char p[32], b[64];
        snprintf(p, sizeof p, "kv/s%d", i);
        snprintf(b, sizeof b, "{\"data\":{\"data\":{\"value\":%d}}}", i);
        vault_set(p, 200, b);
    }
    engine = real ? &vpd_agent_tmpl_engine : &fake_engine;
    exit_code = -100;
    uv_loop_t loop;
    uv_loop_init(&loop);
    uint64_t t0 = uv_hrtime();
    clock_t c0 = clock();
    vpd_agent_runner *r = start(&loop, cfg, true);
    while (exit_code == -100 && uv_hrtime() - t0 < 10000000000ull)
        uv_run(&loop, UV_RUN_ONCE);
    double secs = (double)(uv_hrtime() - t0) / 1e9;
    /* CPU time is what the box spends; the wall clock also counts the
     * other processes sharing it. */
    double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    vpd_agent_stats s;
    vpd_agent_runner_stats(r, &s);
    fprintf(stderr,
            "# benchmark (%s engine): 100 templates over 1000 secrets: "
            "%.3f s wall, %.3f s CPU, %zu renders, %zu fetches\n",
            real ? "template library" : "fake", secs, cpu, s.renders,
            s.fetches);
    ASSERT_INT_EQ(exit_code, 0);
    ASSERT_INT_EQ(s.fetches, 1000);
    ASSERT_INT_EQ(s.writes, 100);
    ASSERT(cpu < 1.0);
    if (real) {
        char seven[160];
        snprintf(seven, sizeof seven, "%s/7", bench_dir);
        ASSERT_STR_EQ(slurp(seven), "70 71 72 73 74 75 76 77 78 79 ");
    }
    char cmd[192];
    snprintf(cmd, sizeof cmd, "rm -rf %s", bench_dir);
    if (system(cmd) != 0)
        TEST_FAIL_("cannot remove %s", bench_dir);
    stop(&loop, r);
    vpd_config_free(cfg);
}

TEST(benchmark_100_templates_1000_secrets)
{
    benchmark(false);
}

TEST(benchmark_with_the_template_library)
{
    benchmark(true);
}

int
main(void)
{
    /* One scratch directory for every test (each runs in a child). */
    snprintf(dir, sizeof dir, "/tmp/vp_test_agent_runner.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = RUN_TESTS(
        T(schedule_rules), T(dedup_render_and_refresh),
        T(wait_debounces_changes), T(renewable_lease_is_renewed_not_refetched),
        T(lease_renewal_threshold_sets_the_refetch_point),
        T(max_connections_per_host_bounds_fetches),
        T(write_with_arguments_and_one_shot), T(exit_on_retry_failure),
        T(bad_template_fails_at_start), T(benchmark_100_templates_1000_secrets),
        T(benchmark_with_the_template_library));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (dir[0] && system(cmd) != 0)
        rc = 1;
    return rc;
}
