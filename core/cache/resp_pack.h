/* How the lease cache keeps a response: the HTTP text (status line,
 * headers, body) compressed with raw deflate under a preset dictionary of
 * HTTP and Vault JSON vocabulary.  A cached lease answer is mostly that
 * vocabulary, so it shrinks to about a third (contrib/bench/cache.sh: 348
 * bytes to ~100), which is what keeps 100k cached leases under 64 MiB.
 *
 * Stored form: one byte VPD_RESP_PACKED, the text's length (4 bytes,
 * big-endian), the deflate stream.  Text stored by earlier versions (a
 * persistent cache) starts with "HTTP/" and is read as it is.
 *
 * Ownership: a packer owns one deflate packer (deflate_pack.h, made once:
 * a stream's set-up costs far more than packing one answer); results are
 * malloc'd and belong to the caller, who wipes them (they hold secrets).
 * One thread (the loop). */
#ifndef VPD_RESP_PACK_H
#define VPD_RESP_PACK_H

#include <stddef.h>

#define VPD_RESP_PACKED 0xF1

typedef struct vpd_resp_packer vpd_resp_packer;

/* Returns NULL when out of memory. */
vpd_resp_packer *vpd_resp_pack_new(void);
void vpd_resp_pack_free(vpd_resp_packer *p);

/* The stored form of text[0..len).  Returns a malloc'd buffer (*out_len
 * bytes), or NULL (out of memory, or text of 4 GiB or more). */
char *vpd_resp_pack(vpd_resp_packer *p, const char *text, size_t len,
                    size_t *out_len);

/* The text of a stored form, NUL-terminated (*out_len bytes before the
 * NUL).  Returns a malloc'd buffer, or NULL when the bytes are damaged or
 * memory is short. */
char *vpd_resp_unpack(vpd_resp_packer *p, const char *stored, size_t len,
                      size_t *out_len);

#endif
