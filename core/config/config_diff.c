/* Config comparison for reloads, driven by the key table: a key of class
 * "restart" that differs is reported, in the words its block gives.  Only
 * values are compared, never file names or line numbers, so moving a
 * block around or splitting a file does not count as a change. */
#include "autoconf.h"

#include "config/config_diff.h"
#include "config/config_keys.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static bool
str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return (!a || !*a) && (!b || !*b);
    return strcmp(a, b) == 0;
}

bool
vpd_cfg_node_equal(const vpd_cfg_node *a, const vpd_cfg_node *b)
{
    if (!a || !b)
        return a == b;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case VPD_CFG_STRING:
    case VPD_CFG_NUMBER:
        return str_eq(a->str, b->str);
    case VPD_CFG_BOOL:
        return a->boolean == b->boolean;
    case VPD_CFG_NULL:
        return true;
    case VPD_CFG_LIST:
        if (a->n_items != b->n_items)
            return false;
        for (size_t i = 0; i < a->n_items; i++)
            if (!vpd_cfg_node_equal(a->items[i], b->items[i]))
                return false;
        return true;
    case VPD_CFG_OBJECT:
        if (a->n_members != b->n_members)
            return false;
        for (size_t i = 0; i < a->n_members; i++)
            if (strcmp(a->members[i].key, b->members[i].key) != 0 ||
                !vpd_cfg_node_equal(a->members[i].value, b->members[i].value))
                return false;
        return true;
    }
    return false;
}

/* Every member named `key` of two trees, in order (a tree may be NULL or
 * not an object: it then has none). */
static bool
members_equal(const vpd_cfg_node *a, const vpd_cfg_node *b, const char *key)
{
    size_t i = 0, j = 0;
    for (;;) {
        while (a && a->type == VPD_CFG_OBJECT && i < a->n_members &&
               strcmp(a->members[i].key, key) != 0)
            i++;
        while (b && b->type == VPD_CFG_OBJECT && j < b->n_members &&
               strcmp(b->members[j].key, key) != 0)
            j++;
        bool more_a = a && a->type == VPD_CFG_OBJECT && i < a->n_members;
        bool more_b = b && b->type == VPD_CFG_OBJECT && j < b->n_members;
        if (!more_a || !more_b)
            return more_a == more_b;
        if (!vpd_cfg_node_equal(a->members[i].value, b->members[j].value))
            return false;
        i++;
        j++;
    }
}

#define AT(base, off, type) (*(const type *)(const void *)((base) + (off)))

static const vpd_cfg_node *
raw_node(const vpd_config_block *blk, const char *base)
{
    return blk->raw_off == VPD_NO_FIELD
               ? NULL
               : AT(base, blk->raw_off, vpd_cfg_node *);
}

static bool
is_present(const vpd_config_block *blk, const char *base)
{
    return blk->present_off == VPD_NO_FIELD || AT(base, blk->present_off, bool);
}

/* One stored value of two block instances.  A key without a field of its
 * own is compared as written when its block keeps its tree. */
static bool
value_equal(const vpd_config_block *blk, const vpd_config_key *k, const char *a,
            const char *b)
{
    switch (k->field) {
    case VPD_FIELD_NONE:
        return members_equal(raw_node(blk, a), raw_node(blk, b), k->name);
    case VPD_FIELD_STR:
        return str_eq(AT(a, k->off, char *), AT(b, k->off, char *));
    case VPD_FIELD_BOOL:
        return AT(a, k->off, bool) == AT(b, k->off, bool);
    case VPD_FIELD_MS:
        return AT(a, k->off, uint64_t) == AT(b, k->off, uint64_t);
    case VPD_FIELD_INT:
    case VPD_FIELD_ENUM:
        return AT(a, k->off, int) == AT(b, k->off, int);
    case VPD_FIELD_I64:
        return AT(a, k->off, int64_t) == AT(b, k->off, int64_t);
    case VPD_FIELD_SIZE:
        return AT(a, k->off, size_t) == AT(b, k->off, size_t);
    case VPD_FIELD_NODE:
        return vpd_cfg_node_equal(AT(a, k->off, vpd_cfg_node *),
                                  AT(b, k->off, vpd_cfg_node *));
    case VPD_FIELD_MEMBERS:
        return members_equal(AT(a, k->off, vpd_cfg_node *),
                             AT(b, k->off, vpd_cfg_node *), k->name);
    case VPD_FIELD_FLAGS2:
        return AT(a, k->off, bool) == AT(b, k->off, bool) &&
               AT(a, k->off2, bool) == AT(b, k->off2, bool);
    case VPD_FIELD_STRS: {
        size_t n = AT(a, k->off2, size_t);
        if (n != AT(b, k->off2, size_t))
            return false;
        const char *const *sa = AT(a, k->off, char *const *);
        const char *const *sb = AT(b, k->off, char *const *);
        for (size_t i = 0; i < n; i++)
            if (!str_eq(sa[i], sb[i]))
                return false;
        return true;
    }
    case VPD_FIELD_BLOCK:
    case VPD_FIELD_BLOCKS:
        break; /* walked by the callers */
    }
    return true;
}

/* Which keys a comparison looks at: the reload class it is about, or
 * every key (class 0). */
static bool
considered(const vpd_config_key *k, vpd_reload_class only)
{
    return !k->alias &&
           (only == 0 || k->reload == only || k->field == VPD_FIELD_BLOCK ||
            k->field == VPD_FIELD_BLOCKS);
}

static bool block_equal(vpd_block_id id, const char *a, const char *b,
                        vpd_reload_class only);

