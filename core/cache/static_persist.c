/* The static secret cache in the persistent store: one record per entry,
 * its id VPD_PERSIST_STATIC_PREFIX + namespace + "\n" + path + "?" +
 * query, its answer in the stored (packed) form, its token set in
 * lease_token, one token a line, encrypted like every record.  The
 * expiry rule of the store must never drop one (staleness is the re-read's
 * business), so the ttl is a century. */
#include "autoconf.h"

#include "cache/static_cache_impl.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"

#define COMPONENT "cache.static"

#define CENTURY_MS (100ull * 365 * 24 * 3600 * 1000)

static char *
record_id(const vpd_se_entry *e)
{
    size_t len = strlen(VPD_PERSIST_STATIC_PREFIX) + e->ns_len + e->path_len +
                 e->query_len + 3;
    char *id = malloc(len);
    if (id)
        snprintf(id, len, "%s%s\n%s?%s", VPD_PERSIST_STATIC_PREFIX,
                 vpd_se_ns(e), vpd_se_path(e), vpd_se_query(e));
    return id;
}

void
vpd_sc_set_persist(vpd_static_cache *sc, vpd_persist *p)
{
    sc->persist = p;
}

/* Eviction lives beside the store's delete, below every user of it (the
 * request path, re-reads, capability checks, restore), so none of them
 * depends on another. */
void
vpd_sc_evict(vpd_static_cache *sc, vpd_se_entry *e)
{
    vpd_sc_persist_delete(sc, e);
    vpd_se_remove(sc->table, e);
}

void
vpd_sc_persist_put(vpd_static_cache *sc, const vpd_se_entry *e)
{
    if (!sc->persist || sc->closing || !e->packed_len)
        return;
    char *id = record_id(e);
    vpd_buf tokens = VPD_BUF_INIT, path = VPD_BUF_INIT;
    int rc = id ? 0 : -1;
    for (size_t i = 0; i < e->n_tokens && rc == 0; i++) {
        const char *t = vpd_st_token(sc->tokens, vpd_se_token_at(e, i));
        rc |= vpd_buf_printf(&tokens, "%s\n", t ? t : "");
    }
    rc |= vpd_buf_printf(&path, "/v1/%s%s%s", vpd_se_path(e),
                         e->query_len ? "?" : "", vpd_se_query(e));
    rc |= vpd_buf_append(&tokens, "", 1);
    if (rc == 0) {
        vp_cache_entry_t rec = {
            .size = sizeof rec,
            .id = id,
            .namespace_ = vpd_se_ns(e),
            .request_path = path.data,
            .lease_token = tokens.data,
            .response = {vpd_se_answer(e), e->packed_len},
            .last_renewed_ms = e->stored_ms,
            .ttl_ms = CENTURY_MS,
        };
        vpd_persist_put(sc->persist, &rec);
    }
    free(id);
    vpd_buf_free(&path);
    vpd_buf_free_secret(&tokens);
}

void
vpd_sc_persist_delete(vpd_static_cache *sc, const vpd_se_entry *e)
{
    if (!sc->persist || sc->closing)
        return;
    char *id = record_id(e);
    if (id)
        vpd_persist_delete(sc->persist, id);
    free(id);
}

int
vpd_sc_restore_entry(void *arg, const vp_cache_entry_t *rec)
{
    vpd_static_cache *sc = arg;
    const char *target = rec->request_path;
    if (!target || strncmp(target, "/v1/", 4) != 0 || !rec->response.len ||
        rec->response.len > UINT32_MAX || !rec->lease_token)
        return 1;
    char *path = strdup(target + 4);
    if (!path)
        return 1;
    char *query = strchr(path, '?');
    if (query)
        *query++ = '\0';
    vpd_se_entry *e =
        vpd_se_put(sc->table, rec->namespace_ ? rec->namespace_ : "", path,
                   query ? query : "");
    free(path);
    vpd_se_entry *moved =
        e ? vpd_se_set_answer(sc->table, e, rec->response.ptr,
                              (uint32_t)rec->response.len, rec->last_renewed_ms)
          : NULL;
    if (!moved) {
        if (e)
            vpd_sc_evict(sc, e);
        return 1;
    }
    e = moved;
    const char *t = rec->lease_token;
    while (*t) {
        const char *nl = strchr(t, '\n');
        size_t len = nl ? (size_t)(nl - t) : strlen(t);
        char *one = strndup(t, len);
        uint32_t id = one && len ? vpd_st_acquire(sc->tokens, one) : 0;
        if (id) {
            vpd_se_add_token(sc->table, e, id);
            vpd_st_unref(sc->tokens, id);
        }
        if (one) {
            OPENSSL_cleanse(one, len);
            free(one);
        }
        t += len + (nl ? 1 : 0);
    }
    if (!e->n_tokens) {
        vpd_sc_evict(sc, e);
        return 1;
    }
    return 0;
}
