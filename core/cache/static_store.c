/* The static cache's storing of answers: an answer packed into its
 * entry with the token that was given it, the clock and name hash every
 * part shares, and the check that no write raced an answer.  It sits
 * below the request side, the mount lookups and the re-reads, which all
 * store through it, so none of them depends on another. */
#include "autoconf.h"

#include "cache/static_cache_impl.h"

#include <json.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/buf.h"

uint64_t
vpd_sc_wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

uint64_t
vpd_sc_name_hash(const char *ns, const char *path)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *s = ns; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h = (h ^ 0xffu) * 1099511628211ull;
    for (const char *s = path; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

bool
vpd_sc_unwritten_since(const vpd_static_cache *sc, const char *ns,
                       const char *path, uint64_t epoch)
{
    if (sc->epoch == epoch)
        return true;
    /* The ring holds the last VPD_SC_RECENT writes: older ones are gone,
     * so an answer older than the ring is refused. */
    if (sc->epoch - epoch > VPD_SC_RECENT)
        return false;
    uint64_t h = vpd_sc_name_hash(ns, path);
    for (size_t i = 0; i < VPD_SC_RECENT; i++)
        if (sc->recent[i].epoch > epoch && sc->recent[i].hash == h)
            return false;
    return true;
}

static char *
pack_answer(vpd_static_cache *sc, int status, const vpd_hdrs *headers,
            const char *body, size_t len, size_t *out_len)
{
    vpd_buf b = VPD_BUF_INIT;
    int rc = vpd_buf_printf(&b, "HTTP/1.1 %d %s\r\n", status,
                            vpd_http_reason(status));
    for (size_t i = 0; headers && i < headers->n; i++) {
        const char *n = headers->v[i].name;
        if (strcasecmp(n, "Date") == 0 || strcasecmp(n, "Age") == 0 ||
            strcasecmp(n, "X-Cache") == 0 ||
            strcasecmp(n, "Content-Length") == 0)
            continue;
        rc |= vpd_buf_printf(&b, "%s: %s\r\n", n, headers->v[i].value);
    }
    rc |= vpd_buf_append(&b, "\r\n", 2);
    rc |= vpd_buf_append(&b, body ? body : "", len);
    char *packed =
        rc == 0 ? vpd_static_pack(sc->pack, b.data, b.len, out_len) : NULL;
    vpd_buf_free_secret(&b);
    return packed;
}

int
vpd_sc_replace(vpd_static_cache *sc, vpd_se_entry **e, int status,
               const vpd_hdrs *headers, const char *body, size_t len)
{
    size_t plen = 0;
    char *packed = pack_answer(sc, status, headers, body, len, &plen);
    vpd_se_entry *moved = NULL;
    if (packed && plen <= UINT32_MAX)
        moved = vpd_se_set_answer(sc->table, *e, packed, (uint32_t)plen,
                                  vpd_sc_wall_ms());
    if (packed) {
        OPENSSL_cleanse(packed, plen);
        free(packed);
    }
    if (!moved)
        return -1;
    *e = moved;
    return 0;
}

int
vpd_sc_store(vpd_static_cache *sc, const char *ns, const char *path,
             const char *query, const char *token, int status,
             const vpd_hdrs *headers, const char *body, size_t len)
{
    if (!token || !token[0])
        return -1;
    vpd_se_entry *e = vpd_se_put(sc->table, ns, path, query);
    if (!e)
        return -1;
    uint32_t id = vpd_st_acquire(sc->tokens, token);
    if (!id || vpd_sc_replace(sc, &e, status, headers, body, len) != 0 ||
        vpd_se_add_token(sc->table, e, id) != 0) {
        vpd_st_unref(sc->tokens, id);
        if (!e->n_tokens || !e->packed_len)
            vpd_sc_evict(sc, e);
        return -1;
    }
    vpd_st_unref(sc->tokens, id); /* the entry holds its own reference */
    sc->counters.stored++;
    vpd_sc_persist_put(sc, e);
    return 0;
}

bool
vpd_sc_answer_is_static(const char *body, size_t len, int *mount_type)
{
    *mount_type = -1;
    if (!body || !len)
        return false;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return false;
    json_object *root = json_tokener_parse_ex(tok, body, (int)len);
    bool ok = root && json_tokener_get_error(tok) == json_tokener_success &&
              json_object_is_type(root, json_type_object);
    json_tokener_free(tok);
    json_object *v = NULL;
    if (ok && json_object_object_get_ex(root, "lease_id", &v) && v &&
        json_object_get_string_len(v) > 0)
        ok = false;
    if (ok && json_object_object_get_ex(root, "auth", &v) && v)
        ok = false;
    if (ok && json_object_object_get_ex(root, "wrap_info", &v) && v)
        ok = false;
    if (ok && json_object_object_get_ex(root, "mount_type", &v) && v)
        *mount_type = json_object_is_type(v, json_type_string) &&
                      strcmp(json_object_get_string(v), "kv") == 0;
    json_object_put(root);
    return ok;
}

/* The stored form: the HTTP text of the answer without the headers that
 * would be wrong when it is served later (Date; framing). */
