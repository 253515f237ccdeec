/* One pass over an ordinary answer head.  Every test here is stricter
 * than llhttp's (which reads whatever this declines), so the two never
 * disagree on an answer this accepts.  Names are tokens and values hold
 * no control byte but tabs, so the headers go into the list marked
 * line_safe: the listener writes them without checking them again. */
#include "autoconf.h"

#include "upstream/resp_head.h"

#include "http/hdr_policy.h"

#include <string.h>

/* RFC 9110 tchar: the bytes of a header name. */
#define RANGE(lo, hi) [lo... hi] = 1
static const unsigned char name_byte[256] = {
    ['!'] = 1,       ['#'] = 1,       ['$'] = 1,       ['%'] = 1, ['&'] = 1,
    ['\''] = 1,      ['*'] = 1,       ['+'] = 1,       ['-'] = 1, ['.'] = 1,
    ['^'] = 1,       ['_'] = 1,       ['`'] = 1,       ['|'] = 1, ['~'] = 1,
    RANGE('0', '9'), RANGE('A', 'Z'), RANGE('a', 'z'),
};

/* The bytes of a header value or reason phrase: HTAB, visible ASCII,
 * space and obs-text, as llhttp allows them too. */
static const unsigned char value_byte[256] = {
    ['\t'] = 1,
    RANGE(0x20, 0x7e),
    RANGE(0x80, 0xff),
};

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* The bytes of w (read little-endian) that are control bytes (below
 * 0x20) or DEL, as the high bit of each: exact for the lowest one (a
 * borrow only ever marks bytes above a real one), which is all that is
 * read.  Values are checked a word at a time this way. */
static inline uint64_t
control_bytes(uint64_t w)
{
    uint64_t below = (w - ONES * 0x20) & ~w & HIGHS;
    uint64_t del = w ^ (ONES * 0x7f);
    del = (del - ONES) & ~del & HIGHS;
    return below | del;
}

