/* One INFO line per completed client request, component proxy.apiproxy:
 *
 *   request: method=GET path=/v1/secret/data/x status=200 latency_ms=0.412
 *            cache=miss upstream_ms=0.301
 *
 * (or the same fields as JSON members with log_format = "json").  Only
 * what is safe to keep in a log goes in: never the query string, a header,
 * a body, or a token; path segments that carry a token (the legacy
 * auth/token/lookup/<token> forms) are replaced by "<redacted>".
 *
 * Ownership: nothing is kept; the caller's strings are only read. */
#ifndef VPD_REQUEST_LOG_H
#define VPD_REQUEST_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/log.h"

typedef enum {
    VPD_REQLOG_CACHE_NONE = 0, /* not a cacheable proxied request */
    VPD_REQLOG_CACHE_HIT,
    VPD_REQLOG_CACHE_MISS,
} vpd_reqlog_cache;

/* Writes the line (whatever the level: see vpd_request_log).
 * upstream_ns is shown only when forwarded is true. */
void vpd_request_log_write(const char *method, const char *path, int status,
                           uint64_t total_ns, bool forwarded,
                           uint64_t upstream_ns, vpd_reqlog_cache cache);

/* Writes the line if INFO is enabled.  Inline: at the default level
 * every request would otherwise make a call only to learn that. */
static inline void
vpd_request_log(const char *method, const char *path, int status,
                uint64_t total_ns, bool forwarded, uint64_t upstream_ns,
                vpd_reqlog_cache cache)
{
    if (vpd_log_enabled(VPD_LOG_INFO))
        vpd_request_log_write(method, path, status, total_ns, forwarded,
                              upstream_ns, cache);
}

/* The path as logged: token-bearing segments redacted, characters that
 * could break a log line (controls, spaces, quotes, backslashes) as '?'.
 * Always NUL-terminates out (cap > 0); returns the length written. */
size_t vpd_request_log_path(const char *path, char *out, size_t cap);

#endif
