/* SPDX-License-Identifier: Apache-2.0 */
/* vaproxy SDK: the plugin descriptor, instances and configuration schema.
 *
 * A plugin is a shared object with exactly one exported symbol: a const
 * vp_plugin_t defined with VP_PLUGIN_DEFINE.  The daemon reads and checks
 * the descriptor (magic, ABI, size, name) before it calls any plugin code.
 * One plugin may provide several implementations (an auth method "approle",
 * a consistency policy "always", ...), each listed in `provides`.
 *
 * Ownership rules, for every function of the SDK:
 *  1. What the core passes to a plugin is borrowed: valid for the duration
 *     of the call unless the function says otherwise.
 *  2. What a plugin hands to the core through a host function is copied by
 *     the core before the function returns.
 *  3. Memory a host function returns to the plugin is freed with the host
 *     function its comment names (free or secret_free).
 *  4. Secrets (tokens, secret ids, JWTs, bodies that carry them) live in
 *     buffers from host->secret_dup and are wiped on release.
 *  5. A plugin's own state hangs off vp_instance_t.data: created in the ops'
 *     `create`, released in `destroy`; on SIGHUP a cache or consistency
 *     instance may get new settings through `reconfigure` (ABI 1.1), which
 *     changes that state in place.
 *
 * Threads: every callback runs on the daemon's single event-loop thread and
 * must not block (no network I/O; small local files may be read).
 *
 * A complete plugin project to start from is installed with the SDK in
 * $(datadir)/vaproxy-sdk/template (sdk/template in the sources), with the
 * mock host for unit tests next to it; sdk/GUIDE.md walks through it.
 */
#ifndef VAPROXY_PLUGIN_H
#define VAPROXY_PLUGIN_H

#include "common.h"
#include "errors.h"
#include "version.h"

VP_BEGIN_DECLS

typedef struct vp_host_api vp_host_api_t;

/* The ABI minor a plugin needs, recorded in its descriptor by
 * VP_PLUGIN_HEADER.  It defaults to the minor of these headers; a plugin
 * that uses nothing newer than, say, 1.1 defines VP_TARGET_ABI_MINOR to 1
 * (before including any SDK header, or with -DVP_TARGET_ABI_MINOR=1) and
 * then loads into 1.1 daemons too.  Such a plugin must not call a host
 * member added later without checking it with VP_HOST_HAS, and the daemon
 * ignores the ops its tables have beyond that minor.  Since 1.2; older
 * SDKs always record their own minor. */
#ifndef VP_TARGET_ABI_MINOR
#define VP_TARGET_ABI_MINOR VP_ABI_MINOR
#endif
#if VP_TARGET_ABI_MINOR > VP_ABI_MINOR
#error "VP_TARGET_ABI_MINOR is newer than this SDK's VP_ABI_MINOR"
#endif

typedef enum vp_kind {
    VP_KIND_AUTH = 1,       /* ops: vp_auth_ops_t (auth.h) */
    VP_KIND_CACHE = 2,      /* ops: vp_cache_ops_t (cache.h) */
    VP_KIND_CONSISTENCY = 3 /* ops: vp_consistency_ops_t (consistency.h) */
} vp_kind_t;

/* One configured use of an implementation.  The core owns it.  Plugins
 * read `host` and `name` and may set `data`. */
typedef struct vp_instance {
    const vp_host_api_t *host;
    const char *name; /* implementation name, e.g. "approle" */
    void *data;       /* the plugin's own per-instance state */
    uint32_t size;    /* sizeof(vp_instance_t) of the host (1.2; check
                         host->abi_minor >= 2 before reading it) */
} vp_instance_t;

/* Types a configuration key may have.  The core checks them (and rejects
 * unknown keys with file, line and key) before `create` runs. */
typedef enum vp_conf_type {
    VP_CONF_STRING = 1,
    VP_CONF_INT = 2,
    VP_CONF_BOOL = 3,     /* true/false, or a bool string ("true", "1") */
    VP_CONF_DURATION = 4, /* 30, "30s", "5m", "1h30m", "2d" */
    VP_CONF_PATH = 5,     /* a string naming a file or directory */
    VP_CONF_MODE = 6      /* file mode: 0640 in HCL, or "0640" */
} vp_conf_type_t;

#define VP_CONF_REQUIRED 0x1u /* the key must be present */
#define VP_CONF_SECRET 0x2u   /* never echo the value in messages */