static inline uint64_t
load_le(const char *q)
{
    uint64_t w;
    memcpy(&w, q, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* The first byte at or after q that may not be in a value (the CR that
 * ends the line, mostly). */
static const char *
skip_value(const char *q, const char *end)
{
    while (end - q >= 8) {
        uint64_t m = control_bytes(load_le(q));
        if (!m) {
            q += 8;
            continue;
        }
        q += (unsigned)__builtin_ctzll(m) >> 3;
        if (*q != '\t')
            return q;
        q++; /* a tab: allowed, read on */
    }
    while (q < end && value_byte[(unsigned char)*q])
        q++;
    return q;
}

/* The value of Content-Length when it is plain digits (at most 18, so it
 * cannot overflow); -1 otherwise. */
static int64_t
plain_length(const char *v, size_t vl)
{
    if (vl == 0 || vl > 18)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < vl; i++) {
        unsigned d = (unsigned)((unsigned char)v[i] - '0');
        if (d > 9)
            return -1;
        n = n * 10 + (int64_t)d;
    }
    return n;
}

/* What one Connection value says: only the two usual single tokens are
 * read here (llhttp reads the rest). */
enum { CONN_OTHER, CONN_KEEP_ALIVE, CONN_CLOSE };

static int
connection_token(const char *v, size_t vl)
{
    if (vpd_hdr_name_is(v, vl, "keep-alive", 10))
        return CONN_KEEP_ALIVE;
    if (vpd_hdr_name_is(v, vl, "close", 5))
        return CONN_CLOSE;
    return CONN_OTHER;
}

/* One header line from *qp; the name and value are set and *qp moves past
 * the line.  Returns false for a line this reader does not take. */
static bool
read_line(const char **qp, const char *end, const char **name, size_t *nl,
          const char **value, size_t *vl)
{
    const char *q = *qp;
    *name = q;
    while (q < end && name_byte[(unsigned char)*q])
        q++;
    if (q == *name || q == end || *q != ':')
        return false;
    *nl = (size_t)(q - *name);
    q++;
    while (q < end && (*q == ' ' || *q == '\t'))
        q++;
    *value = q;
    q = skip_value(q, end);
    if (end - q < 3 || q[0] != '\r' || q[1] != '\n')
        return false; /* also: no room left for the blank line */
    const char *ve = q;
    while (ve > *value && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    *vl = (size_t)(ve - *value);
    q += 2;
    if (*q == ' ' || *q == '\t')
        return false; /* an obsolete line fold */
    *qp = q;
    return true;
}

/* The status line: HTTP/1.0 or HTTP/1.1, a final status, a reason. */
static const char *
read_status_line(const char *p, const char *end, int *status, bool *http11)
{
    if (end - p < 16 || memcmp(p, "HTTP/1.", 7) != 0 ||
        (p[7] != '0' && p[7] != '1') || p[8] != ' ' || p[12] != ' ')
        return NULL;
    unsigned d0 = (unsigned)((unsigned char)p[9] - '0'),
             d1 = (unsigned)((unsigned char)p[10] - '0'),
             d2 = (unsigned)((unsigned char)p[11] - '0');
    if (d0 > 9 || d1 > 9 || d2 > 9 || d0 < 2)
        return NULL; /* 1xx (interim, 101) and nonsense go to llhttp */
    *status = (int)(d0 * 100 + d1 * 10 + d2);
    *http11 = p[7] == '1';
    const char *q = skip_value(p + 13, end);
    if (end - q < 2 || q[0] != '\r' || q[1] != '\n')
        return NULL;
    return q + 2;
}

vpd_up_head_result
vpd_up_head_read(const char *p, size_t n, bool is_head, bool to_client,
                 size_t max_head, vpd_hdrs *out, vpd_up_head *h)
{
    const char *end = p + n;
    bool http11;
    const char *q = read_status_line(p, end, &h->status, &http11);
    if (!q)
        return VPD_UP_HEAD_DECLINED;
    size_t n0 = out ? out->n : 0;
    bool keep_length = is_head || h->status == 304;
    bool have_length = false, conn_close = false, conn_keep = false;
    int64_t length = 0;
    h->filtered = to_client;
    for (;;) {
        if (end - q < 2)
            goto decline;
        if (q[0] == '\r') {
            if (q[1] != '\n')
                goto decline;
            q += 2;
            break;
        }
        const char *name, *value;
        size_t nl, vl;
        if (!read_line(&q, end, &name, &nl, &value, &vl))
            goto decline;
        unsigned flags = vpd_hdr_flags(name, nl);
        bool drop = false;
        if (flags) {
            /* The table's flags and a name's length tell its names apart:
             * Content-Length alone is framing only, Transfer-Encoding is
             * framing and hop-by-hop, Proxy-Connection alone is 16 long,
             * Connection and Keep-Alive differ in their first letter. */
            if (flags == VPD_HDR_FRAMING) {
                length = plain_length(value, vl);
                if (have_length || length < 0)
                    goto decline;
                have_length = true;
            } else if (flags & VPD_HDR_FRAMING) {
                goto decline; /* Transfer-Encoding */
            } else if (nl == 16) {
                goto decline; /* Proxy-Connection: llhttp reads it too */
            }
            if ((flags & VPD_HDR_CONNECTION) && (name[0] | 0x20) == 'c') {
                int t = connection_token(value, vl);
                if (t == CONN_OTHER)
                    goto decline;
                conn_keep |= t == CONN_KEEP_ALIVE;
                if (t == CONN_CLOSE) {
                    /* It names a header "Close": left for the list's own
                     * filter, which reads what Connection names. */
                    conn_close = true;
                    h->filtered = false;
                    flags = 0;
                }
            }
            drop = to_client && ((flags & VPD_HDR_HOP_BY_HOP) ||
                                 ((flags & VPD_HDR_FRAMING) && !keep_length));
        }
        if (out && !drop &&
            vpd_hdrs_addn_checked(out, name, nl, value, vl) != 0) {
            vpd_hdrs_truncate(out, n0);
            return VPD_UP_HEAD_NOMEM;
        }
    }
    h->head_len = (size_t)(q - p);
    if (h->head_len > max_head)
        goto decline;
    if (is_head || h->status == 204 || h->status == 304)
        h->body_len = 0;
    else if (have_length)
        h->body_len = (uint64_t)length;
    else
        goto decline; /* ends with the connection: llhttp's case */
    /* As llhttp_should_keep_alive: HTTP/1.1 unless closed, HTTP/1.0 only
     * when asked; the body's end is known either way. */
    h->keep_alive = http11 ? !conn_close : conn_keep;
    return VPD_UP_HEAD_READ;
decline:
    if (out)
        vpd_hdrs_truncate(out, n0);
    return VPD_UP_HEAD_DECLINED;
}
