/* Header lists: the one container for HTTP headers, shared by the listener
 * side and the forwarder side.
 *
 * Names and values are not allocated one by one: they are bumped into
 * blocks that belong to the list, and vpd_hdrs_clear keeps the largest
 * block, so a list reused for every request (a connection's, a recycled
 * forwarder op's) stops calling malloc once it has seen its largest
 * message.  Blocks are never moved, so a name or value pointer stays
 * valid until the list is cleared or freed.
 *
 * Header values may carry tokens (X-Vault-Token, Authorization), so every
 * byte is wiped before its memory is reused or goes back to the
 * allocator. */
#include "autoconf.h"

#include "http/hdrs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Room for the headers of an ordinary request or answer in one block. */
#define FIRST_BLOCK 480

struct vpd_hdrs_block {
    struct vpd_hdrs_block *next; /* older, smaller blocks */
    size_t cap, used;
    char data[];
};

/* Room for `need` bytes in the newest block, adding a block if needed. */
static char *
bump(vpd_hdrs *h, size_t need)
{
    struct vpd_hdrs_block *b = h->mem;
    if (!b || b->cap - b->used < need) {
        size_t cap = b ? 2 * b->cap : FIRST_BLOCK;
        if (cap < need)
            cap = need;
        if (cap > SIZE_MAX - sizeof *b)
            return NULL;
        struct vpd_hdrs_block *nb = malloc(sizeof *nb + cap);
        if (!nb)
            return NULL;
        nb->next = b;
        nb->cap = cap;
        nb->used = 0;
        h->mem = b = nb;
    }
    char *p = b->data + b->used;
    b->used += need;
    return p;
}

static void
wipe_header(vpd_hdr *hd)
{
    /* The name's and the value's bytes, with both NULs: adjacent. */
    explicit_bzero(hd->name, hd->name_len + hd->value_len + 2);
}

/* Wipes and frees every block but the newest (the largest), which is
 * kept, wiped and empty, when keep is true. */
static void
release_blocks(vpd_hdrs *h, bool keep)
{
    struct vpd_hdrs_block *b = h->mem;
    if (keep && b) {
        if (b->used) /* most answers' extra header lists stay empty */
            explicit_bzero(b->data, b->used);
        b->used = 0;
        b = b->next;
        h->mem->next = NULL;
    } else {
        h->mem = NULL;
    }
    while (b) {
        struct vpd_hdrs_block *next = b->next;
        explicit_bzero(b->data, b->used);
        free(b);
        b = next;
    }
}

/* Header names compared without case.  The first bytes settle most
 * lookups without a call: letters differ in case by 0x20 only, and a byte
 * pair that only looks alike this way still goes to strcasecmp. */
static inline bool
same_name(const char *a, const char *b)
{
    return (a[0] | 0x20) == (b[0] | 0x20) && strcasecmp(a, b) == 0;
}

/* vpd_hdrs_addn when the array or the newest block has to grow (or the
 * arguments are odd): every list's first headers, then rarely. */
static int
addn_slow(vpd_hdrs *h, const char *name, size_t name_len, const char *value,
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
    if (name_len > ((size_t)-1) / 4 || value_len > ((size_t)-1) / 4)
        return -1;
    char *n = bump(h, name_len + value_len + 2);
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
    h->v[h->n].name_len = name_len;
    h->v[h->n].value_len = value_len;
    h->v[h->n].line_safe = false;
    h->n++;
    return 0;
}

/* Nearly every call finds room in the array and in the newest block (a
 * list reused per request keeps both): that case is written without the
 * checks and the calls the growing needs, which addn_slow keeps. */
int
vpd_hdrs_addn(vpd_hdrs *h, const char *name, size_t name_len, const char *value,
              size_t value_len)
{
    struct vpd_hdrs_block *b = h ? h->mem : NULL;
    /* The size guard keeps name_len + value_len + 2 from wrapping. */
    if (!b || !name || !value || h->n == h->cap ||
        ((name_len | value_len) >> (sizeof(size_t) * 8 - 2)) != 0 ||
        b->cap - b->used < name_len + value_len + 2)
        return addn_slow(h, name, name_len, value, value_len);
    char *n = b->data + b->used;
    b->used += name_len + value_len + 2;
    vpd_hdr *hd = &h->v[h->n++];
    hd->name = n;
    hd->value = n + name_len + 1;
    hd->name_len = name_len;
    hd->value_len = value_len;
    hd->line_safe = false;
    memcpy(n, name, name_len);
    n[name_len] = '\0';
    memcpy(hd->value, value, value_len);
    hd->value[value_len] = '\0';
    return 0;
}

int
vpd_hdrs_addn_checked(vpd_hdrs *h, const char *name, size_t name_len,
                      const char *value, size_t value_len)
{
    if (vpd_hdrs_addn(h, name, name_len, value, value_len) != 0)
        return -1;
    h->v[h->n - 1].line_safe = true;
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
        if (same_name(h->v[i].name, name)) {
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
        if (same_name(h->v[i].name, name))
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
        if (same_name(h->v[i].name, name)) {
            wipe_header(&h->v[i]);
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
    release_blocks(h, false);
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

void
vpd_hdrs_clear(vpd_hdrs *h)
{
    if (!h)
        return;
    release_blocks(h, true);
    h->n = 0;
}

void
vpd_hdrs_truncate(vpd_hdrs *h, size_t n)
{
    if (!h)
        return;
    for (size_t i = n; i < h->n; i++)
        wipe_header(&h->v[i]);
    if (n < h->n)
        h->n = n;
}
