/* JSON through json-c for reading; writing is done here by hand because
 * templates must match Go's encoder byte for byte (key order, HTML
 * escapes, float forms), which json-c's writer does not. */
#include "autoconf.h"

#include "agent/tmpl_json.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static tmpl_value *
from_json(struct json_object *j, bool floats, bool *oom)
{
    tmpl_value *v = NULL;
    switch (json_object_get_type(j)) {
    case json_type_null:
        return NULL;
    case json_type_boolean:
        v = vpd_tmpl_bool(json_object_get_boolean(j));
        break;
    case json_type_int:
        v = floats ? vpd_tmpl_float((double)json_object_get_int64(j))
                   : vpd_tmpl_int(json_object_get_int64(j));
        break;
    case json_type_double:
        v = vpd_tmpl_float(json_object_get_double(j));
        break;
    case json_type_string:
        v = vpd_tmpl_strn(json_object_get_string(j),
                          (size_t)json_object_get_string_len(j));
        break;
    case json_type_array: {
        v = vpd_tmpl_list();
        size_t n = v ? json_object_array_length(j) : 0;
        for (size_t i = 0; i < n && !*oom; i++) {
            tmpl_value *e =
                from_json(json_object_array_get_idx(j, i), floats, oom);
            if (vpd_tmpl_list_push(v, e) != 0)
                *oom = true;
        }
        break;
    }
    case json_type_object:
        v = vpd_tmpl_map();
        if (!v)
            break;
        json_object_object_foreach(j, key, val)
        {
            if (*oom)
                break;
            if (vpd_tmpl_map_set(v, key, from_json(val, floats, oom)) != 0)
                *oom = true;
        }
        break;
    }
    if (!v)
        *oom = true;
    return v;
}

int
vpd_tmpl_parse_json(const char *text, size_t len, bool numbers_as_float,
                    tmpl_value **out, char *err, size_t errlen)
{
    *out = NULL;
    size_t start = 0;
    while (start < len && strchr(" \t\r\n", text[start]) && text[start])
        start++;
    if (start == len) {
        *out = vpd_tmpl_map();
        return *out ? 0 : -1;
    }
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return snprintf(err, errlen, "out of memory"), -1;
    struct json_object *j = NULL;
    if (len <= (size_t)INT32_MAX)
        j = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = tok->char_offset;
    if (jerr == json_tokener_continue) {
        /* A bare number at the end may go on, for all json-c knows: the
         * terminating NUL ends it. */
        j = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        used = len;
    }
    json_tokener_free(tok);
    /* Trailing white space is fine; anything else is not JSON. */
    while (jerr == json_tokener_success && used < len &&
           strchr(" \t\r\n", text[used]) && text[used])
        used++;
    if (jerr != json_tokener_success || used != len) {
        json_object_put(j);
        snprintf(err, errlen, "invalid JSON: %s",
                 jerr == json_tokener_success ? "text after the value"
                                              : json_tokener_error_desc(jerr));
        return -1;
    }
    bool oom = false;
    *out = from_json(j, numbers_as_float, &oom);
    json_object_put(j);
    if (oom) {
        vpd_tmpl_unref(*out);
        *out = NULL;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

tmpl_value *
vpd_tmpl_from_vault_json(const char *json, size_t len)
{
    static const struct {
        const char *vault, *field;
    } fields[] = {
        {"request_id", "RequestID"},
        {"lease_id", "LeaseID"},
        {"lease_duration", "LeaseDuration"},
        {"renewable", "Renewable"},
        {"data", "Data"},
        {"warnings", "Warnings"},
        {"auth", "Auth"},
        {"wrap_info", "WrapInfo"},
    };
    char err[128];
    tmpl_value *body;
    if (vpd_tmpl_parse_json(json, len, false, &body, err, sizeof(err)) != 0)
        return NULL;
    if (vpd_tmpl_kind(body) != TMPL_MAP) {
        vpd_tmpl_unref(body);
        return NULL;
    }
    tmpl_value *secret = vpd_tmpl_map();
    for (size_t i = 0; secret && i < sizeof(fields) / sizeof(fields[0]); i++) {
        bool found;
        tmpl_value *v = vpd_tmpl_map_get(body, fields[i].vault, &found);
        /* Go's struct always has its fields: absent ones are zero
         * values (empty strings, 0, false, nil maps). */
        if (!found && i < 4)
            v = i < 2    ? vpd_tmpl_str("")
                : i == 2 ? vpd_tmpl_int(0)
                         : vpd_tmpl_bool(false);
        else
            v = vpd_tmpl_ref(v);
        if (!found && i >= 4)
            continue;
        if (vpd_tmpl_map_set(secret, fields[i].field, v) != 0) {
            vpd_tmpl_unref(secret);
            secret = NULL;
        }
    }
    vpd_tmpl_unref(body);
    return secret;
}

/* The length of the valid UTF-8 sequence at s (0: invalid). */
static size_t
utf8_len(const unsigned char *s, size_t n, unsigned long *rune)
{
    unsigned char c = s[0];
    size_t need;
    unsigned long r, min;
    if (c < 0x80) {
        *rune = c;
        return 1;
    } else if (c >= 0xc2 && c < 0xe0) {
        need = 2, r = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c < 0xf0) {
        need = 3, r = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c < 0xf5) {
        need = 4, r = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        r = (r << 6) | (s[i] & 0x3f);
    }
    if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff))
        return 0;
    *rune = r;
    return need;
}

