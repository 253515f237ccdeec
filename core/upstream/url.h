/* Absolute http(s) URLs split into the parts the upstream client needs:
 * the vault address, redirect locations and egress proxy settings.
 *
 * Ownership: vpd_up_url holds copies (fixed-size fields, no heap), so a
 * parsed URL never points into the string it came from. */
#ifndef VPD_UP_URL_H
#define VPD_UP_URL_H

#include <stdbool.h>
#include <stddef.h>

#define VPD_UP_HOST_MAX 256

typedef struct {
    bool https;
    bool port_given;            /* the URL named a port */
    int port;                   /* the default port when not given */
    char host[VPD_UP_HOST_MAX]; /* no brackets around an IPv6 literal */
    char userinfo[256];         /* "user:password", still percent-encoded */
    const char *rest;           /* path, query: points into the input */
} vpd_up_url;

/* Parses "http://" or "https://" URLs (scheme case-insensitive).  With
 * default_scheme_http, a string without "scheme://" is taken as http, as
 * Go reads proxy settings.  Returns 0, or -1 on anything else (another
 * scheme, no host, a bad port, parts too long). */
int vpd_up_url_parse(const char *s, bool default_scheme_http, vpd_up_url *u);

/* Whether a host is an IP literal (v4 or v6), which TLS never puts in SNI
 * and verifies as an address rather than a name. */
bool vpd_up_host_is_ip(const char *host);

#endif
