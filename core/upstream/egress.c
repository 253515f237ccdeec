/* Proxy selection from the environment.  It follows Go's
 * net/http.ProxyFromEnvironment except in one place: Go never proxies
 * requests to localhost or loopback addresses, while this reads NO_PROXY
 * only, so a proxy on the same host can be put in front of a local Vault
 * (and tested); list "localhost,127.0.0.1" in NO_PROXY to get Go's
 * behaviour. */
#include "autoconf.h"

#include "upstream/egress.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct vpd_egress {
    bool has_http, has_https;
    vpd_up_proxy http, https;
    char *no_proxy; /* "" when unset */
};

/* Go reads the upper-case name first. */
static const char *
env_any(const char *upper, const char *lower)
{
    const char *v = getenv(upper);
    if (!v || !*v)
        v = getenv(lower);
    return v && *v ? v : NULL;
}

static int
proxy_from(const char *var, const char *value, vpd_up_proxy *p, char *err,
           size_t err_len)
{
    vpd_up_url u;
    if (vpd_up_url_parse(value, true, &u) != 0 || u.https) {
        snprintf(err, err_len,
                 "%s=%s: want http://host[:port] (https proxies are not "
                 "supported)",
                 var, value);
        return -1;
    }
    snprintf(p->host, sizeof p->host, "%s", u.host);
    p->port = u.port_given ? u.port : 80;
    p->auth[0] = '\0';
    if (u.userinfo[0]) {
        size_t ul = strlen(u.userinfo);
        if ((ul + 2) / 3 * 4 + 7 > sizeof p->auth) {
            snprintf(err, err_len, "%s: user information too long", var);
            return -1;
        }
        memcpy(p->auth, "Basic ", 6);
        EVP_EncodeBlock((unsigned char *)p->auth + 6,
                        (const unsigned char *)u.userinfo, (int)ul);
    }
    return 0;
}

vpd_egress *
vpd_egress_from_env(char *err, size_t err_len)
{
    vpd_egress *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    const char *h = env_any("HTTP_PROXY", "http_proxy");
    const char *s = env_any("HTTPS_PROXY", "https_proxy");
    const char *n = env_any("NO_PROXY", "no_proxy");
    if ((h && proxy_from("HTTP_PROXY", h, &e->http, err, err_len) != 0) ||
        (s && proxy_from("HTTPS_PROXY", s, &e->https, err, err_len) != 0)) {
        free(e);
        return NULL;
    }
    e->has_http = h != NULL;
    e->has_https = s != NULL;
    e->no_proxy = strdup(n ? n : "");
    if (!e->no_proxy) {
        snprintf(err, err_len, "out of memory");
        free(e);
        return NULL;
    }
    return e;
}

void
vpd_egress_free(vpd_egress *e)
{
    if (!e)
        return;
    free(e->no_proxy);
    free(e);
}

/* Whether addr lies in the network "ip/bits". */
static bool
in_cidr(const char *net, const char *host)
{
    char ip[64];
    const char *slash = strchr(net, '/');
    size_t il = (size_t)(slash - net);
    if (il >= sizeof ip)
        return false;
    memcpy(ip, net, il);
    ip[il] = '\0';
    char *end;
    long bits = strtol(slash + 1, &end, 10);
    unsigned char a[16], b[16];
    int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
    int len = fam == AF_INET6 ? 16 : 4;
    if (*end || bits < 0 || bits > len * 8 || inet_pton(fam, ip, a) != 1 ||
        inet_pton(fam, host, b) != 1)
        return false;
    for (int i = 0; i < len && bits > 0; i++, bits -= 8) {
        unsigned mask = bits >= 8 ? 0xffu : (0xffu << (8 - bits)) & 0xffu;
        if ((a[i] & mask) != (b[i] & mask))
            return false;
    }
    return true;
}

/* One NO_PROXY entry (trimmed, lower case) against host:port. */
static bool
entry_matches(char *ent, const char *host, int port)
{
    if (strcmp(ent, "*") == 0)
        return true;
    if (strchr(ent, '/'))
        return in_cidr(ent, host);
    /* An optional port: "name:port" or "[v6]:port"; a bare IPv6
     * address has more than one colon and no port. */
    char *colon = NULL;
    if (ent[0] == '[') {
        char *rb = strchr(ent, ']');
        if (!rb)
            return false;
        *rb = '\0';
        colon = rb[1] == ':' ? rb + 1 : NULL;
        ent++;
    } else if ((colon = strchr(ent, ':')) != NULL && strchr(colon + 1, ':')) {
        colon = NULL;
    }
    if (colon) {
        if (atoi(colon + 1) != port)
            return false;
        *colon = '\0';
    }
    if (strncmp(ent, "*.", 2) == 0)
        ent++;
    if (ent[0] == '.') /* subdomains only */
        return strlen(host) > strlen(ent) &&
               strcasecmp(host + strlen(host) - strlen(ent), ent) == 0;
    if (strcasecmp(host, ent) == 0)
        return true;
    size_t hl = strlen(host), el = strlen(ent);
    return !vpd_up_host_is_ip(ent) && hl > el && host[hl - el - 1] == '.' &&
           strcasecmp(host + hl - el, ent) == 0;
}

bool
vpd_egress_bypassed(const char *no_proxy, const char *host, int port)
{
    const char *p = no_proxy;
    while (p && *p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        size_t n = strcspn(p, ",");
        char ent[300];
        size_t l = n;
        while (l && isspace((unsigned char)p[l - 1]))
            l--;
        if (l && l < sizeof ent) {
            memcpy(ent, p, l);
            ent[l] = '\0';
            if (entry_matches(ent, host, port))
                return true;
        }
        p += n;
    }
    return false;
}

const vpd_up_proxy *
vpd_egress_for(const vpd_egress *e, bool https, const char *host, int port)
{
    if (!e || !(https ? e->has_https : e->has_http))
        return NULL;
    if (vpd_egress_bypassed(e->no_proxy, host, port))
        return NULL;
    return https ? &e->https : &e->http;
}

int
vpd_egress_connect_head(vpd_buf *out, const vpd_up_proxy *p, const char *host,
                        int port)
{
    bool v6 = strchr(host, ':') != NULL;
    int rc = vpd_buf_printf(
        out, "CONNECT %s%s%s:%d HTTP/1.1\r\nHost: %s%s%s:%d\r\n", v6 ? "[" : "",
        host, v6 ? "]" : "", port, v6 ? "[" : "", host, v6 ? "]" : "", port);
    if (rc == 0 && p->auth[0])
        rc = vpd_buf_printf(out, "Proxy-Authorization: %s\r\n", p->auth);
    if (rc == 0)
        rc = vpd_buf_append_str(out, "\r\n");
    return rc;
}
