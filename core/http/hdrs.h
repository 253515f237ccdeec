/* Header lists: an ordered list of (name, value) pairs in wire order and
 * original case, with case-insensitive lookups.  A pure module: it knows
 * nothing of listeners, connections or the config.
 *
 * Ownership: a vpd_hdrs owns every name and value in it: NUL-terminated
 * copies kept in blocks of its own (`mem`), name and value adjacent.  A
 * name or value stays where it is until the list is cleared or freed;
 * removing a header (vpd_hdrs_del, vpd_hdrs_truncate) wipes its bytes but
 * gives the room back only then.  Values may hold tokens, so every byte is
 * wiped before its memory is reused or freed.  A list may be moved by
 * copying the struct and zeroing the source. */
#ifndef VPD_HDRS_H
#define VPD_HDRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *name;
    char *value;
    /* Their lengths without the NUL, set when the header is added: the
     * filters and the wipe read them instead of measuring every time. */
    size_t name_len, value_len;
    /* Known to hold no CR, LF or NUL (vpd_hdrs_addn_checked): a writer
     * puts it on a header line without looking at its bytes again. */
    bool line_safe;
} vpd_hdr;

struct vpd_hdrs_block;

typedef struct {
    vpd_hdr *v;
    size_t n;
    size_t cap;
    struct vpd_hdrs_block *mem; /* the bytes of names and values */
} vpd_hdrs;

/* Each add copies name and value.  Returns 0 or -1 (out of memory). */
int vpd_hdrs_add(vpd_hdrs *h, const char *name, const char *value);
int vpd_hdrs_addn(vpd_hdrs *h, const char *name, size_t name_len,
                  const char *value, size_t value_len);
/* As vpd_hdrs_addn, for a caller that has checked that name and value
 * hold no CR, LF or NUL (a parser that read them off a header line): the
 * header is marked line_safe. */
int vpd_hdrs_addn_checked(vpd_hdrs *h, const char *name, size_t name_len,
                          const char *value, size_t value_len);
/* The idx-th value of a header (case-insensitive name), or NULL. */
const char *vpd_hdrs_get(const vpd_hdrs *h, const char *name, size_t idx);
size_t vpd_hdrs_count(const vpd_hdrs *h, const char *name);
/* Removes every header with that name; returns how many went. */
size_t vpd_hdrs_del(vpd_hdrs *h, const char *name);
/* Appends a copy of every header of src to dst (dst zeroed or in use).
 * Returns 0 or -1 (out of memory; dst keeps what was added). */
int vpd_hdrs_copy(vpd_hdrs *dst, const vpd_hdrs *src);
/* Frees every name and value (values are wiped first: they may be tokens)
 * and leaves h empty and reusable. */
void vpd_hdrs_free(vpd_hdrs *h);
/* Frees the headers from index n on (wiping their values); the first n
 * stay as they are. */
void vpd_hdrs_truncate(vpd_hdrs *h, size_t n);
/* Like vpd_hdrs_free, but keeps the array and one block of memory for
 * reuse (h->n becomes 0): a list refilled for every request then
 * allocates nothing. */
void vpd_hdrs_clear(vpd_hdrs *h);

/* Header lines.  Inline: the answer writers run these for every header
 * of every answer. */

/* How many of the len bytes at s may go on a header line: up to the
 * first NUL (where the C string ends), or SIZE_MAX when a CR or LF comes
 * first (it could smuggle header lines).  Byte by byte. */
static inline size_t
vpd_hdr_line_len_bytes(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x0e)
            continue;
        if (c == '\0')
            return i;
        if (c == '\r' || c == '\n')
            return SIZE_MAX;
    }
    return len;
}

/* The same answer as vpd_hdr_line_len_bytes, eight bytes at a time for
 * strings of eight or more (the last word overlaps the one before it):
 * one test per word finds the bytes below 0x0e, and only those are looked
 * at (mostly a tab, or nothing).  The test marks the lowest such byte
 * exactly; one it marks above it may be a false alarm, which looking at
 * the byte settles. */
static inline size_t
vpd_hdr_line_len(const char *s, size_t len)
{
    const uint64_t ones = UINT64_C(0x0101010101010101),
                   highs = UINT64_C(0x8080808080808080);
    if (len < 8)
        return vpd_hdr_line_len_bytes(s, len);
    size_t i = 0; /* the first byte not looked at yet */
    for (;;) {
        size_t at = len - i < 8 ? len - 8 : i;
        uint64_t w;
        memcpy(&w, s + at, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        uint64_t m = (w - ones * 0x0e) & ~w & highs;
        m &= ~UINT64_C(0) << (8 * (i - at)); /* bytes before i are done */
        if (m) {
            size_t j = at + ((unsigned)__builtin_ctzll(m) >> 3);
            if (s[j] == '\0')
                return j;
            if (s[j] == '\r' || s[j] == '\n')
                return SIZE_MAX;
            i = j + 1;
            if (i >= len)
                return len;
            continue;
        }
        if (at + 8 >= len)
            return len;
        i = at + 8;
    }
}

/* The lengths of a header's name and value as they go on a header line
 * (vpd_hdr_line_len, skipped for a line_safe header).  False when the
 * header must not be written: an empty name, or CR or LF in either.  The
 * name and value must not be NULL. */
static inline bool
vpd_hdr_line_lens(const vpd_hdr *h, size_t *nl, size_t *vl)
{
    *nl = h->name_len;
    *vl = h->value_len;
    if (!h->line_safe) {
        *nl = vpd_hdr_line_len(h->name, *nl);
        *vl = vpd_hdr_line_len(h->value, *vl);
    }
    return *nl != 0 && *nl != SIZE_MAX && *vl != SIZE_MAX;
}

#endif
