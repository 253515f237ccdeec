/* The cache-clear API (POST or PUT /proxy/v1/cache-clear, and the
 * /agent/v1 form; vaproxyd(8)): the JSON body {"type", "value",
 * "namespace"} becomes a lease cache selector, and the cache's count or
 * error becomes Vault Proxy's answer.  `request_path` (a prefix) and
 * `all` clear the static secret cache's entries too.  The caches
 * themselves know nothing of requests and answers.
 *
 * Ownership: a parsed request owns its JSON; the selector's strings point
 * into it until vpd_cache_clear_request_free. */
#ifndef VPD_CACHE_CLEAR_H
#define VPD_CACHE_CLEAR_H

#include <stddef.h>

#include "cache/lease_cache.h"
#include "cache/static_cache.h"

typedef struct {
    vpd_lc_selector sel;
    const char *what; /* the selector type in words, for messages */
    void *json;       /* owned: what the selector's strings point into */
} vpd_cache_clear_request;

/* Parses a cache-clear body.  Returns 0, or -1 with Vault Proxy's message
 * for the 400 answer in *msg (a static string). */
int vpd_cache_clear_parse(const char *body, size_t len,
                          vpd_cache_clear_request *out, const char **msg);

void vpd_cache_clear_request_free(vpd_cache_clear_request *req);

/* The whole exchange: *status and a JSON body to answer with (malloc'd;
 * NULL for an empty answer).  cache and statics may be NULL; with neither
 * (no cache block) every request gets an empty 200, as Vault Proxy's does
 * without a cache.  Methods other than POST and PUT get an empty 200
 * too. */
void vpd_cache_clear_answer(vpd_lease_cache *cache, vpd_static_cache *statics,
                            const char *method, const char *body, size_t len,
                            int *status, char **out);

#endif
