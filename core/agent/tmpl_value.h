/* The values templates compute with: nil, bool, int, float, string, list
 * and map, as Go's text/template sees the data consul-template hands it
 * (interface{} trees decoded from JSON).  Printing follows Go's fmt so a
 * rendered file is byte for byte what Vault Agent writes.
 *
 * Ownership: values are reference counted.  nil is the NULL pointer, so
 * every function takes NULL as nil.  A constructor returns a value with
 * one reference, owned by the caller (NULL when memory runs out, except
 * that nil is also NULL: constructors of nil do not exist).  Containers
 * take over the reference they are given (list_push, map_set); getters
 * return borrowed pointers, valid while the container lives.  A string
 * owns its bytes; map keys are owned by the map.  Values are never
 * changed once shared: only their creator fills a container. */
#ifndef VPD_TMPL_VALUE_H
#define VPD_TMPL_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

typedef enum {
    TMPL_NIL,
    TMPL_BOOL,
    TMPL_INT,
    TMPL_FLOAT,
    TMPL_STRING,
    TMPL_LIST,
    TMPL_MAP
} tmpl_kind;

typedef struct tmpl_value tmpl_value;
struct tmpl_value {
    tmpl_kind kind;
    unsigned refs;
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            char *ptr; /* NUL-terminated; may also hold NULs */
            size_t len;
        } s;
        struct {
            tmpl_value **items;
            size_t len, cap;
        } list;
        struct {
            /* Kept sorted by key (bytewise, as Go sorts string keys),
             * so range and printing need no sort and lookup is a
             * binary search. */
            char **keys;
            tmpl_value **vals;
            size_t len, cap;
        } map;
    } u;
};

tmpl_value *vpd_tmpl_bool(bool b);
tmpl_value *vpd_tmpl_int(int64_t i);
tmpl_value *vpd_tmpl_float(double f);
tmpl_value *vpd_tmpl_str(const char *s);
tmpl_value *vpd_tmpl_strn(const char *s, size_t len);
tmpl_value *vpd_tmpl_list(void);
tmpl_value *vpd_tmpl_map(void);

tmpl_value *vpd_tmpl_ref(tmpl_value *v);
void vpd_tmpl_unref(tmpl_value *v);

/* Both take over `v` even on failure (-1: out of memory). */
int vpd_tmpl_list_push(tmpl_value *list, tmpl_value *v);
int vpd_tmpl_map_set(tmpl_value *map, const char *key, tmpl_value *v);
/* Borrowed; *found tells a stored nil from a missing key (may be NULL). */
tmpl_value *vpd_tmpl_map_get(const tmpl_value *map, const char *key,
                             bool *found);

tmpl_kind vpd_tmpl_kind(const tmpl_value *v);
/* Go's truth: false, 0, nil and empty strings, lists and maps are false. */
bool vpd_tmpl_truth(const tmpl_value *v);
/* The Go type fmt's %T names ("string", "int", "float64",
 * "map[string]interface {}", "[]interface {}", "<nil>"). */
const char *vpd_tmpl_type_name(const tmpl_value *v);

/* fmt's %v ("<nil>", "map[a:1 b:2]", "[x y]", floats as %g). */
int vpd_tmpl_fmt_v(vpd_buf *out, const tmpl_value *v);
/* What an action prints: as %v, but nil is "<no value>". */
int vpd_tmpl_print(vpd_buf *out, const tmpl_value *v);
/* Go's shortest float formatting: strconv.FormatFloat(f, fmt, -1, 64)
 * for fmt 'g' (as %v prints) or 'f'/'e' (as encoding/json does). */
int vpd_tmpl_fmt_float(vpd_buf *out, double f, char fmt);

#endif
