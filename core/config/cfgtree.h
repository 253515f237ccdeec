/* A generic configuration tree with positions, produced from HCL or JSON
 * text.  HCL's `listener "tcp" { ... }` and JSON's
 * `"listener": {"tcp": {...}}` both become the key "listener" holding an
 * object with key "tcp"; a key written several times appears as several
 * members in source order (JSON repeats a block as a list of objects).
 * Nesting is limited to 64 levels; NUMBER keeps its source text in `str`.
 *
 * Ownership: a vpd_cfg_tree owns every node and string below it;
 * vpd_cfg_tree_free releases them.  Nodes are read-only to consumers. */
#ifndef VPD_CFGTREE_H
#define VPD_CFGTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    VPD_CFG_STRING,
    VPD_CFG_NUMBER, /* integer (HCL 0640 is octal) or float */
    VPD_CFG_BOOL,
    VPD_CFG_NULL,
    VPD_CFG_LIST,
    VPD_CFG_OBJECT,
} vpd_cfg_type;

typedef struct vpd_cfg_node vpd_cfg_node;

typedef struct {
    char *key;
    vpd_cfg_node *value;
    int line; /* line of the key */
} vpd_cfg_member;

struct vpd_cfg_node {
    vpd_cfg_type type;
    int line;
    const char *file; /* points at the tree's file name */
    char *str;        /* STRING (also the raw text of a NUMBER) */
    int64_t num;      /* NUMBER, integer value */
    double fnum;      /* NUMBER, as a float */
    bool is_float;
    bool boolean;         /* BOOL */
    vpd_cfg_node **items; /* LIST */
    size_t n_items;
    vpd_cfg_member *members; /* OBJECT, in source order; keys may repeat */
    size_t n_members;
};

typedef struct {
    char *file;
    vpd_cfg_node *root; /* an OBJECT */
} vpd_cfg_tree;

/* Parses text (HCL v1 or JSON, detected by a leading '{').  On error
 * returns -1 and writes "FILE:LINE: message" into err. */
int vpd_cfg_parse(const char *file, const char *text, size_t len,
                  vpd_cfg_tree *out, char *err, size_t err_len);
int vpd_cfg_parse_file(const char *path, vpd_cfg_tree *out, char *err,
                       size_t err_len);
void vpd_cfg_tree_free(vpd_cfg_tree *tree);

/* The first member with that key, or NULL. */
const vpd_cfg_member *vpd_cfg_get(const vpd_cfg_node *obj, const char *key);

const char *vpd_cfg_type_name(vpd_cfg_type t);

/* The value's type for messages: "a string", "a number", "a list", ... */
const char *vpd_cfg_a_type(const vpd_cfg_node *n);

#endif
