/* A recursive-descent parser over the lexer's token array.  Errors
 * unwind with longjmp: every allocation comes from one arena that the
 * caller frees whole, so an early exit leaks nothing and the grammar
 * code stays free of cleanup paths. */
#include "autoconf.h"

#include "agent/tmpl_parse.h"
#include "base/textutil.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tmpl_lex.h"
#include "agent/tmpl_pos.h"

struct tmpl_arena_chunk {
    tmpl_arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
};

typedef struct {
    const char *name, *src;
    tmpl_toks toks;
    size_t pos;
    tmpl_parsed *out;
    size_t trees_cap;
    int range_depth;
    char *err;
    size_t errlen;
    jmp_buf fail;
} parser;

static void fail_at(parser *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail_at(parser *p, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vpd_tmpl_vmsg_at(p->err, p->errlen, p->name, p->src, off, fmt, ap);
    va_end(ap);
    longjmp(p->fail, 1);
}

static void *
arena_alloc(parser *p, size_t size)
{
    size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) *
           sizeof(max_align_t);
    tmpl_arena_chunk *c = p->out->arena;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > 16384 ? size : 16384;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            fail_at(p, 0, "out of memory");
        c->next = p->out->arena;
        c->used = 0;
        c->cap = cap;
        p->out->arena = c;
    }
    void *r = (char *)c->data + c->used;
    c->used += size;
    memset(r, 0, size);
    return r;
}

