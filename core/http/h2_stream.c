/* One HTTP/2 stream as a request to the router, and the router's answer
 * as frames.  Pseudo-headers map as RFC 9113 8.3 says: :method is the
 * method (LIST stays LIST), :path the request-target, :authority becomes
 * the Host header when the client sent none, :scheme is dropped.
 * nghttp2 itself refuses malformed messages (missing or repeated
 * pseudo-headers, connection-specific headers, a Content-Length that the
 * DATA frames contradict) with RST_STREAM PROTOCOL_ERROR. */
#include "autoconf.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/textutil.h"
#include "http/h2_stream.h"

#define LOG_COMP "proxy.listener"
/* Per header: RFC 9113 6.5.2 counts name, value and 32 octets. */
#define HEADER_OVERHEAD 32

h2_stream *
vpd_h2_stream_new(vpd_h2_conn *h, int32_t id)
{
    h2_stream *s = vpd_h2_pool_zalloc(&h->pool, sizeof *s);
    if (!s)
        return NULL;
    s->h = h;
    s->id = id;
    s->start = vpd_h2_now(h);
    s->next = h->streams;
    if (h->streams)
        h->streams->prev = s;
    h->streams = s;
    h->n_streams++;
    vpd_h2_count_stream(true);
    return s;
}

void
vpd_h2_stream_free(h2_stream *s)
{
    vpd_h2_conn *h = s->h;
    if (s->prev)
        s->prev->next = s->next;
    else if (h->streams == s)
        h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    h->n_streams--;
    if (!s->complete)
        h->body_buffered -= s->body.len;
    vpd_h2_count_stream(false);
    if (s->target)
        nghttp2_rcbuf_decref(s->target);
    if (s->authority)
        nghttp2_rcbuf_decref(s->authority);
    vpd_hdrs_free(&s->hdrs);
    vpd_buf_free_secret(&s->body);
    if (s->out) {
        explicit_bzero(s->out, s->out_len);
        free(s->out);
    }
    vpd_h2_pool_free(&h->pool, s);
}

/* Keeps a reference to a pseudo-header's value in *slot. */
static void
keep_value(nghttp2_rcbuf **slot, nghttp2_rcbuf *value)
{
    nghttp2_rcbuf_incref(value);
    if (*slot)
        nghttp2_rcbuf_decref(*slot);
    *slot = value;
}

void
vpd_h2_stream_header(h2_stream *s, const uint8_t *name, size_t nl,
                     nghttp2_rcbuf *value)
{
    nghttp2_vec vv = nghttp2_rcbuf_get_buf(value);
    const uint8_t *vp = vv.base;
    size_t vl = vv.len;
    s->header_bytes += nl + vl + HEADER_OVERHEAD;
    if (s->header_bytes > s->h->lim.max_header)
        s->header_too_large = true;
    if (s->in_trailers || s->header_too_large)
        return; /* trailers are counted, not kept, as on HTTP/1.1 */
    const char *n = (const char *)name, *v = (const char *)vp;
    if (nl && n[0] == ':') {
        if (nl == 7 && memcmp(n, ":method", 7) == 0) {
            size_t ml = vl < sizeof s->method ? vl : sizeof s->method - 1;
            memcpy(s->method, v, ml);
            s->method[ml] = '\0';
        } else if (nl == 5 && memcmp(n, ":path", 5) == 0) {
            keep_value(&s->target, value);
        } else if (nl == 10 && memcmp(n, ":authority", 10) == 0) {
            keep_value(&s->authority, value);
        }
        return;
    }
    if (vpd_hdrs_addn(&s->hdrs, n, nl, v, vl) != 0)
        vpd_h2_conn_fail(s->h, NGHTTP2_INTERNAL_ERROR, "out of memory");
}

