/* Version strings the daemon sends and prints. */
#ifndef VPD_VERSION_H
#define VPD_VERSION_H

#include "autoconf.h"

#define VPD_VERSION PACKAGE_VERSION

/* Vault Proxy prefixes the client's User-Agent with its own name; we do the
 * same so servers can tell proxied traffic apart. */
#define VPD_API_PROXY_UA "Vault Proxy API Proxy/" VPD_VERSION " (vaproxy)"
#define VPD_AUTO_AUTH_UA "Vault Proxy Auto-Auth/" VPD_VERSION " (vaproxy)"

#endif