static int
json_string(vpd_buf *out, const char *s, size_t n)
{
    int rc = vpd_buf_append_str(out, "\"");
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned long r;
        size_t l = utf8_len(u + i, n - i, &r);
        if (l == 0) {
            rc |= vpd_buf_append_str(out, "\\ufffd");
            i++;
            continue;
        }
        switch (r) {
        case '"':
            rc |= vpd_buf_append_str(out, "\\\"");
            break;
        case '\\':
            rc |= vpd_buf_append_str(out, "\\\\");
            break;
        case '\n':
            rc |= vpd_buf_append_str(out, "\\n");
            break;
        case '\r':
            rc |= vpd_buf_append_str(out, "\\r");
            break;
        case '\t':
            rc |= vpd_buf_append_str(out, "\\t");
            break;
        case '\b':
            rc |= vpd_buf_append_str(out, "\\b");
            break;
        case '\f':
            rc |= vpd_buf_append_str(out, "\\f");
            break;
        default:
            /* json.Marshal escapes <, > and & so the text is safe inside
             * HTML, and U+2028/U+2029 for JavaScript. */
            if (r < 0x20 || r == '<' || r == '>' || r == '&' || r == 0x2028 ||
                r == 0x2029)
                rc |= vpd_buf_printf(out, "\\u%04lx", r);
            else
                rc |= vpd_buf_append(out, s + i, l);
        }
        i += l;
    }
    rc |= vpd_buf_append_str(out, "\"");
    return rc ? -1 : 0;
}

static int
json_float(vpd_buf *out, double f, char *err, size_t errlen)
{
    if (isnan(f) || isinf(f)) {
        vpd_buf tmp = VPD_BUF_INIT;
        vpd_tmpl_fmt_float(&tmp, f, 'g');
        snprintf(err, errlen, "json: unsupported value: %s",
                 tmp.data ? tmp.data : "");
        vpd_buf_free(&tmp);
        return -1;
    }
    double a = fabs(f);
    if (a != 0 && (a < 1e-6 || a >= 1e21)) {
        /* Go writes 1e-07 as 1e-7. */
        size_t start = out->len;
        if (vpd_tmpl_fmt_float(out, f, 'e') != 0)
            return -1;
        size_t n = out->len - start;
        char *b = out->data + start;
        if (n >= 4 && b[n - 4] == 'e' && b[n - 3] == '-' && b[n - 2] == '0') {
            b[n - 2] = b[n - 1];
            out->len--;
            out->data[out->len] = '\0';
        }
        return 0;
    }
    return vpd_tmpl_fmt_float(out, f, 'f');
}

static int
indent(vpd_buf *out, bool pretty, int depth)
{
    if (!pretty)
        return 0;
    int rc = vpd_buf_append_str(out, "\n");
    for (int i = 0; i < depth; i++)
        rc |= vpd_buf_append_str(out, "  ");
    return rc;
}

