/* The lease cache's key for a request: a SHA-256 over a canonical form of
 * everything that makes two requests different -- method, raw request
 * target, headers, body -- and the token the request carries upstream,
 * so an entry is never served to another token (spec 2.5).  The
 * consistency headers are left out (vault PR #11100): they change on
 * every request and would defeat the cache.
 *
 * Ownership: writes into the caller's 65-byte buffer. */
#ifndef VPD_CACHE_KEY_H
#define VPD_CACHE_KEY_H

#include <stddef.h>

#include "http.h"

#define VPD_CACHE_KEY_LEN 64

/* Returns 0, or -1 when hashing failed. */
int vpd_cache_key(const char *method, const char *target,
                  const vpd_hdrs *headers, const char *body, size_t body_len,
                  const char *token, char out[VPD_CACHE_KEY_LEN + 1]);

#endif
