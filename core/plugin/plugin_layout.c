/* A plugin's arrays in the host's layout: see plugin_layout.h.
 *
 * Every element is copied with memcpy, as many bytes as both layouts
 * share, into a zeroed host struct: members the plugin's headers did not
 * have stay zero (their documented default), members it has beyond the
 * host's are not read. */
#include "autoconf.h"

#include "plugin/plugin_layout.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the 1.0 structs ended: a descriptor without the element sizes
 * was built with these. */
#define PROVIDE_1_0_SIZE (offsetof(vp_provide_t, schema) + sizeof(void *))
#define CONF_FIELD_1_0_SIZE                                                    \
    (offsetof(vp_conf_field_t, help) + sizeof(const char *))
#define DESC_SIZES_END                                                         \
    (offsetof(vp_plugin_t, conf_field_size) + sizeof(uint32_t))

/* Bounds that only a corrupt descriptor exceeds: they keep a missing
 * terminator from walking through the whole module. */
#define ELEMENT_MAX_SIZE 4096
#define ARRAY_MAX_ELEMENTS 4096

typedef struct {
    size_t provide, field;
} strides;

static int
bad_stride(size_t size, size_t min, const char *what, char *why, size_t why_len)
{
    if (size >= min && size <= ELEMENT_MAX_SIZE && size % _Alignof(void *) == 0)
        return 0;
    snprintf(why, why_len,
             "%s %zu is not a valid ABI 1.x size (at least %zu, a multiple "
             "of %zu)%s",
             what, size, min, (size_t) _Alignof(void *),
             size ? "" : ": define the descriptor with VP_PLUGIN_HEADER");
    return -1;
}

static int
read_strides(const vp_plugin_t *d, strides *s, char *why, size_t why_len)
{
    if (d->size < DESC_SIZES_END) {
        *s = (strides){PROVIDE_1_0_SIZE, CONF_FIELD_1_0_SIZE};
        return 0;
    }
    *s = (strides){d->provide_size, d->conf_field_size};
    if (bad_stride(s->provide, PROVIDE_1_0_SIZE, "provide_size", why,
                   why_len) != 0 ||
        bad_stride(s->field, CONF_FIELD_1_0_SIZE, "conf_field_size", why,
                   why_len) != 0)
        return -1;
    return 0;
}

static size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static void
read_provide(const vp_plugin_t *d, const strides *s, size_t i,
             vp_provide_t *out)
{
    *out = (vp_provide_t){0};
    memcpy(out, (const unsigned char *)d->provides + i * s->provide,
           min_size(s->provide, sizeof *out));
}

static void
read_field(const vp_conf_field_t *schema, const strides *s, size_t i,
           vp_conf_field_t *out)
{
    *out = (vp_conf_field_t){0};
    memcpy(out, (const unsigned char *)schema + i * s->field,
           min_size(s->field, sizeof *out));
}

/* How many fields `schema` has before its end, or -1 with why. */
static long
count_fields(const vp_provide_t *p, const strides *s, char *why, size_t why_len)
{
    vp_conf_field_t f;
    for (size_t n = 0; n < ARRAY_MAX_ELEMENTS; n++) {
        read_field(p->schema, s, n, &f);
        if (!f.key)
            return (long)n;
        /* A field that states its size must agree with the stride the
         * array is walked with: one that does not was built with other
         * headers than the descriptor claims. */
        if (s->field >= offsetof(vp_conf_field_t, size) + sizeof(uint32_t) &&
            f.size != 0 && f.size != s->field) {
            snprintf(why, why_len,
                     "schema of \"%s\": key \"%s\" says its size is %u, the "
                     "descriptor's conf_field_size is %zu",
                     p->name, f.key, (unsigned)f.size, s->field);
            return -1;
        }
    }
    snprintf(why, why_len,
             "schema of \"%s\" has no end (a field whose key is "
             "NULL) within %d fields",
             p->name, ARRAY_MAX_ELEMENTS);
    return -1;
}

/* How many implementations d provides before its end, or -1 with why. */
static long
count_provides(const vp_plugin_t *d, const strides *s, char *why,
               size_t why_len)
{
    vp_provide_t p;
    for (size_t n = 0; n < ARRAY_MAX_ELEMENTS; n++) {
        read_provide(d, s, n, &p);
        if (p.kind == 0)
            return (long)n;
    }
    snprintf(why, why_len,
             "provides has no end (an entry whose kind is 0) "
             "within %d entries",
             ARRAY_MAX_ELEMENTS);
    return -1;
}

/* Counts every schema's fields (each plus its end); -1 with why. */
static long
count_all_fields(const vpd_layout *l, const strides *s, char *why,
                 size_t why_len)
{
    long total = 0;
    for (size_t i = 0; i < l->n_provides; i++) {
        if (!l->provides[i].schema)
            continue;
        long n = count_fields(&l->provides[i], s, why, why_len);
        if (n < 0)
            return -1;
        total += n + 1;
    }
    return total;
}

int
vpd_layout_copy(const vp_plugin_t *d, vpd_layout *l, char *why, size_t why_len)
{
    *l = (vpd_layout){0};
    strides s;
    if (read_strides(d, &s, why, why_len) != 0)
        return -1;
    long n = d->provides ? count_provides(d, &s, why, why_len) : 0;
    if (n < 0)
        return -1;
    l->provides = calloc((size_t)n + 1, sizeof *l->provides);
    if (!l->provides)
        goto no_memory;
    l->n_provides = (size_t)n;
    for (size_t i = 0; i < l->n_provides; i++)
        read_provide(d, &s, i, &l->provides[i]);
    long total = count_all_fields(l, &s, why, why_len);
    if (total < 0) {
        vpd_layout_free(l);
        return -1;
    }
    l->fields = calloc((size_t)total + 1, sizeof *l->fields);
    if (!l->fields)
        goto no_memory;
    vp_conf_field_t *next = l->fields;
    for (size_t i = 0; i < l->n_provides; i++) {
        const vp_conf_field_t *schema = l->provides[i].schema;
        if (!schema)
            continue;
        l->provides[i].schema = next;
        for (size_t k = 0;; k++) {
            read_field(schema, &s, k, next);
            next->size = next->key ? (uint32_t)sizeof *next : 0;
            if (!(next++)->key)
                break;
        }
    }
    return 0;

no_memory:
    vpd_layout_free(l);
    snprintf(why, why_len, "out of memory");
    return -1;
}

void
vpd_layout_free(vpd_layout *l)
{
    free(l->provides);
    free(l->fields);
    *l = (vpd_layout){0};
}
