/* The dump is built as a json-c tree by walking the key table over the
 * typed config (so defaults show), plus the generic trees of plugin-owned
 * blocks (method and sink `config`, cache, telemetry, plugin blocks),
 * redacted on the way: a key the table marks secret, any key of a generic
 * tree whose name says it authenticates, and any key the plugin owning
 * the tree flags secret in its schema (asked through the redactor, as the
 * schemas live in a higher layer). */
#include "autoconf.h"

#include "config/config_dump.h"
#include "config/config_keys.h"

#include <ctype.h>
#include <stdint.h>
#include <json.h>
#include <string.h>
#include <strings.h>

#define REDACTED "<redacted>"

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool
vpd_config_key_is_secret(const char *key)
{
    char k[128];
    size_t i = 0;
    for (; key[i] && i + 1 < sizeof k; i++)
        k[i] = (char)tolower((unsigned char)key[i]);
    k[i] = '\0';
    /* Names of files and variables are not the secrets they hold. */
    static const char *const shown[] = {"_file",    "_path", "_dir", "_env",
                                        "_env_var", "_ttl",  "_type"};
    for (size_t j = 0; j < sizeof shown / sizeof shown[0]; j++)
        if (ends_with(k, shown[j]))
            return false;
    static const char *const secret[] = {
        "token",      "secret",  "jwt", "role_id", "password", "passwd",
        "credential", "private", "aad", "api_key", "apikey",   "auth_key"};
    for (size_t j = 0; j < sizeof secret / sizeof secret[0]; j++)
        if (strstr(k, secret[j]))
            return true;
    return strcmp(k, "key") == 0 || ends_with(k, "_key") ||
           strncmp(k, "key_", 4) == 0;
}

static json_object *
jstr(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

static void
put(json_object *o, const char *key, json_object *v)
{
    if (v)
        json_object_object_add(o, key, v);
}

/* Go-style duration text: "1h30m0s", "300ms", "0s". */
static json_object *
jdur(uint64_t ms)
{
    char buf[64];
    if (ms == 0)
        return json_object_new_string("0s");
    if (ms < 1000) {
        snprintf(buf, sizeof buf, "%llums", (unsigned long long)ms);
        return json_object_new_string(buf);
    }
    uint64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60,
             frac = ms % 1000;
    size_t n = 0;
    if (h)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%lluh",
                              (unsigned long long)h);
    if (h || m)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%llum",
                              (unsigned long long)m);
    if (frac)
        snprintf(buf + n, sizeof buf - n, "%llu.%03llus", (unsigned long long)s,
                 (unsigned long long)frac);
    else
        snprintf(buf + n, sizeof buf - n, "%llus", (unsigned long long)s);
    return json_object_new_string(buf);
}

/* A generic tree, with values under secret keys redacted (whole
 * sub-trees included: a secret block hides everything in it). */
static json_object *
node_json(const vpd_cfg_node *n, bool secret, const vpd_dump_redactor *r)
{
    if (!n)
        return NULL;
    if (secret && n->type != VPD_CFG_BOOL && n->type != VPD_CFG_NULL)
        return json_object_new_string(REDACTED);
    switch (n->type) {
    case VPD_CFG_STRING:
        return json_object_new_string(n->str ? n->str : "");
    case VPD_CFG_NUMBER:
        return n->is_float ? json_object_new_double(n->fnum)
                           : json_object_new_int64(n->num);
    case VPD_CFG_BOOL:
        return json_object_new_boolean(n->boolean);
    case VPD_CFG_NULL:
        return NULL;
    case VPD_CFG_LIST: {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < n->n_items; i++) {
            json_object *v = node_json(n->items[i], false, r);
            json_object_array_add(a, v);
        }
        return a;
    }
    case VPD_CFG_OBJECT: {
        json_object *o = json_object_new_object();
        for (size_t i = 0; i < n->n_members; i++) {
            const vpd_cfg_member *m = &n->members[i];
            bool hidden = vpd_config_key_is_secret(m->key) ||
                          (r && r->secret(r->ctx, n, m->key) == 1);
            put(o, m->key, node_json(m->value, hidden, r));
        }
        return o;
    }
    }
    return NULL;
}

#define AT(base, off, type) (*(const type *)(const void *)((base) + (off)))

static json_object *block_json(vpd_block_id id, const char *base,
                               const vpd_dump_redactor *r);

/* A list of the names whose flags are set. */
static json_object *
flags_json(const vpd_config_key *k, const char *base)
{
    json_object *a = json_object_new_array();
    if (AT(base, k->off, bool))
        json_object_array_add(a, json_object_new_string(k->names[0]));
    if (AT(base, k->off2, bool))
        json_object_array_add(a, json_object_new_string(k->names[1]));
    return a;
}

