/* The host table's JSON members: see json_api.h.  Only json-c and libc
 * here (the mock host compiles this file too). */
#include "plugin/json_api.h"

#include <errno.h>
#include <json.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifndef VPD_JSON_SECRET_DUP
#include "base/secmem.h"
#define VPD_JSON_SECRET_DUP vpd_secret_dup
#endif

/* Longest member name in a dotted path; longer ones are never found. */
#define PATH_PART_MAX 256

#define AS_JSON(node) ((json_object *)(node))
#define AS_VP(obj) ((vp_json_t *)(obj))

/* Zeroes memory in a way the compiler may not drop, so that strings a
 * document held (tokens, JWTs) do not outlive it. */
static void
wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

static void
wipe_strings(json_object *o)
{
    if (!o)
        return;
    switch (json_object_get_type(o)) {
    case json_type_string:
        wipe((char *)json_object_get_string(o),
             (size_t)json_object_get_string_len(o));
        break;
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            wipe_strings(json_object_array_get_idx(o, i));
        break;
    case json_type_object: {
        json_object_object_foreach(o, key, val)
        {
            (void)key;
            wipe_strings(val);
        }
        break;
    }
    default:
        break;
    }
}

int
vpd_json_parse(const char *text, size_t len, vp_json_t **out)
{
    *out = NULL;
    if (!text || len > INT32_MAX)
        return VP_EINVAL;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return VP_ENOMEM;
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error err = json_tokener_get_error(tok);
    /* Trailing bytes after the value (other than white space) make it
     * something other than one JSON document. */
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    while (used < len && strchr(" \t\r\n", text[used]))
        used++;
    if (err != json_tokener_success || used != len) {
        wipe_strings(root);
        json_object_put(root);
        return VP_EINVAL;
    }
    if (!root) {
        /* The document "null" is a value too: represent it as a null
         * node the caller can free. */
        root = json_object_new_null();
        if (!root)
            return VP_ENOMEM;
    }
    *out = AS_VP(root);
    return 0;
}

void
vpd_json_free(vp_json_t *doc)
{
    wipe_strings(AS_JSON(doc));
    json_object_put(AS_JSON(doc));
}

static int
all_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

const vp_json_t *
vpd_json_get(const vp_json_t *node, const char *path)
{
    json_object *cur = AS_JSON(node);
    const char *p = path ? path : "";
    char part[PATH_PART_MAX];
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof part)
            return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        json_object *next = NULL;
        if (json_object_is_type(cur, json_type_object)) {
            if (!json_object_object_get_ex(cur, part, &next))
                return NULL;
        } else if (json_object_is_type(cur, json_type_array) &&
                   all_digits(part, n)) {
            errno = 0;
            unsigned long long idx = strtoull(part, NULL, 10);
            if (errno || idx >= json_object_array_length(cur))
                return NULL;
            next = json_object_array_get_idx(cur, (size_t)idx);
        } else {
            return NULL;
        }
        /* A member whose value is null is there, as a null node; json-c
         * gives NULL for it, which would read as "absent". */
        if (!next)
            return NULL;
        cur = next;
        p += n + (dot ? 1 : 0);
    }
    return AS_VP(cur);
}

vp_json_type_t
vpd_json_type(const vp_json_t *node)
{
    switch (json_object_get_type(AS_JSON(node))) {
    case json_type_boolean:
        return VP_JSON_BOOL;
    case json_type_double:
    case json_type_int:
        return VP_JSON_NUMBER;
    case json_type_string:
        return VP_JSON_STRING;
    case json_type_array:
        return VP_JSON_ARRAY;
    case json_type_object:
        return VP_JSON_OBJECT;
    default:
        return VP_JSON_NULL;
    }
}

/* The node at path, or the reason there is none. */
static int
find(const vp_json_t *node, const char *path, json_object **out)
{
    const vp_json_t *n = node ? vpd_json_get(node, path) : NULL;
    if (!n)
        return VP_ENOENT;
    *out = AS_JSON(n);
    return 0;
}

int
vpd_json_get_int(const vp_json_t *node, const char *path, int64_t *out)
{
    json_object *o;
    int rc = find(node, path, &o);
    if (rc != 0)
        return rc;
    if (json_object_is_type(o, json_type_int)) {
        /* json-c keeps integers above INT64_MAX as unsigned: refuse
         * them rather than clamp. */
        errno = 0;
        int64_t v = json_object_get_int64(o);
        if (v == INT64_MAX && json_object_get_uint64(o) > INT64_MAX)
            return VP_EINVAL;
        *out = v;
        return 0;
    }
    if (json_object_is_type(o, json_type_double)) {
        double d = json_object_get_double(o);
        /* In range first: converting a double outside int64_t's range is
         * undefined.  No floor(): the mock host's users need no libm. */
        if (!isfinite(d) || d < -9.2e18 || d > 9.2e18 ||
            d != (double)(int64_t)d)
            return VP_EINVAL;
        *out = (int64_t)d;
        return 0;
    }
    return VP_EINVAL;
}

int
vpd_json_get_number(const vp_json_t *node, const char *path, double *out)
{
    json_object *o;
    int rc = find(node, path, &o);
    if (rc != 0)
        return rc;
    if (!json_object_is_type(o, json_type_int) &&
        !json_object_is_type(o, json_type_double))
        return VP_EINVAL;
    *out = json_object_get_double(o);
    return 0;
}

int
vpd_json_get_bool(const vp_json_t *node, const char *path, int *out)
{
    json_object *o;
    int rc = find(node, path, &o);
    if (rc != 0)
        return rc;
    if (!json_object_is_type(o, json_type_boolean))
        return VP_EINVAL;
    *out = json_object_get_boolean(o) ? 1 : 0;
    return 0;
}

