/* `vaproxyd --check-config -v`: the merged, validated configuration (all
 * -config files and directories merged, environment overrides and
 * defaults applied) as pretty-printed JSON.
 *
 * Secrets are never printed: a value under a key that authenticates
 * (containing token, secret, jwt, role_id, password, credential, private,
 * aad, or named key / *_key / key_*) becomes "<redacted>", at any depth of
 * plugin-owned blocks.  Keys naming files (*_file, *_path, *_dir),
 * environment variables (*_env, *_env_var), TTLs and types are shown: the
 * dump never reads the files they name.  When in doubt a value is hidden
 * (the cert method's client_key path is, for instance).
 *
 * Ownership: the config is borrowed; the output is written to `out`. */
#ifndef VPD_CONFIG_DUMP_H
#define VPD_CONFIG_DUMP_H

#include <stdbool.h>
#include <stdio.h>

#include "config/config.h"

/* Returns 0, or -1 when out of memory. */
int vpd_config_dump(const vpd_config *cfg, FILE *out);

/* The redaction rule, exposed for tests: true when a value under `key`
 * must not be shown. */
bool vpd_config_key_is_secret(const char *key);

#endif
