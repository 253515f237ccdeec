/* Free lists by size class.  Every block starts with a header that says
 * its class (or that it came from malloc, and its size), so that free and
 * realloc need no size from the caller, as nghttp2's allocator interface
 * wants.  The header is as large as max_align_t so the block after it
 * stays aligned for anything. */
#include "autoconf.h"

#include "http/h2_pool.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SMALLEST 64
#define BIG VPD_H2_POOL_CLASSES /* the class of a block from malloc */

typedef union {
    struct {
        size_t cls;  /* 0 .. VPD_H2_POOL_CLASSES - 1, or BIG */
        size_t size; /* usable bytes after the header */
    } h;
    max_align_t align;
} block_head;

/* A free block's first bytes after the header link it into its list. */
typedef struct free_block {
    struct free_block *next;
} free_block;

static size_t
class_of(size_t size)
{
    size_t cls = 0;
    for (size_t cap = SMALLEST; cap < size; cap <<= 1)
        if (++cls == VPD_H2_POOL_CLASSES)
            return BIG;
    return cls;
}

static block_head *
head_of(void *ptr)
{
    return (block_head *)ptr - 1;
}

void *
vpd_h2_pool_alloc(vpd_h2_pool *pool, size_t size)
{
    size_t cls = class_of(size);
    if (cls != BIG && pool->free_list[cls]) {
        free_block *b = pool->free_list[cls];
        pool->free_list[cls] = b->next;
        pool->kept[cls]--;
        return b;
    }
    size_t usable = cls == BIG ? size : (size_t)SMALLEST << cls;
    if (usable > SIZE_MAX - sizeof(block_head))
        return NULL;
    block_head *h = malloc(sizeof *h + usable);
    if (!h)
        return NULL;
    h->h.cls = cls;
    h->h.size = usable;
    return h + 1;
}

void *
vpd_h2_pool_zalloc(vpd_h2_pool *pool, size_t size)
{
    void *p = vpd_h2_pool_alloc(pool, size);
    if (p)
        memset(p, 0, size);
    return p;
}

void
vpd_h2_pool_free(vpd_h2_pool *pool, void *ptr)
{
    if (!ptr)
        return;
    block_head *h = head_of(ptr);
    size_t cls = h->h.cls;
    if (cls == BIG || pool->kept[cls] >= VPD_H2_POOL_KEEP) {
        free(h);
        return;
    }
    free_block *b = ptr;
    b->next = pool->free_list[cls];
    pool->free_list[cls] = b;
    pool->kept[cls]++;
}

static void *
pool_realloc(vpd_h2_pool *pool, void *ptr, size_t size)
{
    if (!ptr)
        return vpd_h2_pool_alloc(pool, size);
    if (!size) {
        vpd_h2_pool_free(pool, ptr);
        return NULL;
    }
    size_t had = head_of(ptr)->h.size;
    if (size <= had)
        return ptr;
    void *p = vpd_h2_pool_alloc(pool, size);
    if (!p)
        return NULL; /* ptr stays valid, as with realloc */
    memcpy(p, ptr, had);
    vpd_h2_pool_free(pool, ptr);
    return p;
}

static void *
mem_malloc(size_t size, void *user)
{
    return vpd_h2_pool_alloc(user, size);
}

static void
mem_free(void *ptr, void *user)
{
    vpd_h2_pool_free(user, ptr);
}

static void *
mem_calloc(size_t n, size_t size, void *user)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return vpd_h2_pool_zalloc(user, n * size);
}

static void *
mem_realloc(void *ptr, size_t size, void *user)
{
    return pool_realloc(user, ptr, size);
}

void
vpd_h2_pool_mem(vpd_h2_pool *pool, nghttp2_mem *mem)
{
    *mem = (nghttp2_mem){pool, mem_malloc, mem_free, mem_calloc, mem_realloc};
}

void
vpd_h2_pool_clear(vpd_h2_pool *pool)
{
    for (size_t cls = 0; cls < VPD_H2_POOL_CLASSES; cls++) {
        while (pool->free_list[cls]) {
            free_block *b = pool->free_list[cls];
            pool->free_list[cls] = b->next;
            free(head_of(b));
        }
        pool->kept[cls] = 0;
    }
}
