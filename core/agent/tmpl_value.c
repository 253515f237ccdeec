/* Reference-counted template values and Go's fmt rules for printing them.
 * Maps stay sorted by key as they are built, because every reader wants
 * them so: Go prints and ranges over maps in key order. */
#include "autoconf.h"

#include "agent/tmpl_value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tmpl_value *
new_value(tmpl_kind kind)
{
    tmpl_value *v = calloc(1, sizeof(*v));
    if (v) {
        v->kind = kind;
        v->refs = 1;
    }
    return v;
}

tmpl_value *
vpd_tmpl_bool(bool b)
{
    tmpl_value *v = new_value(TMPL_BOOL);
    if (v)
        v->u.b = b;
    return v;
}

tmpl_value *
vpd_tmpl_int(int64_t i)
{
    tmpl_value *v = new_value(TMPL_INT);
    if (v)
        v->u.i = i;
    return v;
}

tmpl_value *
vpd_tmpl_float(double f)
{
    tmpl_value *v = new_value(TMPL_FLOAT);
    if (v)
        v->u.f = f;
    return v;
}

tmpl_value *
vpd_tmpl_strn(const char *s, size_t len)
{
    tmpl_value *v = new_value(TMPL_STRING);
    if (!v)
        return NULL;
    v->u.s.ptr = malloc(len + 1);
    if (!v->u.s.ptr) {
        free(v);
        return NULL;
    }
    if (len)
        memcpy(v->u.s.ptr, s, len);
    v->u.s.ptr[len] = '\0';
    v->u.s.len = len;
    return v;
}

tmpl_value *
vpd_tmpl_str(const char *s)
{
    return vpd_tmpl_strn(s, strlen(s));
}

tmpl_value *
vpd_tmpl_list(void)
{
    return new_value(TMPL_LIST);
}

tmpl_value *
vpd_tmpl_map(void)
{
    return new_value(TMPL_MAP);
}

tmpl_value *
vpd_tmpl_ref(tmpl_value *v)
{
    if (v)
        v->refs++;
    return v;
}

void
vpd_tmpl_unref(tmpl_value *v)
{
    if (!v || --v->refs > 0)
        return;
    switch (v->kind) {
    case TMPL_STRING:
        free(v->u.s.ptr);
        break;
    case TMPL_LIST:
        for (size_t i = 0; i < v->u.list.len; i++)
            vpd_tmpl_unref(v->u.list.items[i]);
        free(v->u.list.items);
        break;
    case TMPL_MAP:
        for (size_t i = 0; i < v->u.map.len; i++) {
            free(v->u.map.keys[i]);
            vpd_tmpl_unref(v->u.map.vals[i]);
        }
        free(v->u.map.keys);
        free(v->u.map.vals);
        break;
    default:
        break;
    }
    free(v);
}

int
vpd_tmpl_list_push(tmpl_value *list, tmpl_value *v)
{
    if (!list || list->kind != TMPL_LIST) {
        vpd_tmpl_unref(v);
        return -1;
    }
    if (list->u.list.len == list->u.list.cap) {
        size_t cap = list->u.list.cap ? list->u.list.cap * 2 : 4;
        tmpl_value **items = realloc(list->u.list.items, cap * sizeof(*items));
        if (!items) {
            vpd_tmpl_unref(v);
            return -1;
        }
        list->u.list.items = items;
        list->u.list.cap = cap;
    }
    list->u.list.items[list->u.list.len++] = v;
    return 0;
}

/* The index of `key`, or of where it would go (then *found is false). */
static size_t
map_find(const tmpl_value *map, const char *key, bool *found)
{
    size_t lo = 0, hi = map->u.map.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(map->u.map.keys[mid], key);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

int
vpd_tmpl_map_set(tmpl_value *map, const char *key, tmpl_value *v)
{
    if (!map || map->kind != TMPL_MAP) {
        vpd_tmpl_unref(v);
        return -1;
    }
    bool found;
    size_t at = map_find(map, key, &found);
    if (found) {
        vpd_tmpl_unref(map->u.map.vals[at]);
        map->u.map.vals[at] = v;
        return 0;
    }
    if (map->u.map.len == map->u.map.cap) {
        size_t cap = map->u.map.cap ? map->u.map.cap * 2 : 4;
        char **keys = realloc(map->u.map.keys, cap * sizeof(*keys));
        if (keys)
            map->u.map.keys = keys;
        tmpl_value **vals =
            keys ? realloc(map->u.map.vals, cap * sizeof(*vals)) : NULL;
        if (!vals) {
            vpd_tmpl_unref(v);
            return -1;
        }
        map->u.map.vals = vals;
        map->u.map.cap = cap;
    }
    char *k = strdup(key);
    if (!k) {
        vpd_tmpl_unref(v);
        return -1;
    }
    size_t tail = map->u.map.len - at;
    memmove(map->u.map.keys + at + 1, map->u.map.keys + at,
            tail * sizeof(char *));
    memmove(map->u.map.vals + at + 1, map->u.map.vals + at,
            tail * sizeof(tmpl_value *));
    map->u.map.keys[at] = k;
    map->u.map.vals[at] = v;
    map->u.map.len++;
    return 0;
}

tmpl_value *
vpd_tmpl_map_get(const tmpl_value *map, const char *key, bool *found)
{
    bool f = false;
    tmpl_value *v = NULL;
    if (map && map->kind == TMPL_MAP) {
        size_t at = map_find(map, key, &f);
        if (f)
            v = map->u.map.vals[at];
    }
    if (found)
        *found = f;
    return v;
}

tmpl_kind
vpd_tmpl_kind(const tmpl_value *v)
{
    return v ? v->kind : TMPL_NIL;
}

bool
vpd_tmpl_truth(const tmpl_value *v)
{
    switch (vpd_tmpl_kind(v)) {
    case TMPL_BOOL:
        return v->u.b;
    case TMPL_INT:
        return v->u.i != 0;
    case TMPL_FLOAT:
        return v->u.f != 0;
    case TMPL_STRING:
        return v->u.s.len > 0;
    case TMPL_LIST:
        return v->u.list.len > 0;
    case TMPL_MAP:
        return v->u.map.len > 0;
    default:
        return false;
    }
}

const char *
vpd_tmpl_type_name(const tmpl_value *v)
{
    switch (vpd_tmpl_kind(v)) {
    case TMPL_BOOL:
        return "bool";
    case TMPL_INT:
        return "int";
    case TMPL_FLOAT:
        return "float64";
    case TMPL_STRING:
        return "string";
    case TMPL_LIST:
        return "[]interface {}";
    case TMPL_MAP:
        return "map[string]interface {}";
    default:
        return "<nil>";
    }
}

/* The shortest decimal digits that read back as `f` (which is finite and
 * positive), as strconv finds them: *exp is the decimal exponent of the
 * first digit. */
static void
shortest_digits(double f, char *digits, int *exp)
{
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f || prec == 17)
            break;
    }
    size_t n = 0;
    const char *p = tmp;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    *exp = *p == 'e' ? atoi(p + 1) : 0;
}

