/* The host table: the one vp_host_api_t the daemon hands to every plugin
 * (in init, and in every instance), whose members are the shims in
 * host_table.c over the instance, login and request modules.  This is
 * where the SDK's ownership rules are enforced: strings are copied on the
 * way in, secrets are wiped on the way out.
 *
 * Ownership: the table is static and lives as long as the process; the
 * daemon passes it to vpd_plugins_load_dir / vpd_plugins_load_file. */
#ifndef VPD_HOST_TABLE_H
#define VPD_HOST_TABLE_H

#include <vaproxy/vaproxy.h>

const vp_host_api_t *vpd_host_api(void);

#endif
