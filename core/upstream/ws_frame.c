/* RFC 6455 framing: the client's encoder and an incremental decoder of
 * server frames.  The decoder keeps at most one frame header (14 bytes)
 * and the message being assembled; payload bytes are copied once, into
 * the message or the control buffer. */
#include "autoconf.h"

#include "upstream/ws_frame.h"

#include <string.h>

/* ---- encoding ------------------------------------------------------- */

int
vpd_ws_encode(vpd_buf *out, unsigned opcode, bool fin, const void *payload,
              size_t len, const uint8_t mask[4])
{
    bool control = opcode >= 0x8;
    if (opcode > 0xF || (control && (!fin || len > VPD_WS_CONTROL_MAX)))
        return -1;
    uint8_t h[14];
    size_t hl = 0;
    h[hl++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        h[hl++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xFFFF) {
        h[hl++] = 0x80 | 126;
        h[hl++] = (uint8_t)(len >> 8);
        h[hl++] = (uint8_t)len;
    } else {
        h[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            h[hl++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(h + hl, mask, 4);
    hl += 4;
    if (vpd_buf_reserve(out, hl + len) != 0)
        return -1;
    memcpy(out->data + out->len, h, hl);
    uint8_t *dst = (uint8_t *)out->data + out->len + hl;
    const uint8_t *src = payload;
    for (size_t i = 0; i < len; i++)
        dst[i] = src[i] ^ mask[i & 3];
    out->len += hl + len;
    out->data[out->len] = '\0';
    return 0;
}

int
vpd_ws_encode_close(vpd_buf *out, uint16_t code, const char *reason,
                    const uint8_t mask[4])
{
    uint8_t p[VPD_WS_CONTROL_MAX];
    size_t n = 0;
    if (code) {
        p[n++] = (uint8_t)(code >> 8);
        p[n++] = (uint8_t)code;
        size_t rl = reason ? strlen(reason) : 0;
        if (rl > sizeof p - n)
            rl = sizeof p - n;
        if (rl)
            memcpy(p + n, reason, rl);
        n += rl;
    }
    return vpd_ws_encode(out, VPD_WS_OP_CLOSE, true, p, n, mask);
}

/* ---- UTF-8 ------------------------------------------------------------ */

bool
vpd_ws_utf8_valid(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            need = 1;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2;
            cp = c & 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

/* ---- decoding ------------------------------------------------------- */

void
vpd_ws_decoder_init(vpd_ws_decoder *d, uint64_t max_frame, size_t max_message)
{
    memset(d, 0, sizeof *d);
    d->max_frame = max_frame;
    d->max_message = max_message;
    d->hdr_need = 2;
}

void
vpd_ws_decoder_free(vpd_ws_decoder *d)
{
    vpd_buf_free_secret(&d->body);
    d->msg = NULL;
}

static vpd_ws_event
fail(vpd_ws_decoder *d, uint16_t code, const char *why)
{
    d->failed = true;
    d->error_code = code;
    d->error = why;
    return VPD_WS_ERROR;
}

/* Close codes a peer may send (section 7.4): the registered ones that are
 * meant for the wire, and the ranges for libraries and applications. */
static bool
close_code_valid(uint16_t c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
           (c >= 3000 && c <= 4999);
}

/* The header in d->hdr is complete: checks it against the rules a client
 * enforces and prepares for the payload. */
static vpd_ws_event
header_done(vpd_ws_decoder *d)
{
    uint64_t len = d->hdr[1] & 0x7F;
    if (len == 126) {
        len = ((uint64_t)d->hdr[2] << 8) | d->hdr[3];
        if (len < 126)
            return fail(d, VPD_WS_CLOSE_PROTOCOL, "non-minimal frame length");
    } else if (len == 127) {
        len = 0;
        for (int i = 2; i < 10; i++)
            len = (len << 8) | d->hdr[i];
        if (len >> 63)
            return fail(d, VPD_WS_CLOSE_PROTOCOL, "frame length too large");
        if (len <= 0xFFFF)
            return fail(d, VPD_WS_CLOSE_PROTOCOL, "non-minimal frame length");
    }
    bool control = d->op >= 0x8;
    if (control) {
        if (!d->fin)
            return fail(d, VPD_WS_CLOSE_PROTOCOL, "fragmented control frame");
        if (len > VPD_WS_CONTROL_MAX)
            return fail(d, VPD_WS_CLOSE_PROTOCOL, "control frame too long");
        d->ctl_len = 0;
    } else {
        if (d->op == VPD_WS_OP_CONT && !d->in_message)
            return fail(d, VPD_WS_CLOSE_PROTOCOL,
                        "continuation frame outside a message");
        if (d->op != VPD_WS_OP_CONT && d->in_message)
            return fail(d, VPD_WS_CLOSE_PROTOCOL,
                        "new message inside a fragmented one");
        if (len > d->max_frame)
            return fail(d, VPD_WS_CLOSE_TOO_BIG, "frame too large");
        size_t have = d->in_message ? d->body.len : 0;
        if (len > d->max_message || have > d->max_message - len)
            return fail(d, VPD_WS_CLOSE_TOO_BIG, "message too large");
        if (d->op != VPD_WS_OP_CONT) {
            d->in_message = true;
            d->message_op = d->op;
            vpd_buf_reset(&d->body);
        }
        if (vpd_buf_reserve(&d->body, (size_t)len) != 0)
            return fail(d, VPD_WS_CLOSE_INTERNAL, "out of memory");
    }
    d->frame_len = d->remaining = len;
    return VPD_WS_MORE;
}

/* The whole frame is in: reports it, or goes on reading. */
static vpd_ws_event
frame_done(vpd_ws_decoder *d)
{
    d->hdr_len = 0;
    d->hdr_need = 2;
    switch (d->op) {
    case VPD_WS_OP_PING:
        return VPD_WS_PING;
    case VPD_WS_OP_PONG:
        return VPD_WS_PONG;
    case VPD_WS_OP_CLOSE:
        if (d->ctl_len == 1)
            return fail(d, VPD_WS_CLOSE_PROTOCOL, "close payload of one byte");
        d->closed = true;
        d->close_reason[0] = '\0';
        if (d->ctl_len == 0) {
            d->close_code = VPD_WS_CLOSE_NO_STATUS;
            return VPD_WS_CLOSE;
        }
        d->close_code = (uint16_t)((d->ctl[0] << 8) | d->ctl[1]);
        if (!close_code_valid(d->close_code))
            return fail(d, VPD_WS_CLOSE_PROTOCOL, "invalid close code");
        size_t rl = d->ctl_len - 2;
        if (!vpd_ws_utf8_valid((const char *)d->ctl + 2, rl))
            return fail(d, VPD_WS_CLOSE_BAD_DATA, "close reason not UTF-8");
        memcpy(d->close_reason, d->ctl + 2, rl);
        d->close_reason[rl] = '\0';
        return VPD_WS_CLOSE;
    default:
        break;
    }
    if (!d->fin)
        return VPD_WS_MORE;
    d->in_message = false;
    if (d->message_op == VPD_WS_OP_TEXT &&
        !vpd_ws_utf8_valid(d->body.data, d->body.len))
        return fail(d, VPD_WS_CLOSE_BAD_DATA, "text message not UTF-8");
    d->msg = d->body.data ? d->body.data : "";
    d->msg_len = d->body.len;
    d->msg_opcode = d->message_op;
    return VPD_WS_MESSAGE;
}

/* Takes header bytes; returns an event once the header is checked. */
static vpd_ws_event
take_header(vpd_ws_decoder *d, const uint8_t *p, size_t n, size_t *used)
{
    size_t k = d->hdr_need - d->hdr_len;
    if (k > n)
        k = n;
    memcpy(d->hdr + d->hdr_len, p, k);
    d->hdr_len += k;
    *used += k;
    if (d->hdr_len < d->hdr_need)
        return VPD_WS_MORE;
    if (d->hdr_need == 2) {
        uint8_t b0 = d->hdr[0], b1 = d->hdr[1];
        if (b0 & 0x70)
            return fail(d, VPD_WS_CLOSE_PROTOCOL, "reserved bits set");
        d->fin = (b0 & 0x80) != 0;
        d->op = b0 & 0x0F;
        if ((d->op > VPD_WS_OP_BINARY && d->op < VPD_WS_OP_CLOSE) ||
            d->op > VPD_WS_OP_PONG)
            return fail(d, VPD_WS_CLOSE_PROTOCOL, "unknown opcode");
        if (b1 & 0x80)
            return fail(d, VPD_WS_CLOSE_PROTOCOL, "masked frame from server");
        unsigned l7 = b1 & 0x7F;
        if (l7 == 126 || l7 == 127) {
            d->hdr_need = l7 == 126 ? 4 : 10;
            return VPD_WS_MORE;
        }
    }
    return header_done(d);
}

vpd_ws_event
vpd_ws_decode(vpd_ws_decoder *d, const char *data, size_t n, size_t *used)
{
    const uint8_t *p = (const uint8_t *)data;
    *used = 0;
    if (d->failed || d->closed)
        return d->failed ? VPD_WS_ERROR : VPD_WS_CLOSE;
    /* A message handed out by the previous call is done with now. */
    if (d->msg) {
        d->msg = NULL;
        vpd_buf_reset(&d->body);
    }
    for (;;) {
        if (d->hdr_len < d->hdr_need) {
            if (*used == n)
                return VPD_WS_MORE;
            vpd_ws_event e = take_header(d, p + *used, n - *used, used);
            if (e != VPD_WS_MORE)
                return e;
            if (d->hdr_len < d->hdr_need)
                continue;
        }
        if (d->remaining) {
            if (*used == n)
                return VPD_WS_MORE;
            size_t k = n - *used;
            if (k > d->remaining)
                k = (size_t)d->remaining;
            if (d->op >= 0x8) {
                memcpy(d->ctl + d->ctl_len, p + *used, k);
                d->ctl_len += k;
            } else {
                memcpy(d->body.data + d->body.len, p + *used, k);
                d->body.len += k;
                d->body.data[d->body.len] = '\0';
            }
            d->remaining -= k;
            *used += k;
            if (d->remaining)
                return VPD_WS_MORE;
        }
        /* Header complete and payload in (possibly empty). */
        vpd_ws_event e = frame_done(d);
        if (e != VPD_WS_MORE)
            return e;
    }
}
