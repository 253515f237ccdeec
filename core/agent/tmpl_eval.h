/* The evaluator: runs a compiled template's instructions against a dot
 * value and appends what it prints to a buffer.  It owns no state
 * between renders, so one compiled template can be rendered any number
 * of times (and from several renders at once).
 *
 * Ownership: the program, the call state and the dot stay the caller's;
 * the evaluator takes its own references where it keeps values and
 * drops them all before returning. */
#ifndef VPD_TMPL_EVAL_H
#define VPD_TMPL_EVAL_H

#include <stddef.h>

#include "agent/tmpl_compile.h"
#include "agent/tmpl_funcs.h"

/* Limits that keep a hostile or mistaken template from running forever
 * (Go has none but its recursion depth); 0 means the default. */
typedef struct {
    size_t max_steps; /* instructions executed; default unlimited */
    size_t max_depth; /* nested {{template}} calls; default 1000 */
    /* Bytes printed, and the longest string a function may return;
     * default unlimited. */
    size_t max_output;
} tmpl_limits;

/* Returns 0, or -1 with "file:line:col: executing \"name\" at <...>: why"
 * in call->err (what was printed so far stays in out). */
int vpd_tmpl_eval(const tmpl_program *p, tmpl_call *call,
                  const tmpl_limits *limits, tmpl_value *dot, vpd_buf *out);

#endif
