/* Positions in a template's source: the line and column of a byte offset,
 * and the "name:line:col: what went wrong" messages that the lexer, the
 * parser, the compiler and the evaluator all give in the same form.
 *
 * Ownership: nothing is allocated; messages go into the caller's buffer,
 * cut to its size. */
#ifndef VPD_TMPL_POS_H
#define VPD_TMPL_POS_H

#include <stdarg.h>
#include <stddef.h>

/* The 1-based line and byte column of `off` in `src`. */
void vpd_tmpl_line_col(const char *src, size_t off, int *line, int *col);

/* Writes "name:line:col: " for `off` in `src`, then the message, into
 * err (errlen bytes, always terminated when errlen > 0). */
void vpd_tmpl_vmsg_at(char *err, size_t errlen, const char *name,
                      const char *src, size_t off, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

#endif
