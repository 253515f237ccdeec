/* The function table and the functions.  Argument counts are in the
 * table so the compiler checks them; types are checked here, with Go's
 * messages, because values only have types at render time. */
#include "autoconf.h"

#include "agent/tmpl_funcs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tmpl_json.h"
#include "agent/tmpl_printf.h"
#include "base/buf.h"

static int fail(tmpl_call *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(tmpl_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int
oom(tmpl_call *c)
{
    return fail(c, "out of memory");
}

/* The result of a function that built a value: out of memory if NULL. */
static int
give(tmpl_call *c, tmpl_value *v, tmpl_value **out)
{
    *out = v;
    return v ? 0 : oom(c);
}

static int
give_buf(tmpl_call *c, vpd_buf *b, int rc, tmpl_value **out)
{
    if (rc != 0) {
        vpd_buf_free(b);
        return oom(c);
    }
    tmpl_value *v = vpd_tmpl_strn(b->data ? b->data : "", b->len);
    vpd_buf_free(b);
    return give(c, v, out);
}

static int
want_str(tmpl_call *c, const tmpl_value *v, const char **s, size_t *n)
{
    if (vpd_tmpl_kind(v) != TMPL_STRING)
        return fail(c, "wrong type for value; expected string; got %s",
                    v ? vpd_tmpl_type_name(v) : "<nil>");
    *s = v->u.s.ptr;
    if (n)
        *n = v->u.s.len;
    return 0;
}

/* ---- Go's builtins ---- */

static int
fn_and(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)c;
    size_t i = 0;
    while (i + 1 < n && vpd_tmpl_truth(a[i]))
        i++;
    *out = vpd_tmpl_ref(a[i]);
    return 0;
}

static int
fn_or(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)c;
    size_t i = 0;
    while (i + 1 < n && !vpd_tmpl_truth(a[i]))
        i++;
    *out = vpd_tmpl_ref(a[i]);
    return 0;
}

static int
fn_not(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    return give(c, vpd_tmpl_bool(!vpd_tmpl_truth(a[0])), out);
}

static bool
basic(const tmpl_value *v)
{
    tmpl_kind k = vpd_tmpl_kind(v);
    return k == TMPL_BOOL || k == TMPL_INT || k == TMPL_FLOAT ||
           k == TMPL_STRING;
}

/* Go's eq of two values: 1 equal, 0 not, -1 error. */
static int
equal(tmpl_call *c, const tmpl_value *x, const tmpl_value *y)
{
    if (!x || !y)
        return !x && !y;
    if (x->kind != y->kind) {
        if (basic(x) && basic(y))
            return fail(c, "incompatible types for comparison");
        return 0;
    }
    switch (x->kind) {
    case TMPL_BOOL:
        return x->u.b == y->u.b;
    case TMPL_INT:
        return x->u.i == y->u.i;
    case TMPL_FLOAT:
        return x->u.f == y->u.f;
    case TMPL_STRING:
        return x->u.s.len == y->u.s.len &&
               memcmp(x->u.s.ptr, y->u.s.ptr, x->u.s.len) == 0;
    default:
        return fail(c, "non-comparable type %s", vpd_tmpl_type_name(x));
    }
}

static int
fn_eq(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    if (n < 2)
        return fail(c, "missing argument for comparison");
    for (size_t i = 1; i < n; i++) {
        int r = equal(c, a[0], a[i]);
        if (r < 0)
            return -1;
        if (r)
            return give(c, vpd_tmpl_bool(true), out);
    }
    return give(c, vpd_tmpl_bool(false), out);
}

static int
fn_ne(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    int r = equal(c, a[0], a[1]);
    return r < 0 ? -1 : give(c, vpd_tmpl_bool(!r), out);
}

/* Go's lt: 1 less, 0 not, -1 error. */
static int
less(tmpl_call *c, const tmpl_value *x, const tmpl_value *y)
{
    if (!basic(x) || !basic(y))
        return fail(c, "invalid type for comparison");
    if (x->kind != y->kind)
        return fail(c, "incompatible types for comparison");
    switch (x->kind) {
    case TMPL_INT:
        return x->u.i < y->u.i;
    case TMPL_FLOAT:
        return x->u.f < y->u.f;
    case TMPL_STRING: {
        size_t m = x->u.s.len < y->u.s.len ? x->u.s.len : y->u.s.len;
        int r = memcmp(x->u.s.ptr, y->u.s.ptr, m);
        return r < 0 || (r == 0 && x->u.s.len < y->u.s.len);
    }
    default:
        return fail(c, "invalid type for comparison");
    }
}

