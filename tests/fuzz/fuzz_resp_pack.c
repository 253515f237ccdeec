/* Fuzz target: a stored cache answer read back (vpd_resp_unpack, then
 * the lease cache's vpd_lc_parse_stored, as a cache hit does).  Stored
 * bytes come from the persistent cache file and a cache plugin, so they
 * may be damaged or from another version.  Every text that unpacks is
 * also packed again and must come back the same. */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http/http.h"
#include "cache/lease_cache.h"
#include "cache/resp_pack.h"

static vpd_resp_packer *packer;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!packer && !(packer = vpd_resp_pack_new()))
        return 0;
    size_t len = 0;
    char *text = vpd_resp_unpack(packer, (const char *)data, size, &len);
    if (!text)
        return 0;
    if (text[len] != '\0')
        abort();

    size_t plen = 0, back_len = 0;
    char *packed = vpd_resp_pack(packer, text, len, &plen);
    if (packed) {
        char *back = vpd_resp_unpack(packer, packed, plen, &back_len);
        if (!back || back_len != len || memcmp(back, text, len) != 0)
            abort(); /* pack and unpack disagree */
        free(back);
        free(packed);
    }

    vpd_lc_hit hit;
    memset(&hit, 0, sizeof hit);
    if (vpd_lc_parse_stored(text, len, &hit) == 0) {
        for (size_t i = 0; i < hit.headers.n; i++)
            if (!hit.headers.v[i].name || !hit.headers.v[i].value)
                abort();
        if (hit.body[hit.body_len] != '\0')
            abort();
        free(hit.body);
    }
    vpd_hdrs_free(&hit.headers);
    return 0;
}
