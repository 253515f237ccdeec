/* llhttp callbacks for answers.  llhttp pauses at the end of each final
 * answer (on_message_complete returns HPE_PAUSED) so the caller learns
 * where it ended: bytes after it were never asked for. */
#include "autoconf.h"

#include "upstream/response.h"

#include "http/hdr_policy.h"

#include <stdio.h>
#include <string.h>

static llhttp_settings_t settings;
static bool settings_ready;

static bool
is_interim(int st)
{
    return st >= 100 && st < 200 && st != 101;
}

/* Trims the value and joins what is left of line folds with one space. */
static size_t
clean_value(char *v, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (v[i] == '\r' || v[i] == '\n') {
            while (i < n && (v[i] == '\r' || v[i] == '\n' || v[i] == ' ' ||
                             v[i] == '\t'))
                i++;
            while (o && (v[o - 1] == ' ' || v[o - 1] == '\t'))
                o--;
            if (o)
                v[o++] = ' ';
            continue;
        }
        v[o++] = v[i++];
    }
    while (o && (v[o - 1] == ' ' || v[o - 1] == '\t'))
        o--;
    size_t s = 0;
    while (s < o && (v[s] == ' ' || v[s] == '\t'))
        s++;
    memmove(v, v + s, o - s);
    return o - s;
}

/* Copies a header held as spans into `field`: the bytes fed are about to
 * go, or a second piece of it arrived. */
static int
materialize(vpd_up_resp *r)
{
    if (!r->spans)
        return 0;
    r->spans = false;
    if (vpd_buf_append(&r->field, r->span_name, r->name_len) != 0)
        return -1;
    if (r->in_value &&
        (vpd_buf_append(&r->field, "", 1) != 0 ||
         vpd_buf_append(&r->field, r->span_value, r->span_value_len) != 0))
        return -1;
    return 0;
}

/* Whether a header read by llhttp goes into the list of an answer for a
 * client.  What the header table says a proxy never passes on
 * (vpd_hdr_flags_drop: hop-by-hop headers, and Content-Length but where it
 * stays, HEAD and 304) is left out here, so that the forwarder need not
 * filter the list again.  A Connection header
 * that names anything but Keep-Alive stays, and the list is left to the
 * forwarder's filter, which reads what it names. */
static bool
client_keeps(vpd_up_resp *r, const char *name, size_t nl, const char *v,
             size_t vl)
{
    unsigned flags = vpd_hdr_flags(name, nl);
    if (!flags)
        return true;
    if ((flags & VPD_HDR_CONNECTION) && (name[0] | 0x20) == 'c') {
        if (vpd_hdr_name_is(v, vl, "keep-alive", 10))
            return false;
        r->needs_filter = true;
        return true;
    }
    return !vpd_hdr_flags_drop(flags, VPD_HDR_TO_CLIENT, r->keep_length);
}

/* Adds a header of the answer to the caller's list, if it keeps them. */
static int
keep_header(vpd_up_resp *r, const char *name, size_t nl, const char *v,
            size_t vl)
{
    if (r->skip_headers || !r->headers || !nl)
        return 0;
    if (r->to_client && !client_keeps(r, name, nl, v, vl))
        return 0;
    return vpd_hdrs_addn(r->headers, name, nl, v, vl);
}

/* The header held as spans, when its value is one clean piece: only the
 * white space around the value goes, and nothing is copied before the
 * list takes it.  Returns 1 when the value needs the general cleaning. */
static int
commit_spans(vpd_up_resp *r)
{
    const char *v = r->in_value ? r->span_value : "";
    size_t vl = r->in_value ? r->span_value_len : 0;
    if (memchr(v, '\r', vl) || memchr(v, '\n', vl))
        return 1;
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    int rc = keep_header(r, r->span_name, r->name_len, v, vl);
    r->spans = false;
    r->name_len = 0;
    r->in_value = false;
    return rc;
}

