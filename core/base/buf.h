/* A growable byte buffer, always NUL-terminated so text can be used as a
 * C string.
 *
 * Ownership: the buffer owns `data`; vpd_buf_free releases it.
 * vpd_buf_steal hands `data` to the caller (free with free()). */
#ifndef VPD_BUF_H
#define VPD_BUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} vpd_buf;

#define VPD_BUF_INIT                                                           \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

/* Each returns 0, or -1 when memory runs out (the buffer is left intact). */
int vpd_buf_reserve(vpd_buf *b, size_t extra);
int vpd_buf_append(vpd_buf *b, const void *data, size_t len);
int vpd_buf_append_str(vpd_buf *b, const char *s);
int vpd_buf_printf(vpd_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void vpd_buf_reset(vpd_buf *b);
void vpd_buf_free(vpd_buf *b);
/* Like vpd_buf_free, but wipes the bytes first: for tokens and bodies. */
void vpd_buf_free_secret(vpd_buf *b);
char *vpd_buf_steal(vpd_buf *b);

#endif
