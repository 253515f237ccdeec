/* The template parser: tokens into one tree per named template (the
 * file's own body first, then each {{define}} and {{block}}), with the
 * source offset of every node so later errors can name line and column.
 * It follows Go's text/template grammar: pipelines, declarations,
 * if/else if/with/else with/range/else, define/template/block,
 * break/continue, parenthesised pipelines and field chains.
 *
 * Ownership: every node and string of a parse lives in the parse's arena
 * and is freed with it by vpd_tmpl_parse_free; nothing points into the
 * source, which the caller may drop once parsing returns. */
#ifndef VPD_TMPL_PARSE_H
#define VPD_TMPL_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    N_LIST,
    N_TEXT,
    N_ACTION,
    N_IF,
    N_WITH,
    N_RANGE,
    N_TEMPLATE,
    N_BREAK,
    N_CONTINUE,
    N_PIPE,
    N_CMD,
    N_FIELD, /* .a.b: idents a, b */
    N_VAR,   /* $x.a: name $x, idents a */
    N_CHAIN, /* (pipe).a: base, idents a */
    N_IDENT, /* a function name */
    N_DOT,
    N_NIL,
    N_BOOL,
    N_NUMBER,
    N_STRING
} tmpl_node_kind;

typedef struct tmpl_node tmpl_node;
struct tmpl_node {
    tmpl_node_kind kind;
    size_t off, end; /* the node's bytes in the source */
    /* N_LIST items, N_PIPE commands, N_CMD arguments. */
    tmpl_node **kids;
    size_t nkids;
    /* N_TEXT bytes, N_STRING decoded, N_IDENT and N_VAR names, N_TEMPLATE
     * the template's name. */
    char *text;
    size_t text_len;
    char **idents; /* field names of N_FIELD, N_VAR, N_CHAIN */
    size_t nidents;
    /* N_PIPE: declared variables ($x := / $x = / $i, $e :=). */
    char **vars;
    size_t nvars;
    size_t *var_offs;
    bool is_assign;
    /* N_IF, N_WITH, N_RANGE, N_ACTION, N_TEMPLATE (may be NULL). */
    tmpl_node *pipe;
    tmpl_node *list, *else_list; /* control bodies (else may be NULL) */
    tmpl_node *base;             /* N_CHAIN */
    bool b;                      /* N_BOOL */
    bool is_float;               /* N_NUMBER: a float constant */
    int64_t i;
    double f;
};

typedef struct {
    char *name;
    tmpl_node *root; /* an N_LIST */
    size_t off;      /* where the definition starts */
} tmpl_tree;

typedef struct tmpl_arena_chunk tmpl_arena_chunk;

typedef struct {
    tmpl_tree *trees; /* [0] is the file's own body */
    size_t ntrees;
    tmpl_arena_chunk *arena;
} tmpl_parsed;

/* Returns 0, or -1 with "name:line:col: message" in err (out is then
 * empty). */
int vpd_tmpl_parse(const char *name, const char *src, size_t len,
                   const char *left, const char *right, tmpl_parsed *out,
                   char *err, size_t errlen);
void vpd_tmpl_parse_free(tmpl_parsed *p);

#endif
