/* Durations: see duration.h.
 *
 * This file has a second user: the SDK's mock host (tests/host/mock_host.c)
 * includes it, and `make install` ships it beside mock_host.c as
 * base/duration.c, so that the mock host a plugin author tests against
 * accepts and refuses exactly the durations the daemon does.  The mock
 * host is compiled into the author's test program with the author's
 * flags, so there this file must stand alone: the mock defines
 * VPD_DURATION_STATIC first, which makes vpd_duration_parse static and
 * skips the core's headers.  Keep it to the C standard library. */
#ifndef VPD_DURATION_STATIC
#include "autoconf.h"

#include "base/duration.h"
#define VPD_DURATION_LINKAGE
#else
#define VPD_DURATION_LINKAGE static
#endif

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Go's time.ParseDuration, to nanoseconds (at most INT64_MAX). */
static int
go_duration(const char *s, uint64_t *out_ns)
{
    static const struct {
        const char *unit;
        uint64_t ns;
    } units[] = {
        {"ns", 1ull},           {"us", 1000ull},
        {"\xc2\xb5s", 1000ull}, /* U+00B5 micro sign */
        {"\xce\xbcs", 1000ull}, /* U+03BC Greek mu */
        {"ms", 1000000ull},     {"s", 1000000000ull},
        {"m", 60000000000ull},  {"h", 3600000000000ull},
    };
    const uint64_t max = (uint64_t)INT64_MAX;
    bool neg = false;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (strcmp(s, "0") == 0) {
        *out_ns = 0;
        return 0;
    }
    if (!*s)
        return -1;
    uint64_t total = 0;
    while (*s) {
        uint64_t v = 0, frac = 0, scale = 1;
        bool pre = false, post = false;
        while (*s >= '0' && *s <= '9') {
            if (v > (max - 9) / 10)
                return -1;
            v = v * 10 + (uint64_t)(*s++ - '0');
            pre = true;
        }
        if (*s == '.') {
            s++;
            while (*s >= '0' && *s <= '9') {
                /* Digits past nanosecond precision do not matter. */
                if (scale < 1000000000000000000ull) {
                    frac = frac * 10 + (uint64_t)(*s - '0');
                    scale *= 10;
                }
                s++;
                post = true;
            }
        }
        if (!pre && !post)
            return -1;
        const char *u = s;
        while (*s && *s != '.' && !(*s >= '0' && *s <= '9'))
            s++;
        size_t ulen = (size_t)(s - u);
        uint64_t unit = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strlen(units[i].unit) == ulen &&
                memcmp(units[i].unit, u, ulen) == 0)
                unit = units[i].ns;
        if (!unit)
            return -1;
        if (v > max / unit)
            return -1;
        uint64_t ns = v * unit;
        if (post)
            ns += (uint64_t)((double)frac * ((double)unit / (double)scale));
        if (ns > max - total)
            return -1;
        total += ns;
    }
    if (neg && total > 0)
        return -1; /* A negative duration is never a valid setting. */
    *out_ns = total;
    return 0;
}

VPD_DURATION_LINKAGE int
vpd_duration_parse(const char *s, uint64_t *out_ms)
{
    if (!s)
        return -1;
    size_t n = strlen(s);
    if (n == 0) {
        *out_ms = 0;
        return 0;
    }
    char last = s[n - 1];
    if (last == 's' || last == 'm' || last == 'h') {
        uint64_t ns;
        if (go_duration(s, &ns) != 0)
            return -1;
        *out_ms = ns / 1000000u;
        return 0;
    }
    /* "Nd" days and plain seconds are strconv.ParseInt(x, 10, 64). */
    bool days = last == 'd';
    char buf[32];
    size_t len = days ? n - 1 : n;
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    const char *p = buf;
    if (*p == '+' || *p == '-')
        p++;
    if (!*p)
        return -1;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return -1;
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno || v < 0)
        return -1;
    /* Go's time.Duration holds at most about 292 years. */
    uint64_t per = days ? 86400000ull : 1000ull;
    if ((uint64_t)v > (uint64_t)INT64_MAX / 1000000ull / per)
        return -1;
    *out_ms = (uint64_t)v * per;
    return 0;
}
