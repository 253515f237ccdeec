/* The target byte check: a word at a time, by the usual carry tricks, and
 * a table for the last bytes and for a word the tricks flag. */
#include "autoconf.h"

#include "http/target_bytes.h"

#include <stdint.h>
#include <string.h>

#define BAD_RANGE(lo, hi) [lo... hi] = 1
static const unsigned char bad_target_byte[256] = {
    BAD_RANGE(0x00, 0x20),
    ['#'] = 1,
    [0x7f] = 1,
};

#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

/* Non-zero when some byte of x is below n (n at most 0x80): the
 * subtraction borrows into a byte's high bit only where the byte is
 * smaller, and ~x keeps bytes of 0x80 and more out. */
static inline uint64_t
some_byte_below(uint64_t x, unsigned n)
{
    return (x - ONES * n) & ~x & HIGHS;
}

/* Non-zero when some byte of x is b. */
static inline uint64_t
some_byte_is(uint64_t x, unsigned char b)
{
    return some_byte_below(x ^ (ONES * b), 1);
}

static bool
bytes_ok(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (bad_target_byte[p[i]])
            return false;
    return true;
}

bool
vpd_target_bytes_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        /* The tricks say exactly whether some byte is bad; the table
         * confirms it, at no cost to a word that passes. */
        if ((some_byte_below(x, 0x21) | some_byte_is(x, '#') |
             some_byte_is(x, 0x7f)) &&
            !bytes_ok(p, 8))
            return false;
    }
    return bytes_ok(p, n);
}
