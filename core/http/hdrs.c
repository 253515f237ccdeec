/* Header lists: the one container for HTTP headers, shared by the listener
 * side and the forwarder side.
 *
 * Header values may carry tokens (X-Vault-Token, Authorization), so every
 * value is wiped before its memory goes back to the allocator. */
#include "autoconf.h"

#include "http/hdrs.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A header is one allocation, "name\0value\0": half the malloc calls of
 * two copies, on the path every request takes several times. */
static void
free_header(vpd_hdr *hd)
{
    if (hd->value)
        explicit_bzero(hd->value, strlen(hd->value));
    free(hd->name);
}

int
vpd_hdrs_addn(vpd_hdrs *h, const char *name, size_t name_len, const char *value,
              size_t value_len)
{
    if (!h || !name)
        return -1;
    if (!value) {
        value = "";
        value_len = 0;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        if (cap > ((size_t)-1) / sizeof(vpd_hdr))
            return -1;
        vpd_hdr *v = realloc(h->v, cap * sizeof(vpd_hdr));
        if (!v)
            return -1;
        h->v = v;
        h->cap = cap;
    }
    if (name_len > ((size_t)-1) / 2 || value_len > ((size_t)-1) / 2)
        return -1;
    char *n = malloc(name_len + value_len + 2);
    if (!n)
        return -1;
    memcpy(n, name, name_len);
    n[name_len] = '\0';
    char *val = n + name_len + 1;
    if (value_len)
        memcpy(val, value, value_len);
    val[value_len] = '\0';
    h->v[h->n].name = n;
    h->v[h->n].value = val;
    h->n++;
    return 0;
}

int
vpd_hdrs_add(vpd_hdrs *h, const char *name, const char *value)
{
    if (!name)
        return -1;
    return vpd_hdrs_addn(h, name, strlen(name), value,
                         value ? strlen(value) : 0);
}

const char *
vpd_hdrs_get(const vpd_hdrs *h, const char *name, size_t idx)
{
    if (!h || !name)
        return NULL;
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->v[i].name, name) == 0) {
            if (idx == 0)
                return h->v[i].value;
            idx--;
        }
    }
    return NULL;
}

size_t
vpd_hdrs_count(const vpd_hdrs *h, const char *name)
{
    size_t c = 0;
    if (!h || !name)
        return 0;
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->v[i].name, name) == 0)
            c++;
    return c;
}

size_t
vpd_hdrs_del(vpd_hdrs *h, const char *name)
{
    size_t gone = 0, j = 0;
    if (!h || !name)
        return 0;
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->v[i].name, name) == 0) {
            free_header(&h->v[i]);
            gone++;
        } else {
            h->v[j++] = h->v[i];
        }
    }
    h->n = j;
    return gone;
}

int
vpd_hdrs_copy(vpd_hdrs *dst, const vpd_hdrs *src)
{
    if (!dst)
        return -1;
    if (!src)
        return 0;
    for (size_t i = 0; i < src->n; i++)
        if (vpd_hdrs_add(dst, src->v[i].name, src->v[i].value) != 0)
            return -1;
    return 0;
}

void
vpd_hdrs_free(vpd_hdrs *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++) {
        free_header(&h->v[i]);
    }
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

void
vpd_hdrs_clear(vpd_hdrs *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        free_header(&h->v[i]);
    h->n = 0;
}

void
vpd_hdrs_truncate(vpd_hdrs *h, size_t n)
{
    if (!h)
        return;
    for (size_t i = n; i < h->n; i++)
        free_header(&h->v[i]);
    if (n < h->n)
        h->n = n;
}
