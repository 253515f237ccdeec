/* A plugin's arrays in the host's layout.  The descriptor's `provides`
 * and each implementation's schema are arrays whose element structs may
 * grow in a later minor ABI (appended members), so a plugin built with
 * other headers has another stride.  The loader reads them here, once,
 * with the strides the descriptor records (the 1.0 ones when it records
 * none) and copies them into arrays of the host's own structs; nothing
 * else in the core reads a plugin's arrays.
 *
 * Ownership: a vpd_layout owns its two arrays (made by vpd_layout_copy,
 * released by vpd_layout_free).  The strings and ops they point to are
 * the plugin's and live as long as the module stays loaded. */
#ifndef VPD_PLUGIN_LAYOUT_H
#define VPD_PLUGIN_LAYOUT_H

#include <stddef.h>
#include <vaproxy/vaproxy.h>

typedef struct {
    /* The implementations, ended by one whose kind is 0; each schema
     * points into `fields` (or is NULL, as the plugin gave it). */
    vp_provide_t *provides;
    size_t n_provides;
    /* Every schema, each ended by a field whose key is NULL, with size
     * set to the host's sizeof(vp_conf_field_t). */
    vp_conf_field_t *fields;
} vpd_layout;

/* Copies d's provides and schemas into l.  Returns 0, or -1 with the
 * reason in why (and l empty): element sizes that no ABI 1.x defines, an
 * array with no end, a field whose own size disagrees with the
 * descriptor, or no memory. */
int vpd_layout_copy(const vp_plugin_t *d, vpd_layout *l, char *why,
                    size_t why_len);
void vpd_layout_free(vpd_layout *l);

#endif
