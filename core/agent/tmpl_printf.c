/* A verb applies to a list's or a map's elements one by one, as Go's fmt
 * does ("%d" of [1 2] is "[1 2]", "%q" of [a] is "[\"a\"]"), so the
 * formatter recurses into containers with the same verb and flags. */
#include "autoconf.h"

#include "agent/tmpl_printf.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    bool minus, plus, sharp, space, zero;
    int width, prec; /* -1: not given */
} spec;

static size_t
rune_count(const char *s, size_t n)
{
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            r++;
    return r;
}

/* Pads `s` to the width; zeros go after a sign, as Go's fmt puts them. */
static int
pad(vpd_buf *out, const spec *sp, const char *s, size_t n, bool numeric)
{
    size_t runes = rune_count(s, n);
    if (sp->width < 0 || runes >= (size_t)sp->width)
        return vpd_buf_append(out, s, n);
    size_t fill = (size_t)sp->width - runes;
    int rc = 0;
    if (sp->minus) {
        rc |= vpd_buf_append(out, s, n);
        for (size_t i = 0; i < fill; i++)
            rc |= vpd_buf_append_str(out, " ");
        return rc ? -1 : 0;
    }
    if (sp->zero && numeric && n > 0 && (s[0] == '-' || s[0] == '+')) {
        rc |= vpd_buf_append(out, s, 1);
        s++;
        n--;
    }
    for (size_t i = 0; i < fill; i++)
        rc |= vpd_buf_append_str(out, sp->zero ? "0" : " ");
    rc |= vpd_buf_append(out, s, n);
    return rc ? -1 : 0;
}

/* strconv.Quote: printable runes kept, the rest escaped. */
static int
quote(vpd_buf *out, const char *s, size_t n, char q)
{
    int rc = vpd_buf_printf(out, "%c", q);
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        if (c == (unsigned char)q || c == '\\')
            rc |= vpd_buf_printf(out, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            rc |= vpd_buf_append(out, s + i, 1);
        else if (c == '\a')
            rc |= vpd_buf_append_str(out, "\\a");
        else if (c == '\b')
            rc |= vpd_buf_append_str(out, "\\b");
        else if (c == '\f')
            rc |= vpd_buf_append_str(out, "\\f");
        else if (c == '\n')
            rc |= vpd_buf_append_str(out, "\\n");
        else if (c == '\r')
            rc |= vpd_buf_append_str(out, "\\r");
        else if (c == '\t')
            rc |= vpd_buf_append_str(out, "\\t");
        else if (c == '\v')
            rc |= vpd_buf_append_str(out, "\\v");
        else if (c < 0x80)
            rc |= vpd_buf_printf(out, "\\x%02x", c);
        else {
            /* Valid multi-byte sequences are kept whole (Go keeps the
             * printable ones); stray bytes are escaped. */
            size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
            bool ok = need && i + need <= n;
            for (size_t k = 1; ok && k < need; k++)
                ok = (u[i + k] & 0xc0) == 0x80;
            if (ok) {
                rc |= vpd_buf_append(out, s + i, need);
                i += need - 1;
            } else {
                rc |= vpd_buf_printf(out, "\\x%02x", c);
            }
        }
    }
    rc |= vpd_buf_printf(out, "%c", q);
    return rc ? -1 : 0;
}

static int fmt_one(vpd_buf *out, const spec *sp, char verb, const tmpl_value *v,
                   bool nested);

/* Go's "%!d(string=x)": the value inside is printed with %v and the
 * verb's own flags and width, as Go's fmt does. */
static int
bad_verb(vpd_buf *out, const spec *sp, char verb, const tmpl_value *v)
{
    if (!v)
        return vpd_buf_printf(out, "%%!%c(<nil>)", verb);
    int rc = vpd_buf_printf(out, "%%!%c(%s=", verb, vpd_tmpl_type_name(v));
    rc |= fmt_one(out, sp, 'v', v, false);
    rc |= vpd_buf_append_str(out, ")");
    return rc ? -1 : 0;
}

