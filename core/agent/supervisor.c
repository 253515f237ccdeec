/* The process supervisor (supervisor.h). */
#include "autoconf.h"

#include "agent/supervisor.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define COMPONENT "agent.exec"
#define DEFAULT_DEBOUNCE_MS 2000u
#define DEFAULT_KILL_WAIT_MS 30000u

extern char **environ;

struct vpd_supervisor {
    uv_loop_t *loop;
    const vpd_exec_config *cfg;
    uint64_t debounce_ms, kill_wait_ms;
    void (*on_exit)(int status, void *arg);
    void *arg;
    char **env; /* "NAME=value" of the env templates, NULL-terminated */
    size_t n_env;
    bool have_env;
    uv_process_t proc;
    bool running;
    bool stopping; /* we asked it to stop: a restart or a close */
    bool restart_after_exit;
    bool closing;
    uv_timer_t debounce, kill_timer;
    int open_handles;
};

static void
free_env(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

static void
maybe_free(vpd_supervisor *s)
{
    if (s->closing && !s->running && s->open_handles == 0) {
        free_env(s->env);
        free(s);
    }
}

static void
on_timer_closed(uv_handle_t *h)
{
    vpd_supervisor *s = h->data;
    s->open_handles--;
    maybe_free(s);
}

/* vaproxyd's environment with the env templates' variables put over
 * it. */
static char **
child_environment(const vpd_supervisor *s)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **out = calloc(n + s->n_env + 1, sizeof *out);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t j = 0; j < s->n_env && !replaced; j++) {
            size_t len = strcspn(s->env[j], "=");
            replaced = strncmp(environ[i], s->env[j], len) == 0 &&
                       environ[i][len] == '=';
        }
        if (!replaced)
            out[k++] = environ[i];
    }
    for (size_t j = 0; j < s->n_env; j++)
        out[k++] = s->env[j];
    return out;
}

static void spawn_child(vpd_supervisor *s);

static void
on_proc_closed(uv_handle_t *h)
{
    vpd_supervisor *s = h->data;
    s->running = false;
    if (s->closing) {
        uv_close((uv_handle_t *)&s->kill_timer, on_timer_closed);
        return;
    }
    if (s->restart_after_exit) {
        s->restart_after_exit = false;
        spawn_child(s);
    }
}

static void
on_child_exit(uv_process_t *p, int64_t exit_status, int term_signal)
{
    vpd_supervisor *s = p->data;
    int status = term_signal ? 128 + term_signal : (int)exit_status;
    uv_timer_stop(&s->kill_timer);
    bool asked = s->stopping;
    s->stopping = false;
    vpd_log(VPD_LOG_INFO, COMPONENT, "child %d exited with status %d%s", p->pid,
            status, asked ? " (stopped by vaproxyd)" : "");
    if (!asked && !s->closing && s->on_exit) {
        /* It ended on its own: vaproxyd ends with its status. */
        s->restart_after_exit = false;
        s->on_exit(status, s->arg);
    }
    uv_close((uv_handle_t *)p, on_proc_closed);
}

static void
spawn_child(vpd_supervisor *s)
{
    const vpd_exec_config *c = s->cfg;
    char **env = child_environment(s);
    char **argv = calloc(c->n_command + 1, sizeof *argv);
    if (!env || !argv) {
        free(env);
        free(argv);
        vpd_log(VPD_LOG_ERROR, COMPONENT, "out of memory");
        if (s->on_exit)
            s->on_exit(1, s->arg);
        return;
    }
    for (size_t i = 0; i < c->n_command; i++)
        argv[i] = (char *)c->command[i];
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_INHERIT_FD, .data.fd = 0},
        {.flags = UV_INHERIT_FD, .data.fd = 1},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    uv_process_options_t opt = {
        .exit_cb = on_child_exit,
        .file = argv[0],
        .args = argv,
        .env = env,
        .stdio = stdio,
        .stdio_count = 3,
    };
    s->proc.data = s;
    int rc = uv_spawn(s->loop, &s->proc, &opt);
    free(argv);
    free(env);
    if (rc != 0) {
        vpd_log(VPD_LOG_ERROR, COMPONENT, "cannot start %s: %s", c->command[0],
                uv_strerror(rc));
        s->running = true; /* until the handle is closed */
        uv_close((uv_handle_t *)&s->proc, on_proc_closed);
        /* Vault Agent exits when its child cannot start. */
        if (s->on_exit)
            s->on_exit(127, s->arg);
        return;
    }
    s->running = true;
    vpd_log(VPD_LOG_INFO, COMPONENT, "started %s (pid %d)", c->command[0],
            s->proc.pid);
}

