/* The agent runner: renders every `template` and `env_template` block
 * (vaproxyd.hcl(5), AGENT MODE) from secrets it fetches through the
 * daemon's own request path, and keeps them fresh.
 *
 *   - A secret is fetched once however many templates use it; templates
 *     name what they need as they render (engine.h), and a template is
 *     rendered again once everything it asked for has arrived.
 *   - Refresh follows schedule.h: renewable leases are renewed, other
 *     leases fetched again near their end, lease-less secrets every
 *     static_secret_render_interval.  A failed fetch is retried with
 *     exponential backoff; after vault.retry.num_retries failures in a row
 *     template_config.exit_on_retry_failure makes the runner give up.
 *   - At most template_config.max_connections_per_host requests wait for
 *     an answer at once; the rest queue, oldest first.
 *   - A destination is written only when its text changed (dest_file.h),
 *     then its command runs (command.h); `wait` debounces the renders of
 *     one template.
 *   - Env templates: once every one has rendered, on_env gets all their
 *     values, and again whenever one changes.
 *   - One-shot (`once`): every template rendered and every command done,
 *     then on_exit(0).
 *
 * Ownership: the runner borrows the config, the engine and the fetcher,
 * which must outlive it.  vpd_agent_runner_close stops it; it frees
 * itself once its fetches have answered and its handles closed. */
#ifndef VPD_AGENT_RUNNER_H
#define VPD_AGENT_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "agent/engine.h"
#include "config/config.h"
#include "http/hdrs.h"

/* The answer to a fetch; the shape of vpd_router_local_fn. */
typedef void (*vpd_agent_fetch_done)(int status, const vpd_hdrs *hdrs,
                                     const char *body, size_t len, void *arg);

/* Sends one request (method, "/v1/..." target, body).  Returns 0 (done
 * runs exactly once) or -1 (done never runs). */
typedef int (*vpd_agent_fetch_fn)(void *ctx, const char *method,
                                  const char *target, const char *body,
                                  size_t body_len, vpd_agent_fetch_done done,
                                  void *arg);

typedef struct {
    const vpd_config *cfg;
    const vpd_agent_engine *engine;
    vpd_agent_fetch_fn fetch;
    void *fetch_ctx;
    bool once; /* render everything once, run the commands, then exit */
    /* Every env template's value, in config order; may be NULL. */
    void (*on_env)(const char *const *names, const char *const *values,
                   size_t n, void *arg);
    /* The runner is finished (one-shot) or gave up: the daemon exits. */
    void (*on_exit)(int code, void *arg);
    void *arg;
    uint64_t retry_min_ms; /* fetch backoff; 0: 250 ms */
    uint64_t retry_max_ms; /* 0: 1 min */
} vpd_agent_runner_deps;

typedef struct vpd_agent_runner vpd_agent_runner;

/* Reads template sources and compiles every template, so that a bad one
 * fails the start.  Returns NULL with "FILE:LINE: template: ..." in err. */
vpd_agent_runner *vpd_agent_runner_new(uv_loop_t *loop,
                                       const vpd_agent_runner_deps *deps,
                                       char *err, size_t err_len);

/* Begins rendering (once auto-auth has a token). */
void vpd_agent_runner_start(vpd_agent_runner *r);

/* Stops timers and commands' follow-ups; the runner frees itself later. */
void vpd_agent_runner_close(vpd_agent_runner *r);

/* For tests and the benchmark: distinct secrets known, renders done,
 * files written, commands started. */
typedef struct {
    size_t secrets;
    size_t fetches;
    size_t renewals;
    size_t renders;
    size_t writes;
    size_t commands;
} vpd_agent_stats;

void vpd_agent_runner_stats(const vpd_agent_runner *r, vpd_agent_stats *out);

#endif
