/* The dependency record: a plain array searched by key, because a
 * template asks for a handful of secrets, not thousands. */
#include "autoconf.h"

#include "agent/tmpl_env.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

static const char *const kind_names[] = {"secret", "secrets", "pkiCert",
                                         "file"};

static char *
dep_key(tmpl_dep_kind kind, const char *path, const char *const *kv, size_t nkv)
{
    vpd_buf b = VPD_BUF_INIT;
    int rc = vpd_buf_printf(&b, "%s:%s", kind_names[kind], path);
    for (size_t i = 0; i < nkv; i++)
        rc |= vpd_buf_printf(&b, "%c%s=%s", i ? '&' : '?', kv[2 * i],
                             kv[2 * i + 1]);
    if (rc) {
        vpd_buf_free(&b);
        return NULL;
    }
    return b.data ? vpd_buf_steal(&b) : strdup("");
}

static void
dep_free(tmpl_dep *d)
{
    free(d->path);
    for (size_t i = 0; d->kv && i < 2 * d->nkv; i++)
        free(d->kv[i]);
    free(d->kv);
    free(d->key);
}

int
vpd_tmpl_deps_add(tmpl_deps *d, tmpl_dep_kind kind, const char *path,
                  const char *const *kv, size_t nkv, bool answered)
{
    char *key = dep_key(kind, path, kv, nkv);
    if (!key)
        return -1;
    for (size_t i = 0; i < d->len; i++)
        if (strcmp(d->items[i].key, key) == 0) {
            d->items[i].answered = d->items[i].answered || answered;
            free(key);
            return 0;
        }
    if (d->len == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        tmpl_dep *items = realloc(d->items, cap * sizeof(*items));
        if (!items) {
            free(key);
            return -1;
        }
        d->items = items;
        d->cap = cap;
    }
    tmpl_dep dep = {kind, strdup(path), NULL, nkv, key, answered};
    bool ok = dep.path != NULL;
    if (ok && nkv) {
        dep.kv = calloc(2 * nkv, sizeof(char *));
        ok = dep.kv != NULL;
        for (size_t i = 0; ok && i < 2 * nkv; i++)
            ok = (dep.kv[i] = strdup(kv[i])) != NULL;
    }
    if (!ok) {
        dep_free(&dep);
        return -1;
    }
    d->items[d->len++] = dep;
    return 0;
}

void
vpd_tmpl_deps_free(tmpl_deps *d)
{
    for (size_t i = 0; i < d->len; i++)
        dep_free(&d->items[i]);
    free(d->items);
    d->items = NULL;
    d->len = d->cap = 0;
}