static void
on_kill_timer(uv_timer_t *t)
{
    vpd_supervisor *s = t->data;
    if (s->running) {
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "child %d did not stop in time: SIGKILL", s->proc.pid);
        uv_process_kill(&s->proc, SIGKILL);
    }
}

/* Asks the child to stop with sig; SIGKILL follows after kill_wait. */
static void
stop_child(vpd_supervisor *s, int sig)
{
    if (!s->running || s->stopping)
        return;
    s->stopping = true;
    uv_process_kill(&s->proc, sig);
    uv_timer_start(&s->kill_timer, on_kill_timer, s->kill_wait_ms, 0);
}

static void
on_debounce(uv_timer_t *t)
{
    vpd_supervisor *s = t->data;
    if (s->closing)
        return;
    if (!s->running) {
        spawn_child(s);
        return;
    }
    vpd_log(VPD_LOG_INFO, COMPONENT,
            "environment changed: restarting the child with %s",
            s->cfg->restart_stop_signal);
    s->restart_after_exit = true;
    stop_child(s, s->cfg->stop_signal);
}

vpd_supervisor *
vpd_supervisor_new(uv_loop_t *loop, const vpd_exec_config *cfg,
                   const vpd_supervisor_timing *timing,
                   void (*on_exit)(int status, void *arg), void *arg)
{
    vpd_supervisor *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->cfg = cfg;
    s->debounce_ms = timing && timing->debounce_ms ? timing->debounce_ms
                                                   : DEFAULT_DEBOUNCE_MS;
    s->kill_wait_ms = timing && timing->kill_wait_ms ? timing->kill_wait_ms
                                                     : DEFAULT_KILL_WAIT_MS;
    s->on_exit = on_exit;
    s->arg = arg;
    uv_timer_init(loop, &s->debounce);
    uv_timer_init(loop, &s->kill_timer);
    s->debounce.data = s->kill_timer.data = s;
    s->open_handles = 2;
    return s;
}

/* Whether names/values differ from what the child was given. */
static bool
env_differs(const vpd_supervisor *s, const char *const *names,
            const char *const *values, size_t n)
{
    if (!s->have_env || n != s->n_env)
        return true;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        if (strncmp(s->env[i], names[i], len) != 0 || s->env[i][len] != '=' ||
            strcmp(s->env[i] + len + 1, values[i]) != 0)
            return true;
    }
    return false;
}

void
vpd_supervisor_set_env(vpd_supervisor *s, const char *const *names,
                       const char *const *values, size_t n)
{
    if (s->closing || !env_differs(s, names, values, n))
        return;
    char **env = calloc(n + 1, sizeof *env);
    for (size_t i = 0; env && i < n; i++) {
        size_t len = strlen(names[i]) + strlen(values[i]) + 2;
        if (!(env[i] = malloc(len))) {
            free_env(env);
            env = NULL;
            break;
        }
        snprintf(env[i], len, "%s=%s", names[i], values[i]);
    }
    if (!env) {
        vpd_log(VPD_LOG_ERROR, COMPONENT, "out of memory");
        return;
    }
    bool first = !s->have_env;
    free_env(s->env);
    s->env = env;
    s->n_env = n;
    s->have_env = true;
    if (first) {
        spawn_child(s);
        return;
    }
    if (strcmp(s->cfg->restart_on_secret_changes, "always") != 0) {
        vpd_log(VPD_LOG_INFO, COMPONENT,
                "environment changed; not restarting the child "
                "(restart_on_secret_changes is \"never\")");
        return;
    }
    /* Several changes close together make one restart. */
    uv_timer_start(&s->debounce, on_debounce, s->debounce_ms, 0);
}

int
vpd_supervisor_forward(vpd_supervisor *s, int signum)
{
    if (!s || !s->running)
        return 0;
    vpd_log(VPD_LOG_INFO, COMPONENT, "passing signal %d to child %d", signum,
            s->proc.pid);
    uv_process_kill(&s->proc, signum);
    return 1;
}

int
vpd_supervisor_running(const vpd_supervisor *s)
{
    return s && s->running;
}

void
vpd_supervisor_close(vpd_supervisor *s)
{
    if (!s || s->closing)
        return;
    s->closing = true;
    s->restart_after_exit = false;
    uv_timer_stop(&s->debounce);
    stop_child(s, SIGTERM);
    uv_close((uv_handle_t *)&s->debounce, on_timer_closed);
    /* The kill timer stays until the child is gone (on_proc_closed). */
    if (!s->running)
        uv_close((uv_handle_t *)&s->kill_timer, on_timer_closed);
}
