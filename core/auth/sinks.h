/* The sink server (sinks in vaproxyd.hcl(5)): hands every new auto-auth token
 * to each configured sink -- wrapped first when the sink has wrap_ttl,
 * encrypted when it has dh_type -- retrying a failure after 2 s +- 1 s until it
 * succeeds or a newer token replaces it.  An unchanged token is not
 * written again.
 *
 * Ownership: vpd_sinks borrows the loop and the config; it owns wiped
 * copies of the tokens it still has to write. */
#ifndef VPD_SINKS_H
#define VPD_SINKS_H

#include <stdbool.h>
#include <uv.h>

#include "config/config.h"
#include "upstream/forward.h"

typedef struct vpd_sinks vpd_sinks;

/* Builds the sinks of auto_auth and runs each file sink's write check.
 * `fwd` sends sink wrapping requests (wrap_ttl) and must outlive the
 * sinks.  Returns NULL with "FILE:LINE: ..." in err on a bad sink. */
vpd_sinks *vpd_sinks_new(uv_loop_t *loop, const vpd_auto_auth_config *aa,
                         vpd_fwd *fwd, char *err, size_t err_len);

size_t vpd_sinks_count(const vpd_sinks *s);

/* Queues the token (or wrap-info JSON) for every sink.  Returns at once;
 * writes happen now or on retry timers. */
void vpd_sinks_deliver(vpd_sinks *s, const char *token);

/* Calls fn each time every sink holds the latest token. */
void vpd_sinks_on_all_written(vpd_sinks *s, void (*fn)(void *), void *arg);

/* Stops retries; `done` runs when the timers are closed. */
void vpd_sinks_close(vpd_sinks *s, void (*done)(void *), void *arg);

#endif
