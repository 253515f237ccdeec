/* Request lines.  Formatting is skipped entirely unless INFO is enabled,
 * so a daemon at log_level "warn" pays one comparison per request. */
#include "autoconf.h"

#include "proxy/request_log.h"

#include <stdio.h>
#include <string.h>

#include "base/log.h"

#define COMPONENT "proxy.apiproxy"

/* Token-store endpoints that take the token itself as a URL segment
 * (Vault's deprecated "urltoken" forms).  Whatever follows is redacted,
 * wherever the endpoint sits (namespaces may precede it). */
static const char *const token_in_url[] = {
    "/auth/token/lookup/",
    "/auth/token/renew/",
    "/auth/token/revoke/",
    "/auth/token/revoke-orphan/",
};

size_t
vpd_request_log_path(const char *path, char *out, size_t cap)
{
    size_t keep = strlen(path);
    for (size_t i = 0; i < sizeof token_in_url / sizeof token_in_url[0]; i++) {
        const char *hit = strstr(path, token_in_url[i]);
        if (hit && hit[strlen(token_in_url[i])] != '\0') {
            size_t end = (size_t)(hit - path) + strlen(token_in_url[i]);
            if (end < keep)
                keep = end;
        }
    }
    size_t o = 0;
    for (size_t i = 0; i < keep && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)path[i];
        out[o++] =
            (c <= 0x20 || c == 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
    }
    if (keep < strlen(path)) {
        static const char red[] = "<redacted>";
        for (size_t i = 0; red[i] && o + 1 < cap; i++)
            out[o++] = red[i];
    }
    out[o] = '\0';
    return o;
}

static void
fmt_ms(char *out, size_t cap, uint64_t ns)
{
    snprintf(out, cap, "%llu.%03llu", (unsigned long long)(ns / 1000000),
             (unsigned long long)(ns / 1000 % 1000));
}

void
vpd_request_log_write(const char *method, const char *path, int status,
                      uint64_t total_ns, bool forwarded, uint64_t upstream_ns,
                      vpd_reqlog_cache cache)
{
    static const char *const cache_names[] = {"none", "hit", "miss"};
    char safe_path[1024], st[16], total[32], up[32], safe_method[32];
    vpd_request_log_path(path, safe_path, sizeof safe_path);
    vpd_request_log_path(method, safe_method, sizeof safe_method);
    snprintf(st, sizeof st, "%d", status);
    fmt_ms(total, sizeof total, total_ns);
    vpd_log_field f[6] = {
        {"method", safe_method}, {"path", safe_path},           {"status", st},
        {"latency_ms", total},   {"cache", cache_names[cache]},
    };
    size_t n = 5;
    if (forwarded) {
        fmt_ms(up, sizeof up, upstream_ns);
        f[n++] = (vpd_log_field){"upstream_ms", up};
    }
    vpd_log_kv(VPD_LOG_INFO, COMPONENT, "request", f, n);
}
