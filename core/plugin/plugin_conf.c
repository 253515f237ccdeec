/* A plugin instance's configuration: see plugin_conf.h.  What a key
 * converts to and what the messages say is conf_schema.c's, shared with
 * the SDK's mock host; this file adds where the values come from (the
 * config block's nodes, the synthetic pairs) and where they were written
 * (file, line, instance). */
#include "autoconf.h"

#include "plugin/plugin_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg_copy.h"
#include "config/config_diff.h"
#include "plugin/conf_schema.h"

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

/* A node as the schema checks see values: HCL's numbers and booleans
 * keep their types, so `retries = 3` and `retries = "3"` both read. */
static vpd_conf_value
node_value(const vpd_cfg_node *n)
{
    vpd_conf_value v = {VPD_CONF_VALUE_OTHER, NULL, 0,
                        vpd_cfg_type_name(n->type)};
    if (n->type == VPD_CFG_STRING) {
        v.kind = VPD_CONF_VALUE_TEXT;
        v.text = n->str;
    } else if (n->type == VPD_CFG_NUMBER && !n->is_float) {
        v.kind = VPD_CONF_VALUE_WHOLE;
        v.whole = n->num;
    } else if (n->type == VPD_CFG_BOOL) {
        v.kind = VPD_CONF_VALUE_TRUTH;
        v.whole = n->boolean;
    }
    return v;
}

int
vpd_plugin_conf_get(const vpd_plugin_conf *c, const char *key,
                    vp_conf_type_t want_type, const char **str, int64_t *num)
{
    const vpd_cfg_node *node = conf_node(c, key);
    const char *text = node ? NULL : conf_pair(c, key);
    vpd_conf_value v = {VPD_CONF_VALUE_TEXT, text, 0, "string"};
    if (node)
        v = node_value(node);
    return vpd_conf_schema_get(c->schema, key, want_type,
                               node || text ? &v : NULL, str, num);
}

static int
conf_present(const void *ctx, const char *key)
{
    const vpd_plugin_conf *c = ctx;
    return conf_node(c, key) || conf_pair(c, key);
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
    char msg[512];
    for (size_t i = 0; node && i < node->n_members; i++) {
        const vpd_cfg_member *m = &node->members[i];
        vpd_conf_value v = node_value(m->value);
        if (vpd_conf_schema_check_value(c->schema, m->key, &v, msg,
                                        sizeof msg) != 0) {
            snprintf(err, err_len, "%s:%d: %s: %s", m->value->file, m->line,
                     label, msg);
            return -1;
        }
    }
    if (vpd_conf_schema_missing(c->schema, conf_present, c, msg, sizeof msg)) {
        if (node)
            snprintf(err, err_len, "%s:%d: %s: %s", node->file, node->line,
                     label, msg);
        else
            snprintf(err, err_len, "%s: %s: %s", where, label, msg);
        return -1;
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