static int
compare(tmpl_call *c, tmpl_value *const *a, tmpl_value **out, char op)
{
    int lt = less(c, a[0], a[1]);
    if (lt < 0)
        return -1;
    int eq = 0;
    if (op == 'l' || op == 'g') {
        eq = equal(c, a[0], a[1]);
        if (eq < 0)
            return -1;
    }
    bool r = op == '<'   ? lt
             : op == 'l' ? (lt || eq)
             : op == 'g' ? !(lt || eq)
                         : !lt;
    return give(c, vpd_tmpl_bool(r), out);
}

static int
fn_lt(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    return compare(c, a, out, '<');
}

static int
fn_le(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    return compare(c, a, out, 'l');
}

static int
fn_gt(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    return compare(c, a, out, 'g');
}

static int
fn_ge(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    return compare(c, a, out, '>');
}

static int
fn_index(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    tmpl_value *item = a[0];
    if (!item)
        return fail(c, "index of untyped nil");
    for (size_t i = 1; i < n; i++) {
        const tmpl_value *ix = a[i];
        if (!item)
            return fail(c, "index of nil pointer");
        switch (item->kind) {
        case TMPL_LIST:
        case TMPL_STRING: {
            const char *what = item->kind == TMPL_LIST ? "slice" : "string";
            if (!ix)
                return fail(c, "cannot index %s/array with nil", what);
            if (ix->kind != TMPL_INT)
                return fail(c, "cannot index %s/array with type %s", what,
                            vpd_tmpl_type_name(ix));
            size_t len =
                item->kind == TMPL_LIST ? item->u.list.len : item->u.s.len;
            if (ix->u.i < 0 || (uint64_t)ix->u.i >= len)
                return fail(c, "index out of range: %lld", (long long)ix->u.i);
            if (item->kind == TMPL_STRING) {
                /* Go yields the byte, a number. */
                if (i + 1 < n)
                    return fail(c, "can't index item of type uint8");
                return give(c,
                            vpd_tmpl_int((unsigned char)item->u.s.ptr[ix->u.i]),
                            out);
            }
            item = item->u.list.items[ix->u.i];
            break;
        }
        case TMPL_MAP:
            if (vpd_tmpl_kind(ix) != TMPL_STRING)
                return fail(c, "value has type %s; should be string",
                            vpd_tmpl_type_name(ix));
            /* A missing key gives the zero value, nil. */
            item = vpd_tmpl_map_get(item, ix->u.s.ptr, NULL);
            break;
        default:
            return fail(c, "can't index item of type %s",
                        vpd_tmpl_type_name(item));
        }
    }
    *out = vpd_tmpl_ref(item);
    return 0;
}

static int
fn_len(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    switch (vpd_tmpl_kind(a[0])) {
    case TMPL_STRING:
        return give(c, vpd_tmpl_int((int64_t)a[0]->u.s.len), out);
    case TMPL_LIST:
        return give(c, vpd_tmpl_int((int64_t)a[0]->u.list.len), out);
    case TMPL_MAP:
        return give(c, vpd_tmpl_int((int64_t)a[0]->u.map.len), out);
    case TMPL_NIL:
        return fail(c, "len of untyped nil");
    default:
        return fail(c, "len of type %s", vpd_tmpl_type_name(a[0]));
    }
}

static int
fn_print(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    vpd_buf b = VPD_BUF_INIT;
    return give_buf(c, &b, vpd_tmpl_sprint(&b, a, n), out);
}

static int
fn_println(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    vpd_buf b = VPD_BUF_INIT;
    return give_buf(c, &b, vpd_tmpl_sprintln(&b, a, n), out);
}

static int
fn_printf(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    const char *f;
    size_t flen;
    if (want_str(c, a[0], &f, &flen) != 0)
        return -1;
    vpd_buf b = VPD_BUF_INIT;
    return give_buf(c, &b, vpd_tmpl_sprintf(&b, f, flen, a + 1, n - 1), out);
}

/* ---- Vault and the host: secret, secrets, pkiCert, env, file ---- */

