/* The `persist` block of a `cache` block in the configuration: its forms
 * (HCL labelled or with `type`, JSON object or list), strict keys with a
 * suggestion for a misspelt one, and the defaults (vaproxyd.hcl(5)).
 *
 * Ownership: the strings of a parsed vpd_persist_config are owned by it
 * (vpd_persist_config_free); `file` borrows the configuration tree's. */
#include "autoconf.h"

#include "cache/persist/persist_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/textutil.h"

static const char *const persist_keys[] = {
    "type",        "path",     "keep_after_import",
    "exit_on_err", "key_file", "service_account_token_file",
};
#define N_PERSIST_KEYS (sizeof persist_keys / sizeof persist_keys[0])

static bool
is_persist_key(const char *k)
{
    for (size_t i = 0; i < N_PERSIST_KEYS; i++)
        if (strcmp(persist_keys[i], k) == 0)
            return true;
    return false;
}

typedef struct {
    const vpd_cfg_node *body;
    const char *label;
    int line;
} pblock;

typedef struct {
    pblock v[2]; /* the first two found; more only counted */
    size_t n;
} pblocks;

static void
pb_add(pblocks *b, const vpd_cfg_node *body, const char *label, int line)
{
    if (b->n < 2)
        b->v[b->n] = (pblock){body, label, line};
    b->n++;
}

static bool
obj_or_obj_list(const vpd_cfg_node *v)
{
    if (v->type == VPD_CFG_OBJECT)
        return true;
    if (v->type != VPD_CFG_LIST || v->n_items == 0)
        return false;
    for (size_t i = 0; i < v->n_items; i++)
        if (v->items[i]->type != VPD_CFG_OBJECT)
            return false;
    return true;
}

/* `persist "kubernetes" {}` arrives as {kubernetes: {...}}, `persist {type
 * = ...}` as {type: ...}: labelled when every member holds a block and
 * none is a persist key (the rule config.c uses for other blocks). */
static void
collect_obj(pblocks *b, const vpd_cfg_node *o, int line)
{
    bool labelled = o->n_members > 0;
    for (size_t i = 0; labelled && i < o->n_members; i++)
        if (!obj_or_obj_list(o->members[i].value) ||
            is_persist_key(o->members[i].key))
            labelled = false;
    if (!labelled) {
        pb_add(b, o, NULL, line);
        return;
    }
    for (size_t i = 0; i < o->n_members; i++) {
        const vpd_cfg_member *lm = &o->members[i];
        if (lm->value->type == VPD_CFG_OBJECT) {
            pb_add(b, lm->value, lm->key, lm->line);
            continue;
        }
        for (size_t j = 0; j < lm->value->n_items; j++)
            pb_add(b, lm->value->items[j], lm->key, lm->value->items[j]->line);
    }
}

static int
cfg_str(const char *file, const char *name, const vpd_cfg_member *m, char **dst,
        char *err, size_t err_len)
{
    const vpd_cfg_node *v = m->value;
    if (v->type != VPD_CFG_STRING && v->type != VPD_CFG_NUMBER)
        return vpd_persist_fail(err, err_len,
                                "%s:%d: %s: %s: expected a string, got %s",
                                file, m->line, name, m->key, vpd_cfg_a_type(v));
    char *s = NULL;
    if (v->str && v->str[0] && !(s = strdup(v->str)))
        return vpd_persist_fail(err, err_len, "%s:%d: out of memory", file,
                                m->line);
    free(*dst);
    *dst = s;
    return 0;
}

/* Vault reads these two into plain Go bool fields, which take a real bool
 * only: a quoted "true" or a number is refused here too, rather than
 * accepted as parseutil.ParseBool would for other keys. */
static int
cfg_bool(const char *file, const char *name, const vpd_cfg_member *m, bool *dst,
         char *err, size_t err_len)
{
    if (m->value->type != VPD_CFG_BOOL)
        return vpd_persist_fail(
            err, err_len, "%s:%d: %s: %s: expected a bool, got %s", file,
            m->line, name, m->key, vpd_cfg_a_type(m->value));
    *dst = m->value->boolean;
    return 0;
}

