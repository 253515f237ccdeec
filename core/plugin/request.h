/* The core's state for one proxied request, which plugins see as the opaque
 * vp_req_t, and the host table's req_* and resp_* members that read and
 * change it from consistency and cache hooks.
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
    /* Every header of up_headers passed the upstream header policy and
     * the forwarder's wire check (vpd_fwd_header_ok) as the router added
     * it: the forwarder need not filter them again.  A plugin's addition
     * clears it. */
    bool up_headers_checked;
    char *token; /* effective token, wiped on free; "" none */
    size_t token_len;
    /* Where token lives when it fits (vpd_req_set_token): an ordinary
     * token costs no allocation per request. */
    char token_room[128];
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

/* Sets the request's effective token to a copy of the len bytes at s
 * (the old one is wiped).  Returns 0 or -1 (out of memory). */
int vpd_req_set_token(vp_req_t *req, const char *s, size_t len);

/* Runs ctx cleanups and frees everything but `http`. */
void vpd_req_release(vp_req_t *req);

/* Like vpd_req_release, but the header lists keep their memory (emptied,
 * wiped) and everything else is zeroed: the struct is ready for the next
 * request without allocating its lists again. */
void vpd_req_recycle(vp_req_t *req);

/* The host table's members for proxied requests, with the contracts
 * host.h gives them.  Request headers are the ones going upstream; the
 * resp_* readers see the upstream answer only during response hooks. */
const char *vpd_req_method(const vp_req_t *req);
const char *vpd_req_path(const vp_req_t *req);
const char *vpd_req_token(const vp_req_t *req);
const char *vpd_req_header(const vp_req_t *req, const char *name, size_t idx);
size_t vpd_req_header_count(const vp_req_t *req, const char *name);
int vpd_req_header_add(vp_req_t *req, const char *name, const char *value);
size_t vpd_req_header_remove(vp_req_t *req, const char *name);
int vpd_resp_status(const vp_req_t *req);
const char *vpd_resp_header(const vp_req_t *req, const char *name, size_t idx);
size_t vpd_resp_header_count(const vp_req_t *req, const char *name);
vp_str_t vpd_resp_body(const vp_req_t *req);
int vpd_resp_header_add(vp_req_t *req, const char *name, const char *value);
int vpd_req_respond(vp_req_t *req, int status, const char *content_type,
                    const char *body, size_t len);
int vpd_req_attempts(const vp_req_t *req);
int vpd_req_ctx_set(vp_req_t *req, const vp_instance_t *inst, void *ptr,
                    void (*cleanup)(void *));
void *vpd_req_ctx_get(const vp_req_t *req, const vp_instance_t *inst);

#endif
