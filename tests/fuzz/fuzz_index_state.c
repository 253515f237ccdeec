/* Fuzz target: X-Vault-Index values (plugins/consistency_vault), which
 * come from upstream answers and from clients' requests.  Input: up to
 * four header values separated by NUL bytes, merged in order into one
 * set, as a stream of answers would be. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "index_state.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[4];
    size_t l[4];
    memset(f, 0, sizeof f);
    if (fuzz_fields(data, size, f, l, 4) == 0) {
        vp_index_set set;
        memset(&set, 0, sizeof set);
        for (int i = 0; i < 4; i++) {
            vp_index_state st;
            if (vp_index_parse(f[i], &st) == 0 &&
                !memchr(st.cluster_id, '\0', sizeof st.cluster_id))
                abort();
            vp_index_merge(&set, f[i]);
            if (set.n > VP_INDEX_SET_MAX)
                abort();
            for (size_t j = 0; j < set.n; j++)
                if (!memchr(set.values[j], '\0', VP_INDEX_VALUE_MAX))
                    abort();
        }
    }
    fuzz_fields_free(f, 4);
    return 0;
}
