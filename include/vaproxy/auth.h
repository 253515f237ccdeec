/* SPDX-License-Identifier: Apache-2.0 */
/* vaproxy SDK: auth method plugins (kind VP_KIND_AUTH).
 *
 * An auth method does no I/O of its own.  It describes the login request
 * (path, body, token, TLS identity) through the host's login_* functions
 * and reads the answer.  The core sends it, extracts the token, renews it,
 * backs off after failures and logs in again when the token dies.
 *
 * A login is one or more round trips: login_begin describes the first
 * request; login_step reads each answer and either finishes (VP_DONE: this
 * answer carries the token), describes one more request (VP_CONTINUE, e.g.
 * unwrapping a wrapped secret id before the real login), or fails.
 */
#ifndef VAPROXY_AUTH_H
#define VAPROXY_AUTH_H

#include "host.h"

VP_BEGIN_DECLS

/* An answer from the Vault server, borrowed for the call. */
typedef struct vp_auth_answer {
    int status;    /* HTTP status (login_step: always < 400; login_failed:
                      the error status, or 0 when no answer arrived) */
    vp_str_t body; /* JSON; may hold secrets: do not log it (login_failed
                      without an answer: the transport error's text) */
    uint32_t size; /* sizeof(vp_auth_answer_t) of the host (1.2; hosts
                      before 1.2 pass the struct without it, so read it
                      only in hooks added in 1.2, or after checking
                      host->abi_minor >= 2) */
} vp_auth_answer_t;

/* What login_failed says about a failed login (1.2). */
typedef enum vp_auth_failure {
    /* Retry after the method block's backoff (min_backoff, doubling up to
     * max_backoff), as for every failure before 1.2. */
    VP_AUTH_FAIL_TRANSIENT = 0,
    /* Retrying cannot help (a rejected role, a malformed credential):
     * log once and wait until the method calls host->reauth (its
     * credential changed) or a SIGHUP changes its block. */
    VP_AUTH_FAIL_PERMANENT = 1
} vp_auth_failure_t;

typedef struct vp_auth_ops {
    size_t size; /* sizeof(vp_auth_ops_t) */

    /* Checks the instance's configuration and sets up inst->data.
     * Returns 0, or a VP_E* code after set_error.  Async: no.  Since 1.0. */
    int (*create)(vp_instance_t *inst);

    /* Releases inst->data.  May be NULL.  Since 1.0. */
    void (*destroy)(vp_instance_t *inst);

    /* Describes the first login request into `login`.  The core fills in
     * the default first, PUT <mount_path>/login with an empty JSON object,
     * where mount_path comes from the method block (auth/<type> unless
     * set), so most methods only set the body.  Files are re-read
     * here at every login.  Returns VP_CONTINUE (send it), VP_DECLINED (not
     * possible right now, e.g. a credential file not written yet: the
     * set_error text is logged as a warning and the login is retried
     * after backoff; it is not counted as a failure and does not stop
     * the daemon under exit_on_err) or VP_ERROR (a failed login).
     * Ownership: login is borrowed; the host copies what is set in it.
     * Async: no.  Since 1.0. */
    vp_status_t (*login_begin)(vp_instance_t *inst, vp_login_t *login);

    /* Reads the answer to the last request.  Returns VP_DONE (the answer
     * holds the token, see login_set_result), VP_CONTINUE (send `next`,
     * described like login_begin does; `next` starts empty) or VP_ERROR.
     * May be NULL: every answer is then final.  Async: no.  Since 1.0. */
    vp_status_t (*login_step)(vp_instance_t *inst,
                              const vp_auth_answer_t *answer, vp_login_t *next);

    /* ---- 1.2 ----------------------------------------------------------
     * The members below are read only when `size` covers them, so a
     * plugin built against 1.0 or 1.1 keeps loading without them. */

    /* A login request failed: the server answered an error (status >= 400
     * and its body) or did not answer (status 0, body the reason).  The
     * method's own failures (login_begin or login_step not going on) are
     * not passed here: it knows them already, and they are transient.  The
     * method may drop a cached credential
     * here, and may set_error a message of its own, which the core logs
     * instead of the server's text.  Returns VP_AUTH_FAIL_TRANSIENT or
     * VP_AUTH_FAIL_PERMANENT.  May be NULL: every failure is transient.
     * Ownership: answer is borrowed for the call.  Async: no.
     * Since 1.2. */
    vp_auth_failure_t (*login_failed)(vp_instance_t *inst,
                                      const vp_auth_answer_t *answer);

    /* SIGHUP changed the method's block but not its type: take next's
     * configuration, with the contract of vp_cache_ops_t.reconfigure
     * (inst keeps its state, so a credential read from a file that was
     * removed after reading survives; return VP_EINVAL with set_error for
     * a change that cannot be applied, and the core then replaces the
     * instance by next instead).  After a 0, auto-auth logs in again with
     * inst.  May be NULL: the instance is replaced by next.  Async: no.
     * Since 1.2. */
    int (*reconfigure)(vp_instance_t *inst, vp_instance_t *next);
} vp_auth_ops_t;

VP_END_DECLS

#endif