static json_object *
blocks_json(const vpd_config_key *k, const char *base,
            const vpd_dump_redactor *r)
{
    json_object *a = json_object_new_array();
    size_t n = AT(base, k->off2, size_t);
    size_t size = vpd_config_blocks[k->sub].elem_size;
    const char *v = AT(base, k->off, char *);
    for (size_t i = 0; i < n; i++)
        json_object_array_add(a, block_json(k->sub, v + i * size, r));
    return a;
}

/* A stored value as JSON, or NULL when it is not shown (absent, or kept
 * only inside a block dumped as written). */
static json_object *
value_json(const vpd_config_key *k, const char *base,
           const vpd_dump_redactor *r)
{
    switch (k->field) {
    case VPD_FIELD_STR: {
        const char *v = AT(base, k->off, char *);
        if (v && k->secret)
            return json_object_new_string(REDACTED);
        return jstr(v ? v : k->dump_default);
    }
    case VPD_FIELD_BOOL: {
        bool v = AT(base, k->off, bool);
        if (k->names)
            return json_object_new_string(k->names[v]);
        return json_object_new_boolean(v);
    }
    case VPD_FIELD_MS: {
        uint64_t v = AT(base, k->off, uint64_t);
        if (v == 0 && k->dump_default)
            vpd_duration_parse(k->dump_default, &v);
        return jdur(v);
    }
    case VPD_FIELD_INT:
        return json_object_new_int(AT(base, k->off, int));
    case VPD_FIELD_I64:
        return json_object_new_int64(AT(base, k->off, int64_t));
    case VPD_FIELD_SIZE: {
        size_t v = AT(base, k->off, size_t);
        return json_object_new_int64(v == SIZE_MAX ? -1 : (int64_t)v);
    }
    case VPD_FIELD_ENUM:
        return jstr(k->names[AT(base, k->off, int)]);
    case VPD_FIELD_NODE:
        return node_json(AT(base, k->off, vpd_cfg_node *), k->secret, r);
    case VPD_FIELD_FLAGS2:
        return flags_json(k, base);
    case VPD_FIELD_BLOCK:
        return block_json(k->sub, base + k->off, r);
    case VPD_FIELD_BLOCKS:
        return blocks_json(k, base, r);
    case VPD_FIELD_NONE:
    case VPD_FIELD_MEMBERS:
    case VPD_FIELD_STRS:
        break;
    }
    return NULL;
}

/* One block instance: as written (redacted) when the block keeps its
 * tree, else its stored keys in table order; NULL when absent. */
static json_object *
block_json(vpd_block_id id, const char *base, const vpd_dump_redactor *r)
{
    const vpd_config_block *blk = &vpd_config_blocks[id];
    if (blk->present_off != VPD_NO_FIELD && !AT(base, blk->present_off, bool))
        return NULL;
    if (blk->raw_off != VPD_NO_FIELD) {
        json_object *raw =
            node_json(AT(base, blk->raw_off, vpd_cfg_node *), false, r);
        return raw ? raw : json_object_new_object();
    }
    json_object *o = json_object_new_object();
    bool tls = true;
    if (id == VPD_BLOCK_LISTENER)
        tls = !((const vpd_listener_config *)(const void *)base)->tls_disable;
    for (size_t i = 0; i < blk->n_keys; i++) {
        const vpd_config_key *k = &blk->keys[i];
        if (k->alias || (k->tls_only && !tls))
            continue;
        put(o, k->dump_name ? k->dump_name : k->name, value_json(k, base, r));
    }
    /* Several listeners may share a type: say where each one is. */
    if (id == VPD_BLOCK_LISTENER) {
        const vpd_listener_config *l = (const void *)base;
        if (l->file) {
            char at[512];
            snprintf(at, sizeof at, "%s:%d", l->file, l->line);
            put(o, "defined_at", json_object_new_string(at));
        }
    }
    return o;
}

int
vpd_config_dump(const vpd_config *cfg, FILE *out)
{
    return vpd_config_dump_redacting(cfg, NULL, out);
}

int
vpd_config_dump_redacting(const vpd_config *cfg, const vpd_dump_redactor *r,
                          FILE *out)
{
    json_object *root = json_object_new_object();
    json_object *keys = block_json(VPD_BLOCK_TOP, (const char *)cfg, r);
    if (!root || !keys) {
        json_object_put(root);
        json_object_put(keys);
        return -1;
    }
    /* The files first, then the merged keys. */
    json_object *files = json_object_new_array();
    for (size_t i = 0; i < cfg->n_trees; i++)
        json_object_array_add(files, jstr(cfg->trees[i].file));
    put(root, "config_files", files);
    json_object_object_foreach(keys, name, value)
        put(root, name, json_object_get(value));
    json_object_put(keys);
    const char *text = json_object_to_json_string_ext(
        root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                  JSON_C_TO_STRING_NOSLASHESCAPE);
    int rc = text && fprintf(out, "%s\n", text) >= 0 ? 0 : -1;
    json_object_put(root);
    return rc;
}
