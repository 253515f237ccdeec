/* The header table and the filter built on it.  This runs for every header
 * of every request and answer, so the table is checked by length first and
 * the filter never allocates. */
#include "autoconf.h"

#include "http/hdr_policy.h"

#include <string.h>
#include <strings.h>

#define ENTRY(lit, flags)                                                      \
    {                                                                          \
        lit, sizeof lit - 1, flags                                             \
    }

static const struct {
    const char *name;
    size_t len;
    unsigned flags;
} header_table[] = {
    /* RFC 9110 7.6.1, plus the legacy names Go's reverse proxy drops too
     * (Keep-Alive, Proxy-Connection, Proxy-Authenticate,
     * Proxy-Authorization, Upgrade). */
    ENTRY("Connection", VPD_HDR_HOP_BY_HOP | VPD_HDR_CONNECTION),
    ENTRY("Keep-Alive", VPD_HDR_HOP_BY_HOP | VPD_HDR_CONNECTION),
    ENTRY("Proxy-Connection", VPD_HDR_HOP_BY_HOP),
    ENTRY("Proxy-Authenticate", VPD_HDR_HOP_BY_HOP),
    ENTRY("Proxy-Authorization", VPD_HDR_HOP_BY_HOP),
    ENTRY("TE", VPD_HDR_HOP_BY_HOP),
    ENTRY("Trailer", VPD_HDR_HOP_BY_HOP),
    ENTRY("Transfer-Encoding", VPD_HDR_HOP_BY_HOP | VPD_HDR_FRAMING),
    ENTRY("Upgrade", VPD_HDR_HOP_BY_HOP),
    ENTRY("Content-Length", VPD_HDR_FRAMING),
    /* The forwarder names the upstream host itself. */
    ENTRY("Host", VPD_HDR_NOT_UPSTREAM),
    /* The listener has already answered 100-continue and read the body. */
    ENTRY("Expect", VPD_HDR_NOT_UPSTREAM),
    /* Bodies come back identity-encoded, as Vault Proxy asks for them. */
    ENTRY("Accept-Encoding", VPD_HDR_NOT_UPSTREAM),
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

static bool
entry_is(unsigned idx, const char *name, size_t nl)
{
    return idx && header_table[idx - 1].len == nl &&
           (header_table[idx - 1].name[0] | 0x20) == (name[0] | 0x20) &&
           strncasecmp(header_table[idx - 1].name, name, nl) == 0;
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

/* The first four bytes settle Content-Type and Content-Length, which
 * every answer has, without a call; the checks stop at a NUL (0x20 after
 * folding), so a shorter name is never read past its end. */
static bool
is_connection(const char *name)
{
    return (name[0] | 0x20) == 'c' && (name[1] | 0x20) == 'o' &&
           (name[2] | 0x20) == 'n' && (name[3] | 0x20) == 'n' &&
           strcasecmp(name, "Connection") == 0;
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
        if (!src->v[i].name || !is_connection(src->v[i].name))
            continue;
        if (f->nconn == sizeof f->conn / sizeof f->conn[0]) {
            f->many = true;
            break;
        }
        f->conn[f->nconn++] = src->v[i].value ? src->v[i].value : "";
        split_tokens(f, f->conn[f->nconn - 1]);
    }
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
        if ((size_t)(e - s) == nl && nl && strncasecmp(s, name, nl) == 0)
            return true;
    }
    return false;
}

static bool
named_by_connection(const vpd_hdr_filter *f, const char *name, size_t nl)
{
    if (!f->many && !f->many_tok) {
        for (size_t i = 0; i < f->ntok; i++)
            if (f->tok[i].n == nl && strncasecmp(f->tok[i].p, name, nl) == 0)
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
        if (h->name && is_connection(h->name) &&
            token_in_list(h->value ? h->value : "", name, nl))
            return true;
    }
    return false;
}

bool
vpd_hdr_filter_drops(const vpd_hdr_filter *f, const char *name, size_t nl)
{
    unsigned flags = vpd_hdr_flags(name, nl);
    if (flags & VPD_HDR_HOP_BY_HOP)
        return true;
    if ((flags & VPD_HDR_FRAMING) && !f->keep_length)
        return true;
    if ((flags & VPD_HDR_NOT_UPSTREAM) && f->dir == VPD_HDR_TO_UPSTREAM)
        return true;
    return (f->nconn || f->many) && named_by_connection(f, name, nl);
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
        if (n && vpd_hdr_filter_drops(&f, n, strlen(n)))
            continue;
        vpd_hdr keep = h->v[i];
        h->v[i] = h->v[kept];
        h->v[kept++] = keep;
    }
    size_t gone = h->n - kept;
    vpd_hdrs_truncate(h, kept);
    return gone;
}
