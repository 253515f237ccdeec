/* The entries of the static secret cache.  An entry is one KV answer,
 * keyed by namespace + path + query (so "?version=3" is its own entry),
 * with the ids of the tokens Vault gave that answer to.  Entries of one
 * name (namespace + path, any query) share a bucket, so a write evicts
 * every version of a name without a scan.
 *
 * Ownership: the table owns its entries and their packed answers; it
 * holds a reference in the token registry for each id an entry lists
 * (the registry is borrowed and must outlive the table). */
#ifndef VPD_STATIC_TABLE_H
#define VPD_STATIC_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/static_tokens.h"

typedef struct vpd_se_entry vpd_se_entry;
typedef struct vpd_se_table vpd_se_table;

/* One allocation per entry: this header, the key, then the answer, so
 * 100k entries cost no more than their bytes and one malloc header each. */
struct vpd_se_entry {
    vpd_se_entry *next;  /* bucket chain */
    uint32_t packed_len; /* the answer's bytes (resp_pack.h form); 0: none */
    uint16_t ns_len, path_len, query_len;
    uint16_t n_tokens, cap_tokens;
    uint32_t token0;    /* the first token id, kept inline */
    uint32_t *tokens;   /* the rest (cap_tokens - 1 of them) */
    uint64_t stored_ms; /* wall clock when the answer was stored */
    uint32_t reading;   /* re-reads under way for it */
    char key[];         /* ns '\0' path '\0' query '\0' answer */
};

vpd_se_table *vpd_se_new(vpd_st_registry *tokens);

/* Frees every entry (dropping their token references) and the table. */
void vpd_se_free(vpd_se_table *t);

const char *vpd_se_ns(const vpd_se_entry *e);
const char *vpd_se_path(const vpd_se_entry *e);
const char *vpd_se_query(const vpd_se_entry *e);
/* The stored answer (packed_len bytes). */
const char *vpd_se_answer(const vpd_se_entry *e);

vpd_se_entry *vpd_se_get(const vpd_se_table *t, const char *ns,
                         const char *path, const char *query);

/* The entry of that key, made (without answer or tokens) when missing.
 * Returns NULL when out of memory or a part is longer than 65535. */
vpd_se_entry *vpd_se_put(vpd_se_table *t, const char *ns, const char *path,
                         const char *query);

/* Replaces e's answer by a copy of packed[0..len), stored at now_ms.  The
 * entry moves: returns its new address (the old one is dead), or NULL when
 * out of memory (e is then unchanged). */
vpd_se_entry *vpd_se_set_answer(vpd_se_table *t, vpd_se_entry *e,
                                const char *packed, uint32_t len,
                                uint64_t now_ms);

bool vpd_se_has_token(const vpd_se_entry *e, uint32_t id);
uint32_t vpd_se_token_at(const vpd_se_entry *e, size_t i);

/* Adds a token (a registry reference of its own).  Returns 0 or -1. */
int vpd_se_add_token(vpd_se_table *t, vpd_se_entry *e, uint32_t id);

/* Removes a token from e.  Returns true when it was there. */
bool vpd_se_remove_token(vpd_se_table *t, vpd_se_entry *e, uint32_t id);

void vpd_se_remove(vpd_se_table *t, vpd_se_entry *e);

/* Calls fn on every entry of that name (any query); fn may remove the
 * entry it is given.  Returns how many it visited. */
size_t vpd_se_each_of_name(vpd_se_table *t, const char *ns, const char *path,
                           void (*fn)(void *arg, vpd_se_entry *e), void *arg);

/* Calls fn on every entry; fn may remove the entry it is given. */
void vpd_se_each(vpd_se_table *t, void (*fn)(void *arg, vpd_se_entry *e),
                 void *arg);

size_t vpd_se_count(const vpd_se_table *t);

/* Bytes held: answers, keys, token lists and per-entry overhead. */
size_t vpd_se_bytes(const vpd_se_table *t);

#endif
