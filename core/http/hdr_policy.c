/* The header table and the filter built on it.  This runs for every header
 * of every request and answer, so the table is checked by length first and
 * the filter never allocates. */
#include "autoconf.h"

#include "http/hdr_policy.h"

#include <string.h>

#define ENTRY(lit, flags)                                                      \
    {                                                                          \
        lit, sizeof lit - 1, flags                                             \
    }

/* Names in lower case, zero-padded to three words: entry_is compares a
 * word at a time. */
static const struct {
    char name[24];
    size_t len;
    unsigned flags;
} header_table[] = {
    /* RFC 9110 7.6.1, plus the legacy names Go's reverse proxy drops too
     * (Keep-Alive, Proxy-Connection, Proxy-Authenticate,
     * Proxy-Authorization, Upgrade). */
    ENTRY("connection", VPD_HDR_HOP_BY_HOP | VPD_HDR_CONNECTION),
    ENTRY("keep-alive", VPD_HDR_HOP_BY_HOP | VPD_HDR_CONNECTION),
    ENTRY("proxy-connection", VPD_HDR_HOP_BY_HOP),
    ENTRY("proxy-authenticate", VPD_HDR_HOP_BY_HOP),
    ENTRY("proxy-authorization", VPD_HDR_HOP_BY_HOP),
    ENTRY("te", VPD_HDR_HOP_BY_HOP),
    ENTRY("trailer", VPD_HDR_HOP_BY_HOP),
    ENTRY("transfer-encoding", VPD_HDR_HOP_BY_HOP | VPD_HDR_FRAMING),
    ENTRY("upgrade", VPD_HDR_HOP_BY_HOP),
    ENTRY("content-length", VPD_HDR_FRAMING),
    /* The forwarder names the upstream host itself. */
    ENTRY("host", VPD_HDR_NOT_UPSTREAM),
    /* The listener has already answered 100-continue and read the body. */
    ENTRY("expect", VPD_HDR_NOT_UPSTREAM),
    /* Bodies come back identity-encoded, as Vault Proxy asks for them. */
    ENTRY("accept-encoding", VPD_HDR_NOT_UPSTREAM),
};

/* The table entries a name of length nl could match: at most two share a
 * length, so most names are settled by this switch alone.  Indexes are
 * one-based, 0 meaning none. */
static void
candidates(size_t nl, unsigned *a, unsigned *b)
{
    *a = *b = 0;
    switch (nl) {
    case 2: /* TE */
        *a = 6;
        break;
    case 4: /* Host */
        *a = 11;
        break;
    case 6: /* Expect */
        *a = 12;
        break;
    case 7: /* Trailer, Upgrade */
        *a = 7;
        *b = 9;
        break;
    case 10: /* Connection, Keep-Alive */
        *a = 1;
        *b = 2;
        break;
    case 14: /* Content-Length */
        *a = 10;
        break;
    case 15: /* Accept-Encoding */
        *a = 13;
        break;
    case 16: /* Proxy-Connection */
        *a = 3;
        break;
    case 17: /* Transfer-Encoding */
        *a = 8;
        break;
    case 18: /* Proxy-Authenticate */
        *a = 4;
        break;
    case 19: /* Proxy-Authorization */
        *a = 5;
        break;
    default:
        break;
    }
}

/* Up to 8 bytes of a table name and of the candidate, compared without
 * regard to case: bit 0x40 is set in the letters of the lower-case name
 * and in neither '-' nor the zero padding, so `fold` has 0x20 exactly at
 * the letters, and a byte matches when it is that letter in either case
 * or, elsewhere, the very same byte. */
static inline bool
same_word(uint64_t want, const char *name, size_t n)
{
    uint64_t got = 0;
    memcpy(&got, name, n);
    uint64_t fold = (want >> 1) & UINT64_C(0x2020202020202020);
    return (got | fold) == want;
}

static bool
entry_is(unsigned idx, const char *name, size_t nl)
{
    if (!idx || header_table[idx - 1].len != nl)
        return false;
    const char *t = header_table[idx - 1].name;
    for (size_t i = 0; i < nl; i += 8) {
        uint64_t want;
        memcpy(&want, t + i, 8);
        if (!same_word(want, name + i, nl - i < 8 ? nl - i : 8))
            return false;
    }
    return true;
}

#define STARTS(c) (UINT32_C(1) << ((c) - 'a'))

/* By hand from header_table: a name missing here would never be found
 * (test_hdr_filter checks every name of the table). */
const uint32_t vpd_hdr_starts[20] = {
    [2] = STARTS('t'),                /* TE */
    [4] = STARTS('h'),                /* Host */
    [6] = STARTS('e'),                /* Expect */
    [7] = STARTS('t') | STARTS('u'),  /* Trailer, Upgrade */
    [10] = STARTS('c') | STARTS('k'), /* Connection, Keep-Alive */
    [14] = STARTS('c'),               /* Content-Length */
    [15] = STARTS('a'),               /* Accept-Encoding */
    [16] = STARTS('p'),               /* Proxy-Connection */
    [17] = STARTS('t'),               /* Transfer-Encoding */
    [18] = STARTS('p'),               /* Proxy-Authenticate */
    [19] = STARTS('p'),               /* Proxy-Authorization */
};

