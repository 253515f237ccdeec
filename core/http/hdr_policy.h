/* Which headers a proxy must not pass on: one table of header names with
 * their flags, and one filter that applies it in a given direction.
 *
 * Toward the upstream (a client request being forwarded to Vault) these
 * go: hop-by-hop headers (RFC 9110 section 7.6.1, plus the legacy names
 * Go's reverse proxy drops too), framing headers (the forwarder frames the
 * body it sends), Host, Expect and Accept-Encoding (the forwarder sends
 * the upstream's own Host, has already answered 100-continue, and wants
 * the body back identity-encoded as Vault Proxy does), and every header a
 * Connection header names.
 *
 * Toward the client (an upstream answer being relayed): hop-by-hop
 * headers, every header a Connection header names, and Content-Length
 * (the listener frames the whole body itself) except on the answer to a
 * HEAD request or a 304, where it describes a body that is not sent.
 *
 * How the forwarder (upstream/forward.c) uses it: for the request, one
 * vpd_hdr_filter_init(&f, in, VPD_HDR_TO_UPSTREAM, false) per request and
 * vpd_hdr_filter_drops(&f, name, name_len) for each header while building
 * its own list; for the answer, vpd_hdrs_filter(&resp_headers,
 * VPD_HDR_TO_CLIENT, vpd_hdr_keeps_length(method, status)).  That replaces
 * its Connection tokenizer, conn_values and NAME_IS checks.
 *
 * Ownership: a vpd_hdr_filter borrows the header list it was made from
 * (it points at its Connection values); keep that list alive and do not
 * free or edit its entries while the filter is used.  Nothing here
 * allocates. */
#ifndef VPD_HDR_POLICY_H
#define VPD_HDR_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http/hdrs.h"

enum {
    /* Means something for one connection only (RFC 9110 7.6.1). */
    VPD_HDR_HOP_BY_HOP = 1u << 0,
    /* Frames the message body: Content-Length, Transfer-Encoding.  Each
     * side of the proxy frames the bodies it sends itself. */
    VPD_HDR_FRAMING = 1u << 1,
    /* Says what happens to the connection: Connection, Keep-Alive.  The
     * listener states its own keep-alive decision. */
    VPD_HDR_CONNECTION = 1u << 2,
    /* Set by the forwarder for the upstream, never the client's: Host,
     * Expect, Accept-Encoding. */
    VPD_HDR_NOT_UPSTREAM = 1u << 3,
};

/* For each name length below 20, the first letters (bit c - 'a', case
 * folded) of the table's names of that length.  It lets vpd_hdr_flags
 * turn away most names inline, without a call: it runs a dozen times per
 * proxied request, and most names it sees are not in the table. */
extern const uint32_t vpd_hdr_starts[20];

/* Whether the nl bytes at name are `lower` (nl bytes, lower case) without
 * regard to ASCII case, as strncasecmp in the C locale would say for names
 * without NULs.  Inline: header names are short, and a libc call costs
 * more than the loop on the path every answer takes. */
static inline bool
vpd_hdr_name_is(const char *name, size_t nl, const char *lower, size_t ll)
{
    if (nl != ll)
        return false;
    for (size_t i = 0; i < nl; i++) {
        unsigned char c = (unsigned char)name[i];
        if ((unsigned)(c - 'A') < 26u)
            c |= 0x20;
        if (c != (unsigned char)lower[i])
            return false;
    }
    return true;
}

/* vpd_hdr_name_is for a `lower` of 8 to 16 bytes made of lower-case
 * letters, digits and '-' only (what the callers' literals are), two
 * overlapping words at a time instead of a byte loop: bit 0x40 is set in
 * exactly the letters of such a name, so shifted down it marks where a
 * byte may differ from `lower` by the case bit, and everywhere else a
 * byte must be the very same. */
static inline bool
vpd_hdr_name_is_wide(const char *name, size_t nl, const char *lower, size_t ll)
{
    if (nl != ll || ll < 8 || ll > 16)
        return false;
    const uint64_t m = UINT64_C(0x2020202020202020);
    uint64_t got, want;
    memcpy(&got, name, 8);
    memcpy(&want, lower, 8);
    if ((got | ((want >> 1) & m)) != want)
        return false;
    memcpy(&got, name + nl - 8, 8);
    memcpy(&want, lower + nl - 8, 8);
    return (got | ((want >> 1) & m)) == want;
}

/* The table lookup behind vpd_hdr_flags. */
unsigned vpd_hdr_flags_lookup(const char *name, size_t nl);

/* The flags of a header name (case-insensitive; nl bytes, no NUL needed),
 * 0 for a name the table does not list. */
static inline unsigned
vpd_hdr_flags(const char *name, size_t nl)
{
    if (!name || nl == 0 || nl >= 20)
        return 0;
    unsigned c = (unsigned)((unsigned char)name[0] | 0x20) - 'a';
    if (c >= 26 || !((vpd_hdr_starts[nl] >> c) & 1))
        return 0;
    return vpd_hdr_flags_lookup(name, nl);
}

typedef enum {
    VPD_HDR_TO_UPSTREAM, /* a client's request on its way to Vault */
    VPD_HDR_TO_CLIENT,   /* Vault's answer on its way to the client */
} vpd_hdr_direction;

/* What the table alone decides for a header with these flags (from
 * vpd_hdr_flags): whether it must not be passed on in that direction,
 * before any Connection header is read.  The filter below adds the names
 * a Connection header lists; the upstream answer's reader uses this alone
 * while llhttp reads the head (upstream/response.c). */
static inline bool
vpd_hdr_flags_drop(unsigned flags, vpd_hdr_direction dir, bool keep_length)
{
    if (flags & VPD_HDR_HOP_BY_HOP)
        return true;
    if ((flags & VPD_HDR_FRAMING) && !keep_length)
        return true;
    return (flags & VPD_HDR_NOT_UPSTREAM) && dir == VPD_HDR_TO_UPSTREAM;
}

/* Hop-by-hop headers that a proxy must not forward, in either direction;
 * the _n form takes a name that is not NUL-terminated. */
bool vpd_hdr_is_hop_by_hop(const char *name);
bool vpd_hdr_is_hop_by_hop_n(const char *name, size_t nl);

/* Whether an answer keeps the upstream's Content-Length: true for the
 * answer to a HEAD request and for a 304. */
bool vpd_hdr_keeps_length(const char *method, int status);

/* The Connection headers of one message, found once so that checking each
 * other name does not scan the whole list again. */
typedef struct {
    const vpd_hdrs *src;
    vpd_hdr_direction dir;
    bool keep_length;    /* only toward the client */
    const char *conn[8]; /* the Connection values, when there are few */
    size_t nconn;
    bool many; /* more than fit in conn: scan src instead */
    /* The tokens of those values, split once, when there are few. */
    struct {
        const char *p;
        size_t n;
    } tok[16];
    size_t ntok;
    bool many_tok; /* more than fit in tok: read the values instead */
} vpd_hdr_filter;

/* Prepares a filter for the headers of one message (src may be NULL: then
 * nothing is named by a Connection header). */
void vpd_hdr_filter_init(vpd_hdr_filter *f, const vpd_hdrs *src,
                         vpd_hdr_direction dir, bool keep_length);

/* Whether a header of that message must not be passed on. */
bool vpd_hdr_filter_drops(const vpd_hdr_filter *f, const char *name, size_t nl);

/* Removes, in place and in one pass, every header of h that must not be
 * passed on in that direction; the others keep their order.  Returns how
 * many went. */
size_t vpd_hdrs_filter(vpd_hdrs *h, vpd_hdr_direction dir, bool keep_length);

#endif
