/* Whole reads and writes on the store's files, and reading one sealed
 * record back and opening it: what replay, restore, compaction and the
 * writes share.
 *
 * Ownership: the caller owns the buffers; a record buffer grown here
 * replaces the old one after wiping it, and vpd_persist_wipe_free wipes
 * before freeing since opened records hold plaintext. */
#include "autoconf.h"

#include "cache/persist/persist_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* Every write of every store goes through here (see persist.h). */
static vpd_persist_pwrite_fn write_call = pwrite;

void
vpd_persist_set_pwrite(vpd_persist_pwrite_fn fn)
{
    write_call = fn ? fn : pwrite;
}

int
vpd_persist_pwrite_all(int fd, const uint8_t *buf, size_t n, uint64_t off)
{
    while (n) {
        ssize_t w = write_call(fd, buf, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        buf += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Returns the bytes read (fewer at the end of the file) or -1. */
ssize_t
vpd_persist_pread_all(int fd, uint8_t *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Reads and opens the record at off (whole length len) into *buf (grown
 * as needed, wiped by the caller).  Returns 0 or -1. */
int
vpd_persist_load_record_at(int fd, const uint8_t dk[VPD_PERSIST_KEY_LEN],
                           uint64_t off, uint32_t len, uint8_t **buf,
                           size_t *cap)
{
    if (len < VPD_PERSIST_REC_HDR + VPD_PERSIST_TAG_LEN + 1)
        return -1;
    if (*cap < len) {
        uint8_t *nb = malloc(len);
        if (!nb)
            return -1;
        if (*buf) {
            OPENSSL_cleanse(*buf, *cap);
            free(*buf);
        }
        *buf = nb;
        *cap = len;
    }
    if (vpd_persist_pread_all(fd, *buf, len, off) != (ssize_t)len)
        return -1;
    uint32_t n = vpd_persist_be32_get(*buf);
    if ((uint64_t)n + VPD_PERSIST_REC_HDR + VPD_PERSIST_TAG_LEN != len)
        return -1;
    return vpd_persist_open_record(dk, *buf, n);
}

int
vpd_persist_load_record(vpd_persist *p, uint64_t off, uint32_t len,
                        uint8_t **buf, size_t *cap)
{
    return vpd_persist_load_record_at(p->fd, p->dk, off, len, buf, cap);
}

void
vpd_persist_wipe_free(uint8_t *buf, size_t cap)
{
    if (buf) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
    }
}
