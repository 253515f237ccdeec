/* How configuration words are read and compared: Go's boolean spellings
 * and the edit distance behind "did you mean" suggestions.  The config
 * layers use them, and the plugin schema checks, which the SDK's mock
 * host compiles too (see conf_words.c).
 *
 * Ownership: nothing is allocated or retained. */
#ifndef VPD_CONF_WORDS_H
#define VPD_CONF_WORDS_H

#include <stdbool.h>
#include <stddef.h>

/* Go's strconv.ParseBool spellings, which Vault accepts in strings:
 * 1 t T TRUE true True / 0 f F FALSE false False.  Returns 0 or -1. */
int vpd_parse_go_bool(const char *s, bool *out);

/* Levenshtein distance, for "did you mean" suggestions; strings longer
 * than 64 bytes count as far apart. */
size_t vpd_edit_distance(const char *a, const char *b);

#endif