static int
commit_header(vpd_up_resp *r)
{
    if (r->spans) {
        int rc = commit_spans(r);
        if (rc <= 0)
            return rc;
        if (materialize(r) != 0)
            return -1;
    }
    if (!r->in_value && !r->field.len)
        return 0;
    int rc = 0;
    if (!r->in_value && vpd_buf_append(&r->field, "", 1) != 0)
        return -1;
    char *v = r->field.data + r->name_len + 1;
    size_t vl = clean_value(v, r->field.len - r->name_len - 1);
    rc = keep_header(r, r->field.data, r->name_len, v, vl);
    memset(r->field.data, 0, r->field.len); /* may hold a token */
    vpd_buf_reset(&r->field);
    r->name_len = 0;
    r->in_value = false;
    return rc;
}

static int
count_head(vpd_up_resp *r, size_t len)
{
    r->head_bytes += len;
    if (r->head_bytes <= VPD_UP_MAX_HEAD_BYTES)
        return 0;
    snprintf(r->why, sizeof r->why,
             "upstream answer header too large (over %d bytes)",
             VPD_UP_MAX_HEAD_BYTES);
    return -1;
}

static int
on_message_begin(llhttp_t *p)
{
    vpd_up_resp *r = p->data;
    vpd_buf_reset(&r->field);
    r->name_len = 0;
    r->in_value = false;
    r->spans = false;
    r->head_bytes = 0;
    return 0;
}

static int
on_status(llhttp_t *p, const char *at, size_t len)
{
    return count_head(p->data, len);
}

static int
on_status_complete(llhttp_t *p)
{
    vpd_up_resp *r = p->data;
    r->skip_headers = r->tunnel || is_interim(p->status_code);
    r->keep_length = r->is_head || p->status_code == 304;
    return 0;
}

static int
on_header_field(llhttp_t *p, const char *at, size_t len)
{
    vpd_up_resp *r = p->data;
    if (count_head(r, len) != 0 || (r->in_value && commit_header(r) != 0))
        return -1;
    if (!r->spans && !r->name_len && !r->field.len) {
        r->spans = true;
        r->span_name = at;
        r->name_len = len;
        return 0;
    }
    if (materialize(r) != 0 || vpd_buf_append(&r->field, at, len) != 0)
        return -1;
    r->name_len += len;
    return 0;
}

static int
on_header_value(llhttp_t *p, const char *at, size_t len)
{
    vpd_up_resp *r = p->data;
    if (count_head(r, len) != 0)
        return -1;
    if (r->spans && !r->in_value) {
        r->in_value = true;
        r->span_value = at;
        r->span_value_len = len;
        r->value_end = at + len;
        return 0;
    }
    if (materialize(r) != 0)
        return -1;
    if (!r->in_value) {
        if (vpd_buf_append(&r->field, "", 1) != 0)
            return -1;
        r->in_value = true;
    } else if (r->value_end || !r->value_cut || at != r->input_start) {
        /* A second piece that does not just continue a value cut by the
         * end of the last read (a second piece within one read always
         * follows a fold): llhttp has passed over an obsolete line fold.
         * A line break marks it, and clean_value makes the fold and the
         * white space around it one space, however the reads cut it. */
        if (vpd_buf_append(&r->field, "\n", 1) != 0)
            return -1;
    }
    r->value_end = at + len;
    return vpd_buf_append(&r->field, at, len);
}

static int
on_headers_complete(llhttp_t *p)
{
    vpd_up_resp *r = p->data;
    if (commit_header(r) != 0)
        return -1;
    int st = p->status_code;
    if (st < 100 || st > 999) {
        /* llhttp takes fewer than three digits; HTTP does not. */
        snprintf(r->why, sizeof r->why, "status code %d out of range", st);
        return -1;
    }
    if (r->tunnel)
        return st / 100 == 2 ? 2 : 1; /* 2: the tunnel starts here */
    if (is_interim(st))
        return 1; /* no body: the real answer follows */
    r->status = st;
    /* Answers that never have a body, whatever their headers say. */
    return r->is_head || st == 204 || st == 304 ? 1 : 0;
}

