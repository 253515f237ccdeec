/* Fuzz target: the configuration reader (HCL v1 and JSON) over any bytes.
 * Configuration comes from files an operator writes, but a daemon that
 * crashes on a typo, or on a file truncated by a full disk, is worse
 * than one that says which line is wrong. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfgtree.h"
#include "fuzz.h"

/* Walks the whole tree and reads every field, so a node the parser left
 * half-built (a NULL key, a count beyond the array) shows up here. */
static size_t
walk(const vpd_cfg_node *n, int depth)
{
    size_t sum = (size_t)n->line + (size_t)depth;
    if (n->str)
        sum += strlen(n->str);
    if (n->type == VPD_CFG_LIST)
        for (size_t i = 0; i < n->n_items; i++)
            sum += walk(n->items[i], depth + 1);
    if (n->type == VPD_CFG_OBJECT)
        for (size_t i = 0; i < n->n_members; i++)
            sum += strlen(n->members[i].key) +
                   walk(n->members[i].value, depth + 1);
    sum += strlen(vpd_cfg_a_type(n)) + strlen(vpd_cfg_type_name(n->type));
    return sum;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vpd_cfg_tree tree;
    char err[512];
    memset(&tree, 0, sizeof tree);
    if (vpd_cfg_parse("fuzz.hcl", (const char *)data, size, &tree, err,
                      sizeof err) == 0) {
        volatile size_t sink = walk(tree.root, 0);
        (void)sink;
        (void)vpd_cfg_get(tree.root, "listener");
        vpd_cfg_tree_free(&tree);
    } else if (!memchr(err, '\0', sizeof err)) {
        abort(); /* the message must be a C string */
    }
    return 0;
}
