/* The template language of Vault Agent (consul-template's, i.e. Go's
 * text/template with consul-template's functions), as a library the
 * agent calls: compile a template once, then render it whenever its
 * secrets change.  See vaproxyd.hcl(5) for the template blocks that use
 * it.
 *
 * A render is a pass in consul-template's sense: the template's calls of
 * secret, secrets, pkiCert and file go to the host's tmpl_env, which
 * answers what it has and says "not yet" for the rest; the render then
 * reports itself incomplete and lists, in the deps it was given, every
 * request it made.  The host fetches what is missing (once for all
 * templates, by dep key) and renders again.  Rendering with env NULL is
 * the pure discovery pass: every Vault read is "not yet".
 *
 * Ownership: a tmpl_template is the caller's from vpd_tmpl_compile to
 * vpd_tmpl_free and is never changed by a render, so one may be rendered
 * again and again.  Output goes to the caller's buffer; deps entries are
 * the caller's (vpd_tmpl_deps_free). */
#ifndef VPD_TMPL_H
#define VPD_TMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/tmpl_env.h"
#include "agent/tmpl_json.h"
#include "agent/tmpl_value.h"
#include "base/buf.h"

typedef struct tmpl_template tmpl_template;

typedef struct {
    const char *left_delimiter;  /* NULL or "": "{{" */
    const char *right_delimiter; /* NULL or "": "}}" */
    /* error_on_missing_key: a missing map key fails the render instead
     * of printing "<no value>". */
    bool error_on_missing_key;
    /* Guards against runaway templates; 0: unlimited steps, and nested
     * {{template}} calls up to 1000 deep. */
    size_t max_steps;
    /* Bytes one render may print, and the longest string a function may
     * build; 0: unlimited. */
    size_t max_output;
    /* Names of functions a template may not call, NULL-terminated; NULL:
     * none.  A call of one is refused at compile time, as an unknown
     * function is. */
    const char *const *function_denylist;
} tmpl_options;

/* Compiles `src` (len bytes; need not be NUL-terminated).  `name` is what
 * errors call the file.  Returns the template, or NULL with
 * "name:line:col: what was expected" in err.  Unknown functions, wrong
 * argument counts, undefined variables and templates are errors here. */
tmpl_template *vpd_tmpl_compile(const char *name, const char *src, size_t len,
                                const tmpl_options *opts, char *err,
                                size_t errlen);

/* Renders with `dot` as the data (NULL: nil, as the agent renders).
 * Appends to `out`; deps may be NULL.  Returns 0 when complete, 1 when
 * some answer was "not yet" (out is then not to be written anywhere;
 * errors after a missing answer count as incomplete, since they usually
 * come from the missing data), or -1 with a message in err. */
int vpd_tmpl_render(const tmpl_template *t, const tmpl_env *env,
                    tmpl_value *dot, vpd_buf *out, tmpl_deps *deps, char *err,
                    size_t errlen);

void vpd_tmpl_free(tmpl_template *t);

#endif
