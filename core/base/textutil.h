/* Small text helpers shared by the config layers.
 * Ownership: nothing is allocated or retained. */
#ifndef VPD_TEXTUTIL_H
#define VPD_TEXTUTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Go's strconv.ParseBool spellings, which Vault accepts in strings:
 * 1 t T TRUE true True / 0 f F FALSE false False.  Returns 0 or -1. */
int vpd_parse_go_bool(const char *s, bool *out);

/* Levenshtein distance, for "did you mean" suggestions; strings longer
 * than 64 bytes count as far apart. */
size_t vpd_edit_distance(const char *a, const char *b);

/* User text (keys, values) made safe for a one-line message: control
 * characters and quotes become '?', more than 60 bytes end in "...".
 * Returns one of a few rotating static buffers, so one message can show
 * several; valid until four more calls. */
const char *vpd_msg_text(const char *s);

#endif
