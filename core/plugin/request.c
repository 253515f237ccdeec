/* Proxied requests as plugins see them: see request.h.  Plugins may not
 * add hop-by-hop headers or Host upstream: the forwarder owns those. */
#include "autoconf.h"

#include "plugin/request.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/secmem.h"

const char *
vpd_req_method(const vp_req_t *r)
{
    return r->http->method;
}

const char *
vpd_req_path(const vp_req_t *r)
{
    return r->http->path;
}

const char *
vpd_req_token(const vp_req_t *r)
{
    return r->token ? r->token : "";
}

const char *
vpd_req_header(const vp_req_t *r, const char *name, size_t idx)
{
    return vpd_hdrs_get(&r->up_headers, name, idx);
}

size_t
vpd_req_header_count(const vp_req_t *r, const char *name)
{
    return vpd_hdrs_count(&r->up_headers, name);
}

int
vpd_req_header_add(vp_req_t *r, const char *name, const char *value)
{
    if (vpd_hdr_is_hop_by_hop(name) || strcasecmp(name, "Host") == 0)
        return VP_EINVAL;
    r->up_headers_checked = false; /* the forwarder filters it */
    return vpd_hdrs_add(&r->up_headers, name, value) == 0 ? 0 : VP_ENOMEM;
}

size_t
vpd_req_header_remove(vp_req_t *r, const char *name)
{
    return vpd_hdrs_del(&r->up_headers, name);
}

int
vpd_resp_status(const vp_req_t *r)
{
    return r->resp && r->resp->error == VPD_FWD_OK ? r->resp->status : 0;
}

const char *
vpd_resp_header(const vp_req_t *r, const char *name, size_t idx)
{
    return r->resp ? vpd_hdrs_get(&r->resp->headers, name, idx) : NULL;
}

size_t
vpd_resp_header_count(const vp_req_t *r, const char *name)
{
    return r->resp ? vpd_hdrs_count(&r->resp->headers, name) : 0;
}

vp_str_t
vpd_resp_body(const vp_req_t *r)
{
    vp_str_t s = {"", 0};
    if (r->resp && r->resp->body) {
        s.ptr = r->resp->body;
        s.len = r->resp->body_len;
    }
    return s;
}

int
vpd_resp_header_add(vp_req_t *r, const char *name, const char *value)
{
    return vpd_hdrs_add(&r->extra_resp_headers, name, value) == 0 ? 0
                                                                  : VP_ENOMEM;
}

int
vpd_req_respond(vp_req_t *r, int status, const char *content_type,
                const char *body, size_t len)
{
    if (status < 100 || status > 599)
        return VP_EINVAL;
    char *copy = malloc(len + 1);
    if (!copy)
        return VP_ENOMEM;
    if (len)
        memcpy(copy, body, len);
    copy[len] = '\0';
    free(r->answer_body);
    vpd_hdrs_free(&r->answer_headers);
    if (content_type)
        vpd_hdrs_add(&r->answer_headers, "Content-Type", content_type);
    r->answer_body = copy;
    r->answer_len = len;
    r->answer_status = status;
    r->answered = true;
    return 0;
}

int
vpd_req_attempts(const vp_req_t *r)
{
    return r->attempts;
}

int
vpd_req_ctx_set(vp_req_t *r, const vp_instance_t *inst, void *ptr,
                void (*cleanup)(void *))
{
    for (size_t i = 0; i < r->n_ctx; i++) {
        if (r->ctx[i].inst == inst) {
            if (r->ctx[i].cleanup && r->ctx[i].ptr != ptr)
                r->ctx[i].cleanup(r->ctx[i].ptr);
            r->ctx[i].ptr = ptr;
            r->ctx[i].cleanup = cleanup;
            return 0;
        }
    }
    if (r->n_ctx == VPD_REQ_CTX_MAX)
        return VP_EFULL;
    r->ctx[r->n_ctx++] = (vpd_req_ctx){inst, ptr, cleanup};
    return 0;
}

void *
vpd_req_ctx_get(const vp_req_t *r, const vp_instance_t *inst)
{
    for (size_t i = 0; i < r->n_ctx; i++) {
        if (r->ctx[i].inst == inst)
            return r->ctx[i].ptr;
    }
    return NULL;
}

/* Wipes and lets go of the effective token. */
static void
drop_token(vp_req_t *r)
{
    if (r->token == r->token_room)
        explicit_bzero(r->token_room, r->token_len + 1);
    else
        vpd_secret_free(r->token);
    r->token = NULL;
    r->token_len = 0;
}

int
vpd_req_set_token(vp_req_t *r, const char *s, size_t len)
{
    drop_token(r);
    if (len < sizeof r->token_room) {
        if (len)
            memcpy(r->token_room, s, len);
        r->token_room[len] = '\0';
        r->token = r->token_room;
    } else if (!(r->token = vpd_secret_dup(s, len))) {
        return -1;
    }
    r->token_len = len;
    return 0;
}

/* Field by field rather than one memset and the lists copied around it:
 * this runs for every request.  Contexts past n_ctx are never read. */
void
vpd_req_recycle(vp_req_t *r)
{
    for (size_t i = 0; i < r->n_ctx; i++) {
        if (r->ctx[i].cleanup)
            r->ctx[i].cleanup(r->ctx[i].ptr);
    }
    r->n_ctx = 0;
    vpd_hdrs_clear(&r->up_headers);
    vpd_hdrs_clear(&r->extra_resp_headers);
    vpd_hdrs_clear(&r->answer_headers);
    free(r->answer_body);
    r->answer_body = NULL;
    r->answer_len = 0;
    drop_token(r);
    r->http = NULL;
    r->up_headers_checked = false;
    r->used_auto_auth_token = false;
    r->resp = NULL;
    r->attempts = 0;
    r->answered = false;
    r->answer_status = 0;
}

void
vpd_req_release(vp_req_t *r)
{
    for (size_t i = 0; i < r->n_ctx; i++) {
        if (r->ctx[i].cleanup)
            r->ctx[i].cleanup(r->ctx[i].ptr);
    }
    r->n_ctx = 0;
    vpd_hdrs_free(&r->up_headers);
    vpd_hdrs_free(&r->extra_resp_headers);
    vpd_hdrs_free(&r->answer_headers);
    free(r->answer_body);
    r->answer_body = NULL;
    drop_token(r);
}
