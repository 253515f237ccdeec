/* The lease cache's recently served answers, kept inflated so that a
 * repeated hit neither inflates nor re-reads its stored form: a small
 * direct-mapped table (a slot per key's low bits, a newcomer replaces the
 * slot's answer), bounded in slots and in the size of an answer it takes,
 * so it costs at most HOT_SLOTS * VPD_HOT_MAX_TEXT bytes and usually a few
 * hundred KiB.  Keys are cache keys (a SHA-256 of the request and its
 * token), so an answer is only ever found again by the request, and the
 * token, that made it.  The lease cache drops a key whenever it stores or
 * evicts that entry, so a hot answer is never older than the stored one.
 *
 * Ownership: the table owns copies of the answers (secret: wiped when
 * dropped or replaced); vpd_hot_get's result is borrowed until the next
 * call on the table.  One thread (the loop). */
#ifndef VPD_HOT_ANSWERS_H
#define VPD_HOT_ANSWERS_H

#include <stddef.h>
#include <stdint.h>

#define VPD_HOT_KEY_LEN 16 /* a cache key's bytes (cache_key.h) */
#define VPD_HOT_MAX_TEXT 16384

typedef struct vpd_hot vpd_hot;

/* Returns NULL when out of memory. */
vpd_hot *vpd_hot_new(void);
void vpd_hot_free(vpd_hot *h);

/* The answer kept for key (text[0..*len), NUL-terminated) and the date it
 * was made (seconds since the epoch, 0 when unknown), or NULL. */
const char *vpd_hot_get(vpd_hot *h, const uint8_t key[VPD_HOT_KEY_LEN],
                        size_t *len, uint64_t *date);

/* Keeps a copy of text for key, replacing what its slot held; an answer
 * over VPD_HOT_MAX_TEXT bytes, or no memory, only empties the slot. */
void vpd_hot_put(vpd_hot *h, const uint8_t key[VPD_HOT_KEY_LEN],
                 const char *text, size_t len, uint64_t date);

/* Forgets key's answer, if kept. */
void vpd_hot_drop(vpd_hot *h, const uint8_t key[VPD_HOT_KEY_LEN]);

#endif