/* One configuration key.  Arrays of fields end with VP_CONF_END (a
 * field whose key is NULL).  Write each field with VP_CONF_FIELD, or with
 * designated initializers: members appended in later minors then get
 * their defaults without a change to the plugin's source. */
typedef struct vp_conf_field {
    const char *key;
    vp_conf_type_t type;
    unsigned flags;
    const char *default_value; /* as text, or NULL */
    const char *help;          /* one line saying what the key does, for
                                  readers of the source; unused by the
                                  daemon */
    /* sizeof(vp_conf_field_t) of whoever filled the field: VP_CONF_FIELD
     * sets it; 0 is allowed (the daemon takes the array's stride from the
     * descriptor's conf_field_size, never from here).  The daemon's own
     * copies of a schema carry its size.  Since 1.2. */
    uint32_t size;
} vp_conf_field_t;

/* One schema entry and the end of a schema, in this SDK's layout. */
#define VP_CONF_FIELD(key, type, flags, default_value, help)                   \
    {                                                                          \
        (key), (type), (flags), (default_value), (help),                       \
            (uint32_t)sizeof(vp_conf_field_t)                                  \
    }
#define VP_CONF_END                                                            \
    {                                                                          \
        NULL, (vp_conf_type_t)0, 0, NULL, NULL, 0                              \
    }

/* One implementation provided by a plugin.  Arrays end with {0}.  The
 * daemon walks them with the stride the descriptor records
 * (provide_size). */
typedef struct vp_provide {
    vp_kind_t kind;
    const char *name;              /* the name config files use */
    const void *ops;               /* the kind's ops table */
    const vp_conf_field_t *schema; /* may be NULL: no keys accepted */
} vp_provide_t;

/* The descriptor.  The first four fields are fixed forever. */
typedef struct vp_plugin {
    uint32_t magic;      /* VP_PLUGIN_MAGIC */
    uint16_t abi_major;  /* VP_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;  /* the minor it needs: VP_TARGET_ABI_MINOR */
    uint32_t size;       /* sizeof(vp_plugin_t) the plugin was built with */
    const char *name;    /* module name: file name without extension */
    const char *version; /* the plugin's own version text */
    const char *summary; /* one line */
    /* Optional whole-plugin set-up and tear-down.  init returns 0 or a
     * VP_E* code; on failure the plugin is refused and unloaded.
     * Since ABI 1.0. */
    int (*init)(const vp_host_api_t *host, void **state);
    void (*fini)(void *state);
    const vp_provide_t *provides;
    /* The element sizes of the arrays above as the plugin was compiled:
     * sizeof(vp_provide_t) and sizeof(vp_conf_field_t), filled by
     * VP_PLUGIN_HEADER.  The daemon walks `provides` and every schema
     * with these strides and copies them into its own layout, so a member
     * appended to either struct never shifts an older plugin's array.  A
     * descriptor whose `size` ends before them is read with the 1.0
     * layouts; one that has them must fill both.  Since 1.2. */
    uint32_t provide_size;
    uint32_t conf_field_size;
} vp_plugin_t;

/* Defines the exported descriptor of module `modname` (which must equal the
 * file name, e.g. auth_approle for auth_approle.so).  libltdl looks the
 * symbol up as <modname>_LTX_vaproxy_plugin.  Use it as:
 *
 *     VP_PLUGIN_DEFINE(auth_approle) = {
 *         VP_PLUGIN_HEADER(auth_approle),
 *         .version = "1.0", .summary = "AppRole login",
 *         .provides = approle_provides,
 *     };
 */
#define VP_PLUGIN_DEFINE(modname)                                              \
    VP_EXPORT extern const vp_plugin_t modname##_LTX_vaproxy_plugin;           \
    VP_EXPORT const vp_plugin_t modname##_LTX_vaproxy_plugin

#define VP_PLUGIN_HEADER(modname)                                              \
    .magic = VP_PLUGIN_MAGIC, .abi_major = VP_ABI_MAJOR,                       \
    .abi_minor = VP_TARGET_ABI_MINOR, .size = (uint32_t)sizeof(vp_plugin_t),   \
    .name = #modname, .provide_size = (uint32_t)sizeof(vp_provide_t),          \
    .conf_field_size = (uint32_t)sizeof(vp_conf_field_t)

VP_END_DECLS

#endif
