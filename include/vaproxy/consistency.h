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
    size_t size;              /* sizeof(vp_consistency_ops_t) */

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
} vp_consistency_ops_t;

VP_END_DECLS

#endif
