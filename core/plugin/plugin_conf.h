/* The configuration of one plugin instance: a private copy of its `config`
 * block plus synthetic key/value pairs, checked against the
 * implementation's schema and read back through typed lookups (the host
 * table's conf_* members).
 *
 * Ownership: a vpd_plugin_conf owns its node copy and its pairs, made by
 * vpd_plugin_conf_init and released by vpd_plugin_conf_free, so it never
 * depends on the configuration it was read from.  The schema is borrowed
 * from the loader's copy of the plugin's (plugin_layout.h) and lives as
 * long as the plugin stays loaded. */
#ifndef VPD_PLUGIN_CONF_H
#define VPD_PLUGIN_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vaproxy/vaproxy.h>

#include "config/cfgtree.h"

/* A synthetic configuration key/value for instances configured from core
 * settings rather than a `config` block. */
typedef struct {
    const char *key;
    const char *value;
} vpd_conf_pair;

typedef struct {
    const vp_conf_field_t *schema; /* borrowed from the loader */
    vpd_cfg_node *node;            /* a copy of the `config` object, or NULL */
    vpd_conf_pair *pairs;          /* copies of the synthetic pairs */
    size_t n_pairs;
} vpd_plugin_conf;

/* Copies node (may be NULL) and the pairs into c.  Returns 0, or VP_ENOMEM
 * with c left empty. */
int vpd_plugin_conf_init(vpd_plugin_conf *c, const vp_conf_field_t *schema,
                         const vpd_cfg_node *node, const vpd_conf_pair *pairs,
                         size_t n_pairs);
void vpd_plugin_conf_free(vpd_plugin_conf *c);

/* Checks every configured key against the schema: known, of the right
 * type, and every required key present.  label names the instance in
 * messages ("auth \"approle\""), where is the position to report when
 * there is no config block.  Returns 0, or -1 with "FILE:LINE: LABEL: ..."
 * in err. */
int vpd_plugin_conf_check(const vpd_plugin_conf *c, const char *label,
                          const char *where, char *err, size_t err_len);

/* Looks key up (the config block, then the pairs, then the schema's
 * default) and converts it to the schema's type: text into *str, numbers,
 * booleans, durations (milliseconds) and modes into *num.  want_type says
 * which getter asks: VP_CONF_STRING for text, anything else for a number.
 * Returns 0, VP_ENOENT (absent, no default) or VP_EINVAL (not in the
 * schema, getter of the wrong kind, or a value that does not convert). */
int vpd_plugin_conf_get(const vpd_plugin_conf *c, const char *key,
                        vp_conf_type_t want_type, const char **str,
                        int64_t *num);

/* True when both hold equal config blocks (compared by value, positions
 * ignored) and equal pairs. */
bool vpd_plugin_conf_equal(const vpd_plugin_conf *a, const vpd_plugin_conf *b);

/* Exchanges the node copies and pairs of a and b (the schemas stay). */
void vpd_plugin_conf_swap(vpd_plugin_conf *a, vpd_plugin_conf *b);

#endif