int
vpd_json_get_str(const vp_json_t *node, const char *path, const char **out,
                 size_t *len)
{
    json_object *o;
    int rc = find(node, path, &o);
    if (rc != 0)
        return rc;
    if (!json_object_is_type(o, json_type_string))
        return VP_EINVAL;
    *out = json_object_get_string(o);
    if (len)
        *len = (size_t)json_object_get_string_len(o);
    return 0;
}

int
vpd_json_array_len(const vp_json_t *node, const char *path, size_t *out)
{
    json_object *o;
    int rc = find(node, path, &o);
    if (rc != 0)
        return rc;
    if (!json_object_is_type(o, json_type_array))
        return VP_EINVAL;
    *out = json_object_array_length(o);
    return 0;
}

const vp_json_t *
vpd_json_array_at(const vp_json_t *array, size_t idx)
{
    json_object *a = AS_JSON(array);
    if (!json_object_is_type(a, json_type_array) ||
        idx >= json_object_array_length(a))
        return NULL;
    return AS_VP(json_object_array_get_idx(a, idx));
}

vp_json_t *
vpd_json_new(vp_json_type_t type)
{
    if (type == VP_JSON_OBJECT)
        return AS_VP(json_object_new_object());
    if (type == VP_JSON_ARRAY)
        return AS_VP(json_object_new_array());
    return NULL;
}

/* Puts value into container, taking it whatever happens. */
static int
put(vp_json_t *container, const char *key, json_object *value)
{
    json_object *c = AS_JSON(container);
    int rc = VP_EINVAL;
    if (!value) {
        rc = VP_ENOMEM;
    } else if (json_object_is_type(c, json_type_object) && key) {
        if (json_object_object_add(c, key, value) == 0)
            return 0;
        rc = VP_ENOMEM;
    } else if (json_object_is_type(c, json_type_array) && !key) {
        if (json_object_array_add(c, value) == 0)
            return 0;
        rc = VP_ENOMEM;
    }
    wipe_strings(value);
    json_object_put(value);
    return rc;
}

int
vpd_json_add_str(vp_json_t *container, const char *key, const char *value)
{
    if (!value)
        return VP_EINVAL;
    return put(container, key, json_object_new_string(value));
}

int
vpd_json_add_int(vp_json_t *container, const char *key, int64_t value)
{
    return put(container, key, json_object_new_int64(value));
}

int
vpd_json_add_number(vp_json_t *container, const char *key, double value)
{
    if (!isfinite(value))
        return VP_EINVAL; /* JSON has no NaN or infinity */
    return put(container, key, json_object_new_double(value));
}

int
vpd_json_add_bool(vp_json_t *container, const char *key, int value)
{
    return put(container, key, json_object_new_boolean(value != 0));
}

int
vpd_json_add(vp_json_t *container, const char *key, vp_json_t *child)
{
    if (!child)
        return VP_EINVAL;
    if (child == container) {
        /* Adding a value to itself would make a cycle; the rule that
         * child is taken still holds, but container is the caller's:
         * leave it. */
        return VP_EINVAL;
    }
    return put(container, key, AS_JSON(child));
}

char *
vpd_json_to_text(const vp_json_t *node, size_t *len)
{
    size_t n = 0;
    const char *text = json_object_to_json_string_length(
        AS_JSON(node), JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
        &n);
    if (!text)
        return NULL;
    char *out = VPD_JSON_SECRET_DUP(text, n);
    /* json-c keeps the printed text with the object until it is freed or
     * printed again: wipe it now, the copy is what the caller gets. */
    wipe((char *)text, n);
    if (out && len)
        *len = n;
    return out;
}

/* ---- the 1.0 helpers ---------------------------------------------------- */

int
vpd_json_get_string(const char *json, size_t len, const char *path, char **out)
{
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return VP_ENOMEM;
    json_object *root = json_tokener_parse_ex(tok, json, (int)len);
    int ok = root && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(root);
        return VP_EINVAL;
    }
    /* Members only, as in 1.0: json_get walks arrays too. */
    json_object *cur = root;
    char part[128];
    const char *p = path;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof part) {
            cur = NULL;
            break;
        }
        memcpy(part, p, n);
        part[n] = '\0';
        json_object *next = NULL;
        if (!json_object_is_type(cur, json_type_object) ||
            !json_object_object_get_ex(cur, part, &next))
            cur = NULL;
        else
            cur = next;
        p += n + (dot ? 1 : 0);
    }
    int rc = VP_ENOENT;
    if (cur && json_object_is_type(cur, json_type_string)) {
        *out = VPD_JSON_SECRET_DUP(json_object_get_string(cur),
                                   (size_t)json_object_get_string_len(cur));
        rc = *out ? 0 : VP_ENOMEM;
    }
    wipe_strings(root);
    json_object_put(root);
    return rc;
}

char *
vpd_json_object_from_pairs(const char *const *pairs)
{
    json_object *obj = json_object_new_object();
    if (!obj)
        return NULL;
    for (size_t i = 0; pairs[i]; i += 2) {
        if (pairs[i + 1])
            json_object_object_add(obj, pairs[i],
                                   json_object_new_string(pairs[i + 1]));
    }
    size_t len = 0;
    const char *text =
        json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
    char *out = VPD_JSON_SECRET_DUP(text, len);
    /* json-c keeps its own copies of the values and the printed text:
     * wipe both before they are freed. */
    wipe((char *)text, len);
    wipe_strings(obj);
    json_object_put(obj);
    return out;
}