/* Splits consul-template's "key=value" arguments into pairs. */
static int
kv_pairs(tmpl_call *c, tmpl_value *const *a, size_t n, char ***out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    char **kv = calloc(2 * n, sizeof(char *));
    if (!kv)
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        const char *s;
        if (want_str(c, a[i], &s, NULL) != 0)
            goto fail;
        const char *eq = strchr(s, '=');
        if (!eq) {
            fail(c, "not k=v pair \"%s\"", s);
            goto fail;
        }
        kv[2 * i] = strndup(s, (size_t)(eq - s));
        kv[2 * i + 1] = strdup(eq + 1);
        if (!kv[2 * i] || !kv[2 * i + 1]) {
            oom(c);
            goto fail;
        }
    }
    *out = kv;
    return 0;
fail:
    for (size_t i = 0; i < 2 * n; i++)
        free(kv[i]);
    free(kv);
    return -1;
}

/* What every Vault-reading function does with the host's answer: record
 * the request, turn "not yet" into nil and an incomplete render. */
static int
answered(tmpl_call *c, int rc, tmpl_dep_kind kind, const char *path, char **kv,
         size_t nkv, tmpl_value **out)
{
    if (rc < 0) {
        if (!c->err[0])
            fail(c, "%s failed", path);
        vpd_tmpl_unref(*out);
        *out = NULL;
        return -1;
    }
    if (c->deps &&
        vpd_tmpl_deps_add(c->deps, kind, path, (const char *const *)kv, nkv,
                          rc == 0) != 0) {
        vpd_tmpl_unref(*out);
        *out = NULL;
        return oom(c);
    }
    if (rc > 0) {
        c->incomplete = true;
        vpd_tmpl_unref(*out);
        *out = NULL;
    }
    return 0;
}

static int
vault_call(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out,
           tmpl_dep_kind kind)
{
    const char *path;
    if (want_str(c, a[0], &path, NULL) != 0)
        return -1;
    char **kv;
    if (kv_pairs(c, a + 1, n - 1, &kv) != 0)
        return -1;
    size_t nkv = n - 1;
    int rc = 1;
    *out = NULL;
    c->err[0] = '\0';
    if (c->env && kind == TMPL_DEP_SECRET && c->env->secret)
        rc = c->env->secret(c->env->arg, path, (const char *const *)kv, nkv,
                            out, c->err, c->errlen);
    else if (c->env && kind == TMPL_DEP_PKI_CERT && c->env->pki_cert)
        rc = c->env->pki_cert(c->env->arg, path, (const char *const *)kv, nkv,
                              out, c->err, c->errlen);
    else if (c->env && kind == TMPL_DEP_SECRETS && c->env->secrets)
        rc = c->env->secrets(c->env->arg, path, out, c->err, c->errlen);
    rc = answered(c, rc, kind, path, kv, nkv, out);
    for (size_t i = 0; kv && i < 2 * nkv; i++)
        free(kv[i]);
    free(kv);
    return rc;
}

static int
fn_secret(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    return vault_call(c, a, n, out, TMPL_DEP_SECRET);
}

static int
fn_secrets(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    return vault_call(c, a, n, out, TMPL_DEP_SECRETS);
}

static int
fn_pki_cert(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    return vault_call(c, a, n, out, TMPL_DEP_PKI_CERT);
}

static int
fn_env(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    const char *name;
    if (want_str(c, a[0], &name, NULL) != 0)
        return -1;
    const char *v = c->env && c->env->getenv ? c->env->getenv(c->env->arg, name)
                                             : getenv(name);
    return give(c, vpd_tmpl_str(v ? v : ""), out);
}

static int
read_whole_file(tmpl_call *c, const char *path, tmpl_value **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(c, "open %s: %s", path, strerror(errno));
    vpd_buf b = VPD_BUF_INIT;
    char chunk[8192];
    size_t got;
    int rc = 0;
    while (rc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = vpd_buf_append(&b, chunk, got);
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        vpd_buf_free(&b);
        return fail(c, "read %s: I/O error", path);
    }
    return give_buf(c, &b, rc, out);
}

static int
fn_file(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    const char *path;
    if (want_str(c, a[0], &path, NULL) != 0)
        return -1;
    *out = NULL;
    c->err[0] = '\0';
    int rc = c->env && c->env->file
                 ? c->env->file(c->env->arg, path, out, c->err, c->errlen)
                 : read_whole_file(c, path, out);
    return answered(c, rc, TMPL_DEP_FILE, path, NULL, 0, out);
}

