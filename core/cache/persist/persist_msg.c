/* Error messages of the persistent cache: every piece reports failures
 * as one line in a caller's buffer, never with a secret in it.
 *
 * Ownership: writes only into the caller's err buffer. */
#include "autoconf.h"

#include "cache/persist/persist_internal.h"

#include <stdarg.h>
#include <stdio.h>

int
vpd_persist_fail(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || !err_len)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    /* A message ends up in one log line; a path with a line break in it
     * must not start a forged one. */
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return -1;
}
