/* Recycled memory for one HTTP/2 connection: nghttp2 allocates a stream,
 * an outbound item and a copy of the answer's header list for every
 * stream, and frees them when the stream closes; the connection's own
 * stream records come and go at the same pace.  Blocks of a few sizes are
 * kept on free lists and handed out again, instead of a malloc and a free
 * each time.  Larger blocks go to malloc directly.
 *
 * Ownership: the connection embeds the pool; blocks handed out belong to
 * their user (nghttp2 or the stream) until given back.  The lists keep at
 * most VPD_H2_POOL_KEEP blocks of each size, and vpd_h2_pool_clear frees
 * them; it runs after nghttp2_session_del, which gives every block back.
 * Loop thread only. */
#ifndef VPD_H2_POOL_H
#define VPD_H2_POOL_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>

/* Size classes of 64, 128, 256, 512 and 1024 bytes. */
#define VPD_H2_POOL_CLASSES 5
/* Blocks kept per class: a burst of streams (h2load -m10, a browser's
 * page) is served from the lists; at most about 30 KiB stay per
 * connection. */
#define VPD_H2_POOL_KEEP 16

typedef struct {
    void *free_list[VPD_H2_POOL_CLASSES];
    unsigned kept[VPD_H2_POOL_CLASSES];
} vpd_h2_pool;

/* An allocator for nghttp2_session_server_new3 that draws on pool. */
void vpd_h2_pool_mem(vpd_h2_pool *pool, nghttp2_mem *mem);

/* Like malloc, calloc and free, from the pool. */
void *vpd_h2_pool_alloc(vpd_h2_pool *pool, size_t size);
void *vpd_h2_pool_zalloc(vpd_h2_pool *pool, size_t size);
void vpd_h2_pool_free(vpd_h2_pool *pool, void *ptr);

/* Frees the blocks on the lists. */
void vpd_h2_pool_clear(vpd_h2_pool *pool);

#endif