void
vpd_h2_stream_headers_done(h2_stream *s)
{
    if (s->in_trailers || s->answered)
        return;
    if (s->header_too_large) {
        vpd_h2_stream_fail(s, 431, "request header too large");
        return;
    }
    /* A declared length over the limit is refused before any DATA. */
    const char *cl = vpd_hdrs_get(&s->hdrs, "content-length", 0);
    if (cl && strtoull(cl, NULL, 10) > s->h->lim.max_body) {
        s->body_too_large = true;
        vpd_h2_stream_fail(s, 413, "request body too large");
    }
}

void
vpd_h2_stream_data(h2_stream *s, const uint8_t *data, size_t len)
{
    vpd_h2_conn *h = s->h;
    if (s->answered || s->body_too_large)
        return;
    if (len > h->lim.max_body || s->body.len > h->lim.max_body - len) {
        s->body_too_large = true;
        vpd_h2_stream_fail(s, 413, "request body too large");
        return;
    }
    /* Bodies wait whole in memory until END_STREAM; what one connection
     * may hold over all its streams is bounded too, and a stream past
     * that is refused (the client may retry it). */
    size_t budget = 2 * h->lim.max_body;
    if (h->body_buffered + len > budget) {
        nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, s->id,
                                  NGHTTP2_REFUSED_STREAM);
        s->answered = true;
        return;
    }
    if (vpd_buf_append(&s->body, (const char *)data, len) != 0) {
        vpd_h2_conn_fail(h, NGHTTP2_INTERNAL_ERROR, "out of memory");
        return;
    }
    h->body_buffered += len;
}

static void
request_free(h2_req *r)
{
    r->magic = 0;
    vpd_hdrs_free(&r->pub.headers);
    if (r->pub.body && r->pub.body != r->empty) {
        explicit_bzero(r->pub.body, r->pub.body_len);
        free(r->pub.body);
    }
    free(r);
}

/* HTTP/2 clients may split Cookie into one field per pair; on its way to
 * an HTTP/1.1 upstream it must be one field again, joined with "; "
 * (RFC 9113 8.2.3).  Returns 0 or -1 (out of memory). */
static int
join_cookies(vpd_hdrs *h)
{
    size_t n = vpd_hdrs_count(h, "cookie");
    if (n < 2)
        return 0;
    vpd_buf joined = {0};
    for (size_t i = 0; i < n; i++) {
        const char *v = vpd_hdrs_get(h, "cookie", i);
        if ((i && vpd_buf_append(&joined, "; ", 2) != 0) ||
            vpd_buf_append(&joined, v, strlen(v)) != 0) {
            vpd_buf_free_secret(&joined);
            return -1;
        }
    }
    vpd_hdrs_del(h, "cookie");
    int rc = vpd_hdrs_addn(h, "cookie", 6, joined.data, joined.len);
    vpd_buf_free_secret(&joined);
    return rc;
}

/* Bytes a request target may not hold: controls, space, DEL and '#'.  A
 * table, since every byte of every target is looked at. */
static const bool bad_in_target[256] = {
    [0] = true,  [1] = true,  [2] = true,   [3] = true,   [4] = true,
    [5] = true,  [6] = true,  [7] = true,   [8] = true,   [9] = true,
    [10] = true, [11] = true, [12] = true,  [13] = true,  [14] = true,
    [15] = true, [16] = true, [17] = true,  [18] = true,  [19] = true,
    [20] = true, [21] = true, [22] = true,  [23] = true,  [24] = true,
    [25] = true, [26] = true, [27] = true,  [28] = true,  [29] = true,
    [30] = true, [31] = true, [' '] = true, ['#'] = true, [0x7f] = true,
};

