/* One packer for cached answers: raw deflate (no zlib header or checksum:
 * the stores and the persistent file have their own integrity) under a
 * preset dictionary.  The lease cache (resp_pack.h) and the static secret
 * cache (static_pack.h) each own their dictionary, level and tag byte and
 * hand them to this packer; neither store's bytes depend on which code
 * made them, only on those three and on what the caller adds per answer
 * (vpd_deflate_extra).
 *
 * Stored form: the tag byte, the text's length (4 bytes, big-endian),
 * meta_len bytes the caller keeps beside the text, the deflate stream.
 *
 * Ownership: a packer owns its two zlib streams (made once: a stream's
 * set-up costs far more than packing one answer) and a scratch copy of
 * its dictionary with the words of the answer at hand; it borrows the
 * dictionary, which must outlive it (the callers pass static arrays).
 * Results are malloc'd and belong to the caller, who wipes them (they hold
 * secrets).  One thread (the loop). */
#ifndef VPD_DEFLATE_PACK_H
#define VPD_DEFLATE_PACK_H

#include <stdbool.h>
#include <stddef.h>

#define VPD_DEFLATE_META_MAX 8

typedef struct vpd_deflate_packer vpd_deflate_packer;

/* How a packer packs: dict[0..dict_len) is the preset dictionary, level
 * the deflate level (0-9), tag the first byte of every stored form,
 * meta_len (at most VPD_DEFLATE_META_MAX) the bytes of vpd_deflate_extra's
 * meta every stored form carries.  When exact_size is set, a packed result
 * is copied into a buffer of exactly its length (for entries kept long);
 * otherwise the result is the compression buffer, larger than its
 * *out_len, and the caller copies the bytes it keeps. */
typedef struct {
    const char *dict;
    size_t dict_len;
    int level;
    unsigned char tag;
    unsigned char meta_len;
    bool exact_size;
} vpd_deflate_params;

/* What one answer adds: words, strings the caller keeps beside the stored
 * form anyway (a lease id, a token), which follow the dictionary so that
 * their copies in the text cost a few bytes; unpacking must be handed the
 * very same words.  meta: bytes stored as they are (packing reads them,
 * unpacking fills them in). */
typedef struct {
    const char *words;
    size_t words_len;
    unsigned char meta[VPD_DEFLATE_META_MAX];
} vpd_deflate_extra;

/* Returns NULL when out of memory. */
vpd_deflate_packer *vpd_deflate_pack_new(const vpd_deflate_params *params);
void vpd_deflate_pack_free(vpd_deflate_packer *p);

/* The stored form of text[0..len); x may be NULL (no words, meta zero).
 * Returns a malloc'd buffer (*out_len bytes of it are the stored form), or
 * NULL (out of memory, or text of 4 GiB or more). */
char *vpd_deflate_pack(vpd_deflate_packer *p, const char *text, size_t len,
                       const vpd_deflate_extra *x, size_t *out_len);

/* The text of a stored form, NUL-terminated (*out_len bytes before the
 * NUL); x may be NULL.  Returns a malloc'd buffer, or NULL when the bytes
 * are damaged, carry another tag, or memory is short. */
char *vpd_deflate_unpack(vpd_deflate_packer *p, const char *stored, size_t len,
                         vpd_deflate_extra *x, size_t *out_len);

#endif
