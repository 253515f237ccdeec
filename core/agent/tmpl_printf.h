/* Go's fmt.Sprintf, Sprint and Sprintln over template values: the verbs
 * templates use (%v %s %d %q %x %X %o %b %c %t %e %f %g %T %%) with
 * flags, widths and precisions, and Go's exact texts for mistakes
 * ("%!d(string=x)", "%!s(MISSING)", "%!(EXTRA int=1)").
 *
 * Ownership: output is appended to the caller's buffer; arguments are
 * borrowed. */
#ifndef VPD_TMPL_PRINTF_H
#define VPD_TMPL_PRINTF_H

#include <stddef.h>

#include "agent/tmpl_value.h"
#include "base/buf.h"

int vpd_tmpl_sprintf(vpd_buf *out, const char *fmt, size_t fmt_len,
                     tmpl_value *const *args, size_t nargs);
/* Sprint: a space between two operands when neither is a string. */
int vpd_tmpl_sprint(vpd_buf *out, tmpl_value *const *args, size_t nargs);
/* Sprintln: spaces between all operands, then a newline. */
int vpd_tmpl_sprintln(vpd_buf *out, tmpl_value *const *args, size_t nargs);

#endif