void
vpd_h2_stream_complete(h2_stream *s)
{
    vpd_h2_conn *h = s->h;
    if (s->complete)
        return;
    s->complete = true;
    h->body_buffered -= s->body.len;
    if (s->answered)
        return; /* refused or answered early; the client has its answer */
    nghttp2_vec tv = {NULL, 0};
    if (s->target)
        tv = nghttp2_rcbuf_get_buf(s->target);
    const char *target = (const char *)tv.base;
    size_t tl = tv.len;
    if (!target || !tl || target[0] != '/') {
        /* CONNECT (no :path) and the asterisk form are not ours. */
        vpd_h2_stream_fail(s, 400, "malformed request: invalid request target");
        return;
    }
    for (size_t i = 0; i < tl; i++) {
        if (bad_in_target[(unsigned char)target[i]]) {
            vpd_h2_stream_fail(s, 400,
                               "malformed request: invalid request target");
            return;
        }
    }
    /* Go's server refuses a stream that would put more than the stream
     * limit to work at once; requests whose stream the client reset still
     * count while the router works on them (CVE-2023-44487). */
    if (h->held >= VPD_H2_MAX_STREAMS) {
        nghttp2_submit_rst_stream(h->ng, NGHTTP2_FLAG_NONE, s->id,
                                  NGHTTP2_REFUSED_STREAM);
        s->answered = true;
        return;
    }
    h2_req *r = malloc(sizeof *r + 2 * (tl + 1));
    if (!r) {
        vpd_h2_conn_fail(h, NGHTTP2_INTERNAL_ERROR, "out of memory");
        return;
    }
    memset(r, 0, sizeof *r);
    r->magic = H2_REQ_MAGIC;
    char *t = r->strings;
    memcpy(t, target, tl);
    t[tl] = '\0';
    char *q = memchr(t, '?', tl);
    size_t pl = q ? (size_t)(q - t) : tl;
    char *path = t + tl + 1;
    memcpy(path, t, pl);
    path[pl] = '\0';
    r->pub.target = t;
    r->pub.path = path;
    r->pub.query = q ? q + 1 : t + tl;
    memcpy(r->pub.method, s->method, sizeof r->pub.method);
    r->head = strcmp(s->method, "HEAD") == 0;
    /* The router and the forwarder read Host, as they would on HTTP/1.1. */
    nghttp2_vec av = {NULL, 0};
    if (s->authority)
        av = nghttp2_rcbuf_get_buf(s->authority);
    if (av.len && !vpd_hdrs_get(&s->hdrs, "host", 0) &&
        vpd_hdrs_addn(&s->hdrs, "host", 4, (const char *)av.base, av.len) !=
            0) {
        free(r);
        vpd_h2_conn_fail(h, NGHTTP2_INTERNAL_ERROR, "out of memory");
        return;
    }
    if (join_cookies(&s->hdrs) != 0) {
        free(r);
        vpd_h2_conn_fail(h, NGHTTP2_INTERNAL_ERROR, "out of memory");
        return;
    }
    r->pub.headers = s->hdrs;
    memset(&s->hdrs, 0, sizeof s->hdrs);
    if (s->body.len) {
        r->pub.body_len = s->body.len;
        r->pub.body = vpd_buf_steal(&s->body);
    } else {
        r->pub.body = r->empty;
    }
    r->pub.http_major = 2;
    r->pub.http_minor = 0;
    r->pub.keep_alive = true;
    r->pub.listener = h->lim.listener;
    /* Both are NUL-terminated arrays of one size: a plain copy. */
    _Static_assert(sizeof r->pub.peer == sizeof h->peer, "peer sizes differ");
    memcpy(r->pub.peer, h->peer, sizeof r->pub.peer);
    r->h = h;
    r->s = s;
    s->req = r;
    r->next = h->reqs;
    if (h->reqs)
        h->reqs->prev = r;
    h->reqs = r;
    h->held++;
    h->last_progress = vpd_h2_now(h);
    vpd_log(VPD_LOG_DEBUG, LOG_COMP, "h2 stream %d: request %s %s from %s",
            s->id, r->pub.method, r->pub.path, h->peer);
    h->io.dispatch(h->arg, &r->pub);
}

/* nghttp2 pulls the answer's body from here, as the flow-control windows
 * open. */
