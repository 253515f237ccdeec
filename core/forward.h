/* The forwarder: sends requests to the Vault server with libcurl's multi
 * interface driven by the libuv loop (no blocking, no threads), keeping
 * keep-alive connections to the upstream for reuse.
 *
 * Ownership: vpd_fwd_send copies everything in the request before it
 * returns.  The response handed to the callback is borrowed for the
 * duration of the callback; copy what you keep (vpd_fwd_resp_take moves
 * the body out). */
#ifndef VPD_FORWARD_H
#define VPD_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "config.h"
#include "http.h"

typedef struct vpd_fwd vpd_fwd;
typedef struct vpd_fwd_op vpd_fwd_op;

typedef enum {
    VPD_FWD_OK = 0,          /* an HTTP response arrived (any status) */
    VPD_FWD_UNREACHABLE,     /* connect/DNS/reset: answer 502 */
    VPD_FWD_TIMEOUT,         /* no answer in time: answer 504 */
    VPD_FWD_TLS,             /* TLS handshake or verification failed: 502 */
    VPD_FWD_CANCELLED,
    VPD_FWD_INTERNAL,
} vpd_fwd_error;

typedef struct {
    const char *method;      /* sent as is, "LIST" included */
    const char *target;      /* "/v1/...?..." relative to vault.address */
    const vpd_hdrs *headers; /* hop-by-hop, Host, Content-Length dropped */
    const char *body;
    size_t body_len;
    int max_retries;         /* -1: vault.retry.num_retries */
    long timeout_ms;         /* 0: the default (60 s, VAULT_CLIENT_TIMEOUT) */
    /* TLS identity for this request only (the cert auth method). */
    const char *client_cert;
    const char *client_key;
    const char *ca_cert;
} vpd_fwd_req;

typedef struct {
    vpd_fwd_error error;
    const char *error_text;  /* for logs and the 502/504 body */
    int status;
    vpd_hdrs headers;        /* in upstream order */
    char *body;              /* NUL-terminated */
    size_t body_len;
    int attempts;            /* how many times it was sent */
} vpd_fwd_resp;

typedef void (*vpd_fwd_cb)(vpd_fwd_resp *resp, void *arg);

vpd_fwd *vpd_fwd_new(uv_loop_t *loop, const vpd_vault_config *vault,
                     char *err, size_t err_len);

/* Starts a request.  cb runs exactly once on the loop, never before
 * vpd_fwd_send returns.  Retries transport errors, 429 and 5xx except 501
 * (spec 1.4) with linear jittered waits.  Returns the op, or NULL. */
vpd_fwd_op *vpd_fwd_send(vpd_fwd *fwd, const vpd_fwd_req *req, vpd_fwd_cb cb,
                         void *arg);

/* Abandons an op: its callback runs with VPD_FWD_CANCELLED. */
void vpd_fwd_cancel(vpd_fwd_op *op);

/* Number of requests under way (including waits between retries). */
size_t vpd_fwd_inflight(const vpd_fwd *fwd);

void vpd_fwd_free(vpd_fwd *fwd);

#endif