static int
parse_block(const char *file, const pblock *bl, vpd_persist_config *out,
            char *err, size_t err_len)
{
    char name[128];
    const vpd_cfg_node *body = bl->body;
    /* The type first, so messages can name the block; `type` wins over
     * the label (parsePersist). */
    for (size_t i = 0; i < body->n_members; i++)
        if (strcmp(body->members[i].key, "type") == 0 &&
            cfg_str(file, "cache.persist", &body->members[i], &out->type, err,
                    err_len) != 0)
            return -1;
    if (!out->type && bl->label && bl->label[0] &&
        !(out->type = strdup(bl->label)))
        return vpd_persist_fail(err, err_len, "%s:%d: out of memory", file,
                                bl->line);
    if (!out->type)
        return vpd_persist_fail(err, err_len,
                                "%s:%d: persist type must be specified", file,
                                bl->line);
    for (char *c = out->type; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    if (strcmp(out->type, "file") == 0)
        out->kind = VPD_PERSIST_FILE;
    else if (strcmp(out->type, "kubernetes") == 0)
        out->kind = VPD_PERSIST_KUBERNETES;
    else
        return vpd_persist_fail(
            err, err_len,
            "%s:%d: persistent key protection type \"%s\" not "
            "supported (file or kubernetes)",
            file, bl->line, vpd_msg_text(out->type));
    snprintf(name, sizeof name, "cache.persist \"%s\"", out->type);

    for (size_t i = 0; i < body->n_members; i++) {
        const vpd_cfg_member *m = &body->members[i];
        int rc = 0;
        if (strcmp(m->key, "type") == 0) {
            continue;
        } else if (strcmp(m->key, "path") == 0) {
            rc = cfg_str(file, name, m, &out->path, err, err_len);
        } else if (strcmp(m->key, "keep_after_import") == 0) {
            rc = cfg_bool(file, name, m, &out->keep_after_import, err, err_len);
        } else if (strcmp(m->key, "exit_on_err") == 0) {
            rc = cfg_bool(file, name, m, &out->exit_on_err, err, err_len);
        } else if (strcmp(m->key, "key_file") == 0) {
            if (out->kind != VPD_PERSIST_FILE)
                return vpd_persist_fail(err, err_len,
                                        "%s:%d: %s: key_file: only valid "
                                        "with persist \"file\"",
                                        file, m->line, name);
            rc = cfg_str(file, name, m, &out->key_file, err, err_len);
        } else if (strcmp(m->key, "service_account_token_file") == 0) {
            if (out->kind != VPD_PERSIST_KUBERNETES)
                return vpd_persist_fail(
                    err, err_len,
                    "%s:%d: %s: "
                    "service_account_token_file: only valid with "
                    "persist \"kubernetes\"",
                    file, m->line, name);
            rc = cfg_str(file, name, m, &out->service_account_token_file, err,
                         err_len);
        } else {
            const char *best = NULL;
            size_t best_d = 3;
            for (size_t k = 0; k < N_PERSIST_KEYS; k++) {
                size_t d = vpd_edit_distance(m->key, persist_keys[k]);
                if (d < best_d) {
                    best_d = d;
                    best = persist_keys[k];
                }
            }
            if (best)
                return vpd_persist_fail(err, err_len,
                                        "%s:%d: unknown key \"%s\" in %s "
                                        "(did you mean \"%s\"?)",
                                        file, m->line, vpd_msg_text(m->key),
                                        name, best);
            return vpd_persist_fail(err, err_len,
                                    "%s:%d: unknown key \"%s\" in %s", file,
                                    m->line, vpd_msg_text(m->key), name);
        }
        if (rc != 0)
            return -1;
    }
    if (!out->path)
        return vpd_persist_fail(err, err_len,
                                "%s:%d: %s: must specify persistent cache "
                                "path",
                                file, bl->line, name);
    if (out->kind == VPD_PERSIST_FILE && !out->key_file)
        return vpd_persist_fail(
            err, err_len,
            "%s:%d: %s: key_file is required (a file "
            "holding 32 random bytes, 64 hex digits or their "
            "base64)",
            file, bl->line, name);
    if (out->kind == VPD_PERSIST_KUBERNETES &&
        !out->service_account_token_file &&
        !(out->service_account_token_file =
              strdup(VPD_PERSIST_DEFAULT_SA_TOKEN_FILE)))
        return vpd_persist_fail(err, err_len, "%s:%d: out of memory", file,
                                bl->line);
    out->file = file;
    out->line = bl->line;
    return 0;
}

int
vpd_persist_config_parse(const vpd_cfg_node *cache, vpd_persist_config *out,
                         char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    if (!cache || cache->type != VPD_CFG_OBJECT)
        return 0;
    const char *file = cache->file ? cache->file : "?";
    pblocks b = {0};
    for (size_t i = 0; i < cache->n_members; i++) {
        const vpd_cfg_member *m = &cache->members[i];
        if (strcmp(m->key, "persist") != 0)
            continue;
        const vpd_cfg_node *v = m->value;
        if (v->type == VPD_CFG_OBJECT) {
            collect_obj(&b, v, m->line);
        } else if (v->type == VPD_CFG_LIST) {
            for (size_t j = 0; j < v->n_items; j++) {
                if (v->items[j]->type != VPD_CFG_OBJECT)
                    return vpd_persist_fail(
                        err, err_len,
                        "%s:%d: cache: persist: "
                        "expected a block, got %s in a list",
                        file, m->line, vpd_cfg_a_type(v->items[j]));
                collect_obj(&b, v->items[j], v->items[j]->line);
            }
        } else {
            return vpd_persist_fail(err, err_len,
                                    "%s:%d: cache: persist: expected a "
                                    "block, got %s",
                                    file, m->line, vpd_cfg_a_type(v));
        }
    }
    if (b.n == 0)
        return 0;
    if (b.n > 1)
        return vpd_persist_fail(err, err_len,
                                "%s:%d: cache: only one persist block is "
                                "allowed",
                                file, b.v[1].line);
    return parse_block(file, &b.v[0], out, err, err_len) == 0 ? 1 : -1;
}

void
vpd_persist_config_free(vpd_persist_config *c)
{
    if (!c)
        return;
    free(c->type);
    free(c->path);
    free(c->key_file);
    free(c->service_account_token_file);
    memset(c, 0, sizeof *c);
}