unsigned
vpd_hdr_flags_lookup(const char *name, size_t nl)
{
    if (!name || !nl)
        return 0;
    unsigned a, b;
    candidates(nl, &a, &b);
    if (entry_is(a, name, nl))
        return header_table[a - 1].flags;
    if (entry_is(b, name, nl))
        return header_table[b - 1].flags;
    return 0;
}

bool
vpd_hdr_is_hop_by_hop_n(const char *name, size_t nl)
{
    return (vpd_hdr_flags(name, nl) & VPD_HDR_HOP_BY_HOP) != 0;
}

bool
vpd_hdr_is_hop_by_hop(const char *name)
{
    return name && vpd_hdr_is_hop_by_hop_n(name, strlen(name));
}

bool
vpd_hdr_keeps_length(const char *method, int status)
{
    return status == 304 || (method && strcmp(method, "HEAD") == 0);
}

/* A name's length settles nearly every header without reading it
 * (Connection is the table's first entry). */
static inline bool
is_connection(const vpd_hdr *h)
{
    return h->name_len == 10 && h->name && (h->name[0] | 0x20) == 'c' &&
           entry_is(1, h->name, 10);
}

/* Splits a Connection value into f->tok as token_in_list reads it (comma
 * separated, white space around each token, empty ones skipped). */
static void
split_tokens(vpd_hdr_filter *f, const char *list)
{
    const char *p = list;
    while (*p && !f->many_tok) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e == s)
            continue;
        if (f->ntok == sizeof f->tok / sizeof f->tok[0]) {
            f->many_tok = true;
            break;
        }
        f->tok[f->ntok].p = s;
        f->tok[f->ntok].n = (size_t)(e - s);
        f->ntok++;
    }
}

void
vpd_hdr_filter_init(vpd_hdr_filter *f, const vpd_hdrs *src,
                    vpd_hdr_direction dir, bool keep_length)
{
    f->src = src;
    f->dir = dir;
    f->nconn = 0;
    f->many = false;
    f->ntok = 0;
    f->many_tok = false;
    f->keep_length = keep_length && dir == VPD_HDR_TO_CLIENT;
    for (size_t i = 0; src && i < src->n; i++) {
        if (!is_connection(&src->v[i]))
            continue;
        if (f->nconn == sizeof f->conn / sizeof f->conn[0]) {
            f->many = true;
            break;
        }
        f->conn[f->nconn++] = src->v[i].value ? src->v[i].value : "";
        split_tokens(f, f->conn[f->nconn - 1]);
    }
}

/* Two names of n bytes each, compared without regard to ASCII case. */
static bool
same_name(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if ((unsigned)(x - 'A') < 26u)
            x |= 0x20;
        if ((unsigned)(y - 'A') < 26u)
            y |= 0x20;
        if (x != y)
            return false;
    }
    return true;
}

/* Whether `name` is one of the tokens of a Connection value: a comma
 * separated list, optional white space around each token, names compared
 * without case. */
static bool
token_in_list(const char *list, const char *name, size_t nl)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == nl && nl && same_name(s, name, nl))
            return true;
    }
    return false;
}

static bool
named_by_connection(const vpd_hdr_filter *f, const char *name, size_t nl)
{
    if (!f->many && !f->many_tok) {
        for (size_t i = 0; i < f->ntok; i++)
            if (f->tok[i].n == nl && same_name(f->tok[i].p, name, nl))
                return true;
        return false;
    }
    if (!f->many) {
        for (size_t i = 0; i < f->nconn; i++)
            if (token_in_list(f->conn[i], name, nl))
                return true;
        return false;
    }
    for (size_t i = 0; i < f->src->n; i++) {
        const vpd_hdr *h = &f->src->v[i];
        if (is_connection(h) &&
            token_in_list(h->value ? h->value : "", name, nl))
            return true;
    }
    return false;
}

/* The body of vpd_hdr_filter_drops, inline in vpd_hdrs_filter's loop. */
static inline bool
drops(const vpd_hdr_filter *f, const char *name, size_t nl)
{
    if (vpd_hdr_flags_drop(vpd_hdr_flags(name, nl), f->dir, f->keep_length))
        return true;
    return (f->nconn || f->many) && named_by_connection(f, name, nl);
}

bool
vpd_hdr_filter_drops(const vpd_hdr_filter *f, const char *name, size_t nl)
{
    return drops(f, name, nl);
}

size_t
vpd_hdrs_filter(vpd_hdrs *h, vpd_hdr_direction dir, bool keep_length)
{
    if (!h)
        return 0;
    vpd_hdr_filter f;
    vpd_hdr_filter_init(&f, h, dir, keep_length);
    /* Kept headers move to the front in order; dropped ones are only
     * swapped behind them and freed at the end, so the Connection values
     * the filter points at stay valid for the whole pass. */
    size_t kept = 0;
    for (size_t i = 0; i < h->n; i++) {
        const char *n = h->v[i].name;
        if (n && drops(&f, n, h->v[i].name_len))
            continue;
        if (i != kept) {
            vpd_hdr keep = h->v[i];
            h->v[i] = h->v[kept];
            h->v[kept] = keep;
        }
        kept++;
    }
    size_t gone = h->n - kept;
    vpd_hdrs_truncate(h, kept);
    return gone;
}