static ssize_t
read_body(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
          uint32_t *flags, nghttp2_data_source *src, void *user)
{
    h2_stream *s = src->ptr;
    size_t rest = s->out_len - s->out_off;
    size_t n = rest < length ? rest : length;
    if (n)
        memcpy(buf, s->out + s->out_off, n);
    s->out_off += n;
    if (s->out_off == s->out_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* Fields an answer has room for without an allocation: the router's
 * answers carry a handful of headers. */
#define NV_ON_STACK 24

/* Submits HEADERS (and DATA through read_body).  The header rules are
 * those of the HTTP/1.1 answer (http/http.h), plus lower-case names and
 * no connection-specific header at all (RFC 9113 8.2.2).  nghttp2 copies
 * the names and lower-cases them while it does, so they are handed over
 * as they are; the names written here are static and lower-case already,
 * and are not copied at all. */
static void
submit_answer(h2_stream *s, int status, const vpd_hdrs *hdrs, const char *body,
              size_t body_len, bool head)
{
    vpd_h2_conn *h = s->h;
    if (status < 100 || status > 999)
        status = 500;
    bool no_body = status < 200 || status == 204 || status == 304;
    bool keep_given_cl = head || status == 304;
    size_t nh = hdrs ? hdrs->n : 0;
    nghttp2_nv stack_nv[NV_ON_STACK];
    nghttp2_nv *nv = stack_nv;
    if (nh + 4 > NV_ON_STACK && !(nv = malloc((nh + 4) * sizeof *nv))) {
        vpd_h2_conn_fail(h, NGHTTP2_INTERNAL_ERROR, "out of memory");
        return;
    }
    char st[3] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
                  (char)('0' + status % 10)};
    char cl[24];
    size_t n = 0;
    nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)st, 7, 3,
                           NGHTTP2_NV_FLAG_NO_COPY_NAME};
    bool has_date = false, wrote_cl = false;
    for (size_t i = 0; i < nh; i++) {
        const char *name = hdrs->v[i].name, *v = hdrs->v[i].value;
        if (!name || !v || !*name)
            continue;
        size_t nl, vl;
        if (!vpd_hdr_line_lens(&hdrs->v[i], &nl, &vl))
            continue;
        unsigned flags = vpd_hdr_flags(name, nl);
        if (flags & (VPD_HDR_CONNECTION | VPD_HDR_HOP_BY_HOP))
            continue;
        if (flags & VPD_HDR_FRAMING) {
            bool length = nl == 14 && strcasecmp(name, "content-length") == 0;
            if (!length || !keep_given_cl || wrote_cl)
                continue;
            wrote_cl = true;
        } else if (nl == 4 && strcasecmp(name, "date") == 0) {
            has_date = true;
        }
        nv[n++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)v, (size_t)nl,
                               (size_t)vl, NGHTTP2_NV_FLAG_NONE};
    }
    const char *date = has_date ? NULL : h->io.date(h->arg);
    if (date)
        nv[n++] = (nghttp2_nv){(uint8_t *)"date", (uint8_t *)date, 4,
                               strlen(date), NGHTTP2_NV_FLAG_NO_COPY_NAME};
    if (!no_body && !wrote_cl) {
        char *digits = vpd_decimal_backwards(cl, sizeof cl, body_len);
        nv[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)digits,
                               14, (size_t)(cl + sizeof cl - digits),
                               NGHTTP2_NV_FLAG_NO_COPY_NAME};
    }
    bool with_data = !head && !no_body && body_len;
    if (with_data) {
        s->out = malloc(body_len);
        if (!s->out) {
            with_data = false;
            vpd_h2_conn_fail(h, NGHTTP2_INTERNAL_ERROR, "out of memory");
        } else {
            memcpy(s->out, body, body_len);
            s->out_len = body_len;
        }
    }
    nghttp2_data_provider dp = {.source.ptr = s, .read_callback = read_body};
    s->answered = true;
    h->answers_unsent++;
    int rc =
        nghttp2_submit_response(h->ng, s->id, nv, n, with_data ? &dp : NULL);
    if (rc != 0)
        vpd_log(VPD_LOG_DEBUG, LOG_COMP, "h2 stream %d: answer not sent: %s",
                s->id, nghttp2_strerror(rc));
    if (nv != stack_nv)
        free(nv);
    h->last_progress = vpd_h2_now(h);
}

