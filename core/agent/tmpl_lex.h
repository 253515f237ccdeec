/* The template lexer: cuts a template's source into text runs and the
 * tokens inside actions, as Go's text/template lexer does (delimiters
 * configurable, "{{- " and " -}}" trim markers applied here, comments
 * dropped).  Every token keeps its byte offset, so the parser, the
 * compiler and the evaluator can all name line and column.
 *
 * Ownership: the token array belongs to the caller (vpd_tmpl_toks_free);
 * tokens point into the source by offset only, so the source must
 * outlive them. */
#ifndef VPD_TMPL_LEX_H
#define VPD_TMPL_LEX_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    TK_EOF,
    TK_TEXT,
    TK_LEFT,
    TK_RIGHT,
    TK_IDENT,
    TK_FIELD, /* ".name": text includes the dot */
    TK_VAR,   /* "$" or "$name" */
    TK_DOT,
    TK_BOOL,
    TK_NUMBER,
    TK_CHAR,
    TK_STRING, /* with its quotes, escapes not yet decoded */
    TK_RAW,    /* with its backquotes */
    TK_PIPE,
    TK_LPAREN,
    TK_RPAREN,
    TK_DECLARE,
    TK_ASSIGN,
    TK_COMMA,
    TK_BLOCK,
    TK_BREAK,
    TK_CONTINUE,
    TK_DEFINE,
    TK_ELSE,
    TK_END,
    TK_IF,
    TK_NIL,
    TK_RANGE,
    TK_TEMPLATE,
    TK_WITH
} tmpl_tok_kind;

typedef struct {
    tmpl_tok_kind kind;
    size_t off, len;   /* the token's bytes in the source */
    bool space_before; /* inside an action: preceded by white space */
} tmpl_tok;

typedef struct {
    tmpl_tok *toks;
    size_t len, cap;
} tmpl_toks;

/* Lexes `src` with the given delimiters (NULL or "" for "{{" and "}}").
 * Returns 0 with the tokens (the last is TK_EOF), or -1 with a message
 * "name:line:col: what went wrong" in err. */
int vpd_tmpl_lex(const char *name, const char *src, size_t len,
                 const char *left, const char *right, tmpl_toks *out, char *err,
                 size_t errlen);
void vpd_tmpl_toks_free(tmpl_toks *t);

/* A token's name in messages: "EOF", "\"}}\"", "<if>", "\".a\"". */
void vpd_tmpl_tok_describe(const char *src, const tmpl_tok *t, char *out,
                           size_t outlen);

#endif
