/* Fuzz target: the wrap_info text a sink writes, taken from an upstream
 * answer to a wrapped login or a sink with wrap_ttl.  The answer is
 * upstream's JSON: any bytes. */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "base/secmem.h"
#include "fuzz.h"
#include "auth/wrap_info.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact copy without a NUL: the function takes a length and must
     * not read past it. */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    char *text = vpd_wrap_info_text(copy, size);
    if (text) {
        size_t n = strlen(text);
        if (n == 0 || text[n - 1] != '\n')
            abort(); /* sinks expect one line */
        vpd_secret_free(text);
    }
    free(copy);
    return 0;
}