void
vpd_h2_stream_fail(h2_stream *s, int status, const char *msg)
{
    if (s->answered)
        return;
    size_t len = 0;
    char *body = vpd_http_error_json(msg, &len);
    vpd_hdrs hd = {0};
    vpd_hdrs_add(&hd, "Content-Type", "application/json");
    /* The client may still be sending; once it has the answer, the rest
     * of its request is not wanted (RFC 9113 8.1). */
    s->rst_after = !s->complete;
    vpd_log(VPD_LOG_DEBUG, LOG_COMP, "h2 stream %d from %s: %d %s", s->id,
            s->h->peer, status, msg);
    submit_answer(s, status, &hd, body ? body : "", body ? len : 0, false);
    vpd_hdrs_free(&hd);
    free(body);
}

/* Takes the request away from its stream; the router still holds it. */
static void
abandon(h2_stream *s, bool run_gone)
{
    h2_req *r = s->req;
    s->req = NULL;
    r->s = NULL;
    r->pub.client_gone = true;
    if (run_gone && r->on_gone) {
        vpd_http_gone_fn fn = r->on_gone;
        r->on_gone = NULL;
        fn(&r->pub, r->gone_arg);
    }
}

void
vpd_h2_stream_closed(h2_stream *s)
{
    if (s->req) {
        vpd_log(VPD_LOG_DEBUG, LOG_COMP,
                "h2 stream %d from %s closed while its request was in "
                "flight",
                s->id, s->h->peer);
        abandon(s, true);
    }
    vpd_h2_stream_free(s);
}

/* Takes the request off its connection's list. */
static void
unlist(h2_req *r)
{
    vpd_h2_conn *h = r->h;
    if (r->prev)
        r->prev->next = r->next;
    else if (h->reqs == r)
        h->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
    r->h = NULL;
    h->held--;
    h->io.released(h->arg);
}

void
vpd_h2_reqs_detach(vpd_h2_conn *h, bool run_gone)
{
    while (h->reqs) {
        h2_req *r = h->reqs;
        unlist(r);
        r->pub.client_gone = true;
        if (r->s) {
            r->s->req = NULL;
            r->s = NULL;
        }
        /* The hook may answer, which only frees the request now. */
        if (run_gone && r->on_gone) {
            vpd_http_gone_fn fn = r->on_gone;
            r->on_gone = NULL;
            fn(&r->pub, r->gone_arg);
        }
    }
}

bool
vpd_h2_owns(const vpd_http_req *req)
{
    return req && ((const h2_req *)(const void *)req)->magic == H2_REQ_MAGIC;
}

void
vpd_h2_respond(vpd_http_req *req, int status, const vpd_hdrs *hdrs,
               const char *body, size_t body_len)
{
    h2_req *r = (h2_req *)req;
    vpd_h2_conn *h = r->h;
    h2_stream *s = r->s;
    r->magic = 0;
    if (h)
        unlist(r);
    if (h && s && !h->detached) {
        s->req = NULL;
        vpd_log(VPD_LOG_DEBUG, LOG_COMP, "h2 stream %d: response %d to %s",
                s->id, status, h->peer);
        submit_answer(s, status, hdrs, body, body_len, r->head);
    }
    request_free(r);
    if (h && !h->detached)
        h->io.kick(h->arg);
}

void
vpd_h2_on_client_gone(vpd_http_req *req, vpd_http_gone_fn fn, void *arg)
{
    h2_req *r = (h2_req *)req;
    r->on_gone = fn;
    r->gone_arg = arg;
}
