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
    int status;    /* HTTP status (the core only passes < 400) */
    vp_str_t body; /* JSON; may hold secrets: do not log it */
} vp_auth_answer_t;

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
} vp_auth_ops_t;

VP_END_DECLS

#endif
