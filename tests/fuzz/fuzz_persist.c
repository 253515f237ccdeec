/* Fuzz target: the persistent cache's record payloads, as replay and
 * restore decode them once a record's tag has checked out
 * (vpd_persist_decode).  The tag only proves who wrote a record, not
 * that the writer was this version or bug-free, so the decoder must
 * still refuse rather than crash on anything.
 *
 * Input: payloads, each a 2-byte big-endian length and that many bytes
 * (a short last one takes what is left). */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "cache/persist.h"

#define MAX_RECORDS 64

/* Reads every string of a restored entry to its NUL, as the lease cache
 * and the cache plugin do when they copy it. */
static int
check_entry(void *arg, const vp_cache_entry_t *e)
{
    size_t *sum = arg;
    const char *s[] = {e->id,    e->namespace_,     e->request_path,
                       e->token, e->token_accessor, e->token_parent,
                       e->lease, e->lease_token};
    if (!e->id)
        abort(); /* restore keys every entry by its id */
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        if (s[i])
            *sum += strlen(s[i]);
    if (e->response.len)
        *sum += (unsigned char)e->response.ptr[e->response.len - 1];
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *pl[MAX_RECORDS] = {0};
    size_t len[MAX_RECORDS] = {0}, n = 0, pos = 0;
    /* Each payload in its own exact-size buffer, so ASan catches a read
     * past one payload's end even where the next would follow it. */
    while (pos < size && n < MAX_RECORDS) {
        size_t want =
            pos + 1 < size ? (size_t)data[pos] << 8 | data[pos + 1] : 0;
        pos += 2;
        size_t have = pos < size ? size - pos : 0;
        size_t l = want < have ? want : have;
        if (!(pl[n] = malloc(l ? l : 1)))
            break;
        if (l)
            memcpy(pl[n], data + pos, l);
        len[n++] = l;
        pos += l;
    }
    size_t sum = 0;
    char err[512];
    (void)vpd_persist_decode((const uint8_t *const *)pl, len, n, check_entry,
                             &sum, err, sizeof err);
    for (size_t i = 0; i < n; i++)
        free(pl[i]);
    return 0;
}
