/* Secret buffers: see secmem.h. */
#include "autoconf.h"

#include "base/secmem.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

/* A secret buffer remembers its size just before the bytes handed out, so
 * vpd_secret_free can wipe all of it without being told the length. */
char *
vpd_secret_dup(const char *s, size_t len)
{
    size_t *block = malloc(sizeof(size_t) + len + 1);
    if (!block)
        return NULL;
    block[0] = len + 1;
    char *out = (char *)(block + 1);
    if (len)
        memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

void
vpd_secret_free(char *s)
{
    if (!s)
        return;
    size_t *block = (size_t *)s - 1;
    OPENSSL_cleanse(s, block[0]);
    free(block);
}
