/* The ABI 1.0 layouts of the structs that have grown since, for test
 * plugins that stand in for a plugin compiled against the 1.0 headers:
 * the descriptor before provide_size and conf_field_size, and the schema
 * field before size.  A plugin defines its descriptor with
 * VP_PLUGIN_DEFINE_1_0, so the exported object is exactly as large as a
 * 1.0 one and a daemon that reads past its end reads past the object.
 *
 * Ownership: types and macros only. */
#ifndef VP_TEST_LAYOUT_1_0_H
#define VP_TEST_LAYOUT_1_0_H

#include <stddef.h>
#include <stdint.h>

#include <vaproxy/vaproxy.h>

typedef struct {
    const char *key;
    vp_conf_type_t type;
    unsigned flags;
    const char *default_value;
    const char *help;
} vp_conf_field_1_0;

typedef struct {
    uint32_t magic;
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t size;
    const char *name;
    const char *version;
    const char *summary;
    int (*init)(const vp_host_api_t *host, void **state);
    void (*fini)(void *state);
    const vp_provide_t *provides;
} vp_plugin_1_0;

_Static_assert(offsetof(vp_conf_field_t, size) >= sizeof(vp_conf_field_1_0),
               "the 1.0 field ends where size begins");
_Static_assert(sizeof(vp_plugin_1_0) == offsetof(vp_plugin_t, provide_size),
               "the 1.0 descriptor ends where provide_size begins");

/* A schema of 1.0 fields where vp_provide_t wants a vp_conf_field_t: the
 * daemon reads it with the 1.0 stride the descriptor's size implies. */
#define VP_SCHEMA_1_0(array) ((const vp_conf_field_t *)(const void *)(array))

#define VP_PLUGIN_DEFINE_1_0(modname)                                          \
    VP_EXPORT extern const vp_plugin_1_0 modname##_LTX_vaproxy_plugin;         \
    VP_EXPORT const vp_plugin_1_0 modname##_LTX_vaproxy_plugin

#endif