/* ---- encodings ---- */

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
b64_encode(tmpl_call *c, tmpl_value *const *a, tmpl_value **out,
           const char *alphabet)
{
    const char *s;
    size_t n;
    if (want_str(c, a[0], &s, &n) != 0)
        return -1;
    vpd_buf b = VPD_BUF_INIT;
    int rc = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n && rc == 0; i += 3) {
        unsigned long v = (unsigned long)u[i] << 16;
        if (i + 1 < n)
            v |= (unsigned long)u[i + 1] << 8;
        if (i + 2 < n)
            v |= u[i + 2];
        char q[4] = {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63],
                     i + 1 < n ? alphabet[(v >> 6) & 63] : '=',
                     i + 2 < n ? alphabet[v & 63] : '='};
        rc = vpd_buf_append(&b, q, 4);
    }
    return give_buf(c, &b, rc, out);
}

/* Go's base64 decoding with padding: line breaks are skipped, anything
 * else out of the alphabet is "illegal base64 data at input byte N". */
static int
b64_decode(tmpl_call *c, tmpl_value *const *a, tmpl_value **out,
           const char *alphabet, const char *name)
{
    const char *s;
    size_t n;
    if (want_str(c, a[0], &s, &n) != 0)
        return -1;
    vpd_buf b = VPD_BUF_INIT;
    int rc = 0;
    unsigned long acc = 0;
    int have = 0, pads = 0;
    size_t bad = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '\r' || ch == '\n')
            continue;
        if (ch == '=') {
            if (have < 2) {
                bad = i;
                break;
            }
            pads++;
            if (have + pads == 4) {
                /* Only line breaks may follow the padding. */
                for (size_t k = i + 1; k < n && bad == (size_t)-1; k++)
                    if (s[k] != '\r' && s[k] != '\n')
                        bad = k;
                break;
            }
            continue;
        }
        const char *p = ch ? strchr(alphabet, ch) : NULL;
        if (!p || pads) {
            bad = i;
            break;
        }
        acc = (acc << 6) | (unsigned long)(p - alphabet);
        if (++have == 4) {
            unsigned char o[3] = {(unsigned char)(acc >> 16),
                                  (unsigned char)(acc >> 8),
                                  (unsigned char)acc};
            rc |= vpd_buf_append(&b, o, 3);
            acc = 0;
            have = 0;
        }
    }
    if (bad == (size_t)-1 && have) {
        if (have + pads != 4 || have < 2) {
            bad = n;
        } else {
            acc <<= 6 * (4 - have);
            unsigned char o[2] = {(unsigned char)(acc >> 16),
                                  (unsigned char)(acc >> 8)};
            rc |= vpd_buf_append(&b, o, (size_t)have - 1);
        }
    }
    if (bad != (size_t)-1) {
        vpd_buf_free(&b);
        return fail(c, "%s: illegal base64 data at input byte %zu", name, bad);
    }
    return give_buf(c, &b, rc, out);
}

static int
fn_b64enc(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    return b64_encode(c, a, out, b64_std);
}

static int
fn_b64dec(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    return b64_decode(c, a, out, b64_std, "base64Decode");
}

static int
fn_b64urlenc(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    return b64_encode(c, a, out, b64_url);
}

static int
fn_b64urldec(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    return b64_decode(c, a, out, b64_url, "base64URLDecode");
}

static int
to_json(tmpl_call *c, tmpl_value *const *a, tmpl_value **out, bool pretty)
{
    vpd_buf b = VPD_BUF_INIT;
    if (vpd_tmpl_to_json(&b, a[0], pretty, c->err, c->errlen) != 0) {
        vpd_buf_free(&b);
        return -1;
    }
    return give_buf(c, &b, 0, out);
}

static int
fn_to_json(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    return to_json(c, a, out, false);
}

static int
fn_to_json_pretty(tmpl_call *c, tmpl_value *const *a, size_t n,
                  tmpl_value **out)
{
    (void)n;
    return to_json(c, a, out, true);
}

static int
fn_to_yaml(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    vpd_buf b = VPD_BUF_INIT;
    return give_buf(c, &b, vpd_tmpl_to_yaml(&b, a[0]), out);
}