static int
to_json(vpd_buf *out, const tmpl_value *v, bool pretty, int depth, char *err,
        size_t errlen)
{
    int rc = 0;
    switch (vpd_tmpl_kind(v)) {
    case TMPL_NIL:
        return vpd_buf_append_str(out, "null");
    case TMPL_BOOL:
        return vpd_buf_append_str(out, v->u.b ? "true" : "false");
    case TMPL_INT:
        return vpd_buf_printf(out, "%lld", (long long)v->u.i);
    case TMPL_FLOAT:
        return json_float(out, v->u.f, err, errlen);
    case TMPL_STRING:
        return json_string(out, v->u.s.ptr, v->u.s.len);
    case TMPL_LIST:
        rc |= vpd_buf_append_str(out, "[");
        for (size_t i = 0; i < v->u.list.len && rc == 0; i++) {
            if (i)
                rc |= vpd_buf_append_str(out, ",");
            rc |= indent(out, pretty, depth + 1);
            rc |= to_json(out, v->u.list.items[i], pretty, depth + 1, err,
                          errlen);
        }
        if (v->u.list.len)
            rc |= indent(out, pretty, depth);
        rc |= vpd_buf_append_str(out, "]");
        return rc ? -1 : 0;
    case TMPL_MAP:
        rc |= vpd_buf_append_str(out, "{");
        for (size_t i = 0; i < v->u.map.len && rc == 0; i++) {
            if (i)
                rc |= vpd_buf_append_str(out, ",");
            rc |= indent(out, pretty, depth + 1);
            rc |= json_string(out, v->u.map.keys[i], strlen(v->u.map.keys[i]));
            rc |= vpd_buf_append_str(out, pretty ? ": " : ":");
            rc |=
                to_json(out, v->u.map.vals[i], pretty, depth + 1, err, errlen);
        }
        if (v->u.map.len)
            rc |= indent(out, pretty, depth);
        rc |= vpd_buf_append_str(out, "}");
        return rc ? -1 : 0;
    }
    return -1;
}

int
vpd_tmpl_to_json(vpd_buf *out, const tmpl_value *v, bool pretty, char *err,
                 size_t errlen)
{
    snprintf(err, errlen, "out of memory");
    return to_json(out, v, pretty, 0, err, errlen);
}

/* How go-yaml writes a string: plain when it reads back as that string;
 * double-quoted when it would read back as something else (a bool, null,
 * a number) or holds control characters; single-quoted when YAML's
 * syntax forbids it plain (indicators, ": ", " #", outer spaces). */
enum { YAML_PLAIN, YAML_SINGLE, YAML_DOUBLE };

static int
yaml_style(const char *s, size_t n)
{
    static const char *const special[] = {
        "",     "~",     "null",  "Null",  "NULL", "true", "True",
        "TRUE", "false", "False", "FALSE", "yes",  "Yes",  "YES",
        "no",   "No",    "NO",    "on",    "On",   "ON",   "off",
        "Off",  "OFF",   "y",     "Y",     "n",    "N",    ".inf",
        ".Inf", ".INF",  "-.inf", ".nan",  ".NaN", "<<"};
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
        if (strlen(special[i]) == n && memcmp(special[i], s, n) == 0)
            return YAML_DOUBLE;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return YAML_DOUBLE;
    }
    char *end;
    char buf[64];
    if (n < sizeof(buf)) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        strtod(buf, &end);
        if (*end == '\0')
            return YAML_DOUBLE; /* it reads as a number */
    }
    if (strchr("-?:,[]{}#&*!|>'\"%@`", s[0]) || s[0] == ' ' ||
        s[n - 1] == ' ' || s[n - 1] == ':')
        return YAML_SINGLE;
    for (size_t i = 0; i + 1 < n; i++)
        if ((s[i] == ':' && s[i + 1] == ' ') ||
            (s[i] == ' ' && s[i + 1] == '#'))
            return YAML_SINGLE;
    return YAML_PLAIN;
}

static int
yaml_string(vpd_buf *out, const char *s, size_t n, int depth)
{
    int rc = 0;
    if (n > 0 && memchr(s, '\n', n) && !memchr(s, '\r', n) && s[0] != ' ') {
        /* Several lines: a literal block, "|-" when there is no final
         * newline to keep. */
        bool final_nl = s[n - 1] == '\n';
        rc |= vpd_buf_append_str(out, final_nl ? "|" : "|-");
        size_t start = 0;
        size_t end = final_nl ? n - 1 : n;
        while (start <= end) {
            const char *nl = memchr(s + start, '\n', end - start);
            size_t stop = nl ? (size_t)(nl - s) : end;
            rc |= vpd_buf_append_str(out, "\n");
            if (stop > start)
                for (int i = 0; i < depth + 1; i++)
                    rc |= vpd_buf_append_str(out, "  ");
            rc |= vpd_buf_append(out, s + start, stop - start);
            start = stop + 1;
            if (!nl)
                break;
        }
        return rc ? -1 : 0;
    }
    int style = yaml_style(s, n);
    if (style == YAML_PLAIN)
        return vpd_buf_append(out, s, n);
    if (style == YAML_SINGLE) {
        rc |= vpd_buf_append_str(out, "'");
        for (size_t i = 0; i < n; i++)
            rc |= vpd_buf_append(out, s[i] == '\'' ? "''" : s + i,
                                 s[i] == '\'' ? 2 : 1);
        rc |= vpd_buf_append_str(out, "'");
        return rc ? -1 : 0;
    }
    rc |= vpd_buf_append_str(out, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            rc |= vpd_buf_printf(out, "\\%c", c);
        else if (c == '\n')
            rc |= vpd_buf_append_str(out, "\\n");
        else if (c == '\t')
            rc |= vpd_buf_append_str(out, "\\t");
        else if (c == '\r')
            rc |= vpd_buf_append_str(out, "\\r");
        else if (c < 0x20 || c == 0x7f)
            rc |= vpd_buf_printf(out, "\\x%02X", c);
        else
            rc |= vpd_buf_append(out, s + i, 1);
    }
    rc |= vpd_buf_append_str(out, "\"");
    return rc ? -1 : 0;
}

