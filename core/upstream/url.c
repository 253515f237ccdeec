/* A deliberately small URL reader: the daemon only ever talks to http and
 * https origins, so it need not know other schemes or relative forms (the
 * forwarder resolves a path-only Location itself). */
#include "autoconf.h"

#include "upstream/url.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool
vpd_up_host_is_ip(const char *host)
{
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 ||
           inet_pton(AF_INET6, host, a) == 1;
}

static int
copy_part(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int
vpd_up_url_parse(const char *s, bool default_scheme_http, vpd_up_url *u)
{
    memset(u, 0, sizeof *u);
    const char *p;
    if (strncasecmp(s, "https://", 8) == 0) {
        u->https = true;
        p = s + 8;
    } else if (strncasecmp(s, "http://", 7) == 0) {
        p = s + 7;
    } else if (default_scheme_http && !strstr(s, "://")) {
        p = s;
    } else {
        return -1;
    }
    size_t alen = strcspn(p, "/?#");
    const char *end = p + alen;
    u->rest = end;
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        if (copy_part(u->userinfo, sizeof u->userinfo, p, (size_t)(at - p)))
            return -1;
        p = at + 1;
    }
    const char *hend, *colon = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return -1;
        if (copy_part(u->host, sizeof u->host, p + 1, (size_t)(rb - p - 1)))
            return -1;
        hend = rb + 1;
        if (hend < end && *hend != ':')
            return -1;
        if (hend < end)
            colon = hend;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        hend = colon ? colon : end;
        if (copy_part(u->host, sizeof u->host, p, (size_t)(hend - p)))
            return -1;
    }
    if (!u->host[0])
        return -1;
    u->port = u->https ? 443 : 80;
    if (colon && colon + 1 < end) {
        long port = 0;
        for (const char *q = colon + 1; q < end; q++) {
            if (*q < '0' || *q > '9')
                return -1;
            port = port * 10 + (*q - '0');
            if (port > 65535)
                return -1;
        }
        if (port == 0)
            return -1;
        u->port = (int)port;
        u->port_given = true;
    }
    return 0;
}
