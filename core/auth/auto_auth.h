/* Auto-auth: logs in with the configured auth method plugin, keeps the
 * token renewed, logs in again when renewal fails or the max TTL nears,
 * and backs off after failed logins (auto_auth in vaproxyd.hcl(5)).  The
 * plugin describes
 * the requests; this file sends them through the forwarder.
 *
 * Ownership: the lifecycle borrows the loop, forwarder, method instance and
 * token holder, which must outlive it. */
#ifndef VPD_AUTO_AUTH_H
#define VPD_AUTO_AUTH_H

#include <uv.h>

#include "config/config.h"
#include "upstream/forward.h"
#include "base/secmem.h"
#include "plugin/login.h"
#include "plugin/plugin_instance.h"
#include "auth/token_holder.h"

typedef struct vpd_auto_auth vpd_auto_auth;

typedef struct {
    /* A new token (or, with method wrap_ttl, the wrap_info JSON) arrived. */
    void (*on_token)(const char *token_or_wrap_info, bool wrapped, void *arg);
    /* exit_on_err and a login failed: the daemon should exit(1). */
    void (*on_fatal)(const char *why, void *arg);
    void *arg;
    /* A login attempt ended (ok or failed); may be NULL.  The daemon
     * tells systemd it is ready after the first one. */
    void (*on_login_done)(bool ok, void *arg);
} vpd_auto_auth_events;

vpd_auto_auth *vpd_auto_auth_new(uv_loop_t *loop,
                                 const vpd_method_config *method,
                                 vpd_instance *inst, vpd_fwd *fwd,
                                 vpd_token_holder *holder,
                                 const vpd_auto_auth_events *events);

void vpd_auto_auth_start(vpd_auto_auth *a);

/* Before start: a token restored from the persistent cache, looked up
 * first so that no new login is needed while it is valid (copied).
 * Returns 0 or -1. */
int vpd_auto_auth_preload(vpd_auto_auth *a, const char *token);

/* Logs in again now (unless a login is already under way): used when the
 * server says the token is invalid.  Returns immediately. */
void vpd_auto_auth_reauth(vpd_auto_auth *a);

/* SIGHUP with a changed method block: logs in with `method` and `inst`
 * from now on, at once (a login of the old method under way is
 * abandoned; a renewal under way finishes first).  The current token
 * stays in use until the new login succeeds.  Both are borrowed like the
 * ones given to vpd_auto_auth_new; the old ones are no longer used when
 * this returns, so the caller may free them. */
void vpd_auto_auth_replace_method(vpd_auto_auth *a,
                                  const vpd_method_config *method,
                                  vpd_instance *inst);

/* Stops timers and abandons requests under way; `done` runs once every
 * handle is closed (the loop must keep running until then). */
void vpd_auto_auth_close(vpd_auto_auth *a, void (*done)(void *), void *arg);

/* Totals for the metrics (Vault's agent.auth.success / .failure). */
typedef struct {
    uint64_t login_attempts; /* logins started, restored-token lookups too */
    uint64_t successes;      /* logins and token renewals that succeeded */
    uint64_t failures;       /* logins, lookups and renewals that failed */
} vpd_auto_auth_counters;

const vpd_auto_auth_counters *
vpd_auto_auth_counters_get(const vpd_auto_auth *a);

/* True while a login (not a renewal) is under way. */
bool vpd_auto_auth_logging_in(const vpd_auto_auth *a);

/* The answer parsers, public within the core for the fuzz target
 * (tests/fuzz/fuzz_auto_auth.c); both read upstream's bytes.
 *
 * vpd_auto_auth_answer_error: the first error text of a failed answer
 * (or the transport error), for the log, into out.
 * vpd_auto_auth_extract_token: the token, lease and renewability of a
 * login answer ("auth" block) or, with lookup, a token lookup answer
 * ("data" block).  body is NUL-terminated.  Returns 0 with *token a
 * secret buffer (vpd_secret_free), or -1 with why filled in. */
void vpd_auto_auth_answer_error(const vpd_fwd_resp *resp, char *out,
                                size_t len);
int vpd_auto_auth_extract_token(const char *body, bool lookup, char **token,
                                uint64_t *lease_s, bool *renewable, char *why,
                                size_t why_len);

#endif