static int
fn_parse_json(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    const char *s;
    size_t len;
    if (want_str(c, a[0], &s, &len) != 0)
        return -1;
    char why[256];
    if (vpd_tmpl_parse_json(s, len, true, out, why, sizeof(why)) != 0)
        return fail(c, "parseJSON: %s", why);
    return 0;
}

/* ---- strings ---- */

static bool
is_space(char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

static int
fn_trim_space(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    const char *s;
    size_t len;
    if (want_str(c, a[0], &s, &len) != 0)
        return -1;
    while (len && is_space(*s))
        s++, len--;
    while (len && is_space(s[len - 1]))
        len--;
    return give(c, vpd_tmpl_strn(s, len), out);
}

static int
change_case(tmpl_call *c, tmpl_value *const *a, tmpl_value **out, bool up)
{
    const char *s;
    size_t len;
    if (want_str(c, a[0], &s, &len) != 0)
        return -1;
    tmpl_value *v = vpd_tmpl_strn(s, len);
    if (!v)
        return oom(c);
    for (size_t i = 0; i < len; i++) {
        char ch = v->u.s.ptr[i];
        if (up && ch >= 'a' && ch <= 'z')
            v->u.s.ptr[i] = (char)(ch - 'a' + 'A');
        else if (!up && ch >= 'A' && ch <= 'Z')
            v->u.s.ptr[i] = (char)(ch - 'A' + 'a');
    }
    *out = v;
    return 0;
}

static int
fn_to_lower(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    return change_case(c, a, out, false);
}

static int
fn_to_upper(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    return change_case(c, a, out, true);
}

static size_t
rune_len(const char *s, size_t n)
{
    unsigned char ch = (unsigned char)s[0];
    size_t l = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc0 ? 2 : 1;
    return l > n ? 1 : l;
}

/* split sep s: consul-template trims s first and gives [] for "". */
static int
fn_split(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    const char *sep, *s;
    size_t seplen, len;
    if (want_str(c, a[0], &sep, &seplen) != 0 ||
        want_str(c, a[1], &s, &len) != 0)
        return -1;
    while (len && is_space(*s))
        s++, len--;
    while (len && is_space(s[len - 1]))
        len--;
    tmpl_value *list = vpd_tmpl_list();
    if (!list)
        return oom(c);
    size_t start = 0;
    int rc = 0;
    while (len > 0 && rc == 0) {
        if (seplen == 0) {
            /* An empty separator splits into runes, as Go does. */
            if (start >= len)
                break;
            size_t l = rune_len(s + start, len - start);
            rc = vpd_tmpl_list_push(list, vpd_tmpl_strn(s + start, l));
            start += l;
            continue;
        }
        const char *hit = NULL;
        for (size_t i = start; i + seplen <= len; i++)
            if (memcmp(s + i, sep, seplen) == 0) {
                hit = s + i;
                break;
            }
        size_t stop = hit ? (size_t)(hit - s) : len;
        rc = vpd_tmpl_list_push(list, vpd_tmpl_strn(s + start, stop - start));
        if (!hit)
            break;
        start = stop + seplen;
    }
    if (rc != 0) {
        vpd_tmpl_unref(list);
        return oom(c);
    }
    *out = list;
    return 0;
}

static int
fn_join(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    const char *sep;
    size_t seplen;
    if (want_str(c, a[0], &sep, &seplen) != 0)
        return -1;
    const tmpl_value *l = a[1];
    bool strings = vpd_tmpl_kind(l) == TMPL_LIST;
    for (size_t i = 0; strings && i < l->u.list.len; i++)
        strings = vpd_tmpl_kind(l->u.list.items[i]) == TMPL_STRING;
    if (!strings)
        return fail(c, "wrong type for value; expected []string; got %s",
                    vpd_tmpl_type_name(l));
    vpd_buf b = VPD_BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < l->u.list.len; i++) {
        if (i)
            rc |= vpd_buf_append(&b, sep, seplen);
        rc |= vpd_buf_append(&b, l->u.list.items[i]->u.s.ptr,
                             l->u.list.items[i]->u.s.len);
    }
    return give_buf(c, &b, rc, out);
}

