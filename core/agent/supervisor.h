/* The process supervisor (exec { } in vaproxyd.hcl(5), AGENT MODE): runs
 * the configured command as vaproxyd's child once every env_template has
 * rendered, with those variables added to vaproxyd's environment.
 *
 *   - New values (debounced for 2 s) restart the child when
 *     restart_on_secret_changes is "always": restart_stop_signal, then
 *     SIGKILL after 30 s, then a new child with the new values.
 *   - Signals vaproxyd receives (TERM, INT, HUP) are passed on to it.
 *   - When the child exits on its own, on_exit gets its status (128 + N
 *     after signal N), which vaproxyd then exits with, as Vault Agent
 *     does.
 *
 * The command is started with uv_spawn, argv as given: no shell unless
 * the command is one.
 *
 * Ownership: the supervisor borrows the exec config (it must outlive it)
 * and owns its copy of the environment and its handles; it frees itself
 * after vpd_supervisor_close once the child is gone. */
#ifndef VPD_AGENT_SUPERVISOR_H
#define VPD_AGENT_SUPERVISOR_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config/config_agent.h"

typedef struct vpd_supervisor vpd_supervisor;

typedef struct {
    uint64_t debounce_ms;  /* 0: 2 s */
    uint64_t kill_wait_ms; /* 0: 30 s */
} vpd_supervisor_timing;

vpd_supervisor *vpd_supervisor_new(uv_loop_t *loop, const vpd_exec_config *cfg,
                                   const vpd_supervisor_timing *timing,
                                   void (*on_exit)(int status, void *arg),
                                   void *arg);

/* The env templates' values.  The first call starts the child; later
 * ones restart it (debounced) when the policy says so and a value
 * changed.  n may be 0 (no env templates). */
void vpd_supervisor_set_env(vpd_supervisor *s, const char *const *names,
                            const char *const *values, size_t n);

/* Passes signum on to the child, if one runs.  Returns 1 when it did. */
int vpd_supervisor_forward(vpd_supervisor *s, int signum);

/* Whether a child runs now. */
int vpd_supervisor_running(const vpd_supervisor *s);

/* Stops restarting; sends SIGTERM (SIGKILL 30 s later) to a running child
 * and frees everything once it is gone.  on_exit no longer runs. */
void vpd_supervisor_close(vpd_supervisor *s);

#endif
