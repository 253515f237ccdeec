/* One hand-written reader for HCL v1 and JSON that keeps line numbers.
 *
 * JSON text is first checked by json-c (strict mode) so that what we accept
 * as JSON is exactly what a JSON library accepts; the same reader then runs
 * in JSON mode only to attach positions.  The reader never trusts its input:
 * every loop advances or stops at the end, nesting is bounded, NUL bytes are
 * refused, and every error is reported as "FILE:LINE: what" on one line. */
#include "autoconf.h"

#include "config/cfgtree.h"
#include "base/textutil.h"

#include "base/buf.h"

#include <errno.h>
#include <json-c/json_tokener.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Deeper than any sane configuration; keeps the recursion (here, in the
 * consumers and in vpd_cfg_tree_free) far away from the stack limit. */
#define CFG_MAX_DEPTH 64

/* A configuration file is small; refuse to slurp something huge. */
#define CFG_MAX_FILE_BYTES (16u * 1024u * 1024u)

typedef struct {
    const char *file;
    const char *p;
    const char *end;
    int line;
    bool json;
    int depth;
    char *err;
    size_t err_len;
} parser;

/* Keys and anchors are user text: make them safe for a one-line message. */
static void
quote_for_msg(char *dst, size_t dst_len, const char *s, size_t len)
{
    size_t o = 0;
    if (dst_len == 0)
        return;
    for (size_t i = 0; i < len && o + 4 < dst_len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= 60) {
            dst[o++] = '.';
            dst[o++] = '.';
            dst[o++] = '.';
            break;
        }
        dst[o++] = (ch < 0x20 || ch == 0x7f || ch == '"') ? '?' : (char)ch;
    }
    dst[o] = '\0';
}

