/* Small text helpers shared by the config layers.
 * Ownership: nothing is allocated or retained. */
#ifndef VPD_TEXTUTIL_H
#define VPD_TEXTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* vpd_parse_go_bool and vpd_edit_distance, which the SDK's mock host
 * compiles too. */
#include "base/conf_words.h"

/* User text (keys, values) made safe for a one-line message: control
 * characters and quotes become '?', more than 60 bytes end in "...".
 * Returns one of a few rotating static buffers, so one message can show
 * several; valid until four more calls. */
const char *vpd_msg_text(const char *s);

/* The value of one hexadecimal digit (either case), or -1. */
int vpd_hex_value(char c);

/* Writes the decimal digits of v backwards from the end of buf (cap
 * bytes, no NUL) and returns where they start: a length for a header
 * without snprintf. */
char *vpd_decimal_backwards(char *buf, size_t cap, unsigned long long v);

#endif
