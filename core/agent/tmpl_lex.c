/* The lexer scans the whole source once into an array, rather than
 * Go's goroutine feeding the parser, because an array lets the parser
 * look ahead freely and costs one allocation. */
#include "autoconf.h"

#include "agent/tmpl_lex.h"
#include "agent/tmpl_pos.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name, *src;
    size_t len;
    const char *left, *right;
    size_t ll, rl;
    tmpl_toks *out;
    char *err;
    size_t errlen;
} lexer;

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
is_alnum(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (unsigned char)c >= 0x80;
}

static int fail(lexer *lx, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(lexer *lx, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vpd_tmpl_vmsg_at(lx->err, lx->errlen, lx->name, lx->src, off, fmt, ap);
    va_end(ap);
    return -1;
}

static int
emit(lexer *lx, tmpl_tok_kind kind, size_t off, size_t len, bool space)
{
    tmpl_toks *o = lx->out;
    if (o->len == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        tmpl_tok *t = realloc(o->toks, cap * sizeof(*t));
        if (!t)
            return fail(lx, off, "out of memory");
        o->toks = t;
        o->cap = cap;
    }
    o->toks[o->len++] = (tmpl_tok){kind, off, len, space};
    return 0;
}

static bool
has_at(const lexer *lx, size_t pos, const char *s, size_t n)
{
    return pos <= lx->len && lx->len - pos >= n &&
           memcmp(lx->src + pos, s, n) == 0;
}

/* A right delimiter at `pos`, either bare or after the " -" trim marker
 * (a white-space byte, then '-'); *skip is how many bytes it takes. */
static bool
at_right(const lexer *lx, size_t pos, bool *trim, size_t *skip)
{
    if (pos + 2 <= lx->len && is_space(lx->src[pos]) &&
        lx->src[pos + 1] == '-' && has_at(lx, pos + 2, lx->right, lx->rl)) {
        *trim = true;
        *skip = 2 + lx->rl;
        return true;
    }
    if (has_at(lx, pos, lx->right, lx->rl)) {
        *trim = false;
        *skip = lx->rl;
        return true;
    }
    return false;
}

/* Go's terminators of a field or identifier. */
static bool
at_terminator(const lexer *lx, size_t pos)
{
    if (pos >= lx->len)
        return true;
    char c = lx->src[pos];
    if (is_space(c) || strchr(".,|:()", c))
        return true;
    return has_at(lx, pos, lx->right, lx->rl);
}

static const struct {
    const char *word;
    tmpl_tok_kind kind;
} keywords[] = {
    {"block", TK_BLOCK},
    {"break", TK_BREAK},
    {"continue", TK_CONTINUE},
    {"define", TK_DEFINE},
    {"else", TK_ELSE},
    {"end", TK_END},
    {"if", TK_IF},
    {"nil", TK_NIL},
    {"range", TK_RANGE},
    {"template", TK_TEMPLATE},
    {"with", TK_WITH},
    {"true", TK_BOOL},
    {"false", TK_BOOL},
};

static tmpl_tok_kind
word_kind(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (strlen(keywords[i].word) == n &&
            memcmp(keywords[i].word, s, n) == 0)
            return keywords[i].kind;
    return TK_IDENT;
}

static void
describe_char(const lexer *lx, size_t pos, char *out, size_t outlen)
{
    unsigned char c = (unsigned char)lx->src[pos];
    if (c >= 0x20 && c < 0x7f)
        snprintf(out, outlen, "U+%04X '%c'", c, c);
    else
        snprintf(out, outlen, "U+%04X", c);
}

/* Go's scanNumber: sign, base prefix, digits, fraction, exponent.  The
 * value is checked by the parser, as Go does. */
static size_t
scan_number(const lexer *lx, size_t pos)
{
    const char *digits = "0123456789_";
    const char *s = lx->src;
    if (pos < lx->len && (s[pos] == '+' || s[pos] == '-'))
        pos++;
    if (pos + 1 < lx->len && s[pos] == '0') {
        char p = s[pos + 1];
        if (p == 'x' || p == 'X') {
            digits = "0123456789abcdefABCDEF_";
            pos += 2;
        } else if (p == 'o' || p == 'O') {
            digits = "01234567_";
            pos += 2;
        } else if (p == 'b' || p == 'B') {
            digits = "01_";
            pos += 2;
        }
    }
    while (pos < lx->len && strchr(digits, s[pos]) && s[pos])
        pos++;
    if (pos < lx->len && s[pos] == '.') {
        pos++;
        while (pos < lx->len && strchr(digits, s[pos]) && s[pos])
            pos++;
    }
    if (strlen(digits) == 11 && pos < lx->len &&
        (s[pos] == 'e' || s[pos] == 'E')) {
        pos++;
        if (pos < lx->len && (s[pos] == '+' || s[pos] == '-'))
            pos++;
        while (pos < lx->len && strchr("0123456789_", s[pos]) && s[pos])
            pos++;
    }
    return pos;
}

/* Lexes one action from just after its left delimiter (and trim marker);
 * returns the offset after its right delimiter, or 0 on error. */
static size_t
lex_action(lexer *lx, size_t pos, bool *trim_after)
{
    const char *s = lx->src;
    int parens = 0;
    bool space = false;
    for (;;) {
        bool trim;
        size_t skip;
        if (at_right(lx, pos, &trim, &skip)) {
            if (parens > 0)
                return fail(lx, pos, "unclosed left paren: expected \")\""), 0;
            if (emit(lx, TK_RIGHT, pos, skip, space) != 0)
                return 0;
            *trim_after = trim;
            return pos + skip;
        }
        if (pos >= lx->len)
            return fail(lx, pos, "unclosed action: expected \"%s\"", lx->right),
                   0;
        char c = s[pos];
        size_t start = pos;
        tmpl_tok_kind kind;
        if (is_space(c)) {
            space = true;
            pos++;
            continue;
        }
        if (c == '=') {
            kind = TK_ASSIGN;
            pos++;
        } else if (c == ':') {
            if (pos + 1 >= lx->len || s[pos + 1] != '=')
                return fail(lx, pos, "expected :="), 0;
            kind = TK_DECLARE;
            pos += 2;
        } else if (c == '|') {
            kind = TK_PIPE;
            pos++;
        } else if (c == ',') {
            kind = TK_COMMA;
            pos++;
        } else if (c == '(') {
            kind = TK_LPAREN;
            parens++;
            pos++;
        } else if (c == ')') {
            if (--parens < 0)
                return fail(lx, pos, "unexpected right paren"), 0;
            kind = TK_RPAREN;
            pos++;
        } else if (c == '"' || c == '\'') {
            kind = c == '"' ? TK_STRING : TK_CHAR;
            pos++;
            for (;;) {
                if (pos >= lx->len || s[pos] == '\n')
                    return fail(lx, start, "unterminated %s",
                                c == '"' ? "quoted string"
                                         : "character constant"),
                           0;
                if (s[pos] == '\\' && pos + 1 < lx->len && s[pos + 1] != '\n')
                    pos += 2;
                else if (s[pos++] == c)
                    break;
            }
        } else if (c == '`') {
            kind = TK_RAW;
            const char *end = memchr(s + pos + 1, '`', lx->len - pos - 1);
            if (!end)
                return fail(lx, start, "unterminated raw quoted string"), 0;
            pos = (size_t)(end - s) + 1;
        } else if (c == '$' ||
                   (c == '.' && !(pos + 1 < lx->len && s[pos + 1] >= '0' &&
                                  s[pos + 1] <= '9'))) {
            pos++;
            while (pos < lx->len && is_alnum(s[pos]))
                pos++;
            kind = c == '$' ? TK_VAR : pos - start == 1 ? TK_DOT : TK_FIELD;
            if (!at_terminator(lx, pos)) {
                char d[32];
                describe_char(lx, pos, d, sizeof(d));
                return fail(lx, pos, "bad character %s", d), 0;
            }
        } else if (c == '+' || c == '-' || c == '.' || (c >= '0' && c <= '9')) {
            kind = TK_NUMBER;
            pos = scan_number(lx, pos);
            if (pos < lx->len && is_alnum(s[pos]))
                return fail(lx, start, "bad number syntax: \"%.*s\"",
                            (int)(pos + 1 - start), s + start),
                       0;
        } else if (is_alnum(c)) {
            while (pos < lx->len && is_alnum(s[pos]))
                pos++;
            kind = word_kind(s + start, pos - start);
            if (!at_terminator(lx, pos)) {
                char d[32];
                describe_char(lx, pos, d, sizeof(d));
                return fail(lx, pos, "bad character %s", d), 0;
            }
        } else {
            char d[32];
            describe_char(lx, pos, d, sizeof(d));
            return fail(lx, pos, "bad character %s", d), 0;
        }
        if (emit(lx, kind, start, pos - start, space) != 0)
            return 0;
        space = false;
    }
}

/* A comment action: "/ *" right after the delimiter (and trim marker),
 * "* /" right before the closing one.  Returns the offset after it, or 0
 * on error. */
static size_t
lex_comment(lexer *lx, size_t pos, bool *trim_after)
{
    const char *s = lx->src;
    size_t i;
    for (i = pos + 2; i + 1 < lx->len; i++)
        if (s[i] == '*' && s[i + 1] == '/')
            break;
    if (i + 1 >= lx->len)
        return fail(lx, pos, "unclosed comment: expected \"*/\""), 0;
    size_t skip;
    if (!at_right(lx, i + 2, trim_after, &skip))
        return fail(lx, i + 2,
                    "comment ends before closing delimiter: expected \"%s\"",
                    lx->right),
               0;
    return i + 2 + skip;
}

int
vpd_tmpl_lex(const char *name, const char *src, size_t len, const char *left,
             const char *right, tmpl_toks *out, char *err, size_t errlen)
{
    lexer lx = {name,
                src,
                len,
                left && *left ? left : "{{",
                right && *right ? right : "}}",
                0,
                0,
                out,
                err,
                errlen};
    lx.ll = strlen(lx.left);
    lx.rl = strlen(lx.right);
    size_t pos = 0;
    bool trim_next = false;
    while (pos <= len) {
        size_t text_start = pos;
        if (trim_next)
            while (text_start < len && is_space(src[text_start]))
                text_start++;
        size_t at = text_start;
        while (at < len && !has_at(&lx, at, lx.left, lx.ll))
            at++;
        bool found = at < len;
        size_t text_end = found ? at : len;
        size_t inner = at + lx.ll;
        bool trim_before = found && inner + 1 < len && src[inner] == '-' &&
                           is_space(src[inner + 1]);
        if (trim_before) {
            while (text_end > text_start && is_space(src[text_end - 1]))
                text_end--;
            inner += 2;
        }
        if (text_end > text_start &&
            emit(&lx, TK_TEXT, text_start, text_end - text_start, false) != 0)
            return -1;
        if (!found)
            break;
        if (inner + 1 < len && src[inner] == '/' && src[inner + 1] == '*') {
            pos = lex_comment(&lx, inner, &trim_next);
        } else {
            if (emit(&lx, TK_LEFT, at, inner - at, false) != 0)
                return -1;
            pos = lex_action(&lx, inner, &trim_next);
        }
        if (pos == 0)
            return -1;
    }
    return emit(&lx, TK_EOF, len, 0, false);
}

void
vpd_tmpl_toks_free(tmpl_toks *t)
{
    free(t->toks);
    t->toks = NULL;
    t->len = t->cap = 0;
}

void
vpd_tmpl_tok_describe(const char *src, const tmpl_tok *t, char *out,
                      size_t outlen)
{
    switch (t->kind) {
    case TK_EOF:
        snprintf(out, outlen, "EOF");
        return;
    case TK_BLOCK:
    case TK_BREAK:
    case TK_CONTINUE:
    case TK_DEFINE:
    case TK_ELSE:
    case TK_END:
    case TK_IF:
    case TK_NIL:
    case TK_RANGE:
    case TK_TEMPLATE:
    case TK_WITH:
        snprintf(out, outlen, "<%.*s>", (int)t->len, src + t->off);
        return;
    default:
        snprintf(out, outlen, "\"%.*s\"", t->len > 40 ? 40 : (int)t->len,
                 src + t->off);
    }
}