static bool
blocks_equal(const vpd_config_key *k, const char *a, const char *b,
             vpd_reload_class only)
{
    size_t n = AT(a, k->off2, size_t);
    if (n != AT(b, k->off2, size_t))
        return false;
    size_t size = vpd_config_blocks[k->sub].elem_size;
    const char *va = AT(a, k->off, char *);
    const char *vb = AT(b, k->off, char *);
    for (size_t i = 0; i < n; i++)
        if (!block_equal(k->sub, va + i * size, vb + i * size, only))
            return false;
    return true;
}

/* Two instances of block `id` agree on every key of class `only` (and
 * on the blocks within, whatever their class). */
static bool
block_equal(vpd_block_id id, const char *a, const char *b,
            vpd_reload_class only)
{
    const vpd_config_block *blk = &vpd_config_blocks[id];
    if (is_present(blk, a) != is_present(blk, b))
        return false;
    if (!is_present(blk, a))
        return true;
    for (size_t i = 0; i < blk->n_keys; i++) {
        const vpd_config_key *k = &blk->keys[i];
        if (!considered(k, only))
            continue;
        bool eq = k->field == VPD_FIELD_BLOCK
                      ? block_equal(k->sub, a + k->off, b + k->off, only)
                  : k->field == VPD_FIELD_BLOCKS ? blocks_equal(k, a, b, only)
                                                 : value_equal(blk, k, a, b);
        if (!eq)
            return false;
    }
    return true;
}

bool
vpd_config_method_equal(const vpd_method_config *a, const vpd_method_config *b)
{
    return block_equal(VPD_BLOCK_METHOD, (const char *)a, (const char *)b, 0);
}

vpd_method_change
vpd_config_method_change(const vpd_config *running, const vpd_config *fresh)
{
    const vpd_auto_auth_config *r = &running->auto_auth, *f = &fresh->auto_auth;
    if (r->present != f->present ||
        (r->present && !str_eq(r->method.type, f->method.type)))
        return VPD_METHOD_RESTART;
    if (!r->present || vpd_config_method_equal(&r->method, &f->method))
        return VPD_METHOD_KEEP;
    return VPD_METHOD_REPLACE;
}

bool
vpd_config_plugin_blocks_match(const vpd_config *a, const vpd_config *b)
{
    return blocks_equal(vpd_config_key_find(VPD_BLOCK_TOP, "plugin"),
                        (const char *)a, (const char *)b, VPD_RELOAD_RESTART);
}

typedef struct {
    void (*report)(const char *what, void *arg);
    void *arg;
    size_t n;
} diff;

static void
differs(diff *d, const char *what)
{
    d->n++;
    d->report(what, d->arg);
}

static void diff_block(diff *d, vpd_block_id id, const char *a, const char *b,
                       const char *whole_name);

/* A list of blocks: its length, then each element, named by the block's
 * label, or one report for the whole list when elements have no name. */
static void
diff_blocks(diff *d, const vpd_config_key *k, const char *a, const char *b)
{
    const vpd_config_block *sub = &vpd_config_blocks[k->sub];
    size_t n = AT(a, k->off2, size_t);
    if (n != AT(b, k->off2, size_t)) {
        differs(d, sub->count_name);
        return;
    }
    const char *va = AT(a, k->off, char *);
    const char *vb = AT(b, k->off, char *);
    char what[160];
    for (size_t i = 0; i < n; i++) {
        const char *ea = va + i * sub->elem_size, *eb = vb + i * sub->elem_size;
        if (!sub->label) {
            if (!block_equal(k->sub, ea, eb, VPD_RELOAD_RESTART)) {
                differs(d, sub->count_name);
                return;
            }
            continue;
        }
        sub->label(ea, i, what, sizeof what);
        diff_block(d, k->sub, ea, eb, what);
    }
}

/* Reports what differs among the restart-class keys of one block
 * instance: once for the whole block (named whole_name, or the block's
 * diff_name), or once per key. */
static void
diff_block(diff *d, vpd_block_id id, const char *a, const char *b,
           const char *whole_name)
{
    const vpd_config_block *blk = &vpd_config_blocks[id];
    if (is_present(blk, a) != is_present(blk, b)) {
        differs(d, blk->diff_name);
        return;
    }
    if (!is_present(blk, a))
        return;
    if (blk->diff_whole) {
        if (!block_equal(id, a, b, VPD_RELOAD_RESTART))
            differs(d, whole_name ? whole_name : blk->diff_name);
        return;
    }
    char what[160];
    for (size_t i = 0; i < blk->n_keys; i++) {
        const vpd_config_key *k = &blk->keys[i];
        if (!considered(k, VPD_RELOAD_RESTART))
            continue;
        if (k->field == VPD_FIELD_BLOCK) {
            diff_block(d, k->sub, a + k->off, b + k->off, NULL);
        } else if (k->field == VPD_FIELD_BLOCKS) {
            diff_blocks(d, k, a, b);
        } else if (!value_equal(blk, k, a, b)) {
            snprintf(what, sizeof what, "%s%s%s", blk->diff_name,
                     blk->diff_name[0] ? " " : "", k->name);
            differs(d, what);
        }
    }
}

size_t
vpd_config_diff_restart(const vpd_config *r, const vpd_config *f,
                        void (*report)(const char *what, void *arg), void *arg)
{
    diff d = {report, arg, 0};
    diff_block(&d, VPD_BLOCK_TOP, (const char *)r, (const char *)f, NULL);
    return d.n;
}
