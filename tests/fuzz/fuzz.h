/* Shared by the fuzz targets: the libFuzzer entry point's prototype and a
 * splitter that cuts one input into several fields, so a target that
 * takes several strings (a path, a token, a body) gets them all from one
 * byte string the fuzzer can mutate freely. */
#ifndef VP_FUZZ_H
#define VP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fields are separated by the byte 0x00, so each field is a C string in
 * its own malloc'd copy (exact size: ASan sees any read past the end).
 * Missing fields are empty strings.  Returns 0, or -1 when out of memory
 * (the caller then frees what it got and returns). */
static inline int
fuzz_fields(const uint8_t *data, size_t size, char **out, size_t *lens,
            size_t n)
{
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *nul =
            pos < size ? memchr(data + pos, 0, size - pos) : NULL;
        size_t len = pos < size ? (nul ? (size_t)(nul - data) : size) - pos : 0;
        if (i == n - 1 && pos < size)
            len = size - pos; /* the last field keeps any further NULs */
        out[i] = malloc(len + 1);
        if (!out[i])
            return -1;
        if (len)
            memcpy(out[i], data + pos, len);
        out[i][len] = '\0';
        lens[i] = len;
        pos += len + 1;
    }
    return 0;
}

static inline void
fuzz_fields_free(char **f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(f[i]);
}

#endif
