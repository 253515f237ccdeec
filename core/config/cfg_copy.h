/* Deep copies of configuration subtrees, for what must outlive the config
 * it was read from: each plugin instance keeps its own copy of its
 * configuration, so a reload can give a running instance a new block and
 * free the config it came from without leaving the plugin holding
 * strings of a freed tree.
 *
 * Ownership: a copy owns every node and string below it, the file names
 * included (a tree's nodes only point at their tree's name);
 * vpd_cfg_copy_free releases it.  The source is borrowed. */
#ifndef VPD_CFG_COPY_H
#define VPD_CFG_COPY_H

#include "config/cfgtree.h"

/* Copies src (which may be NULL: *out is then NULL) with its positions.
 * Returns 0, or -1 when out of memory (*out is then NULL). */
int vpd_cfg_copy(const vpd_cfg_node *src, vpd_cfg_node **out);

void vpd_cfg_copy_free(vpd_cfg_node *copy);

#endif
