/* The host table's fetch and fetch_cancel (ABI 1.2): asynchronous HTTP(S)
 * requests plugins make to anything that is not Vault (instance metadata
 * services, OIDC discovery documents).  libcurl's multi interface does the
 * protocol work (libcurl is loaded at the first fetch: curl_api.h); this
 * module drives it on the daemon's loop with one
 * uv_poll per socket curl asks about and one uv_timer for curl's timeouts
 * (the pattern of curl's docs/examples/multi-uv.c).  Requests to Vault
 * never come here: they go through core/upstream.
 *
 * Ownership: a request is this module's from fetch until its callback has
 * returned, it is cancelled, its instance is destroyed
 * (vpd_plugin_fetch_cancel_instance) or vpd_plugin_fetch_shutdown runs.
 * The loop is borrowed: set it before serving, shut down while it still
 * runs. */
#ifndef VPD_PLUGIN_FETCH_H
#define VPD_PLUGIN_FETCH_H

#include <uv.h>
#include <vaproxy/vaproxy.h>

void vpd_plugin_fetch_set_loop(uv_loop_t *loop);
/* Abandons every request (no callback runs) and releases libcurl's
 * handles; fetch returns NULL from now on. */
void vpd_plugin_fetch_shutdown(void);
/* Abandons the requests inst started (vpd_instance_free calls it). */
void vpd_plugin_fetch_cancel_instance(const vp_instance_t *inst);

vp_fetch_t *vpd_plugin_fetch(vp_instance_t *inst, const vp_fetch_request_t *req,
                             vp_fetch_cb cb, void *arg);
void vpd_plugin_fetch_cancel(vp_fetch_t *fetch);

#endif
