/* `vaproxyd --check-config -v`: the merged, validated configuration (all
 * -config files and directories merged, environment overrides and
 * defaults applied) as pretty-printed JSON.
 *
 * Secrets are never printed: a value under a key a plugin's schema flags
 * VP_CONF_SECRET (through vpd_dump_redactor), or under a key that
 * authenticates
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

/* What the configuration layer cannot know: which keys a plugin's schema
 * flags secret.  `secret` is asked about every key of every object in the
 * plugin-owned blocks (an auth method's config, the cache block, plugin
 * blocks) and answers 1 when `block` is the configuration of a plugin
 * instance whose schema flags `key` VP_CONF_SECRET, else 0.  A value is
 * redacted when the name rule or the schema says so. */
typedef struct {
    int (*secret)(void *ctx, const vpd_cfg_node *block, const char *key);
    void *ctx;
} vpd_dump_redactor;

/* vpd_config_dump, also redacting what `r` says is secret (NULL: the name
 * rule only). */
int vpd_config_dump_redacting(const vpd_config *cfg, const vpd_dump_redactor *r,
                              FILE *out);

/* The redaction rule, exposed for tests: true when a value under `key`
 * must not be shown. */
bool vpd_config_key_is_secret(const char *key);

#endif
