/* Fuzz target: the host's json_get_string (core/plugin/host_table.c), through
 * which auth plugins read upstream's login answers ("auth.client_token",
 * "data.secret_id").  Input: a dotted path, a NUL byte, then the JSON
 * document, which gets an exact-size buffer without a NUL: the host
 * takes a length, and answers from the forwarder are not re-terminated
 * by every caller. */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "plugin/host_table.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const vp_host_api_t *host = vpd_host_api();
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : 0;
    size_t jlen = nul ? size - plen - 1 : size;
    char *path = malloc(plen + 1);
    char *json = malloc(jlen ? jlen : 1);
    if (path && json) {
        memcpy(path, data, plen);
        path[plen] = '\0';
        if (jlen)
            memcpy(json, data + size - jlen, jlen);
        const char *paths[] = {path, "auth.client_token", "data.secret_id"};
        for (size_t i = 0; i < 3; i++) {
            char *out = NULL;
            if (host->json_get_string(json, jlen, paths[i], &out) == 0) {
                if (!out)
                    abort(); /* 0 promises a string */
                host->secret_free(out);
            }
        }
    }
    free(path);
    free(json);
    return 0;
}