__attribute__((format(printf, 3, 4))) static int
fail_at(parser *ps, int line, const char *fmt, ...)
{
    if (ps->err && ps->err_len) {
        int n = snprintf(ps->err, ps->err_len, "%s:%d: ", ps->file, line);
        if (n >= 0 && (size_t)n < ps->err_len) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ps->err + n, ps->err_len - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

#define fail(ps, ...) fail_at((ps), (ps)->line, __VA_ARGS__)

static int
fail_unexpected(parser *ps, const char *what)
{
    if (ps->p >= ps->end)
        return fail(ps, "unexpected end of input%s%s", what ? ", " : "",
                    what ? what : "");
    unsigned char ch = (unsigned char)*ps->p;
    if (ch == 0)
        return fail(ps, "unexpected NUL byte");
    if (ch < 0x20 || ch >= 0x7f)
        return fail(ps, "unexpected byte 0x%02x%s%s", ch, what ? ", " : "",
                    what ? what : "");
    return fail(ps, "unexpected character '%c'%s%s", ch, what ? ", " : "",
                what ? what : "");
}

/* ---- nodes ------------------------------------------------------------ */

static void node_free(vpd_cfg_node *n);

static vpd_cfg_node *
node_new(parser *ps, vpd_cfg_type type, int line)
{
    vpd_cfg_node *n = calloc(1, sizeof(*n));
    if (!n) {
        fail_at(ps, line, "out of memory");
        return NULL;
    }
    n->type = type;
    n->line = line;
    n->file = ps->file;
    return n;
}

static void
node_free(vpd_cfg_node *n)
{
    if (!n)
        return;
    free(n->str);
    for (size_t i = 0; i < n->n_items; i++)
        node_free(n->items[i]);
    free(n->items);
    for (size_t i = 0; i < n->n_members; i++) {
        free(n->members[i].key);
        node_free(n->members[i].value);
    }
    free(n->members);
    free(n);
}

/* Takes ownership of key and value, also on failure. */
static int
obj_add(parser *ps, vpd_cfg_node *obj, char *key, vpd_cfg_node *value, int line)
{
    if ((obj->n_members & (obj->n_members - 1)) == 0) {
        size_t cap = obj->n_members ? obj->n_members * 2 : 4;
        vpd_cfg_member *m = realloc(obj->members, cap * sizeof(*m));
        if (!m) {
            free(key);
            node_free(value);
            return fail_at(ps, line, "out of memory");
        }
        obj->members = m;
    }
    obj->members[obj->n_members].key = key;
    obj->members[obj->n_members].value = value;
    obj->members[obj->n_members].line = line;
    obj->n_members++;
    return 0;
}

static int
list_add(parser *ps, vpd_cfg_node *list, vpd_cfg_node *item)
{
    if ((list->n_items & (list->n_items - 1)) == 0) {
        size_t cap = list->n_items ? list->n_items * 2 : 4;
        vpd_cfg_node **it = realloc(list->items, cap * sizeof(*it));
        if (!it) {
            node_free(item);
            return fail(ps, "out of memory");
        }
        list->items = it;
    }
    list->items[list->n_items++] = item;
    return 0;
}

/* ---- lexing helpers ----------------------------------------------------- */

static bool
at(parser *ps, char ch)
{
    return ps->p < ps->end && *ps->p == ch;
}

static bool
at2(parser *ps, char a, char b)
{
    return ps->end - ps->p >= 2 && ps->p[0] == a && ps->p[1] == b;
}

/* Skips blanks, newlines and (HCL only) comments. */
static int
skip_ws(parser *ps)
{
    while (ps->p < ps->end) {
        char ch = *ps->p;
        if (ch == '\n') {
            ps->line++;
            ps->p++;
        } else if (ch == ' ' || ch == '\t' || ch == '\r') {
            ps->p++;
        } else if (!ps->json && (ch == '#' || at2(ps, '/', '/'))) {
            while (ps->p < ps->end && *ps->p != '\n')
                ps->p++;
        } else if (!ps->json && at2(ps, '/', '*')) {
            int start = ps->line;
            ps->p += 2;
            for (;;) {
                if (ps->p >= ps->end)
                    return fail_at(ps, start, "unterminated comment");
                if (at2(ps, '*', '/')) {
                    ps->p += 2;
                    break;
                }
                if (*ps->p == '\n')
                    ps->line++;
                ps->p++;
            }
        } else {
            break;
        }
    }
    return 0;
}

static bool
is_ident_start(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
           ch >= 0x80;
}

static bool
is_ident_char(unsigned char ch)
{
    return is_ident_start(ch) || (ch >= '0' && ch <= '9') || ch == '-' ||
           ch == '.';
}

static char *
ident(parser *ps)
{
    const char *s = ps->p;
    while (ps->p < ps->end && is_ident_char((unsigned char)*ps->p))
        ps->p++;
    char *out = strndup(s, (size_t)(ps->p - s));
    if (!out)
        fail(ps, "out of memory");
    return out;
}

static int
read_hex(parser *ps, int digits, unsigned long *out)
{
    unsigned long v = 0;
    if (ps->end - ps->p < digits)
        return -1;
    for (int i = 0; i < digits; i++) {
        int h = vpd_hex_value(ps->p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + (unsigned long)h;
    }
    ps->p += digits;
    *out = v;
    return 0;
}

static int
put_utf8(vpd_buf *b, unsigned long cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return vpd_buf_append(b, u, n);
}

/* One escape after the backslash (already consumed). */
static int
read_escape(parser *ps, vpd_buf *b)
{
    if (ps->p >= ps->end)
        return -2;
    char ch = *ps->p++;
    const char *simple = NULL;
    switch (ch) {
    case 'n':
        simple = "\n";
        break;
    case 't':
        simple = "\t";
        break;
    case 'r':
        simple = "\r";
        break;
    case 'a':
        simple = "\a";
        break;
    case 'b':
        simple = "\b";
        break;
    case 'f':
        simple = "\f";
        break;
    case 'v':
        simple = "\v";
        break;
    case '\\':
        simple = "\\";
        break;
    case '"':
        simple = "\"";
        break;
    case '\'':
        simple = "'";
        break;
    case '/':
        simple = "/";
        break;
    default:
        break;
    }
    if (simple)
        return vpd_buf_append(b, simple, 1);
    unsigned long cp;
    if (ch == 'x') {
        if (read_hex(ps, 2, &cp) != 0 || cp == 0)
            return fail(ps, "invalid escape sequence in string");
        char c = (char)cp;
        return vpd_buf_append(b, &c, 1);
    }
    if (ch == 'u' || ch == 'U') {
        if (read_hex(ps, ch == 'u' ? 4 : 8, &cp) != 0)
            return fail(ps, "invalid escape sequence in string");
        if (ch == 'u' && cp >= 0xd800 && cp <= 0xdbff) {
            /* A UTF-16 surrogate pair, as JSON writes characters
             * beyond the BMP. */
            unsigned long lo;
            if (!at2(ps, '\\', 'u'))
                return fail(ps, "invalid escape sequence in string");
            ps->p += 2;
            if (read_hex(ps, 4, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
                return fail(ps, "invalid escape sequence in string");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xd800 && cp <= 0xdfff) {
            return fail(ps, "invalid escape sequence in string");
        }
        if (cp == 0)
            return fail(ps, "NUL character in string");
        if (cp > 0x10ffff)
            return fail(ps, "invalid escape sequence in string");
        return put_utf8(b, cp);
    }
    if (!ps->json && ch >= '0' && ch <= '7') {
        /* Go's \NNN: exactly three octal digits. */
        unsigned v = (unsigned)(ch - '0');
        for (int i = 0; i < 2; i++) {
            if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '7')
                return fail(ps, "invalid escape sequence in string");
            v = v * 8 + (unsigned)(*ps->p++ - '0');
        }
        if (v == 0 || v > 255)
            return fail(ps, "invalid escape sequence in string");
        char c = (char)v;
        return vpd_buf_append(b, &c, 1);
    }
    return fail(ps, "invalid escape sequence in string");
}

/* A double-quoted string; ps->p is at the opening quote.  In HCL a ${...}
 * interpolation may contain quotes, and a raw newline ends the string in
 * error (HCL v1 rules). */
static char *
read_string(parser *ps)
{
    int start = ps->line;
    vpd_buf b = VPD_BUF_INIT;
    int braces = 0;
    ps->p++;
    for (;;) {
        if (ps->p >= ps->end || (*ps->p == '\n' && braces == 0)) {
            fail_at(ps, start, "unterminated string");
            goto err;
        }
        char ch = *ps->p;
        if (ch == '\0') {
            fail(ps, "unexpected NUL byte");
            goto err;
        }
        if (ch == '"' && braces == 0) {
            ps->p++;
            break;
        }
        if (ch == '\n')
            ps->line++;
        if (!ps->json) {
            if (braces == 0 && at2(ps, '$', '{')) {
                braces = 1;
                if (vpd_buf_append(&b, "${", 2) != 0)
                    goto oom;
                ps->p += 2;
                continue;
            } else if (braces > 0 && ch == '{') {
                braces++;
            } else if (braces > 0 && ch == '}') {
                braces--;
            }
        }
        ps->p++;
        if (ch == '\\') {
            int r = read_escape(ps, &b);
            if (r == -2) {
                fail_at(ps, start, "unterminated string");
                goto err;
            }
            if (r != 0)
                goto err;
            continue;
        }
        if (vpd_buf_append(&b, &ch, 1) != 0)
            goto oom;
    }
    if (!b.data) {
        if (vpd_buf_reserve(&b, 0) != 0)
            goto oom;
        b.data[0] = '\0';
    }
    return vpd_buf_steal(&b);
oom:
    fail(ps, "out of memory");
err:
    vpd_buf_free(&b);
    return NULL;
}

/* <<EOF or <<-EOF; ps->p is at "<<".  The value is every line up to the
 * anchor line, each with its newline.  With <<- the indentation of the
 * anchor line is removed from every line if all of them carry it (HCL v1's
 * unindentHeredoc). */
static vpd_cfg_node *
read_heredoc(parser *ps)
{
    int start = ps->line;
    bool indent = false;
    ps->p += 2;
    if (at(ps, '-')) {
        indent = true;
        ps->p++;
    }
    const char *a = ps->p;
    while (ps->p < ps->end && (is_ident_start((unsigned char)*ps->p) ||
                               (*ps->p >= '0' && *ps->p <= '9')))
        ps->p++;
    size_t alen = (size_t)(ps->p - a);
    if (at(ps, '\r'))
        ps->p++;
    if (alen == 0 || !at(ps, '\n')) {
        fail_at(ps, start,
                "heredoc anchor must be an identifier followed "
                "by a newline");
        return NULL;
    }
    ps->p++;
    ps->line++;
    char anchor[80];
    quote_for_msg(anchor, sizeof(anchor), a, alen);

    /* First find the anchor line, then build the value. */
    const char *body = ps->p, *q = ps->p, *term = NULL;
    const char *body_end = NULL;
    int lines = 0;
    while (q < ps->end) {
        const char *eol = memchr(q, '\n', (size_t)(ps->end - q));
        const char *le = eol ? eol : ps->end;
        const char *s = q, *e = le;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if ((size_t)(e - s) == alen && memcmp(s, a, alen) == 0) {
            term = q;
            body_end = q;
            ps->p = eol ? eol : ps->end;
            break;
        }
        if (memchr(q, '\0', (size_t)(le - q))) {
            fail_at(ps, start + 1 + lines, "unexpected NUL byte");
            return NULL;
        }
        lines++;
        q = eol ? eol + 1 : ps->end;
    }
    if (!term) {
        fail_at(ps, start, "unterminated heredoc (expected \"%s\")", anchor);
        return NULL;
    }
    ps->line += lines;

    /* The indentation of the anchor line. */
    const char *ws = term;
    while (ws < ps->p && (*ws == ' ' || *ws == '\t'))
        ws++;
    size_t plen = (size_t)(ws - term);
    bool strip = indent && plen > 0;
    if (strip) {
        /* Unlike HCL v1, an empty line does not cancel the unindenting:
         * blank lines in an indented heredoc are common and harmless. */
        for (const char *l = body; l < body_end;) {
            const char *eol = memchr(l, '\n', (size_t)(body_end - l));
            bool empty =
                *l == '\n' || (*l == '\r' && l + 1 < body_end && l[1] == '\n');
            if (!empty &&
                ((size_t)(body_end - l) < plen || memcmp(l, term, plen) != 0))
                strip = false;
            l = eol ? eol + 1 : body_end;
        }
    }
    vpd_buf b = VPD_BUF_INIT;
    if (vpd_buf_reserve(&b, (size_t)(body_end - body)) != 0)
        goto oom;
    b.data[0] = '\0';
    for (const char *l = body; l < body_end;) {
        const char *eol = memchr(l, '\n', (size_t)(body_end - l));
        const char *le = eol ? eol + 1 : body_end;
        const char *s = l;
        if (strip && (size_t)(le - l) > plen && memcmp(l, term, plen) == 0)
            s = l + plen;
        if (vpd_buf_append(&b, s, (size_t)(le - s)) != 0)
            goto oom;
        l = le;
    }
    vpd_cfg_node *n = node_new(ps, VPD_CFG_STRING, start);
    if (!n) {
        vpd_buf_free(&b);
        return NULL;
    }
    n->str = vpd_buf_steal(&b);
    return n;
oom:
    vpd_buf_free(&b);
    fail(ps, "out of memory");
    return NULL;
}

static bool
is_num_char(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
           (ch >= 'A' && ch <= 'Z') || ch == '.' || ch == '_';
}

/* Decimal, negative, float, 0x hex and (HCL) leading-zero octal, as Go's
 * strconv.ParseInt(s, 0, 64) and ParseFloat read them.  The raw text is
 * kept in str. */
static vpd_cfg_node *
read_number(parser *ps)
{
    const char *s = ps->p;
    if (at(ps, '-'))
        ps->p++;
    bool hex = ps->end - ps->p >= 2 && ps->p[0] == '0' &&
               (ps->p[1] == 'x' || ps->p[1] == 'X');
    while (ps->p < ps->end) {
        unsigned char ch = (unsigned char)*ps->p;
        if (is_num_char(ch)) {
            ps->p++;
        } else if ((ch == '+' || ch == '-') && !hex &&
                   (ps->p[-1] == 'e' || ps->p[-1] == 'E')) {
            ps->p++;
        } else {
            break;
        }
    }
    size_t len = (size_t)(ps->p - s);
    char text[72];
    if (len >= sizeof(text))
        return fail(ps, "invalid number"), NULL;
    memcpy(text, s, len);
    text[len] = '\0';
    bool is_float = !hex && strpbrk(text, ".eE") != NULL;
    if (strchr(text, '_'))
        return fail(ps, "invalid number"), NULL;

    vpd_cfg_node *n = node_new(ps, VPD_CFG_NUMBER, ps->line);
    if (!n)
        return NULL;
    char *end = NULL;
    errno = 0;
    if (is_float) {
        double d = strtod(text, &end);
        if (end != text + len || !isfinite(d) || errno == ERANGE) {
            node_free(n);
            return fail(ps, "invalid number"), NULL;
        }
        n->is_float = true;
        n->fnum = d;
        if (d >= -9.2e18 && d <= 9.2e18)
            n->num = (int64_t)d;
        else
            n->num = d < 0 ? INT64_MIN : INT64_MAX;
    } else {
        long long v = strtoll(text, &end, 0);
        if (errno == ERANGE) {
            node_free(n);
            return fail(ps, "number out of range"), NULL;
        }
        if (end != text + len || len == 0 || (len == 1 && text[0] == '-')) {
            node_free(n);
            return fail(ps, "invalid number"), NULL;
        }
        n->num = v;
        n->fnum = (double)v;
    }
    n->str = strdup(text);
    if (!n->str) {
        node_free(n);
        return fail(ps, "out of memory"), NULL;
    }
    return n;
}

/* ---- grammar ------------------------------------------------------------ */

static vpd_cfg_node *read_value(parser *ps, const char *key);
static int read_hcl_body(parser *ps, vpd_cfg_node *obj, bool top);
static vpd_cfg_node *read_json_object(parser *ps);

static int
enter(parser *ps)
{
    if (++ps->depth > CFG_MAX_DEPTH)
        return fail(ps, "nesting too deep (limit %d)", CFG_MAX_DEPTH);
    return 0;
}

static vpd_cfg_node *
read_list(parser *ps)
{
    int start = ps->line;
    if (enter(ps) != 0)
        return NULL;
    vpd_cfg_node *list = node_new(ps, VPD_CFG_LIST, start);
    if (!list)
        return NULL;
    ps->p++; /* '[' */
    for (;;) {
        if (skip_ws(ps) != 0)
            goto err;
        if (at(ps, ']')) {
            /* HCL allows a trailing comma; strict JSON was refused by
             * json-c before we got here. */
            ps->p++;
            break;
        }
        if (ps->p >= ps->end) {
            fail_at(ps, start, "unterminated list (expected ']')");
            goto err;
        }
        vpd_cfg_node *item = read_value(ps, NULL);
        if (!item || list_add(ps, list, item) != 0)
            goto err;
        if (skip_ws(ps) != 0)
            goto err;
        if (at(ps, ',')) {
            ps->p++;
            continue;
        }
        if (at(ps, ']')) {
            ps->p++;
            break;
        }
        if (ps->p >= ps->end)
            fail_at(ps, start, "unterminated list (expected ']')");
        else
            fail_unexpected(ps, "expected ',' or ']' in list");
        goto err;
    }
    ps->depth--;
    return list;
err:
    node_free(list);
    return NULL;
}

static vpd_cfg_node *
read_hcl_object(parser *ps)
{
    int start = ps->line;
    if (enter(ps) != 0)
        return NULL;
    vpd_cfg_node *obj = node_new(ps, VPD_CFG_OBJECT, start);
    if (!obj)
        return NULL;
    ps->p++; /* '{' */
    if (read_hcl_body(ps, obj, false) != 0) {
        node_free(obj);
        return NULL;
    }
    ps->depth--;
    return obj;
}

/* A value after '=' (HCL), after ':' (JSON), or a list item.  key names the
 * member for messages (NULL for list items). */
static vpd_cfg_node *
read_value(parser *ps, const char *key)
{
    char k[80] = "";
    if (key)
        quote_for_msg(k, sizeof(k), key, strlen(key));
    if (ps->p >= ps->end) {
        if (key)
            return fail(ps,
                        "expected a value for key \"%s\", got end of "
                        "input",
                        k),
                   NULL;
        return fail(ps, "expected a value, got end of input"), NULL;
    }
    char ch = *ps->p;
    if (ch == '"') {
        int line = ps->line;
        char *s = read_string(ps);
        if (!s)
            return NULL;
        vpd_cfg_node *n = node_new(ps, VPD_CFG_STRING, line);
        if (!n) {
            free(s);
            return NULL;
        }
        n->str = s;
        return n;
    }
    if (ch == '{')
        return ps->json ? read_json_object(ps) : read_hcl_object(ps);
    if (ch == '[')
        return read_list(ps);
    if (!ps->json && at2(ps, '<', '<'))
        return read_heredoc(ps);
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
        if (ch == '-' &&
            !(ps->end - ps->p >= 2 && ps->p[1] >= '0' && ps->p[1] <= '9'))
            return fail_unexpected(ps, NULL), NULL;
        return read_number(ps);
    }
    if (is_ident_start((unsigned char)ch)) {
        const char *s = ps->p;
        while (ps->p < ps->end && is_ident_char((unsigned char)*ps->p))
            ps->p++;
        size_t len = (size_t)(ps->p - s);
        vpd_cfg_node *n = NULL;
        if (len == 4 && memcmp(s, "true", 4) == 0) {
            if ((n = node_new(ps, VPD_CFG_BOOL, ps->line)))
                n->boolean = true;
        } else if (len == 5 && memcmp(s, "false", 5) == 0) {
            n = node_new(ps, VPD_CFG_BOOL, ps->line);
        } else if (ps->json && len == 4 && memcmp(s, "null", 4) == 0) {
            n = node_new(ps, VPD_CFG_NULL, ps->line);
        } else {
            /* Never echo the word: it may be a secret written without
             * quotes. */
            if (key)
                fail(ps,
                     "invalid value for key \"%s\" (strings need double "
                     "quotes)",
                     k);
            else
                fail(ps, "invalid value in list (strings need double "
                         "quotes)");
        }
        return n;
    }
    return fail_unexpected(ps, NULL), NULL;
}

/* Wraps body in one object per label, innermost last: a "x" "y" {} is
 * a = {x = {y = {}}}. */
static vpd_cfg_node *
wrap_labels(parser *ps, char **labels, int *label_lines, size_t n_labels,
            vpd_cfg_node *body)
{
    vpd_cfg_node *v = body;
    for (size_t i = n_labels; i-- > 0;) {
        vpd_cfg_node *o = node_new(ps, VPD_CFG_OBJECT, label_lines[i]);
        if (!o) {
            node_free(v);
            for (size_t j = 0; j <= i; j++)
                free(labels[j]);
            return NULL;
        }
        char *l = labels[i];
        labels[i] = NULL;
        if (obj_add(ps, o, l, v, label_lines[i]) != 0) {
            node_free(o);
            for (size_t j = 0; j < i; j++)
                free(labels[j]);
            return NULL;
        }
        v = o;
    }
    return v;
}

/* One "key = value", "key { }" or "key label... { }" member. */
static int
read_hcl_member(parser *ps, vpd_cfg_node *obj)
{
    int line = ps->line;
    char *key;
    if (at(ps, '"'))
        key = read_string(ps);
    else if (is_ident_start((unsigned char)*ps->p))
        key = ident(ps);
    else
        return fail_unexpected(ps, "expected a key");
    if (!key)
        return -1;
    char k[80];
    quote_for_msg(k, sizeof(k), key, strlen(key));

    char *labels[CFG_MAX_DEPTH];
    int label_lines[CFG_MAX_DEPTH];
    size_t n_labels = 0;
    vpd_cfg_node *value = NULL;
    for (;;) {
        if (skip_ws(ps) != 0)
            goto err;
        if (at(ps, '=') && n_labels == 0) {
            ps->p++;
            if (skip_ws(ps) != 0)
                goto err;
            value = read_value(ps, key);
            if (!value)
                goto err;
            break;
        }
        if (at(ps, '{')) {
            if (ps->depth + (int)n_labels >= CFG_MAX_DEPTH) {
                fail(ps, "nesting too deep (limit %d)", CFG_MAX_DEPTH);
                goto err;
            }
            ps->depth += (int)n_labels;
            value = read_hcl_object(ps);
            ps->depth -= (int)n_labels;
            if (!value)
                goto err;
            value = wrap_labels(ps, labels, label_lines, n_labels, value);
            n_labels = 0;
            if (!value)
                goto err;
            break;
        }
        if (ps->p < ps->end &&
            (*ps->p == '"' || is_ident_start((unsigned char)*ps->p))) {
            if (n_labels + 1 >= CFG_MAX_DEPTH) {
                fail(ps, "nesting too deep (limit %d)", CFG_MAX_DEPTH);
                goto err;
            }
            int lline = ps->line;
            char *l = *ps->p == '"' ? read_string(ps) : ident(ps);
            if (!l)
                goto err;
            labels[n_labels] = l;
            label_lines[n_labels++] = lline;
            continue;
        }
        /* With labels the likely mistake is still a missing '=' (the
         * would-be value was read as a label), so one message serves. */
        if (ps->p < ps->end && *ps->p == '\0')
            fail(ps, "unexpected NUL byte");
        else
            fail_at(ps, line, "expected '=' or '{' after key \"%s\"", k);
        goto err;
    }
    return obj_add(ps, obj, key, value, line);
err:
    for (size_t i = 0; i < n_labels; i++)
        free(labels[i]);
    free(key);
    return -1;
}

/* Members up to '}' (or the end of input at the top level).  Commas
 * between members are optional. */
static int
read_hcl_body(parser *ps, vpd_cfg_node *obj, bool top)
{
    int start = ps->line;
    for (;;) {
        if (skip_ws(ps) != 0)
            return -1;
        if (ps->p >= ps->end) {
            if (top)
                return 0;
            return fail_at(ps, start, "unterminated block (expected '}')");
        }
        if (*ps->p == '}') {
            if (top)
                return fail(ps, "unexpected '}'");
            ps->p++;
            return 0;
        }
        if (read_hcl_member(ps, obj) != 0)
            return -1;
        if (skip_ws(ps) != 0)
            return -1;
        if (at(ps, ','))
            ps->p++;
    }
}

static vpd_cfg_node *
read_json_object(parser *ps)
{
    int start = ps->line;
    if (enter(ps) != 0)
        return NULL;
    vpd_cfg_node *obj = node_new(ps, VPD_CFG_OBJECT, start);
    if (!obj)
        return NULL;
    ps->p++; /* '{' */
    if (skip_ws(ps) != 0)
        goto err;
    if (at(ps, '}')) {
        ps->p++;
        ps->depth--;
        return obj;
    }
    for (;;) {
        if (skip_ws(ps) != 0)
            goto err;
        if (!at(ps, '"')) {
            fail_unexpected(ps, "expected a quoted key");
            goto err;
        }
        int line = ps->line;
        char *key = read_string(ps);
        if (!key)
            goto err;
        if (skip_ws(ps) != 0 || !at(ps, ':')) {
            free(key);
            fail_unexpected(ps, "expected ':'");
            goto err;
        }
        ps->p++;
        if (skip_ws(ps) != 0) {
            free(key);
            goto err;
        }
        vpd_cfg_node *v = read_value(ps, key);
        if (!v) {
            free(key);
            goto err;
        }
        if (obj_add(ps, obj, key, v, line) != 0)
            goto err;
        if (skip_ws(ps) != 0)
            goto err;
        if (at(ps, ',')) {
            ps->p++;
            continue;
        }
        if (at(ps, '}')) {
            ps->p++;
            break;
        }
        fail_unexpected(ps, "expected ',' or '}'");
        goto err;
    }
    ps->depth--;
    return obj;
err:
    node_free(obj);
    return NULL;
}

/* json-c decides whether the text is JSON at all; its error position gives
 * the line. */
static int
json_validate(parser *ps, const char *text, size_t len)
{
    if (len > (size_t)INT32_MAX)
        return fail_at(ps, 1, "invalid JSON: input too large");
    struct json_tokener *tok = json_tokener_new_ex(CFG_MAX_DEPTH * 2);
    if (!tok)
        return fail_at(ps, 1, "out of memory");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    int rc = 0;
    if (end > len)
        end = len;
    int line = 1;
    for (size_t i = 0; i < end; i++)
        if (text[i] == '\n')
            line++;
    if (jerr == json_tokener_continue) {
        rc = fail_at(ps, line, "invalid JSON: unexpected end of input");
    } else if (jerr != json_tokener_success || !o) {
        rc = fail_at(ps, line, "invalid JSON: %s",
                     json_tokener_error_desc(jerr));
    } else {
        for (size_t i = end; i < len; i++) {
            if (text[i] == '\n') {
                line++;
            } else if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r') {
                rc = fail_at(ps, line,
                             "invalid JSON: unexpected data after "
                             "the top-level object");
                break;
            }
        }
    }
    json_object_put(o);
    json_tokener_free(tok);
    return rc;
}

int
vpd_cfg_parse(const char *file, const char *text, size_t len, vpd_cfg_tree *out,
              char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    if (err && err_len)
        err[0] = '\0';
    char *fname = strdup(file ? file : "<config>");
    if (!fname) {
        if (err && err_len)
            snprintf(err, err_len, "%s:1: out of memory", file ? file : "");
        return -1;
    }
    parser ps = {.file = fname,
                 .p = text,
                 .end = text + len,
                 .line = 1,
                 .err = err,
                 .err_len = err_len};
    /* A UTF-8 byte-order mark is invisible in editors; ignore it. */
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        ps.p += 3;
    const char *base = ps.p;
    vpd_cfg_node *root = NULL;
    /* Like hclutil.ParseConfig: JSON when the first non-blank byte is '{'
     * (comments do not count as blanks here). */
    const char *q = base;
    while (q < ps.end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
        q++;
    if (q < ps.end && *q == '{') {
        ps.json = true;
        if (skip_ws(&ps) != 0)
            goto err;
        if (json_validate(&ps, base, (size_t)(ps.end - base)) != 0)
            goto err;
        root = read_json_object(&ps);
        if (!root)
            goto err;
        if (skip_ws(&ps) != 0)
            goto err;
        if (ps.p < ps.end) {
            fail_unexpected(&ps, "after the top-level object");
            goto err;
        }
    } else {
        root = node_new(&ps, VPD_CFG_OBJECT, 1);
        if (!root || read_hcl_body(&ps, root, true) != 0)
            goto err;
    }
    out->file = fname;
    out->root = root;
    return 0;
err:
    node_free(root);
    free(fname);
    return -1;
}

int
vpd_cfg_parse_file(const char *path, vpd_cfg_tree *out, char *err,
                   size_t err_len)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        snprintf(err, err_len, "%s: is a directory, not a file", path);
        return -1;
    }
    vpd_buf b = VPD_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + n > CFG_MAX_FILE_BYTES) {
            fclose(f);
            vpd_buf_free(&b);
            snprintf(err, err_len, "%s: file too large (limit %u bytes)", path,
                     CFG_MAX_FILE_BYTES);
            return -1;
        }
        if (vpd_buf_append(&b, chunk, n) != 0) {
            fclose(f);
            vpd_buf_free(&b);
            snprintf(err, err_len, "%s: out of memory", path);
            return -1;
        }
    }
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        vpd_buf_free(&b);
        snprintf(err, err_len, "%s: cannot read: %s", path, strerror(e));
        return -1;
    }
    fclose(f);
    int rc =
        vpd_cfg_parse(path, b.data ? b.data : "", b.len, out, err, err_len);
    vpd_buf_free(&b);
    return rc;
}

