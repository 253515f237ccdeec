/* Configuration words: see conf_words.h.
 *
 * This file has a second user: the SDK's mock host (tests/host/mock_host.c)
 * includes it, and `make install` ships it beside mock_host.c as
 * base/conf_words.c, so that the mock reads booleans and suggests keys as
 * the daemon does.  There it must stand alone: the mock defines
 * VPD_CONF_WORDS_STATIC first, which makes these functions static and
 * skips the core's headers.  Keep it to the C standard library. */
#ifndef VPD_CONF_WORDS_STATIC
#include "autoconf.h"

#include "base/conf_words.h"
#define VPD_CONF_WORDS_LINKAGE
#else
#define VPD_CONF_WORDS_LINKAGE static
#endif

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

VPD_CONF_WORDS_LINKAGE int
vpd_parse_go_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

VPD_CONF_WORDS_LINKAGE size_t
vpd_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}
