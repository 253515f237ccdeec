/* Agent mode in the daemon: with template, env_template or exec blocks
 * (vaproxyd.hcl(5), AGENT MODE) vaproxyd also renders templates and
 * supervises a child, beside its listeners and proxy as Vault Agent
 * does.  This glues the runner (agent/runner.h) to the router's local
 * requests and to the supervisor (agent/supervisor.h).
 *
 * Ownership: borrows the config and the router, which must outlive it;
 * vpd_agent_mode_close stops it and it frees itself once its runner and
 * child are gone. */
#ifndef VPD_APP_AGENT_MODE_H
#define VPD_APP_AGENT_MODE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "config/config.h"
#include "proxy/router.h"

typedef struct vpd_agent_mode vpd_agent_mode;

/* Whether the config asks for agent mode. */
bool vpd_agent_mode_wanted(const vpd_config *cfg);

/* Compiles every template (a start and --check-config fail on a bad
 * one).  Returns 0, or -1 with "FILE:LINE: template: ..." in err. */
int vpd_agent_mode_check(const vpd_config *cfg, char *err, size_t err_len);

/* once: render everything, run the commands, then on_exit(0).  on_exit
 * also reports the child's status and a give-up (1). */
vpd_agent_mode *vpd_agent_mode_new(uv_loop_t *loop, const vpd_config *cfg,
                                   vpd_router *router, bool once,
                                   void (*on_exit)(int code, void *arg),
                                   void *arg, char *err, size_t err_len);

/* Auto-auth has a token: rendering begins (again calls are harmless). */
void vpd_agent_mode_token(vpd_agent_mode *a);

/* Passes a signal to the supervised child.  Returns true when a child
 * took it (its exit then ends vaproxyd). */
bool vpd_agent_mode_signal(vpd_agent_mode *a, int signum);

void vpd_agent_mode_close(vpd_agent_mode *a);

#endif
