/* The functions a template may call: Go's text/template builtins (and,
 * or, not, eq, ne, lt, le, gt, ge, index, len, print, printf, println)
 * and consul-template's that Vault users need (secret, secrets, pkiCert,
 * env, file, base64 and JSON/YAML helpers, string helpers).  The
 * compiler looks names up here, so an unknown function or a wrong
 * argument count is a compile error, never a render error.
 *
 * Ownership: the table is static.  A function gets borrowed arguments
 * and returns one new reference in *out (NULL is nil).  On failure it
 * returns -1 with the message in the call's err. */
#ifndef VPD_TMPL_FUNCS_H
#define VPD_TMPL_FUNCS_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/tmpl_env.h"
#include "agent/tmpl_value.h"

/* The state a call may touch besides its arguments. */
typedef struct {
    const tmpl_env *env; /* NULL: every Vault read answers "not yet" */
    tmpl_deps *deps;     /* NULL: requests are not recorded */
    bool incomplete;     /* set when some answer was "not yet" */
    char *err;
    size_t errlen;
} tmpl_call;

typedef int (*tmpl_fn)(tmpl_call *c, tmpl_value *const *args, size_t nargs,
                       tmpl_value **out);

typedef struct {
    const char *name;
    int min_args, max_args; /* max -1: any number */
    tmpl_fn fn;
} tmpl_func;

const tmpl_func *vpd_tmpl_func_lookup(const char *name);

#endif
