/* The tokens of the static secret cache: every token that Vault allowed to
 * read at least one cached entry, kept once however many entries list it.
 * Entries hold small ids instead of token copies, so 100k entries cost
 * four bytes per token each.
 *
 * Ownership: the registry owns the token copies (secret memory, wiped
 * when the last entry lets go of one); ids stay valid while referenced.
 * Id 0 is never a token. */
#ifndef VPD_STATIC_TOKENS_H
#define VPD_STATIC_TOKENS_H

#include <stddef.h>
#include <stdint.h>

typedef struct vpd_st_registry vpd_st_registry;

vpd_st_registry *vpd_st_new(void);
void vpd_st_free(vpd_st_registry *reg);

/* The id of `token`, adding it when new, with one more reference.
 * Returns 0 when out of memory or token is empty. */
uint32_t vpd_st_acquire(vpd_st_registry *reg, const char *token);

/* The id of a token already known, or 0.  Takes no reference. */
uint32_t vpd_st_find(const vpd_st_registry *reg, const char *token);

void vpd_st_ref(vpd_st_registry *reg, uint32_t id);

/* Drops one reference; the last one wipes and forgets the token. */
void vpd_st_unref(vpd_st_registry *reg, uint32_t id);

/* The token of a live id, or NULL. */
const char *vpd_st_token(const vpd_st_registry *reg, uint32_t id);

/* One past the highest id ever given (ids are reused once freed). */
uint32_t vpd_st_id_limit(const vpd_st_registry *reg);

/* Tokens referenced now. */
size_t vpd_st_count(const vpd_st_registry *reg);

#endif
