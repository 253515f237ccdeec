/* The lease cache's key for a request: the first 128 bits of a SHA-256
 * over a canonical form of everything that makes two requests different --
 * method, raw request target, headers, body -- and the token the request
 * carries upstream, so an entry is never served to another token.  128
 * bits keep any two requests apart (finding a second request with a given
 * key takes 2^128 tries) in half the bytes every cached entry and its
 * renewal record keep; versions before kept all 256 bits (64 hex digits),
 * whose first 32 digits are today's key (vpd_cache_key_upgrade).  The
 * consistency headers are left out (vault PR #11100): they change on
 * every request and would defeat the cache.
 *
 * Ownership: writes into the caller's buffer of VPD_CACHE_KEY_LEN + 1
 * bytes.  A memo belongs to its caller (the lease cache keeps one), which
 * wipes it with vpd_cache_key_memo_wipe before freeing it: it holds a
 * token. */
#ifndef VPD_CACHE_KEY_H
#define VPD_CACHE_KEY_H

#include <stddef.h>

#include "http/http.h"

#define VPD_CACHE_KEY_LEN 32
#define VPD_CACHE_KEY_BIN_LEN 16

/* The last canonical form a caller's keys were made of, and its key.  A
 * client that repeats a request (a poller, a burst of streams on one
 * connection) gets its key from a comparison instead of a SHA-256, which
 * costs more than the rest of a cache hit.  The form holds the token, so
 * a request with another token never matches it; it is wiped when
 * replaced. */
typedef struct {
    size_t len; /* 0: nothing remembered */
    unsigned char form[1024];
    char hex[VPD_CACHE_KEY_LEN + 1];
} vpd_cache_key_memo;

/* Forgets what memo remembers, and wipes it. */
void vpd_cache_key_memo_wipe(vpd_cache_key_memo *memo);

/* Returns 0, or -1 when hashing failed.  memo may be NULL: then every key
 * is hashed. */
int vpd_cache_key(const char *method, const char *target,
                  const vpd_hdrs *headers, const char *body, size_t body_len,
                  const char *token, vpd_cache_key_memo *memo,
                  char out[VPD_CACHE_KEY_LEN + 1]);

/* The 16 bytes a key spells in hex.  Returns 0, or -1 when id is not 32
 * lower-case hex digits (ids the cache did not make: "auto-auth-1"). */
int vpd_cache_key_to_bin(const char *id,
                         unsigned char out[VPD_CACHE_KEY_BIN_LEN]);

/* The key of 16 bytes, as vpd_cache_key writes it. */
void vpd_cache_key_to_hex(const unsigned char bin[VPD_CACHE_KEY_BIN_LEN],
                          char out[VPD_CACHE_KEY_LEN + 1]);

/* Today's key for an id an earlier version made (64 lower-case hex
 * digits: the whole SHA-256): its first 32 digits, into out.  Returns 0, or
 * -1 when id is not such a key. */
int vpd_cache_key_upgrade(const char *id, char out[VPD_CACHE_KEY_LEN + 1]);

#endif
