/* How the static secret cache keeps an answer: the HTTP text (status
 * line, headers, body) in raw deflate under a preset dictionary of KV v1
 * and v2 answer vocabulary -- the lease cache's (resp_pack.h) is tuned to
 * leases and tokens.  A 300-byte KV v2 answer shrinks to about half, which
 * is what keeps 100k static entries under 40 MiB.
 *
 * Stored form: one byte VPD_STATIC_PACKED, the text's length (4 bytes,
 * big-endian), the deflate stream.  The persistent store keeps this form
 * as it is, so the dictionary below may only ever be extended at its
 * start by a new tag, never changed.
 *
 * Ownership: a static packer is a deflate packer (deflate_pack.h, made
 * once) set up with this dictionary; results are malloc'd and belong to
 * the caller, who wipes them (they hold secrets).  One thread (the loop). */
#ifndef VPD_STATIC_PACK_H
#define VPD_STATIC_PACK_H

#include <stddef.h>

#include "cache/deflate_pack.h"

#define VPD_STATIC_PACKED 0xF2

typedef vpd_deflate_packer vpd_static_packer;

/* Returns NULL when out of memory. */
vpd_static_packer *vpd_static_pack_new(void);

static inline void
vpd_static_pack_free(vpd_static_packer *p)
{
    vpd_deflate_pack_free(p);
}

/* The stored form of text[0..len), exactly *out_len bytes long.  Returns
 * NULL when out of memory or text is 4 GiB or more. */
static inline char *
vpd_static_pack(vpd_static_packer *p, const char *text, size_t len,
                size_t *out_len)
{
    return vpd_deflate_pack(p, text, len, NULL, out_len);
}

/* The text of a stored form, NUL-terminated (*out_len bytes before the
 * NUL), or NULL when the bytes are damaged or memory is short. */
static inline char *
vpd_static_unpack(vpd_static_packer *p, const char *stored, size_t len,
                  size_t *out_len)
{
    return vpd_deflate_unpack(p, stored, len, NULL, out_len);
}

#endif