/* replaceAll old new s. */
static int
fn_replace_all(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    const char *from, *to, *s;
    size_t flen, tlen, len;
    if (want_str(c, a[0], &from, &flen) != 0 ||
        want_str(c, a[1], &to, &tlen) != 0 || want_str(c, a[2], &s, &len) != 0)
        return -1;
    vpd_buf b = VPD_BUF_INIT;
    int rc = 0;
    if (flen == 0) {
        /* Go inserts `new` before every rune and at the end. */
        for (size_t i = 0; i < len;) {
            size_t l = rune_len(s + i, len - i);
            rc |= vpd_buf_append(&b, to, tlen);
            rc |= vpd_buf_append(&b, s + i, l);
            i += l;
        }
        rc |= vpd_buf_append(&b, to, tlen);
        return give_buf(c, &b, rc, out);
    }
    for (size_t i = 0; i < len;) {
        if (i + flen <= len && memcmp(s + i, from, flen) == 0) {
            rc |= vpd_buf_append(&b, to, tlen);
            i += flen;
        } else {
            rc |= vpd_buf_append(&b, s + i, 1);
            i++;
        }
    }
    return give_buf(c, &b, rc, out);
}

/* contains needle haystack: membership in a list (strings and numbers of
 * the same type), a substring of a string; anything else is false. */
static int
fn_contains(tmpl_call *c, tmpl_value *const *a, size_t n, tmpl_value **out)
{
    (void)n;
    const tmpl_value *v = a[0], *l = a[1];
    bool found = false;
    if (vpd_tmpl_kind(l) == TMPL_LIST && basic(v)) {
        for (size_t i = 0; !found && i < l->u.list.len; i++) {
            const tmpl_value *e = l->u.list.items[i];
            if (vpd_tmpl_kind(e) != v->kind || e->kind == TMPL_BOOL)
                continue;
            found = equal(c, v, e) == 1;
        }
    } else if (vpd_tmpl_kind(l) == TMPL_STRING &&
               vpd_tmpl_kind(v) == TMPL_STRING) {
        size_t nl = v->u.s.len;
        for (size_t i = 0; !found && i + nl <= l->u.s.len; i++)
            found = memcmp(l->u.s.ptr + i, v->u.s.ptr, nl) == 0;
    }
    return give(c, vpd_tmpl_bool(found), out);
}

/* Sorted by name for bsearch. */
static const tmpl_func funcs[] = {
    {"and", 1, -1, fn_and},
    {"base64Decode", 1, 1, fn_b64dec},
    {"base64Encode", 1, 1, fn_b64enc},
    {"base64URLDecode", 1, 1, fn_b64urldec},
    {"base64URLEncode", 1, 1, fn_b64urlenc},
    {"contains", 2, 2, fn_contains},
    {"env", 1, 1, fn_env},
    {"eq", 1, -1, fn_eq},
    {"file", 1, 1, fn_file},
    {"ge", 2, 2, fn_ge},
    {"gt", 2, 2, fn_gt},
    {"index", 1, -1, fn_index},
    {"join", 2, 2, fn_join},
    {"le", 2, 2, fn_le},
    {"len", 1, 1, fn_len},
    {"lt", 2, 2, fn_lt},
    {"ne", 2, 2, fn_ne},
    {"not", 1, 1, fn_not},
    {"or", 1, -1, fn_or},
    {"parseJSON", 1, 1, fn_parse_json},
    {"pkiCert", 1, -1, fn_pki_cert},
    {"print", 0, -1, fn_print},
    {"printf", 1, -1, fn_printf},
    {"println", 0, -1, fn_println},
    {"replaceAll", 3, 3, fn_replace_all},
    {"secret", 1, -1, fn_secret},
    {"secrets", 1, 1, fn_secrets},
    {"split", 2, 2, fn_split},
    {"toJSON", 1, 1, fn_to_json},
    {"toJSONPretty", 1, 1, fn_to_json_pretty},
    {"toLower", 1, 1, fn_to_lower},
    {"toUpper", 1, 1, fn_to_upper},
    {"toYAML", 1, 1, fn_to_yaml},
    {"trimSpace", 1, 1, fn_trim_space},
};

static int
cmp_func(const void *key, const void *elem)
{
    return strcmp(key, ((const tmpl_func *)elem)->name);
}

const tmpl_func *
vpd_tmpl_func_lookup(const char *name)
{
    return bsearch(name, funcs, sizeof(funcs) / sizeof(funcs[0]),
                   sizeof(funcs[0]), cmp_func);
}
