/* Egress proxies for the traffic to Vault, chosen as Vault's Go client
 * chooses them: HTTPS_PROXY (or https_proxy) for https upstreams,
 * HTTP_PROXY (or http_proxy) for http ones, and NO_PROXY (or no_proxy)
 * naming hosts, domains, addresses and networks that go direct.  An https
 * upstream is reached through a CONNECT tunnel; an http one by sending the
 * request in absolute form to the proxy.
 *
 * Ownership: vpd_egress_from_env copies the environment once (the daemon
 * never changes it afterwards); the proxies it returns live as long as
 * the vpd_egress. */
#ifndef VPD_UP_EGRESS_H
#define VPD_UP_EGRESS_H

#include <stdbool.h>

#include "base/buf.h"
#include "upstream/url.h"

typedef struct {
    char host[VPD_UP_HOST_MAX];
    int port;
    char auth[400]; /* Proxy-Authorization value, "" without userinfo */
} vpd_up_proxy;

typedef struct vpd_egress vpd_egress;

/* Reads the proxy variables.  A proxy URL that cannot be used (another
 * scheme than http, no host) is reported in err and NULL returned. */
vpd_egress *vpd_egress_from_env(char *err, size_t err_len);
void vpd_egress_free(vpd_egress *e);

/* The proxy for a request to host:port over http or https, or NULL to go
 * direct. */
const vpd_up_proxy *vpd_egress_for(const vpd_egress *e, bool https,
                                   const char *host, int port);

/* Whether NO_PROXY exempts host:port (exposed for tests). */
bool vpd_egress_bypassed(const char *no_proxy, const char *host, int port);

/* Appends the CONNECT request that opens a tunnel to host:port. */
int vpd_egress_connect_head(vpd_buf *out, const vpd_up_proxy *p,
                            const char *host, int port);

#endif
