/* SPDX-License-Identifier: Apache-2.0 */
/* vaproxy SDK: consistency policy plugins (kind VP_KIND_CONSISTENCY).
 *
 * A consistency policy sees every proxied request before it goes upstream
 * and every upstream answer.  It may add headers (X-Vault-Index,
 * X-Vault-Inconsistent), answer early, or ask for the request to be sent
 * again (VP_RETRY after a 412), which the core bounds by
 * vault.retry.num_retries and spaces with jittered waits.
 *
 * Order: request hooks run in chain order, response hooks in reverse.
 */
#ifndef VAPROXY_CONSISTENCY_H
#define VAPROXY_CONSISTENCY_H

#include "host.h"

VP_BEGIN_DECLS

typedef struct vp_consistency_ops {
    size_t size; /* sizeof(vp_consistency_ops_t) */

    /* Checks configuration, sets up inst->data.  Returns 0 or VP_E*.
     * Since 1.0. */
    int (*create)(vp_instance_t *inst);
    void (*destroy)(vp_instance_t *inst);

    /* Before the request goes upstream (once per request, not per retry).
     * Returns VP_CONTINUE, VP_DONE (answered with req_respond) or
     * VP_ERROR (the client gets a 500).  May be NULL.  Since 1.0. */
    vp_status_t (*on_request)(vp_instance_t *inst, vp_req_t *req);

    /* After each upstream answer (resp_status is 0 when none arrived).
     * Returns VP_CONTINUE, VP_RETRY or VP_ERROR.  May be NULL.  Since 1.0. */
    vp_status_t (*on_response)(vp_instance_t *inst, vp_req_t *req);

    /* ---- Added in ABI 1.1: tables built against 1.0 end above. ---- */

    /* Applies a changed configuration (a `plugin` block's config, or for
     * the api_proxy policy its when_inconsistent) to the running instance,
     * on SIGHUP, keeping what it has learned.  `next` is an instance of
     * the same implementation made from the new configuration: checked
     * against the schema and created (its create returned 0).  Read the
     * new settings from it with the conf getters, or take them from
     * next->data.  Called on the loop thread between hooks, never from
     * inside one; requests under way see the new settings in their
     * remaining hooks.  Only called when the configuration changed.
     * Returns: 0 when applied; from then on inst's configuration is the
     * new one (the conf getters on inst return the new values).  Or a
     * VP_E* code, with the reason given by set_error(inst, ...): inst must
     * then be as it was; the core keeps its running configuration and logs
     * the reason in one line.
     * Ownership: next is borrowed; the core destroys it after the call,
     * whatever the result, with whatever next->data then holds (a plugin
     * may exchange inst->data and next->data, so that destroy releases the
     * old state).  After a 0, strings read from next's configuration stay
     * valid until inst is destroyed or reconfigured again, and strings
     * read from inst's previous configuration only until the call returns.
     * May be NULL: a changed configuration is then logged as needing a
     * restart.  Async: no.  Since 1.1. */
    int (*reconfigure)(vp_instance_t *inst, vp_instance_t *next);
} vp_consistency_ops_t;

VP_END_DECLS

#endif
