/* The request target byte check (http/target_bytes): every byte value at
 * every position of targets long enough for whole words and a tail, so
 * that the word-at-a-time path and the table agree on each byte. */
#include "autoconf.h"

#include <stdbool.h>
#include <string.h>

#include "http/target_bytes.h"
#include "test.h"

static bool
bad_byte(unsigned char c)
{
    return c <= 0x20 || c == '#' || c == 0x7f;
}

TEST(every_byte_at_every_position)
{
    char t[32];
    for (size_t len = 1; len <= sizeof t; len++) {
        for (size_t pos = 0; pos < len; pos++) {
            for (unsigned b = 0; b < 256; b++) {
                memset(t, 'a', sizeof t);
                t[pos] = (char)b;
                if (vpd_target_bytes_ok(t, len) == bad_byte((unsigned char)b))
                    TEST_FAIL_("byte 0x%02x at %zu of %zu misjudged", b, pos,
                               len);
            }
        }
    }
}

/* Bytes next to the bad ones, many in a word: no borrow between bytes
 * makes a good word look bad or a bad one good. */
TEST(neighbours_of_bad_bytes)
{
    static const char good[] = "/v1/!\"$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"
                               "\x80\x81\xa0\xa3\xff\xfe";
    ASSERT(vpd_target_bytes_ok(good, sizeof good - 1));
    ASSERT(vpd_target_bytes_ok("", 0));
    ASSERT(!vpd_target_bytes_ok("/v1/a#b/c/d/e/f", 15));
    ASSERT(!vpd_target_bytes_ok("/v1/abcdefg\x7f", 12));
    ASSERT(!vpd_target_bytes_ok("/v1/abc\0defgh", 12));
    ASSERT(!vpd_target_bytes_ok("\x21\x22\x20\x24\x80\x81\x82\x83", 8));
}

int
main(void)
{
    return RUN_TESTS(T(every_byte_at_every_position),
                     T(neighbours_of_bad_bytes));
}
