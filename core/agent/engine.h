/* The template engine as the agent runner sees it: compile a template,
 * render it against the secrets the runner holds, free it.  The runner
 * does not know the language; engine_tmpl.c adapts the template library
 * (tmpl.h) to this interface, and unit tests plug in a fake.
 *
 * While a template renders, every secret it asks for goes through the
 * source's lookup.  The runner answers from what it has fetched; a secret
 * it does not have yet is answered with NULL, noted as a dependency and
 * fetched, and the template is rendered again once it arrives (the way
 * consul-template discovers dependencies whose paths are computed).
 *
 * Ownership: a compiled template belongs to the caller until free.  The
 * strings lookup returns are the runner's, valid until the render ends. */
#ifndef VPD_AGENT_ENGINE_H
#define VPD_AGENT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

/* What a template does with a secret path. */
typedef enum {
    VPD_AGENT_READ = 0, /* secret "path" */
    VPD_AGENT_WRITE,    /* secret "path" "k=v" ..., pkiCert "path" ... */
    VPD_AGENT_LIST,     /* secrets "path" */
} vpd_agent_op;

typedef struct {
    /* The answer's JSON body (Vault's envelope: data, lease_id, ...) or
     * NULL when it is not known yet.  kv holds n_kv "key=value" strings
     * (writes only). */
    const char *(*lookup)(void *ctx, vpd_agent_op op, const char *path,
                          const char *const *kv, size_t n_kv);
    void *ctx;
    const char *sandbox_path; /* file reads stay below it; NULL: anywhere */
} vpd_agent_source;

typedef struct {
    bool error_on_missing_key;
    const char *left_delimiter;  /* NULL: "{{" */
    const char *right_delimiter; /* NULL: "}}" */
    /* Functions the template may not call, NULL-terminated; NULL: none. */
    const char *const *function_denylist;
} vpd_agent_tmpl_options;

typedef struct vpd_agent_engine {
    /* Returns the compiled template, or NULL with a message naming name,
     * line and column. */
    void *(*compile)(const char *text, size_t len, const char *name,
                     const vpd_agent_tmpl_options *opt, char *err,
                     size_t err_len);
    /* Renders into out (appended).  Returns 0, or -1 with a message.  A
     * lookup that returned NULL does not make the render fail: the runner
     * discards that output itself. */
    int (*render)(void *tmpl, const vpd_agent_source *src, vpd_buf *out,
                  char *err, size_t err_len);
    void (*free)(void *tmpl);
} vpd_agent_engine;

#endif
