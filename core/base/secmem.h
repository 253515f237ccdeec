/* Secret memory: buffers for tokens, secret IDs and keys that are wiped
 * when they are released, so a secret does not outlive its use in freed
 * heap memory.  Plugins reach the same functions through the host table
 * (secret_dup, secret_free).
 *
 * Ownership: vpd_secret_dup returns a buffer the caller owns and releases
 * with vpd_secret_free, never with free(). */
#ifndef VPD_SECMEM_H
#define VPD_SECMEM_H

#include <stddef.h>

/* Copies len bytes of s and a terminating NUL into a new secret buffer.
 * Returns NULL when out of memory. */
char *vpd_secret_dup(const char *s, size_t len);

/* Wipes the whole buffer and frees it; NULL is ignored. */
void vpd_secret_free(char *s);

#endif