static char *
arena_strndup(parser *p, const char *s, size_t n)
{
    char *r = arena_alloc(p, n + 1);
    memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

/* Appends to an arena array by copying it into a bigger one when its
 * length reaches a power of two: lists are short, so the waste is too. */
static void *
arena_grow(parser *p, void *arr, size_t len, size_t elem)
{
    if (len == 0 || (len & (len - 1)) == 0) {
        void *bigger = arena_alloc(p, (len ? len * 2 : 1) * elem);
        if (len)
            memcpy(bigger, arr, len * elem);
        return bigger;
    }
    return arr;
}

static void
add_kid(parser *p, tmpl_node *n, tmpl_node *kid)
{
    n->kids = arena_grow(p, n->kids, n->nkids, sizeof(*n->kids));
    n->kids[n->nkids++] = kid;
}

static void
add_ident(parser *p, tmpl_node *n, const char *s, size_t len)
{
    n->idents = arena_grow(p, n->idents, n->nidents, sizeof(*n->idents));
    n->idents[n->nidents++] = arena_strndup(p, s, len);
}

static tmpl_node *
new_node(parser *p, tmpl_node_kind kind, size_t off)
{
    tmpl_node *n = arena_alloc(p, sizeof(*n));
    n->kind = kind;
    n->off = n->end = off;
    return n;
}

static const tmpl_tok *
peek(parser *p)
{
    return &p->toks.toks[p->pos];
}

static const tmpl_tok *
next(parser *p)
{
    const tmpl_tok *t = &p->toks.toks[p->pos];
    if (t->kind != TK_EOF)
        p->pos++;
    return t;
}

static void
unexpected(parser *p, const tmpl_tok *t, const char *context)
{
    char d[64];
    vpd_tmpl_tok_describe(p->src, t, d, sizeof(d));
    if (t->kind == TK_EOF)
        fail_at(p, t->off, "unexpected EOF in %s", context);
    fail_at(p, t->off, "unexpected %s in %s", d, context);
}

static const tmpl_tok *
expect(parser *p, tmpl_tok_kind kind, const char *context, const char *what)
{
    const tmpl_tok *t = next(p);
    if (t->kind != kind) {
        char d[64];
        vpd_tmpl_tok_describe(p->src, t, d, sizeof(d));
        fail_at(p, t->off, "unexpected %s in %s: expected %s", d, context,
                what);
    }
    return t;
}

static size_t
put_utf8(char *o, unsigned long r)
{
    if (r < 0x80) {
        o[0] = (char)r;
        return 1;
    }
    if (r < 0x800) {
        o[0] = (char)(0xc0 | (r >> 6));
        o[1] = (char)(0x80 | (r & 0x3f));
        return 2;
    }
    if (r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff))
        r = 0xfffd;
    if (r < 0x10000) {
        o[0] = (char)(0xe0 | (r >> 12));
        o[1] = (char)(0x80 | ((r >> 6) & 0x3f));
        o[2] = (char)(0x80 | (r & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (r >> 18));
    o[1] = (char)(0x80 | ((r >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((r >> 6) & 0x3f));
    o[3] = (char)(0x80 | (r & 0x3f));
    return 4;
}

/* Go's strconv.Unquote for "..." and '...' (the quotes included) and
 * `...` (carriage returns dropped, as Go does). */
static char *
unquote(parser *p, const tmpl_tok *t, size_t *out_len)
{
    const char *s = p->src + t->off + 1;
    size_t n = t->len - 2;
    char *o = arena_alloc(p, n + 1);
    size_t k = 0;
    if (t->kind == TK_RAW) {
        for (size_t i = 0; i < n; i++)
            if (s[i] != '\r')
                o[k++] = s[i];
        *out_len = k;
        return o;
    }
    char quote = p->src[t->off];
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            if (s[i] == quote)
                fail_at(p, t->off, "invalid syntax in %.*s", (int)t->len,
                        p->src + t->off);
            o[k++] = s[i++];
            continue;
        }
        char c = s[i + 1];
        i += 2;
        const char *simple = strchr("abfnrtv\\'\"", c);
        if (c && simple) {
            if ((c == '\'' && quote != '\'') || (c == '"' && quote != '"'))
                fail_at(p, t->off, "invalid escape in %.*s", (int)t->len,
                        p->src + t->off);
            o[k++] = "\a\b\f\n\r\t\v\\'\""[simple - "abfnrtv\\'\""];
            continue;
        }
        int digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
        unsigned long r = 0;
        if (digits) {
            for (int d = 0; d < digits; d++) {
                int h = i < n ? vpd_hex_value(s[i]) : -1;
                if (h < 0)
                    fail_at(p, t->off, "invalid escape in %.*s", (int)t->len,
                            p->src + t->off);
                r = r * 16 + (unsigned long)h;
                i++;
            }
            if (c == 'x')
                o[k++] = (char)r;
            else
                k += put_utf8(o + k, r);
            continue;
        }
        if (c >= '0' && c <= '7' && i + 2 <= n) {
            r = (unsigned long)(c - '0');
            for (int d = 0; d < 2; d++, i++) {
                if (s[i] < '0' || s[i] > '7')
                    fail_at(p, t->off, "invalid escape in %.*s", (int)t->len,
                            p->src + t->off);
                r = r * 8 + (unsigned long)(s[i] - '0');
            }
            if (r > 255)
                fail_at(p, t->off, "invalid escape in %.*s", (int)t->len,
                        p->src + t->off);
            o[k++] = (char)r;
            continue;
        }
        fail_at(p, t->off, "invalid escape in %.*s", (int)t->len,
                p->src + t->off);
    }
    o[k] = '\0';
    *out_len = k;
    return o;
}

/* A number constant: Go's rules (base prefixes, a leading 0 for octal,
 * underscores; a '.', 'e' or 'E' makes a float; a char is an int). */
static tmpl_node *
number(parser *p, const tmpl_tok *t)
{
    tmpl_node *n = new_node(p, N_NUMBER, t->off);
    n->end = t->off + t->len;
    if (t->kind == TK_CHAR) {
        size_t len;
        char *s = unquote(p, t, &len);
        const unsigned char *u = (const unsigned char *)s;
        if (len == 0)
            fail_at(p, t->off, "empty character constant");
        /* One byte (a plain or escaped byte) is its own value; more must
         * be exactly one UTF-8 encoded rune. */
        unsigned long r = u[0];
        size_t need = 1;
        if (len > 1) {
            if (u[0] >= 0xf0)
                r = u[0] & 0x07, need = 4;
            else if (u[0] >= 0xe0)
                r = u[0] & 0x0f, need = 3;
            else if (u[0] >= 0xc0)
                r = u[0] & 0x1f, need = 2;
            for (size_t i = 1; i < need && i < len; i++)
                r = (r << 6) | (u[i] & 0x3f);
        }
        if (len != need)
            fail_at(p, t->off, "malformed character constant: %.*s",
                    (int)t->len, p->src + t->off);
        n->i = (int64_t)r;
        return n;
    }
    char buf[128];
    size_t k = 0;
    for (size_t i = 0; i < t->len && k + 1 < sizeof(buf); i++)
        if (p->src[t->off + i] != '_')
            buf[k++] = p->src[t->off + i];
    buf[k] = '\0';
    const char *digits = buf[0] == '+' || buf[0] == '-' ? buf + 1 : buf;
    bool hex = digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
    bool floaty = !hex && strpbrk(digits, ".eE") != NULL;
    if (!floaty && *digits) {
        int base = 10;
        const char *d = digits;
        if (d[0] == '0' && d[1]) {
            char c = d[1];
            base = (c == 'x' || c == 'X')   ? 16
                   : (c == 'o' || c == 'O') ? 8
                   : (c == 'b' || c == 'B') ? 2
                                            : 8;
            d += (base == 8 && c >= '0' && c <= '7') ? 1 : 2;
        }
        char *end;
        errno = 0;
        unsigned long long u = strtoull(d, &end, base);
        if (*d && *end == '\0' && *d != '-' && *d != '+') {
            bool neg = buf[0] == '-';
            if (errno == 0 && u <= (neg ? (unsigned long long)INT64_MAX + 1
                                        : (unsigned long long)INT64_MAX)) {
                n->i = neg ? (int64_t)(0 - u) : (int64_t)u;
                return n;
            }
            /* Go, too, refuses an integer constant that no int holds. */
            fail_at(p, t->off, "%.*s overflows int", (int)t->len,
                    p->src + t->off);
        }
    }
    char *end;
    double f = strtod(buf, &end);
    if (*end || k == 0 || !*digits)
        fail_at(p, t->off, "illegal number syntax: \"%.*s\"", (int)t->len,
                p->src + t->off);
    n->is_float = true;
    n->f = f;
    return n;
}

static tmpl_node *pipeline(parser *p, const char *context, tmpl_tok_kind end);

static void
add_fields(parser *p, tmpl_node *n, const tmpl_tok *t)
{
    add_ident(p, n, p->src + t->off + 1, t->len - 1);
    n->end = t->off + t->len;
}

static tmpl_node *
term(parser *p)
{
    const tmpl_tok *t = peek(p);
    tmpl_node *n;
    switch (t->kind) {
    case TK_IDENT:
        n = new_node(p, N_IDENT, t->off);
        n->text = arena_strndup(p, p->src + t->off, t->len);
        break;
    case TK_DOT:
        n = new_node(p, N_DOT, t->off);
        break;
    case TK_NIL:
        n = new_node(p, N_NIL, t->off);
        break;
    case TK_VAR:
        n = new_node(p, N_VAR, t->off);
        n->text = arena_strndup(p, p->src + t->off, t->len);
        break;
    case TK_FIELD:
        n = new_node(p, N_FIELD, t->off);
        add_fields(p, n, t);
        break;
    case TK_BOOL:
        n = new_node(p, N_BOOL, t->off);
        n->b = p->src[t->off] == 't';
        break;
    case TK_NUMBER:
    case TK_CHAR:
        n = number(p, t);
        break;
    case TK_STRING:
    case TK_RAW:
        n = new_node(p, N_STRING, t->off);
        n->text = unquote(p, t, &n->text_len);
        break;
    case TK_LPAREN: {
        next(p);
        n = pipeline(p, "parenthesized pipeline", TK_RPAREN);
        const tmpl_tok *r =
            expect(p, TK_RPAREN, "parenthesized pipeline", "\")\"");
        n->off = t->off;
        n->end = r->off + 1;
        return n;
    }
    default:
        return NULL;
    }
    next(p);
    n->end = t->off + t->len;
    return n;
}

/* A term and the fields chained to it with no space between. */
static tmpl_node *
operand(parser *p)
{
    tmpl_node *n = term(p);
    if (!n || peek(p)->kind != TK_FIELD || peek(p)->space_before)
        return n;
    if (n->kind == N_BOOL || n->kind == N_STRING || n->kind == N_NUMBER ||
        n->kind == N_NIL || n->kind == N_DOT)
        fail_at(p, peek(p)->off, "unexpected . after term \"%.*s\"",
                (int)(n->end - n->off), p->src + n->off);
    if (n->kind != N_FIELD && n->kind != N_VAR) {
        tmpl_node *c = new_node(p, N_CHAIN, n->off);
        c->base = n;
        n = c;
    }
    while (peek(p)->kind == TK_FIELD && !peek(p)->space_before)
        add_fields(p, n, next(p));
    return n;
}

static tmpl_node *
command(parser *p)
{
    tmpl_node *cmd = new_node(p, N_CMD, peek(p)->off);
    for (;;) {
        tmpl_node *arg = operand(p);
        if (arg) {
            add_kid(p, cmd, arg);
            cmd->end = arg->end;
        }
        const tmpl_tok *t = peek(p);
        if (t->kind == TK_RIGHT || t->kind == TK_RPAREN)
            break;
        if (t->kind == TK_PIPE) {
            next(p);
            break;
        }
        if (!arg || !t->space_before)
            unexpected(p, t, "operand");
    }
    if (cmd->nkids == 0)
        fail_at(p, cmd->off, "empty command");
    return cmd;
}

static bool
starts_operand(tmpl_tok_kind k)
{
    switch (k) {
    case TK_BOOL:
    case TK_CHAR:
    case TK_DOT:
    case TK_FIELD:
    case TK_IDENT:
    case TK_NUMBER:
    case TK_NIL:
    case TK_RAW:
    case TK_STRING:
    case TK_VAR:
    case TK_LPAREN:
        return true;
    default:
        return false;
    }
}

static void
add_var(parser *p, tmpl_node *pipe, const tmpl_tok *v)
{
    pipe->vars = arena_grow(p, pipe->vars, pipe->nvars, sizeof(char *));
    pipe->var_offs = arena_grow(p, pipe->var_offs, pipe->nvars, sizeof(size_t));
    pipe->var_offs[pipe->nvars] = v->off;
    pipe->vars[pipe->nvars++] = arena_strndup(p, p->src + v->off, v->len);
}

static tmpl_node *
pipeline(parser *p, const char *context, tmpl_tok_kind end)
{
    tmpl_node *pipe = new_node(p, N_PIPE, peek(p)->off);
    /* Declarations: "$x :=", "$x =", and in range "$i, $e :=". */
    const tmpl_tok *v = peek(p);
    const tmpl_tok *after = v + 1;
    if (v->kind == TK_VAR &&
        (after->kind == TK_DECLARE || after->kind == TK_ASSIGN ||
         after->kind == TK_COMMA)) {
        next(p);
        add_var(p, pipe, v);
        const tmpl_tok *op = next(p);
        if (op->kind == TK_COMMA) {
            if (strcmp(context, "range") != 0)
                fail_at(p, op->off, "too many declarations in %s", context);
            const tmpl_tok *v2 = next(p);
            if (v2->kind != TK_VAR)
                fail_at(p, v2->off, "range can only initialize variables");
            add_var(p, pipe, v2);
            op = next(p);
            if (op->kind == TK_COMMA)
                fail_at(p, op->off, "too many declarations in %s", context);
            if (op->kind != TK_DECLARE && op->kind != TK_ASSIGN)
                unexpected(p, op, context);
        }
        pipe->is_assign = op->kind == TK_ASSIGN;
    }
    for (;;) {
        const tmpl_tok *t = peek(p);
        if (t->kind == end) {
            if (pipe->nkids == 0)
                fail_at(p, t->off, "missing value for %s", context);
            /* Only the first command may be a constant or dot: the
             * others receive the previous result as an argument. */
            for (size_t i = 1; i < pipe->nkids; i++) {
                tmpl_node_kind k = pipe->kids[i]->kids[0]->kind;
                if (k == N_BOOL || k == N_DOT || k == N_NIL || k == N_NUMBER ||
                    k == N_STRING)
                    fail_at(p, pipe->kids[i]->off,
                            "non executable command in pipeline stage %zu",
                            i + 1);
            }
            return pipe;
        }
        if (!starts_operand(t->kind))
            unexpected(p, t, context);
        tmpl_node *cmd = command(p);
        add_kid(p, pipe, cmd);
        pipe->end = cmd->end;
    }
}

static tmpl_node *item_list(parser *p, bool top, tmpl_tok_kind *ended,
                            size_t *end_off);
static void definition(parser *p, const tmpl_tok *name_tok, tmpl_node *body);

/* if, with and range: the pipeline, the body, and an optional else. */
static tmpl_node *
control(parser *p, tmpl_node_kind kind, const char *context)
{
    tmpl_node *n = new_node(p, kind, p->toks.toks[p->pos - 1].off);
    n->pipe = pipeline(p, context, TK_RIGHT);
    next(p);
    if (kind == N_RANGE)
        p->range_depth++;
    tmpl_tok_kind ended;
    size_t end_off;
    n->list = item_list(p, false, &ended, &end_off);
    if (kind == N_RANGE)
        p->range_depth--;
    if (ended == TK_ELSE) {
        /* "else if" and "else with" nest a control in the else branch
         * that shares this one's {{end}}, as Go rewrites them. */
        const tmpl_tok *t = peek(p);
        if ((kind == N_IF && t->kind == TK_IF) ||
            (kind == N_WITH && t->kind == TK_WITH)) {
            next(p);
            n->else_list = new_node(p, N_LIST, t->off);
            add_kid(p, n->else_list, control(p, kind, context));
            return n;
        }
        expect(p, TK_RIGHT, "else", "\"}}\"");
        n->else_list = item_list(p, false, &ended, &end_off);
        if (ended != TK_END)
            fail_at(p, end_off, "expected {{end}}; found {{else}}");
    }
    return n;
}

/* Parses items up to a closing {{end}} or {{else}}, whose keyword is left
 * in *ended (the "}}" of {{end}} consumed; that of {{else}} not, since an
 * "if" may follow). */
static tmpl_node *
item_list(parser *p, bool top, tmpl_tok_kind *ended, size_t *end_off)
{
    tmpl_node *list = new_node(p, N_LIST, peek(p)->off);
    for (;;) {
        const tmpl_tok *t = next(p);
        if (t->kind == TK_EOF) {
            if (!top)
                fail_at(p, t->off, "unexpected EOF: expected {{end}}");
            *ended = TK_EOF;
            *end_off = t->off;
            return list;
        }
        if (t->kind == TK_TEXT) {
            tmpl_node *n = new_node(p, N_TEXT, t->off);
            n->text = arena_strndup(p, p->src + t->off, t->len);
            n->text_len = t->len;
            add_kid(p, list, n);
            continue;
        }
        /* t is a left delimiter. */
        const tmpl_tok *k = next(p);
        tmpl_node *n = NULL;
        switch (k->kind) {
        case TK_END:
            if (top)
                fail_at(p, k->off, "unexpected {{end}}");
            expect(p, TK_RIGHT, "end", "\"}}\"");
            *ended = TK_END;
            *end_off = k->off;
            return list;
        case TK_ELSE:
            if (top)
                fail_at(p, k->off, "unexpected {{else}}");
            if (peek(p)->kind != TK_IF && peek(p)->kind != TK_WITH &&
                peek(p)->kind != TK_RIGHT)
                unexpected(p, peek(p), "else");
            *ended = TK_ELSE;
            *end_off = k->off;
            return list;
        case TK_IF:
            n = control(p, N_IF, "if");
            break;
        case TK_WITH:
            n = control(p, N_WITH, "with");
            break;
        case TK_RANGE:
            n = control(p, N_RANGE, "range");
            break;
        case TK_BREAK:
        case TK_CONTINUE:
            if (p->range_depth == 0)
                fail_at(p, k->off, "{{%.*s}} outside {{range}}", (int)k->len,
                        p->src + k->off);
            n = new_node(p, k->kind == TK_BREAK ? N_BREAK : N_CONTINUE, k->off);
            expect(p, TK_RIGHT, k->kind == TK_BREAK ? "break" : "continue",
                   "\"}}\"");
            break;
        case TK_TEMPLATE:
        case TK_BLOCK: {
            const char *ctx =
                k->kind == TK_BLOCK ? "block clause" : "template clause";
            const tmpl_tok *name = next(p);
            if (name->kind != TK_STRING && name->kind != TK_RAW)
                unexpected(p, name, ctx);
            n = new_node(p, N_TEMPLATE, k->off);
            n->text = unquote(p, name, &n->text_len);
            if (peek(p)->kind != TK_RIGHT)
                n->pipe = pipeline(p, ctx, TK_RIGHT);
            else if (k->kind == TK_BLOCK)
                fail_at(p, peek(p)->off, "missing value for block clause");
            next(p);
            if (k->kind == TK_BLOCK) {
                int saved = p->range_depth;
                p->range_depth = 0;
                tmpl_tok_kind e;
                size_t eo;
                tmpl_node *body = item_list(p, false, &e, &eo);
                p->range_depth = saved;
                if (e != TK_END)
                    fail_at(p, eo, "unexpected {{else}} in block clause");
                definition(p, name, body);
            }
            break;
        }
        case TK_DEFINE: {
            if (!top)
                fail_at(p, k->off,
                        "unexpected <define>: {{define}} is "
                        "only allowed at the top level");
            const tmpl_tok *name = next(p);
            if (name->kind != TK_STRING && name->kind != TK_RAW)
                unexpected(p, name, "define clause");
            expect(p, TK_RIGHT, "define clause", "\"}}\"");
            tmpl_tok_kind e;
            size_t eo;
            tmpl_node *body = item_list(p, false, &e, &eo);
            if (e != TK_END)
                fail_at(p, eo, "unexpected {{else}} in define clause");
            definition(p, name, body);
            continue;
        }
        default:
            p->pos--;
            n = new_node(p, N_ACTION, k->off);
            n->pipe = pipeline(p, "command", TK_RIGHT);
            n->end = n->pipe->end;
            next(p);
            break;
        }
        add_kid(p, list, n);
    }
}

static bool
empty_tree(const tmpl_node *list)
{
    for (size_t i = 0; i < list->nkids; i++) {
        const tmpl_node *n = list->kids[i];
        if (n->kind != N_TEXT)
            return false;
        for (size_t j = 0; j < n->text_len; j++)
            if (!strchr(" \t\r\n", n->text[j]))
                return false;
    }
    return true;
}

/* Adds a named template.  As in Go, a definition may replace an empty
 * one (only white space), but two with content are an error. */
static void
definition(parser *p, const tmpl_tok *name_tok, tmpl_node *body)
{
    size_t len;
    char *name = unquote(p, name_tok, &len);
    for (size_t i = 1; i < p->out->ntrees; i++) {
        tmpl_tree *t = &p->out->trees[i];
        if (strcmp(t->name, name) != 0)
            continue;
        if (!empty_tree(t->root) && !empty_tree(body))
            fail_at(p, name_tok->off,
                    "template: multiple definition of template \"%s\"", name);
        if (!empty_tree(body)) {
            t->root = body;
            t->off = name_tok->off;
        }
        return;
    }
    if (p->out->ntrees == p->trees_cap) {
        size_t cap = p->trees_cap * 2;
        tmpl_tree *trees = arena_alloc(p, cap * sizeof(*trees));
        memcpy(trees, p->out->trees, p->out->ntrees * sizeof(*trees));
        p->out->trees = trees;
        p->trees_cap = cap;
    }
    p->out->trees[p->out->ntrees++] = (tmpl_tree){name, body, name_tok->off};
}

static void
parse_top(parser *p)
{
    p->trees_cap = 4;
    p->out->trees = arena_alloc(p, p->trees_cap * sizeof(tmpl_tree));
    p->out->ntrees = 1;
    p->out->trees[0] =
        (tmpl_tree){arena_strndup(p, p->name, strlen(p->name)), NULL, 0};
    tmpl_tok_kind e;
    size_t eo;
    /* item_list may move the tree array (each define adds a tree), so
     * the root is stored only once it returns. */
    tmpl_node *root = item_list(p, true, &e, &eo);
    p->out->trees[0].root = root;
}

int
vpd_tmpl_parse(const char *name, const char *src, size_t len, const char *left,
               const char *right, tmpl_parsed *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    parser *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    p->name = name;
    p->src = src;
    p->out = out;
    p->err = err;
    p->errlen = errlen;
    int rc = -1;
    if (vpd_tmpl_lex(name, src, len, left, right, &p->toks, err, errlen) == 0) {
        if (setjmp(p->fail) == 0) {
            parse_top(p);
            rc = 0;
        }
    }
    vpd_tmpl_toks_free(&p->toks);
    free(p);
    if (rc != 0)
        vpd_tmpl_parse_free(out);
    return rc;
}

void
vpd_tmpl_parse_free(tmpl_parsed *p)
{
    while (p->arena) {
        tmpl_arena_chunk *next = p->arena->next;
        free(p->arena);
        p->arena = next;
    }
    p->trees = NULL;
    p->ntrees = 0;
}