static int
fmt_int(vpd_buf *out, const spec *sp, char verb, int64_t i)
{
    char tmp[96];
    vpd_buf b = VPD_BUF_INIT;
    int rc = 0;
    switch (verb) {
    case 'v':
    case 'd':
    case 'o':
    case 'x':
    case 'X': {
        char conv = verb == 'v' ? 'd' : verb;
        unsigned base = conv == 'd' ? 10 : conv == 'o' ? 8 : 16;
        const char *digits =
            conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
        unsigned long long u =
            i < 0 ? (unsigned long long)0 - (unsigned long long)i
                  : (unsigned long long)i;
        char d[72];
        size_t k = sizeof(d);
        d[--k] = '\0';
        do {
            d[--k] = digits[u % base];
            u /= base;
        } while (u);
        int prec = sp->prec >= 0 ? sp->prec : 1;
        while (sizeof(d) - 1 - k < (size_t)prec && k > 8 &&
               (int)(sizeof(d) - 1 - k) < prec)
            d[--k] = '0';
        if (sp->sharp && conv == 'o' && d[k] != '0')
            d[--k] = '0';
        if (sp->sharp && (conv == 'x' || conv == 'X')) {
            d[--k] = conv;
            d[--k] = '0';
        }
        snprintf(tmp, sizeof(tmp), "%s%s",
                 i < 0       ? "-"
                 : sp->plus  ? "+"
                 : sp->space ? " "
                             : "",
                 d + k);
        if (sp->prec == 0 && i == 0)
            tmp[0] = '\0';
        spec s2 = *sp;
        if (sp->prec >= 0)
            s2.zero = false;
        return pad(out, &s2, tmp, strlen(tmp), true);
    }
    case 'b': {
        unsigned long long u =
            i < 0 ? (unsigned long long)0 - (unsigned long long)i
                  : (unsigned long long)i;
        char d[70];
        size_t k = sizeof(d);
        d[--k] = '\0';
        do {
            d[--k] = (char)('0' + (u & 1));
            u >>= 1;
        } while (u);
        rc |= vpd_buf_printf(&b, "%s%s",
                             i < 0      ? "-"
                             : sp->plus ? "+"
                                        : "",
                             d + k);
        break;
    }
    case 'U':
        if (i < 0)
            rc |= vpd_buf_printf(&b, "U+%016llX",
                                 (unsigned long long)i); /* as Go: bits */
        else
            rc |= vpd_buf_printf(&b, "U+%04llX", (unsigned long long)i);
        break;
    case 'c':
    case 'q': {
        char u8[5] = {0};
        size_t n8;
        unsigned long r = i < 0 || i > 0x10ffff ? 0xfffd : (unsigned long)i;
        if (r < 0x80) {
            u8[0] = (char)r;
            n8 = 1;
        } else if (r < 0x800) {
            u8[0] = (char)(0xc0 | (r >> 6));
            u8[1] = (char)(0x80 | (r & 0x3f));
            n8 = 2;
        } else if (r < 0x10000) {
            u8[0] = (char)(0xe0 | (r >> 12));
            u8[1] = (char)(0x80 | ((r >> 6) & 0x3f));
            u8[2] = (char)(0x80 | (r & 0x3f));
            n8 = 3;
        } else {
            u8[0] = (char)(0xf0 | (r >> 18));
            u8[1] = (char)(0x80 | ((r >> 12) & 0x3f));
            u8[2] = (char)(0x80 | ((r >> 6) & 0x3f));
            u8[3] = (char)(0x80 | (r & 0x3f));
            n8 = 4;
        }
        /* The length is counted, not measured: rune 0 is a NUL byte. */
        if (verb == 'c')
            rc |= vpd_buf_append(&b, u8, n8);
        else
            rc |= quote(&b, u8, n8, '\'');
        break;
    }
    default: {
        tmpl_value v = {.kind = TMPL_INT, .refs = 1, .u.i = i};
        return bad_verb(out, sp, verb, &v);
    }
    }
    if (rc == 0)
        rc = pad(out, sp, b.data ? b.data : "", b.len, true);
    vpd_buf_free(&b);
    return rc ? -1 : 0;
}

/* %b ("8589934592000000p-33": the 53-bit mantissa and the binary
 * exponent) and %x/%X (hexadecimal, with at least two exponent digits,
 * where C's %a writes one). */
