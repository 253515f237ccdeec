/* Line, column and positioned messages for templates (tmpl_pos.h). */
#include "autoconf.h"

#include "agent/tmpl_pos.h"

#include <stdio.h>

void
vpd_tmpl_line_col(const char *src, size_t off, int *line, int *col)
{
    int l = 1;
    size_t start = 0;
    for (size_t i = 0; i < off; i++)
        if (src[i] == '\n') {
            l++;
            start = i + 1;
        }
    *line = l;
    *col = (int)(off - start) + 1;
}

void
vpd_tmpl_vmsg_at(char *err, size_t errlen, const char *name, const char *src,
                 size_t off, const char *fmt, va_list ap)
{
    int line, col;
    vpd_tmpl_line_col(src, off, &line, &col);
    int n = snprintf(err, errlen, "%s:%d:%d: ", name, line, col);
    /* A name too long for the buffer leaves no room for the message; the
     * position is the more useful half to keep. */
    if (n >= 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
}