static int
yaml_pad(vpd_buf *out, int depth)
{
    int rc = 0;
    for (int i = 0; i < depth; i++)
        rc |= vpd_buf_append_str(out, "  ");
    return rc;
}

static bool
yaml_block(const tmpl_value *v)
{
    return (vpd_tmpl_kind(v) == TMPL_MAP && v->u.map.len > 0) ||
           (vpd_tmpl_kind(v) == TMPL_LIST && v->u.list.len > 0);
}

/* Writes v, whose first line continues the current one (after "key:" or
 * "- "); later lines are indented to depth. */
static int
to_yaml(vpd_buf *out, const tmpl_value *v, int depth, bool after_dash)
{
    int rc = 0;
    switch (vpd_tmpl_kind(v)) {
    case TMPL_NIL:
        return vpd_buf_append_str(out, "null");
    case TMPL_BOOL:
    case TMPL_INT:
        return vpd_tmpl_fmt_v(out, v);
    case TMPL_FLOAT:
        /* consul-template's YAML goes through JSON, where an integral
         * float is written as an integer, and YAML reads it back so. */
        if (fabs(v->u.f) < 1e18 && v->u.f == (double)(int64_t)v->u.f)
            return vpd_buf_printf(out, "%lld", (long long)v->u.f);
        return vpd_tmpl_fmt_float(out, v->u.f, 'g');
    case TMPL_STRING:
        return yaml_string(out, v->u.s.ptr, v->u.s.len, depth - 1);
    case TMPL_LIST:
        if (v->u.list.len == 0)
            return vpd_buf_append_str(out, "[]");
        for (size_t i = 0; i < v->u.list.len; i++) {
            if (i || !after_dash) {
                if (i || out->len)
                    rc |= vpd_buf_append_str(out, "\n");
                rc |= yaml_pad(out, depth);
            }
            rc |= vpd_buf_append_str(out, "- ");
            rc |= to_yaml(out, v->u.list.items[i], depth + 1, true);
        }
        return rc ? -1 : 0;
    case TMPL_MAP:
        if (v->u.map.len == 0)
            return vpd_buf_append_str(out, "{}");
        for (size_t i = 0; i < v->u.map.len; i++) {
            if (i || !after_dash) {
                if (i || out->len)
                    rc |= vpd_buf_append_str(out, "\n");
                rc |= yaml_pad(out, depth);
            }
            const char *k = v->u.map.keys[i];
            rc |= yaml_string(out, k, strlen(k), depth);
            rc |= vpd_buf_append_str(out, ":");
            const tmpl_value *e = v->u.map.vals[i];
            if (yaml_block(e)) {
                /* Sequences sit at their key's indentation, maps one
                 * level in. */
                int d = e->kind == TMPL_LIST ? depth : depth + 1;
                rc |= to_yaml(out, e, d, false);
            } else {
                rc |= vpd_buf_append_str(out, " ");
                rc |= to_yaml(out, e, depth + 1, false);
            }
        }
        return rc ? -1 : 0;
    }
    return -1;
}

int
vpd_tmpl_to_yaml(vpd_buf *out, const tmpl_value *v)
{
    /* Render into a fresh buffer so "first line" means the value's own. */
    vpd_buf b = VPD_BUF_INIT;
    int rc = to_yaml(&b, v, 0, false);
    if (rc == 0 && b.len)
        rc = vpd_buf_append(out, b.data, b.len);
    vpd_buf_free(&b);
    return rc;
}
