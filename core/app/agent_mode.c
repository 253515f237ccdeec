/* Agent mode's wiring (agent_mode.h). */
#include "autoconf.h"

#include "app/agent_mode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/engine_tmpl.h"
#include "agent/runner.h"
#include "agent/supervisor.h"
#include "base/log.h"

struct vpd_agent_mode {
    vpd_agent_runner *runner;   /* NULL without templates */
    vpd_supervisor *supervisor; /* NULL without exec */
    void (*on_exit)(int code, void *arg);
    void *arg;
};

bool
vpd_agent_mode_wanted(const vpd_config *cfg)
{
    return cfg->n_templates || cfg->n_env_templates || cfg->exec.present;
}

/* The runner's requests go through the router like a client's. */
static int
router_fetch(void *ctx, const char *method, const char *target,
             const char *body, size_t body_len, vpd_agent_fetch_done done,
             void *arg)
{
    return vpd_router_local(ctx, method, target, body, body_len, done, arg);
}

static int
fail_fetch(void *ctx, const char *method, const char *target, const char *body,
           size_t body_len, vpd_agent_fetch_done done, void *arg)
{
    (void)ctx, (void)method, (void)target, (void)body, (void)body_len;
    (void)done, (void)arg;
    return -1;
}

int
vpd_agent_mode_check(const vpd_config *cfg, char *err, size_t err_len)
{
    if (!cfg->n_templates && !cfg->n_env_templates)
        return 0;
    uv_loop_t loop;
    uv_loop_init(&loop);
    vpd_agent_runner_deps deps = {
        .cfg = cfg, .engine = &vpd_agent_tmpl_engine, .fetch = fail_fetch};
    vpd_agent_runner *r = vpd_agent_runner_new(&loop, &deps, err, err_len);
    if (r)
        vpd_agent_runner_close(r);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return r ? 0 : -1;
}

static void
on_env(const char *const *names, const char *const *values, size_t n, void *arg)
{
    vpd_agent_mode *a = arg;
    if (a->supervisor)
        vpd_supervisor_set_env(a->supervisor, names, values, n);
}

static void
on_runner_exit(int code, void *arg)
{
    vpd_agent_mode *a = arg;
    a->on_exit(code, a->arg);
}

static void
on_child_exit(int status, void *arg)
{
    vpd_agent_mode *a = arg;
    a->on_exit(status, a->arg);
}

vpd_agent_mode *
vpd_agent_mode_new(uv_loop_t *loop, const vpd_config *cfg, vpd_router *router,
                   bool once, void (*on_exit)(int code, void *arg), void *arg,
                   char *err, size_t err_len)
{
    vpd_agent_mode *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    a->on_exit = on_exit;
    a->arg = arg;
    if (cfg->n_templates || cfg->n_env_templates) {
        vpd_agent_runner_deps deps = {
            .cfg = cfg,
            .engine = &vpd_agent_tmpl_engine,
            .fetch = router_fetch,
            .fetch_ctx = router,
            .once = once && !cfg->exec.present,
            .on_env = on_env,
            .on_exit = on_runner_exit,
            .arg = a,
        };
        /* VAPROXY_RETRY_WAIT_MS="MIN,MAX" shortens the waits between
         * fetch retries, as it does the proxy's (the test suite's). */
        const char *w = getenv("VAPROXY_RETRY_WAIT_MS");
        unsigned lo, hi;
        if (w && sscanf(w, "%u,%u", &lo, &hi) == 2 && lo <= hi) {
            deps.retry_min_ms = lo;
            deps.retry_max_ms = hi;
        }
        if (!(a->runner = vpd_agent_runner_new(loop, &deps, err, err_len))) {
            free(a);
            return NULL;
        }
    }
    if (cfg->exec.present) {
        a->supervisor =
            vpd_supervisor_new(loop, &cfg->exec, NULL, on_child_exit, a);
        if (!a->supervisor) {
            vpd_agent_runner_close(a->runner);
            free(a);
            snprintf(err, err_len, "out of memory");
            return NULL;
        }
        /* Without env templates the child needs nothing rendered. */
        if (!cfg->n_env_templates)
            vpd_supervisor_set_env(a->supervisor, NULL, NULL, 0);
    }
    return a;
}

void
vpd_agent_mode_token(vpd_agent_mode *a)
{
    if (a && a->runner)
        vpd_agent_runner_start(a->runner);
}

bool
vpd_agent_mode_signal(vpd_agent_mode *a, int signum)
{
    return a && vpd_supervisor_forward(a->supervisor, signum) == 1;
}

void
vpd_agent_mode_close(vpd_agent_mode *a)
{
    if (!a)
        return;
    vpd_agent_runner_close(a->runner);
    vpd_supervisor_close(a->supervisor);
    free(a);
}
