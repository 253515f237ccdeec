/* The chain: the plugin instances every proxied request passes through, as
 * data built from the config.  Phases, in order:
 *
 *   request:  consistency.on_request (chain order) -> cache lookup
 *   forward:  the upstream call (core)
 *   response: consistency.on_response (reverse order; VP_RETRY goes back
 *             to forward, bounded) -> cache store
 *
 * A request hook may answer early (VP_DONE): later request hooks, the
 * forward and every response hook are skipped.
 *
 * Ownership: the chain owns its instances and frees them. */
#ifndef VPD_CHAIN_H
#define VPD_CHAIN_H

#include <stdio.h>

#include "plugin/plugin_instance.h"
#include "plugin/request.h"

typedef struct {
    vpd_instance **consistency;
    size_t n_consistency;
    vpd_instance **cache;
    size_t n_cache;
} vpd_chain;

/* Appends an instance to its kind's phase.  Returns 0 or -1. */
int vpd_chain_add(vpd_chain *chain, vpd_instance *inst);

/* Runs the request hooks.  Returns VP_CONTINUE, VP_DONE (the request was
 * answered, see req->answered) or VP_ERROR (message in err). */
vp_status_t vpd_chain_on_request(vpd_chain *chain, vp_req_t *req, char *err,
                                 size_t err_len);

/* Runs the response hooks in reverse order.  Returns VP_CONTINUE, VP_RETRY
 * (the first hook that asked; the hooks before it in reverse order have
 * run) or VP_ERROR (message in err). */
vp_status_t vpd_chain_on_response(vpd_chain *chain, vp_req_t *req, char *err,
                                  size_t err_len);

/* Prints the chain, one instance a line (vaproxyd --dump-chain). */
void vpd_chain_dump(const vpd_chain *chain, FILE *out);

void vpd_chain_free(vpd_chain *chain);

#endif