static int
fmt_float_binary(vpd_buf *out, const spec *sp, char verb, double f)
{
    char tmp[128];
    const char *sign = signbit(f) ? "-" : sp->plus ? "+" : "";
    if (verb == 'b') {
        int e;
        double m = frexp(fabs(f), &e);
        unsigned long long mant = (unsigned long long)ldexp(m, 53);
        if (f == 0)
            e = -1074 + 53;
        snprintf(tmp, sizeof(tmp), "%s%llup%+d", sign, mant, e - 53);
    } else {
        char a[96];
        if (sp->prec >= 0)
            snprintf(a, sizeof(a), "%.*a", sp->prec > 20 ? 20 : sp->prec,
                     fabs(f));
        else
            snprintf(a, sizeof(a), "%a", fabs(f));
        char *p = strchr(a, 'p');
        if (p && (p[2] && !p[3])) {
            /* One exponent digit: Go writes two. */
            p[4] = '\0';
            p[3] = p[2];
            p[2] = '0';
        }
        snprintf(tmp, sizeof(tmp), "%s%s", sign, a);
        if (verb == 'X')
            for (char *c = tmp; *c; c++)
                if (*c >= 'a' && *c <= 'z')
                    *c = (char)(*c - 'a' + 'A');
    }
    return pad(out, sp, tmp, strlen(tmp), true);
}

static int
fmt_float(vpd_buf *out, const spec *sp, char verb, double f)
{
    vpd_buf b = VPD_BUF_INIT;
    int rc = 0;
    bool shortest = (verb == 'v' || verb == 'g' || verb == 'G') && sp->prec < 0;
    if (!isfinite(f) || shortest) {
        if (isfinite(f) && sp->plus && !signbit(f))
            rc |= vpd_buf_append_str(&b, "+");
        else if (isfinite(f) && sp->space && !signbit(f))
            rc |= vpd_buf_append_str(&b, " ");
        if (isnan(f) && (sp->plus || sp->space))
            rc |= vpd_buf_append_str(&b, sp->plus ? "+" : " ");
        if (isinf(f) && f > 0 && !sp->plus) {
            rc |= vpd_buf_append_str(&b, sp->space ? " Inf" : "+Inf");
        } else {
            rc |= vpd_tmpl_fmt_float(&b, f, 'g');
        }
        if (verb == 'G')
            for (size_t i = 0; i < b.len; i++)
                if (b.data[i] == 'e')
                    b.data[i] = 'E';
        spec s2 = *sp;
        if (!isfinite(f))
            s2.zero = false;
        if (rc == 0)
            rc = pad(out, &s2, b.data, b.len, true);
        vpd_buf_free(&b);
        return rc ? -1 : 0;
    }
    if (verb == 'v')
        verb = 'g'; /* %v with a precision is %g with it */
    switch (verb) {
    case 'b':
    case 'x':
    case 'X':
        return fmt_float_binary(out, sp, verb, f);
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G': {
        char tmp[512];
        int prec = sp->prec >= 0 ? sp->prec : 6;
        if (prec > 300)
            prec = 300;
        const char *sign = signbit(f)  ? ""
                           : sp->plus  ? "+"
                           : sp->space ? " "
                                       : "";
        int w = snprintf(tmp, sizeof(tmp), "%s", sign);
        switch (verb) {
        case 'e':
            snprintf(tmp + w, sizeof(tmp) - (size_t)w, "%.*e", prec, f);
            break;
        case 'E':
            snprintf(tmp + w, sizeof(tmp) - (size_t)w, "%.*E", prec, f);
            break;
        case 'g':
            snprintf(tmp + w, sizeof(tmp) - (size_t)w, "%.*g", prec, f);
            break;
        case 'G':
            snprintf(tmp + w, sizeof(tmp) - (size_t)w, "%.*G", prec, f);
            break;
        default:
            if (fabs(f) >= 1e300)
                snprintf(tmp + w, sizeof(tmp) - (size_t)w, "%.*e", prec, f);
            else
                snprintf(tmp + w, sizeof(tmp) - (size_t)w, "%.*f", prec, f);
        }
        return pad(out, sp, tmp, strlen(tmp), true);
    }
    default: {
        tmpl_value v = {.kind = TMPL_FLOAT, .refs = 1, .u.f = f};
        return bad_verb(out, sp, verb, &v);
    }
    }
}

