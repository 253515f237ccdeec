/* The core's state for one proxied request, which plugins see as the opaque
 * vp_req_t through the host table.
 *
 * Ownership: the router creates it when a request arrives and frees it
 * (running every plugin ctx cleanup) after the answer is sent. */
#ifndef VPD_REQUEST_H
#define VPD_REQUEST_H

#include <vaproxy/vaproxy.h>

#include "upstream/forward.h"
#include "http/http.h"

#define VPD_REQ_CTX_MAX 8

typedef struct {
    const vp_instance_t *inst;
    void *ptr;
    void (*cleanup)(void *ptr);
} vpd_req_ctx;

struct vp_req {
    vpd_http_req *http;  /* the client's request (server-owned) */
    vpd_hdrs up_headers; /* what goes upstream */
    char *token;         /* effective token, wiped on free; "" none */
    bool used_auto_auth_token;
    vpd_fwd_resp *resp;          /* upstream answer, during response hooks */
    vpd_hdrs extra_resp_headers; /* added by hooks for the client */
    int attempts;
    /* An early answer from a request hook (req_respond). */
    bool answered;
    int answer_status;
    vpd_hdrs answer_headers;
    char *answer_body;
    size_t answer_len;
    vpd_req_ctx ctx[VPD_REQ_CTX_MAX];
    size_t n_ctx;
};

/* Runs ctx cleanups and frees everything but `http`. */
void vpd_req_release(vp_req_t *req);

#endif
