/* What a template reads from outside itself: the host's answers to
 * secret, secrets, pkiCert, env and file (tmpl_env, implemented by the
 * agent), and the record of which of those a render asked for
 * (tmpl_deps), so the agent can fetch each secret once for all its
 * templates and prefetch them before the render that writes the file.
 *
 * Consul-template renders in passes: a first pass asks for everything
 * the template needs, the host answers what it already has and notes the
 * rest ("not yet"), fetches those, and the next pass renders with them
 * cached.  The callbacks below follow that contract.
 *
 * Ownership: the env and its `arg` belong to the host and must outlive
 * the render.  A callback that answers 0 hands over one reference in
 * *out (a tmpl_value, see tmpl_value.h).  A tmpl_deps owns its entries;
 * vpd_tmpl_deps_free releases them. */
#ifndef VPD_TMPL_ENV_H
#define VPD_TMPL_ENV_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/tmpl_value.h"

/* Each returns 0 with *out set, 1 when the answer is not known yet (the
 * render then goes on with nil and reports itself incomplete), or -1
 * with a message in err (the render fails with it). */
typedef struct {
    void *arg;
    /* `secret`: a read (nkv == 0) or a write whose body is the nkv pairs
     * kv[2i] = kv[2i+1] (consul-template's "key=value" arguments, as in
     * a PKI issue).  *out is the answer as vpd_tmpl_from_vault_json
     * builds it (.Data, .LeaseID, .LeaseDuration, .Renewable, ...). */
    int (*secret)(void *arg, const char *path, const char *const *kv,
                  size_t nkv, tmpl_value **out, char *err, size_t errlen);
    /* `secrets`: a LIST of path; *out a list of the key strings. */
    int (*secrets)(void *arg, const char *path, tmpl_value **out, char *err,
                   size_t errlen);
    /* `pkiCert`: a certificate issued at path with the pairs as above,
     * reused while valid; *out a map with Cert, Key, CA and CAChain. */
    int (*pki_cert)(void *arg, const char *path, const char *const *kv,
                    size_t nkv, tmpl_value **out, char *err, size_t errlen);
    /* `file`: the file's contents (the host applies sandbox_path).
     * NULL: the file is read directly. */
    int (*file)(void *arg, const char *path, tmpl_value **out, char *err,
                size_t errlen);
    /* `env`: the variable's value, or NULL when unset.  NULL: getenv. */
    const char *(*getenv)(void *arg, const char *name);
} tmpl_env;

typedef enum {
    TMPL_DEP_SECRET,
    TMPL_DEP_SECRETS,
    TMPL_DEP_PKI_CERT,
    TMPL_DEP_FILE
} tmpl_dep_kind;

typedef struct {
    tmpl_dep_kind kind;
    char *path;
    char **kv; /* 2 * nkv strings: key, value, ... */
    size_t nkv;
    /* One string naming the dependency, for deduplication across
     * templates: "secret:path", "secret:path?k=v&k2=v2",
     * "secrets:path", "pkiCert:path?...", "file:path". */
    char *key;
    bool answered; /* false: the host answered "not yet" */
} tmpl_dep;

typedef struct {
    tmpl_dep *items;
    size_t len, cap;
} tmpl_deps;

/* Records one request (kept once per key; a later answer marks it
 * answered).  Returns 0, or -1 when memory runs out. */
int vpd_tmpl_deps_add(tmpl_deps *d, tmpl_dep_kind kind, const char *path,
                      const char *const *kv, size_t nkv, bool answered);
void vpd_tmpl_deps_free(tmpl_deps *d);

#endif