static int
fmt_string(vpd_buf *out, const spec *sp, char verb, const char *s, size_t n)
{
    vpd_buf b = VPD_BUF_INIT;
    int rc = 0;
    if (sp->prec >= 0) {
        /* Precision cuts the string to that many runes. */
        size_t runes = 0, i = 0;
        for (; i < n; i++) {
            if (((unsigned char)s[i] & 0xc0) != 0x80) {
                if (runes == (size_t)sp->prec)
                    break;
                runes++;
            }
        }
        n = i;
    }
    switch (verb) {
    case 'v':
    case 's':
        return pad(out, sp, s, n, false);
    case 'q':
        rc = quote(&b, s, n, '"');
        break;
    case 'x':
    case 'X':
        for (size_t i = 0; i < n; i++)
            rc |= vpd_buf_printf(&b, verb == 'x' ? "%02x" : "%02X",
                                 (unsigned char)s[i]);
        break;
    default: {
        tmpl_value v = {.kind = TMPL_STRING, .refs = 1};
        v.u.s.ptr = (char *)s;
        v.u.s.len = n;
        return bad_verb(out, sp, verb, &v);
    }
    }
    if (rc == 0)
        rc = pad(out, sp, b.data ? b.data : "", b.len, false);
    vpd_buf_free(&b);
    return rc ? -1 : 0;
}

/* nested: v is an element of a list or map, where Go prints nil as
 * "<nil>" whatever the verb. */
static int
fmt_one(vpd_buf *out, const spec *sp, char verb, const tmpl_value *v,
        bool nested)
{
    int rc = 0;
    if (verb == 'T') {
        const char *t = vpd_tmpl_type_name(v);
        return pad(out, sp, t, strlen(t), false);
    }
    switch (vpd_tmpl_kind(v)) {
    case TMPL_NIL:
        if (nested) /* Go writes it as is, without padding */
            return vpd_buf_append_str(out, "<nil>");
        if (verb == 'v')
            return pad(out, sp, "<nil>", 5, false);
        return bad_verb(out, sp, verb, v);
    case TMPL_BOOL:
        if (verb == 'v' || verb == 't')
            return pad(out, sp, v->u.b ? "true" : "false", v->u.b ? 4 : 5,
                       false);
        return bad_verb(out, sp, verb, v);
    case TMPL_INT:
        return fmt_int(out, sp, verb, v->u.i);
    case TMPL_FLOAT:
        return fmt_float(out, sp, verb, v->u.f);
    case TMPL_STRING:
        return fmt_string(out, sp, verb, v->u.s.ptr, v->u.s.len);
    case TMPL_LIST:
        rc |= vpd_buf_append_str(out, "[");
        for (size_t i = 0; i < v->u.list.len; i++) {
            if (i)
                rc |= vpd_buf_append_str(out, " ");
            rc |= fmt_one(out, sp, verb, v->u.list.items[i], true);
        }
        rc |= vpd_buf_append_str(out, "]");
        return rc ? -1 : 0;
    case TMPL_MAP:
        rc |= vpd_buf_append_str(out, "map[");
        for (size_t i = 0; i < v->u.map.len; i++) {
            if (i)
                rc |= vpd_buf_append_str(out, " ");
            const char *k = v->u.map.keys[i];
            rc |= fmt_string(out, sp, verb, k, strlen(k));
            rc |= vpd_buf_append_str(out, ":");
            rc |= fmt_one(out, sp, verb, v->u.map.vals[i], true);
        }
        rc |= vpd_buf_append_str(out, "]");
        return rc ? -1 : 0;
    }
    return -1;
}

/* Reads a decimal number (width or precision) at fmt[*i]. */
static int
read_num(const char *fmt, size_t len, size_t *i)
{
    int n = 0;
    while (*i < len && fmt[*i] >= '0' && fmt[*i] <= '9') {
        if (n < 1000000)
            n = n * 10 + (fmt[*i] - '0');
        (*i)++;
    }
    return n;
}

