/* The one table of the configuration keys vaproxyd reads.  For every key
 * it says in which block the key is written, its name, how the loader
 * reads it, where its value is stored in vpd_config, what a SIGHUP does
 * when it changes (applied live, needs a restart, or handed to a plugin's
 * reconfigure op) and whether `--check-config -v` must hide its value.
 * The loader (config.c), the reload comparison (config_diff.c) and the
 * dump (config_dump.c) all walk these tables, so a key is spelled once.
 *
 * The contents of plugin-owned maps (an auth method's or a sink's
 * `config`, the cache block apart from `persist`, a `plugin` block's
 * `config`) are not here: each plugin's schema checks them.
 *
 * Ownership: the tables are static and read-only. */
#ifndef VPD_CONFIG_KEYS_H
#define VPD_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>

/* The blocks that have keys of their own, outermost first. */
typedef enum {
    VPD_BLOCK_TOP = 0,
    VPD_BLOCK_VAULT,
    VPD_BLOCK_RETRY, /* vault { retry { } } */
    VPD_BLOCK_AUTO_AUTH,
    VPD_BLOCK_METHOD,
    VPD_BLOCK_SINK,
    VPD_BLOCK_SINKS, /* the `sinks { sink {...} }` wrapper */
    VPD_BLOCK_API_PROXY,
    VPD_BLOCK_CACHE,
    VPD_BLOCK_TELEMETRY,
    VPD_BLOCK_LISTENER,
    VPD_BLOCK_QUIT_API, /* listener { proxy_api { } } and agent_api */
    VPD_BLOCK_PLUGIN,
    /* Agent mode. */
    VPD_BLOCK_TEMPLATE,
    VPD_BLOCK_TEMPLATE_WAIT, /* template { wait { } } */
    VPD_BLOCK_TEMPLATE_EXEC, /* template { exec { } } */
    VPD_BLOCK_TEMPLATE_CONFIG,
    VPD_BLOCK_EXEC,
    VPD_BLOCK_ENV_TEMPLATE,
    VPD_BLOCK_COUNT
} vpd_block_id;

/* How the loader reads a value. */
typedef enum {
    VPD_READ_STR,     /* a string; "" is stored as NULL; numbers keep text */
    VPD_READ_BOOL,    /* a real bool only (plain Go struct bools) */
    VPD_READ_RBOOL,   /* also a bool-string or integer ("Raw" Go fields) */
    VPD_READ_DUR,     /* a duration, stored in milliseconds */
    VPD_READ_OBJ,     /* an object, kept as a tree */
    VPD_READ_INT_CHK, /* an integer, checked then discarded */
    VPD_READ_DUR_CHK, /* a duration, checked then discarded */
    VPD_READ_STR_CHK, /* a string, checked then discarded */
    VPD_READ_IGNORE,  /* a Vault server key the proxy parses and ignores */
    VPD_READ_CUSTOM,  /* read by the block's own loader code */
} vpd_key_read;

/* The C type of the field a value is stored in. */
typedef enum {
    VPD_FIELD_NONE = 0, /* not stored (checked, ignored, or a wrapper) */
    VPD_FIELD_STR,      /* char *, owned */
    VPD_FIELD_BOOL,     /* bool */
    VPD_FIELD_MS,       /* uint64_t milliseconds */
    VPD_FIELD_INT,      /* int */
    VPD_FIELD_I64,      /* int64_t */
    VPD_FIELD_SIZE,     /* size_t; SIZE_MAX means no limit */
    VPD_FIELD_ENUM,     /* an enum (int-sized) shown through `names` */
    VPD_FIELD_NODE,     /* const vpd_cfg_node *, a plugin-owned tree */
    VPD_FIELD_MEMBERS,  /* the members named like the key in the tree at
                           `off`: a core key inside a plugin-owned block */
    VPD_FIELD_FLAGS2,   /* two bools at off and off2, shown as the list of
                           the `names` that are true */
    VPD_FIELD_STRS,     /* const char **, with a size_t count at off2 */
    VPD_FIELD_BLOCK,    /* the struct of block `sub`, at off */
    VPD_FIELD_BLOCKS,   /* an array of block `sub` at off, count at off2 */
} vpd_field_type;

/* What a SIGHUP does with a changed value. */
typedef enum {
    VPD_RELOAD_LIVE = 1, /* applied by the daemon (or changes nothing) */
    VPD_RELOAD_RESTART,  /* logged as needing a restart; the old value stays */
    VPD_RELOAD_PLUGIN,   /* handed to the running plugin instance's
                            reconfigure op (reload_plugins.c) */
} vpd_reload_class;

typedef struct {
    const char *name;
    vpd_key_read read;
    vpd_field_type field;
    size_t off;  /* the field, in the struct of the key's block */
    size_t off2; /* FLAGS2's second bool, STRS' and BLOCKS' count */
    vpd_block_id sub;
    vpd_reload_class reload;
    bool secret;              /* the dump shows "<redacted>" when set */
    bool alias;               /* another spelling of the previous key's
                                 field: neither compared nor dumped twice */
    bool tls_only;            /* dumped only when the listener has TLS */
    const char *const *names; /* ENUM, and BOOL shown as a word */
    const char *dump_name;    /* NULL: the key's name */
    const char *dump_default; /* shown when the field is zero */
} vpd_config_key;

/* Describes an element of a BLOCKS array for the restart report
 * ("listener 1 (127.0.0.1:8200)"). */
typedef void (*vpd_block_label_fn)(const void *elem, size_t index, char *buf,
                                   size_t len);

typedef struct {
    const char *name; /* in messages: "vault", "auto_auth.method", ... */
    const vpd_config_key *keys;
    size_t n_keys;
    size_t elem_size;   /* the block's struct, for BLOCKS arrays */
    size_t present_off; /* a `present` bool, or VPD_NO_FIELD */
    size_t raw_off;     /* the block's whole tree, or VPD_NO_FIELD; a raw
                           block is dumped as written (redacted) */
    /* The restart report.  diff_whole: one report for the whole block,
     * named diff_name (or by `label` for an array element); otherwise one
     * per key, "diff_name key". */
    const char *diff_name;
    bool diff_whole;
    const char *count_name; /* BLOCKS: reported when the count differs, or
                               for any difference when there is no label */
    vpd_block_label_fn label;
} vpd_config_block;

#define VPD_NO_FIELD ((size_t)-1)

extern const vpd_config_block vpd_config_blocks[VPD_BLOCK_COUNT];

/* The key of block `b` named `name`, or NULL. */
const vpd_config_key *vpd_config_key_find(vpd_block_id b, const char *name);

#endif
