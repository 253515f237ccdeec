/* Configuration copies.  Trees are at most 64 levels deep (cfgtree.h), so
 * plain recursion is safe here as it is in the parser. */
#include "autoconf.h"

#include "config/cfg_copy.h"

#include <stdlib.h>
#include <string.h>

static char *
dup_or_null(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

void
vpd_cfg_copy_free(vpd_cfg_node *n)
{
    if (!n)
        return;
    free(n->str);
    free((char *)n->file);
    for (size_t i = 0; i < n->n_items; i++)
        vpd_cfg_copy_free(n->items[i]);
    free(n->items);
    for (size_t i = 0; i < n->n_members; i++) {
        free(n->members[i].key);
        vpd_cfg_copy_free(n->members[i].value);
    }
    free(n->members);
    free(n);
}

/* Builds the copy in place as far as memory allows; on failure what was
 * built is still a well-formed tree (counts match what is allocated), so
 * vpd_cfg_copy_free releases it. */
static vpd_cfg_node *
copy_node(const vpd_cfg_node *src, int *oom)
{
    vpd_cfg_node *n = calloc(1, sizeof *n);
    if (!n) {
        *oom = 1;
        return NULL;
    }
    n->type = src->type;
    n->line = src->line;
    n->num = src->num;
    n->fnum = src->fnum;
    n->is_float = src->is_float;
    n->boolean = src->boolean;
    n->file = dup_or_null(src->file, oom);
    n->str = dup_or_null(src->str, oom);
    if (src->n_items && !*oom) {
        n->items = calloc(src->n_items, sizeof *n->items);
        if (!n->items)
            *oom = 1;
        for (size_t i = 0; n->items && i < src->n_items && !*oom; i++) {
            n->items[i] = copy_node(src->items[i], oom);
            n->n_items = i + 1;
        }
    }
    if (src->n_members && !*oom) {
        n->members = calloc(src->n_members, sizeof *n->members);
        if (!n->members)
            *oom = 1;
        for (size_t i = 0; n->members && i < src->n_members && !*oom; i++) {
            const vpd_cfg_member *m = &src->members[i];
            n->members[i].line = m->line;
            n->members[i].key = dup_or_null(m->key, oom);
            n->members[i].value = m->value ? copy_node(m->value, oom) : NULL;
            n->n_members = i + 1;
        }
    }
    return n;
}

int
vpd_cfg_copy(const vpd_cfg_node *src, vpd_cfg_node **out)
{
    *out = NULL;
    if (!src)
        return 0;
    int oom = 0;
    vpd_cfg_node *n = copy_node(src, &oom);
    if (oom) {
        vpd_cfg_copy_free(n);
        return -1;
    }
    *out = n;
    return 0;
}
