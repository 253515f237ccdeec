/* Path rules of the static secret cache: which requests may be answered
 * from it, and which cached names a write (or a KV event) makes stale.
 * Paths here are relative to /v1/ ("secret/data/app"), namespaces are
 * written without leading or trailing slashes ("" is the root).
 *
 * Ownership: pure functions; callers own every buffer. */
#ifndef VPD_STATIC_PATHS_H
#define VPD_STATIC_PATHS_H

#include <stdbool.h>
#include <stddef.h>

/* What a proxied request means to the static cache. */
typedef enum {
    VPD_SP_NONE = 0, /* neither served nor stored, evicts nothing */
    VPD_SP_READ,     /* a GET that may be served and stored */
    VPD_SP_WRITE,    /* evicts its path's names before and after */
} vpd_sp_kind;

/* Classifies a request.  `path` is the client's path ("/v1/..."), query
 * the raw query string, wrapped true when it asks for a wrapped answer
 * (X-Vault-Wrap-TTL).  Lists (LIST, ?list=true) are never static: any
 * write below them changes them and events name only the written path.
 * sys/ is never cached. */
vpd_sp_kind vpd_sp_classify(const char *method, const char *path,
                            const char *query, bool wrapped);

/* The path relative to /v1/, or NULL when the path is not under it. */
const char *vpd_sp_relative(const char *path);

/* Copies a namespace without its leading and trailing slashes. Returns
 * 0, or -1 when it does not fit. */
int vpd_sp_namespace(const char *ns, char *out, size_t out_len);

/* Calls `fn` with every cached name that a write to (or a KV event about)
 * `path` makes stale: the path itself, and for each KV v2 operation
 * segment (data, metadata, delete, undelete, destroy) followed by a name,
 * "<before>data/<name>" -- every version of that name is in it, since the
 * key's query is not part of the name.  Returns how many names it gave. */
int vpd_sp_stale_names(const char *path,
                       void (*fn)(void *arg, const char *name), void *arg);

#endif
