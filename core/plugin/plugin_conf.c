/* A plugin instance's configuration: see plugin_conf.h.  The conversions
 * here decide what a plugin's conf_* getters return, so they follow the
 * daemon's own config reader: Go's boolean spellings, Vault's durations
 * (base/duration.h), octal file modes. */
#include "autoconf.h"

#include "plugin/plugin_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/duration.h"
#include "base/textutil.h"
#include "config/cfg_copy.h"
#include "config/config_diff.h"

int
vpd_plugin_conf_init(vpd_plugin_conf *c, const vp_conf_field_t *schema,
                     const vpd_cfg_node *node, const vpd_conf_pair *pairs,
                     size_t n_pairs)
{
    *c = (vpd_plugin_conf){.schema = schema};
    if (vpd_cfg_copy(node, &c->node) != 0)
        return VP_ENOMEM;
    if (!n_pairs)
        return 0;
    c->pairs = calloc(n_pairs, sizeof *c->pairs);
    if (!c->pairs) {
        vpd_plugin_conf_free(c);
        return VP_ENOMEM;
    }
    c->n_pairs = n_pairs;
    for (size_t i = 0; i < n_pairs; i++) {
        c->pairs[i].key = strdup(pairs[i].key);
        c->pairs[i].value = strdup(pairs[i].value);
        if (!c->pairs[i].key || !c->pairs[i].value) {
            vpd_plugin_conf_free(c);
            return VP_ENOMEM;
        }
    }
    return 0;
}

void
vpd_plugin_conf_free(vpd_plugin_conf *c)
{
    vpd_cfg_copy_free(c->node);
    for (size_t i = 0; i < c->n_pairs; i++) {
        free((char *)c->pairs[i].key);
        free((char *)c->pairs[i].value);
    }
    free(c->pairs);
    *c = (vpd_plugin_conf){.schema = c->schema};
}

static const vp_conf_field_t *
schema_field(const vpd_plugin_conf *c, const char *key)
{
    for (const vp_conf_field_t *f = c->schema; f && f->key; f++) {
        if (strcmp(f->key, key) == 0)
            return f;
    }
    return NULL;
}

/* The configured node for key (last one wins, as in HCL), or NULL. */
static const vpd_cfg_node *
conf_node(const vpd_plugin_conf *c, const char *key)
{
    const vpd_cfg_node *found = NULL;
    if (c->node) {
        for (size_t i = 0; i < c->node->n_members; i++) {
            if (strcmp(c->node->members[i].key, key) == 0)
                found = c->node->members[i].value;
        }
    }
    return found;
}

static const char *
conf_pair(const vpd_plugin_conf *c, const char *key)
{
    for (size_t i = 0; i < c->n_pairs; i++) {
        if (strcmp(c->pairs[i].key, key) == 0)
            return c->pairs[i].value;
    }
    return NULL;
}

