/* Growth doubles the capacity so appends are amortised O(1). */
#include "autoconf.h"

#include "base/buf.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
vpd_buf_reserve(vpd_buf *b, size_t extra)
{
    if (extra > ((size_t)-1) / 2 - b->len)
        return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int
vpd_buf_append(vpd_buf *b, const void *data, size_t len)
{
    if (vpd_buf_reserve(b, len) != 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int
vpd_buf_append_str(vpd_buf *b, const char *s)
{
    return vpd_buf_append(b, s, strlen(s));
}

int
vpd_buf_printf(vpd_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || vpd_buf_reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void
vpd_buf_reset(vpd_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void
vpd_buf_free(vpd_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void
vpd_buf_free_secret(vpd_buf *b)
{
    if (b->data)
        OPENSSL_cleanse(b->data, b->cap);
    vpd_buf_free(b);
}

char *
vpd_buf_steal(vpd_buf *b)
{
    if (vpd_buf_reserve(b, 0) != 0)
        return NULL;
    char *p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
