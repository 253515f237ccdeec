/* `vaproxyd --describe-plugins`: what every loaded plugin offers, for an
 * operator writing a configuration and for a plugin author checking what
 * the daemon read from a descriptor.
 *
 * Ownership: the registry is borrowed; the text is written to `out`. */
#ifndef VPD_PLUGIN_DESCRIBE_H
#define VPD_PLUGIN_DESCRIBE_H

#include <stdio.h>

#include "plugin/plugin_loader.h"

/* Prints each plugin in load order: module name, version, the ABI it
 * declares, its file and summary, then each implementation it provides
 * (kind and name) with its configuration keys (type, required, secret,
 * default, help).  Returns 0, or -1 when writing failed. */
int vpd_plugins_describe(const vpd_registry *reg, FILE *out);

#endif