int
vpd_tmpl_fmt_float(vpd_buf *out, double f, char fmt)
{
    if (isnan(f))
        return vpd_buf_append_str(out, "NaN");
    if (isinf(f))
        return vpd_buf_append_str(out, f > 0 ? "+Inf" : "-Inf");
    vpd_buf b = VPD_BUF_INIT;
    int rc = 0;
    if (signbit(f)) {
        rc |= vpd_buf_append_str(&b, "-");
        f = -f;
    }
    char digits[40];
    int exp = 0;
    if (f == 0) {
        strcpy(digits, "0");
    } else {
        shortest_digits(f, digits, &exp);
    }
    int nd = (int)strlen(digits);
    /* Go's rule for the shortest %g: the exponent form when the exponent
     * is below -4 or at least 6 (not the digit count, as C's %g). */
    bool use_e = fmt == 'e' || (fmt == 'g' && (exp < -4 || exp >= 6));
    if (use_e) {
        rc |= vpd_buf_append(&b, digits, 1);
        if (nd > 1) {
            rc |= vpd_buf_append_str(&b, ".");
            rc |= vpd_buf_append(&b, digits + 1, (size_t)nd - 1);
        }
        rc |= vpd_buf_printf(&b, "e%c%02d", exp < 0 ? '-' : '+',
                             exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        rc |= vpd_buf_append_str(&b, "0.");
        for (int i = 0; i < -exp - 1; i++)
            rc |= vpd_buf_append_str(&b, "0");
        rc |= vpd_buf_append(&b, digits, (size_t)nd);
    } else {
        for (int i = 0; i <= exp || i < nd; i++) {
            if (i == exp + 1)
                rc |= vpd_buf_append_str(&b, ".");
            rc |= vpd_buf_append(&b, i < nd ? digits + i : "0", 1);
        }
    }
    if (rc == 0)
        rc = vpd_buf_append(out, b.data, b.len);
    vpd_buf_free(&b);
    return rc ? -1 : 0;
}

int
vpd_tmpl_fmt_v(vpd_buf *out, const tmpl_value *v)
{
    int rc = 0;
    switch (vpd_tmpl_kind(v)) {
    case TMPL_NIL:
        return vpd_buf_append_str(out, "<nil>");
    case TMPL_BOOL:
        return vpd_buf_append_str(out, v->u.b ? "true" : "false");
    case TMPL_INT:
        return vpd_buf_printf(out, "%lld", (long long)v->u.i);
    case TMPL_FLOAT:
        return vpd_tmpl_fmt_float(out, v->u.f, 'g');
    case TMPL_STRING:
        return vpd_buf_append(out, v->u.s.ptr, v->u.s.len);
    case TMPL_LIST:
        rc |= vpd_buf_append_str(out, "[");
        for (size_t i = 0; i < v->u.list.len; i++) {
            if (i)
                rc |= vpd_buf_append_str(out, " ");
            rc |= vpd_tmpl_fmt_v(out, v->u.list.items[i]);
        }
        rc |= vpd_buf_append_str(out, "]");
        return rc ? -1 : 0;
    case TMPL_MAP:
        rc |= vpd_buf_append_str(out, "map[");
        for (size_t i = 0; i < v->u.map.len; i++) {
            if (i)
                rc |= vpd_buf_append_str(out, " ");
            rc |= vpd_buf_append_str(out, v->u.map.keys[i]);
            rc |= vpd_buf_append_str(out, ":");
            rc |= vpd_tmpl_fmt_v(out, v->u.map.vals[i]);
        }
        rc |= vpd_buf_append_str(out, "]");
        return rc ? -1 : 0;
    }
    return -1;
}

int
vpd_tmpl_print(vpd_buf *out, const tmpl_value *v)
{
    if (!v)
        return vpd_buf_append_str(out, "<no value>");
    return vpd_tmpl_fmt_v(out, v);
}