int
vpd_tmpl_sprintf(vpd_buf *out, const char *fmt, size_t len,
                 tmpl_value *const *args, size_t nargs)
{
    int rc = 0;
    size_t arg = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        if (fmt[i] != '%') {
            size_t j = i;
            while (j < len && fmt[j] != '%')
                j++;
            rc |= vpd_buf_append(out, fmt + i, j - i);
            i = j;
            continue;
        }
        i++;
        spec sp = {false, false, false, false, false, -1, -1};
        for (; i < len; i++) {
            char c = fmt[i];
            if (c == '-')
                sp.minus = true;
            else if (c == '+')
                sp.plus = true;
            else if (c == '#')
                sp.sharp = true;
            else if (c == ' ')
                sp.space = true;
            else if (c == '0')
                sp.zero = !sp.minus;
            else
                break;
        }
        if (sp.minus)
            sp.zero = false;
        if (i < len && fmt[i] == '*') {
            i++;
            if (arg < nargs && vpd_tmpl_kind(args[arg]) == TMPL_INT) {
                int64_t w = args[arg++]->u.i;
                if (w < 0) {
                    sp.minus = true;
                    sp.zero = false;
                    w = -w;
                }
                sp.width = w > 1000000 ? 1000000 : (int)w;
            } else {
                arg += arg < nargs;
                rc |= vpd_buf_append_str(out, "%!(BADWIDTH)");
            }
        } else if (i < len && fmt[i] >= '0' && fmt[i] <= '9') {
            sp.width = read_num(fmt, len, &i);
        }
        if (i < len && fmt[i] == '.') {
            i++;
            if (i < len && fmt[i] == '*') {
                i++;
                if (arg < nargs && vpd_tmpl_kind(args[arg]) == TMPL_INT &&
                    args[arg]->u.i >= 0) {
                    int64_t p = args[arg++]->u.i;
                    sp.prec = p > 1000000 ? 1000000 : (int)p;
                } else {
                    arg += arg < nargs;
                    rc |= vpd_buf_append_str(out, "%!(BADPREC)");
                }
            } else {
                sp.prec = read_num(fmt, len, &i);
            }
        }
        if (i >= len) {
            rc |= vpd_buf_append_str(out, "%!(NOVERB)");
            break;
        }
        char verb = fmt[i++];
        if (verb == '%') {
            rc |= vpd_buf_append_str(out, "%");
            continue;
        }
        if (arg >= nargs) {
            rc |= vpd_buf_printf(out, "%%!%c(MISSING)", verb);
            continue;
        }
        rc |= fmt_one(out, &sp, verb, args[arg++], false);
    }
    if (arg < nargs) {
        rc |= vpd_buf_append_str(out, "%!(EXTRA ");
        for (size_t k = arg; k < nargs; k++) {
            if (k > arg)
                rc |= vpd_buf_append_str(out, ", ");
            if (!args[k]) {
                rc |= vpd_buf_append_str(out, "<nil>");
                continue;
            }
            rc |= vpd_buf_printf(out, "%s=", vpd_tmpl_type_name(args[k]));
            rc |= vpd_tmpl_fmt_v(out, args[k]);
        }
        rc |= vpd_buf_append_str(out, ")");
    }
    return rc ? -1 : 0;
}

int
vpd_tmpl_sprint(vpd_buf *out, tmpl_value *const *args, size_t nargs)
{
    int rc = 0;
    for (size_t i = 0; i < nargs; i++) {
        if (i > 0 && vpd_tmpl_kind(args[i]) != TMPL_STRING &&
            vpd_tmpl_kind(args[i - 1]) != TMPL_STRING)
            rc |= vpd_buf_append_str(out, " ");
        rc |= vpd_tmpl_fmt_v(out, args[i]);
    }
    return rc ? -1 : 0;
}

int
vpd_tmpl_sprintln(vpd_buf *out, tmpl_value *const *args, size_t nargs)
{
    int rc = 0;
    for (size_t i = 0; i < nargs; i++) {
        if (i > 0)
            rc |= vpd_buf_append_str(out, " ");
        rc |= vpd_tmpl_fmt_v(out, args[i]);
    }
    rc |= vpd_buf_append_str(out, "\n");
    return rc ? -1 : 0;
}
