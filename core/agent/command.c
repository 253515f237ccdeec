/* Running a template's command (command.h). */
#include "autoconf.h"

#include "agent/command.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    uv_process_t proc;
    uv_timer_t timer;
    int open_handles;
    int status;
    bool timed_out;
    vpd_agent_command_done done;
    void *arg;
} run;

static void
on_closed(uv_handle_t *h)
{
    run *r = h->data;
    if (--r->open_handles > 0)
        return;
    r->done(r->timed_out ? -1 : r->status, r->arg);
    free(r);
}

static void
free_run(uv_handle_t *h)
{
    free(h->data);
}

static void
on_exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
    run *r = p->data;
    r->status = term_signal ? 128 + term_signal : (int)exit_status;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->proc, on_closed);
    uv_close((uv_handle_t *)&r->timer, on_closed);
}

static void
on_timeout(uv_timer_t *t)
{
    run *r = t->data;
    r->timed_out = true;
    uv_process_kill(&r->proc, SIGKILL);
}

int
vpd_agent_command_run(uv_loop_t *loop, const char *const *argv, size_t n,
                      bool shell, uint64_t timeout_ms,
                      vpd_agent_command_done done, void *arg, char *err,
                      size_t err_len)
{
    if (n == 0) {
        snprintf(err, err_len, "empty command");
        return -1;
    }
    run *r = calloc(1, sizeof *r);
    char **args = calloc(n + 3, sizeof *args);
    if (!r || !args) {
        free(r);
        free(args);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    size_t k = 0;
    if (shell) {
        args[k++] = "/bin/sh";
        args[k++] = "-c";
    }
    for (size_t i = 0; i < n; i++)
        args[k++] = (char *)argv[i];
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = 1},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    uv_process_options_t opt = {
        .exit_cb = on_exit_cb,
        .file = args[0],
        .args = args,
        .stdio = stdio,
        .stdio_count = 3,
    };
    r->done = done;
    r->arg = arg;
    r->proc.data = r;
    int rc = uv_spawn(loop, &r->proc, &opt);
    free(args);
    if (rc != 0) {
        snprintf(err, err_len, "cannot start %s: %s", argv[0], uv_strerror(rc));
        /* A failed spawn still initialised the handle: r goes with it. */
        uv_close((uv_handle_t *)&r->proc, free_run);
        return -1;
    }
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    r->open_handles = 2;
    if (timeout_ms)
        uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
    return 0;
}