static int
on_body(llhttp_t *p, const char *at, size_t len)
{
    vpd_up_resp *r = p->data;
    if (r->tunnel || !r->body)
        return 0;
    return vpd_buf_append(r->body, at, len) == 0 ? 0 : -1;
}

static int
on_message_complete(llhttp_t *p)
{
    vpd_up_resp *r = p->data;
    if (!r->tunnel && is_interim(p->status_code)) {
        if (r->headers)
            vpd_hdrs_clear(r->headers);
        return 0; /* parse on: the final answer follows */
    }
    r->done = true;
    return HPE_PAUSED; /* stop here: what follows is not this answer's */
}

void
vpd_up_resp_init(vpd_up_resp *r, bool tunnel, bool is_head, vpd_hdrs *headers,
                 vpd_buf *body)
{
    if (!settings_ready) {
        llhttp_settings_init(&settings);
        settings.on_message_begin = on_message_begin;
        settings.on_status = on_status;
        settings.on_status_complete = on_status_complete;
        settings.on_header_field = on_header_field;
        settings.on_header_value = on_header_value;
        settings.on_headers_complete = on_headers_complete;
        settings.on_body = on_body;
        settings.on_message_complete = on_message_complete;
        settings_ready = true;
    }
    vpd_buf field = r->field;
    memset(r, 0, sizeof *r);
    r->field = field;
    vpd_buf_reset(&r->field);
    llhttp_init(&r->parser, HTTP_RESPONSE, &settings);
    r->parser.data = r;
    r->tunnel = tunnel;
    r->is_head = is_head;
    r->headers = headers;
    r->body = body;
}

void
vpd_up_resp_for_client(vpd_up_resp *r)
{
    r->to_client = true;
}

bool
vpd_up_resp_filtered(const vpd_up_resp *r)
{
    return r->to_client && !r->needs_filter;
}

vpd_up_resp_result
vpd_up_resp_feed(vpd_up_resp *r, const char *p, size_t n, size_t *used)
{
    *used = n;
    if (r->done)
        return VPD_UP_RESP_DONE;
    r->value_cut = r->in_value && r->value_end && r->value_end == r->input_end;
    r->input_start = p;
    r->input_end = p + n;
    r->value_end = NULL;
    llhttp_errno_t e = llhttp_execute(&r->parser, p, n);
    /* The bytes fed are the caller's only until this returns. */
    if (r->spans && materialize(r) != 0 && e == HPE_OK) {
        snprintf(r->why, sizeof r->why, "out of memory");
        return VPD_UP_RESP_ERROR;
    }
    if (e == HPE_OK)
        return VPD_UP_RESP_MORE;
    if ((e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) && r->done) {
        const char *stop = llhttp_get_error_pos(&r->parser);
        if (stop && stop >= p && stop <= p + n)
            *used = (size_t)(stop - p);
        return VPD_UP_RESP_DONE;
    }
    /* Said in our words: llhttp's error names are its internals, not
     * something an operator can act on. */
    if (!r->why[0])
        snprintf(r->why, sizeof r->why, "malformed answer from the upstream");
    return VPD_UP_RESP_ERROR;
}

vpd_up_resp_result
vpd_up_resp_eof(vpd_up_resp *r)
{
    if (!r->done)
        llhttp_finish(&r->parser);
    if (r->done)
        return VPD_UP_RESP_DONE;
    snprintf(r->why, sizeof r->why, "the answer ended early");
    return VPD_UP_RESP_ERROR;
}

bool
vpd_up_resp_keep_alive(const vpd_up_resp *r)
{
    return llhttp_should_keep_alive(&r->parser) && !r->parser.upgrade;
}

bool
vpd_up_resp_upgraded(const vpd_up_resp *r)
{
    return r->parser.upgrade && r->status == 101;
}

const char *
vpd_up_resp_error(const vpd_up_resp *r)
{
    return r->why[0] ? r->why : "malformed answer from the upstream";
}

void
vpd_up_resp_free(vpd_up_resp *r)
{
    vpd_buf_free_secret(&r->field);
}
