/* Path rules of the static secret cache.  Mount boundaries are not known
 * here, so a write is matched against every way its path could split
 * into mount, operation and name: evicting a name too many costs one
 * re-read, keeping a stale one would serve an old secret. */
#include "autoconf.h"

#include "cache/static_paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
vpd_sp_relative(const char *path)
{
    if (!path || strncmp(path, "/v1/", 4) != 0 || !path[4])
        return NULL;
    return path + 4;
}

/* True when the query asks for a list (?list=true or any true spelling
 * Vault's parseutil accepts). */
static bool
query_lists(const char *query)
{
    const char *p = query;
    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 5 && strncmp(p, "list=", 5) == 0) {
            const char *v = p + 5;
            size_t vl = len - 5;
            if ((vl == 4 && strncasecmp(v, "true", 4) == 0) ||
                (vl == 1 && (v[0] == '1' || v[0] == 't' || v[0] == 'T')))
                return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* Paths Vault keeps for itself: no secrets engine can be mounted under
 * them (auth methods, audit devices, the system backend, cubbyhole and
 * identity), so nothing read there is a KV secret, and asking which mount
 * such a path is under would only cost a request. */
static bool
reserved(const char *rel)
{
    static const char *const roots[] = {"auth", "audit", "cubbyhole",
                                        "identity", "sys"};
    size_t seg = strcspn(rel, "/");
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
        if (strlen(roots[i]) == seg && strncmp(rel, roots[i], seg) == 0)
            return true;
    return false;
}

vpd_sp_kind
vpd_sp_classify(const char *method, const char *path, const char *query,
                bool wrapped)
{
    const char *rel = vpd_sp_relative(path);
    if (!rel || reserved(rel))
        return VPD_SP_NONE;
    if (strcmp(method, "GET") == 0) {
        if (wrapped || query_lists(query) || rel[strlen(rel) - 1] == '/')
            return VPD_SP_NONE;
        return VPD_SP_READ;
    }
    /* Reads that are not cached change nothing either. */
    if (strcmp(method, "HEAD") == 0 || strcmp(method, "LIST") == 0 ||
        strcmp(method, "OPTIONS") == 0)
        return VPD_SP_NONE;
    return VPD_SP_WRITE;
}

int
vpd_sp_namespace(const char *ns, char *out, size_t out_len)
{
    if (!ns)
        ns = "";
    while (*ns == '/')
        ns++;
    size_t len = strlen(ns);
    while (len > 0 && ns[len - 1] == '/')
        len--;
    if (len >= out_len)
        return -1;
    memcpy(out, ns, len);
    out[len] = '\0';
    return 0;
}

static bool
is_kv2_operation(const char *seg, size_t len)
{
    static const char *const ops[] = {"data", "metadata", "delete", "undelete",
                                      "destroy"};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strlen(ops[i]) == len && memcmp(seg, ops[i], len) == 0)
            return true;
    return false;
}

int
vpd_sp_stale_names(const char *path, void (*fn)(void *arg, const char *name),
                   void *arg)
{
    size_t len = strlen(path);
    while (len > 0 && path[len - 1] == '/')
        len--;
    if (len == 0)
        return 0;
    char *name = malloc(len + 8);
    if (!name)
        return 0;
    memcpy(name, path, len);
    name[len] = '\0';
    fn(arg, name);
    int n = 1;
    /* Every segment that names a KV v2 operation and has a name after it:
     * "<before>data/<after>" is stale. */
    size_t seg = 0;
    while (seg < len) {
        size_t end = seg;
        while (end < len && path[end] != '/')
            end++;
        if (end + 1 < len && is_kv2_operation(path + seg, end - seg)) {
            size_t rest = len - (end + 1);
            memcpy(name, path, seg);
            memcpy(name + seg, "data/", 5);
            memcpy(name + seg + 5, path + end + 1, rest);
            name[seg + 5 + rest] = '\0';
            if (seg + 5 + rest != len || memcmp(name, path, len) != 0) {
                fn(arg, name);
                n++;
            }
        }
        seg = end + 1;
    }
    free(name);
    return n;
}