void
vpd_cfg_tree_free(vpd_cfg_tree *tree)
{
    if (!tree)
        return;
    node_free(tree->root);
    free(tree->file);
    tree->root = NULL;
    tree->file = NULL;
}

const vpd_cfg_member *
vpd_cfg_get(const vpd_cfg_node *obj, const char *key)
{
    if (!obj || obj->type != VPD_CFG_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->n_members; i++)
        if (strcmp(obj->members[i].key, key) == 0)
            return &obj->members[i];
    return NULL;
}

const char *
vpd_cfg_a_type(const vpd_cfg_node *n)
{
    switch (n->type) {
    case VPD_CFG_STRING:
        return "a string";
    case VPD_CFG_NUMBER:
        return n->is_float ? "a float" : "a number";
    case VPD_CFG_BOOL:
        return "a bool";
    case VPD_CFG_NULL:
        return "null";
    case VPD_CFG_LIST:
        return "a list";
    case VPD_CFG_OBJECT:
        return "an object";
    }
    return "an unknown value";
}

const char *
vpd_cfg_type_name(vpd_cfg_type t)
{
    switch (t) {
    case VPD_CFG_STRING:
        return "string";
    case VPD_CFG_NUMBER:
        return "number";
    case VPD_CFG_BOOL:
        return "bool";
    case VPD_CFG_NULL:
        return "null";
    case VPD_CFG_LIST:
        return "list";
    case VPD_CFG_OBJECT:
        return "object";
    }
    return "unknown";
}
