/* A template's command: run once after its destination changed, bounded
 * by command_timeout (killed when it runs longer).  A list is run as
 * argv without a shell; a single string is the user's shell command and
 * goes to /bin/sh -c, as consul-template runs it.  The child shares
 * vaproxyd's stdout and stderr.
 *
 * Ownership: the run owns its libuv handles and frees them after `done`
 * ran; argv is copied by uv_spawn before vpd_agent_command_run returns. */
#ifndef VPD_AGENT_COMMAND_H
#define VPD_AGENT_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* status: the exit code, 128 + N after signal N, or -1 on a timeout. */
typedef void (*vpd_agent_command_done)(int status, void *arg);

/* Starts the command.  Returns 0 (done runs later, once) or -1 with a
 * message (done never runs). */
int vpd_agent_command_run(uv_loop_t *loop, const char *const *argv, size_t n,
                          bool shell, uint64_t timeout_ms,
                          vpd_agent_command_done done, void *arg, char *err,
                          size_t err_len);

#endif
