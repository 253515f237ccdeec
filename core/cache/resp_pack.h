/* How the lease cache keeps a response: the HTTP text (status line,
 * headers, body) compressed with raw deflate (deflate_pack.h) under a
 * preset dictionary of HTTP and Vault JSON vocabulary followed by the
 * entry's own lease id, token and accessor, which the answer repeats and
 * the store keeps anyway.  The answer's Date is kept as a number beside
 * the text, not as text: a hit only needs it to say its Age.  A cached
 * lease answer of contrib/bench/cache.sh (347 bytes of text) is stored in
 * 53 bytes.
 *
 * Stored forms: one byte VPD_RESP_PACKED_2, the text's length (4 bytes,
 * big-endian), the Date (4 bytes, big-endian seconds since the epoch, 0
 * when the text has its own or none), the deflate stream.  Forms stored by
 * earlier versions (a persistent cache) are read as they were written:
 * VPD_RESP_PACKED (the earlier dictionary, no words, no Date) and text
 * that starts with "HTTP/".
 *
 * Ownership: a packer owns its deflate packers (made once: a stream's
 * set-up costs far more than packing one answer; the earlier form's only
 * when one is read); results are malloc'd and belong to the caller, who
 * wipes them (they hold secrets).  One thread (the loop). */
#ifndef VPD_RESP_PACK_H
#define VPD_RESP_PACK_H

#include <stddef.h>
#include <stdint.h>

#define VPD_RESP_PACKED 0xF1
#define VPD_RESP_PACKED_2 0xF3

typedef struct vpd_resp_packer vpd_resp_packer;

/* An answer's company: the entry's strings its text may repeat (each
 * NULL or a string; unpacking needs the same ones), and its Date. */
typedef struct {
    const char *words[3];
    uint64_t date; /* seconds since the epoch; 0: none */
} vpd_resp_meta;

/* Returns NULL when out of memory. */
vpd_resp_packer *vpd_resp_pack_new(void);
void vpd_resp_pack_free(vpd_resp_packer *p);

/* The stored form of text[0..len); m may be NULL (no words, no Date; a
 * Date of 2106 or later is not kept).  Returns a malloc'd buffer
 * (*out_len bytes), or NULL (out of memory, or text of 4 GiB or more). */
char *vpd_resp_pack_with(vpd_resp_packer *p, const char *text, size_t len,
                         const vpd_resp_meta *m, size_t *out_len);

/* The text of a stored form, NUL-terminated (*out_len bytes before the
 * NUL); m may be NULL, else its words are read and its date is set.
 * Returns a malloc'd buffer, or NULL when the bytes are damaged or memory
 * is short. */
char *vpd_resp_unpack_with(vpd_resp_packer *p, const char *stored, size_t len,
                           vpd_resp_meta *m, size_t *out_len);

/* The same with no words and no Date. */
static inline char *
vpd_resp_pack(vpd_resp_packer *p, const char *text, size_t len, size_t *out_len)
{
    return vpd_resp_pack_with(p, text, len, NULL, out_len);
}

static inline char *
vpd_resp_unpack(vpd_resp_packer *p, const char *stored, size_t len,
                size_t *out_len)
{
    return vpd_resp_unpack_with(p, stored, len, NULL, out_len);
}

#endif
