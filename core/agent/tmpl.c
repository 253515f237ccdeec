/* The public face of the template library: compile = parse + compile,
 * render = evaluate with the host's env. */
#include "autoconf.h"

#include "agent/tmpl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tmpl_compile.h"
#include "agent/tmpl_eval.h"

struct tmpl_template {
    tmpl_program *prog;
    tmpl_limits limits;
};

tmpl_template *
vpd_tmpl_compile(const char *name, const char *src, size_t len,
                 const tmpl_options *opts, char *err, size_t errlen)
{
    tmpl_options none = {0};
    if (!opts)
        opts = &none;
    tmpl_template *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    if (vpd_tmpl_program_compile(
            name, src, len, opts->left_delimiter, opts->right_delimiter,
            opts->error_on_missing_key, opts->function_denylist, &t->prog, err,
            errlen) != 0) {
        free(t);
        return NULL;
    }
    t->limits.max_steps = opts->max_steps;
    t->limits.max_output = opts->max_output;
    return t;
}

int
vpd_tmpl_render(const tmpl_template *t, const tmpl_env *env, tmpl_value *dot,
                vpd_buf *out, tmpl_deps *deps, char *err, size_t errlen)
{
    char spare[8];
    if (!err || errlen == 0) {
        err = spare;
        errlen = sizeof(spare);
    }
    tmpl_call call = {env, deps, false, err, errlen};
    int rc = vpd_tmpl_eval(t->prog, &call, &t->limits, dot, out);
    if (call.incomplete)
        return 1;
    return rc == 0 ? 0 : -1;
}

void
vpd_tmpl_free(tmpl_template *t)
{
    if (!t)
        return;
    vpd_tmpl_program_free(t->prog);
    free(t);
}