static int
parse_int_text(const char *s, int base, int64_t *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Converts one value (node, or text from a pair or default) to the field's
 * type.  Returns 0, or -1 with what was expected in `want`. */
static int
conf_convert(vp_conf_type_t type, const vpd_cfg_node *node, const char *text,
             const char **str, int64_t *num, const char **want)
{
    switch (type) {
    case VP_CONF_STRING:
    case VP_CONF_PATH:
        *want = "a string";
        if (node && node->type != VPD_CFG_STRING)
            return -1;
        *str = node ? node->str : text;
        return 0;
    case VP_CONF_INT:
        *want = "an integer";
        if (node && node->type == VPD_CFG_NUMBER && !node->is_float) {
            *num = node->num;
            return 0;
        }
        return parse_int_text(
            node ? (node->type == VPD_CFG_STRING ? node->str : "") : text, 10,
            num);
    case VP_CONF_BOOL: {
        *want = "a bool";
        bool b = false;
        if (node && node->type == VPD_CFG_BOOL) {
            *num = node->boolean;
            return 0;
        }
        if (node && node->type != VPD_CFG_STRING)
            return -1;
        if (vpd_parse_go_bool(node ? node->str : text, &b) != 0)
            return -1;
        *num = b;
        return 0;
    }
    case VP_CONF_DURATION: {
        *want = "a duration (\"30s\", \"5m\", or seconds)";
        uint64_t ms;
        if (node && node->type == VPD_CFG_NUMBER && !node->is_float &&
            node->num >= 0) {
            *num = node->num * 1000;
            return 0;
        }
        if (node && node->type != VPD_CFG_STRING)
            return -1;
        if (vpd_duration_parse(node ? node->str : text, &ms) != 0)
            return -1;
        *num = (int64_t)ms;
        return 0;
    }
    case VP_CONF_MODE:
        /* HCL's 0640 is already octal; JSON users write "0640" (which
         * fixes hashicorp/vault#9404: JSON has no octal numbers). */
        *want = "a file mode (0640 or \"0640\")";
        if (node && node->type == VPD_CFG_NUMBER && !node->is_float) {
            *num = node->num;
        } else if ((!node || node->type == VPD_CFG_STRING) &&
                   parse_int_text(node ? node->str : text, 8, num) == 0) {
            /* parsed */
        } else {
            return -1;
        }
        return (*num >= 0 && *num <= 07777) ? 0 : -1;
    }
    *want = "a known type";
    return -1;
}

int
vpd_plugin_conf_get(const vpd_plugin_conf *c, const char *key,
                    vp_conf_type_t want_type, const char **str, int64_t *num)
{
    const vp_conf_field_t *f = schema_field(c, key);
    const char *want;
    if (!f)
        return VP_EINVAL;
    /* The getter's type must be compatible with the schema's. */
    int text_like = want_type == VP_CONF_STRING;
    int schema_text = f->type == VP_CONF_STRING || f->type == VP_CONF_PATH;
    if (text_like != schema_text)
        return VP_EINVAL;
    const vpd_cfg_node *node = conf_node(c, key);
    const char *text = node ? NULL : conf_pair(c, key);
    if (!node && !text)
        text = f->default_value;
    if (!node && !text)
        return VP_ENOENT;
    return conf_convert(f->type, node, text, str, num, &want) == 0 ? 0
                                                                   : VP_EINVAL;
}

/* A key that is not in the schema: name the closest one, when it is
 * within two edits, since that is almost always a typo. */
static void
unknown_key(const vpd_plugin_conf *c, const vpd_cfg_member *m,
            const char *label, char *err, size_t err_len)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (const vp_conf_field_t *s = c->schema; s && s->key; s++) {
        size_t d = vpd_edit_distance(m->key, s->key);
        if (d < best_d) {
            best_d = d;
            best = s->key;
        }
    }
    snprintf(err, err_len, "%s:%d: %s: unknown key \"%s\"%s%s%s",
             m->value->file, m->line, label, m->key,
             best ? " (did you mean \"" : "", best ? best : "",
             best ? "\"?)" : "");
}

int
vpd_plugin_conf_check(const vpd_plugin_conf *c, const char *label,
                      const char *where, char *err, size_t err_len)
{
    const vpd_cfg_node *node = c->node;
    if (node && node->type != VPD_CFG_OBJECT) {
        snprintf(err, err_len, "%s:%d: %s: config: expected a map, got %s",
                 node->file, node->line, label, vpd_cfg_type_name(node->type));
        return -1;
    }
    for (size_t i = 0; node && i < node->n_members; i++) {
        const vpd_cfg_member *m = &node->members[i];
        const vp_conf_field_t *f = schema_field(c, m->key);
        if (!f) {
            unknown_key(c, m, label, err, err_len);
            return -1;
        }
        const char *str, *want;
        int64_t num;
        if (conf_convert(f->type, m->value, NULL, &str, &num, &want) != 0) {
            snprintf(err, err_len, "%s:%d: %s: %s: expected %s, got %s",
                     m->value->file, m->line, label, m->key, want,
                     vpd_cfg_type_name(m->value->type));
            return -1;
        }
    }
    for (const vp_conf_field_t *f = c->schema; f && f->key; f++) {
        if ((f->flags & VP_CONF_REQUIRED) && !conf_node(c, f->key) &&
            !conf_pair(c, f->key)) {
            if (node)
                snprintf(err, err_len, "%s:%d: %s: missing required key \"%s\"",
                         node->file, node->line, label, f->key);
            else
                snprintf(err, err_len, "%s: %s: missing required key \"%s\"",
                         where, label, f->key);
            return -1;
        }
    }
    return 0;
}

static bool
pairs_equal(const vpd_plugin_conf *a, const vpd_plugin_conf *b)
{
    if (a->n_pairs != b->n_pairs)
        return false;
    for (size_t i = 0; i < a->n_pairs; i++) {
        if (strcmp(a->pairs[i].key, b->pairs[i].key) != 0 ||
            strcmp(a->pairs[i].value, b->pairs[i].value) != 0)
            return false;
    }
    return true;
}

bool
vpd_plugin_conf_equal(const vpd_plugin_conf *a, const vpd_plugin_conf *b)
{
    return vpd_cfg_node_equal(a->node, b->node) && pairs_equal(a, b);
}

void
vpd_plugin_conf_swap(vpd_plugin_conf *a, vpd_plugin_conf *b)
{
    vpd_plugin_conf held = *a;
    a->node = b->node;
    a->pairs = b->pairs;
    a->n_pairs = b->n_pairs;
    b->node = held.node;
    b->pairs = held.pairs;
    b->n_pairs = held.n_pairs;
}
