/* Which mounts are KV, for answers without "mount_type" (OpenBao, Vault
 * before 1.15): GET /v1/sys/internal/ui/mounts/<path> with the request's
 * token says the mount's path and type.  The result is remembered per
 * mount, so each mount is asked once; answers waiting for a lookup under
 * way join it instead of asking again. */
#include "autoconf.h"

#include "cache/static_cache_impl.h"

#include <json.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/secmem.h"

struct vpd_sc_mount {
    vpd_sc_mount *next;
    char *ns;
    char *prefix; /* "secret/", with its slash */
    bool kv;
};

/* An answer kept until its mount is known. */
typedef struct pending_store {
    struct pending_store *next;
    char *path, *query, *token; /* token: secret memory */
    uint64_t epoch;
    int status;
    vpd_hdrs headers;
    char *body;
    size_t body_len;
} pending_store;

struct vpd_sc_mount_wait {
    vpd_sc_mount_wait *next;
    vpd_static_cache *sc;
    char *ns;
    char *first_segment; /* what concurrent lookups are merged by */
    pending_store *stores;
};

static bool
under(const char *path, const char *prefix)
{
    return strncmp(path, prefix, strlen(prefix)) == 0;
}

int
vpd_sc_mount_kind(const vpd_static_cache *sc, const char *ns, const char *path)
{
    const vpd_sc_mount *best = NULL;
    for (const vpd_sc_mount *m = sc->mounts; m; m = m->next)
        if (strcmp(m->ns, ns) == 0 && under(path, m->prefix) &&
            (!best || strlen(m->prefix) > strlen(best->prefix)))
            best = m;
    return best ? best->kv : -1;
}

static void
remember(vpd_static_cache *sc, const char *ns, const char *prefix, bool kv)
{
    if (vpd_sc_mount_kind(sc, ns, prefix) != -1)
        return;
    vpd_sc_mount *m = calloc(1, sizeof *m);
    if (!m)
        return;
    m->ns = strdup(ns);
    m->prefix = strdup(prefix);
    if (!m->ns || !m->prefix) {
        free(m->ns);
        free(m->prefix);
        free(m);
        return;
    }
    m->kv = kv;
    m->next = sc->mounts;
    sc->mounts = m;
}

static void
free_store(pending_store *p)
{
    free(p->path);
    free(p->query);
    vpd_secret_free(p->token);
    vpd_hdrs_free(&p->headers);
    if (p->body) {
        OPENSSL_cleanse(p->body, p->body_len);
        free(p->body);
    }
    free(p);
}

static void
free_wait(vpd_sc_mount_wait *w)
{
    while (w->stores) {
        pending_store *p = w->stores;
        w->stores = p->next;
        free_store(p);
    }
    free(w->ns);
    free(w->first_segment);
    free(w);
}

/* The mount's path and whether it is KV, from the lookup's answer. */
static bool
parse_mount(const vpd_fwd_resp *resp, char *prefix, size_t len, bool *kv)
{
    if (resp->error != VPD_FWD_OK || resp->status != 200 || !resp->body)
        return false;
    json_object *root = json_tokener_parse(resp->body);
    json_object *data = NULL, *v = NULL;
    bool ok = false;
    if (root && json_object_object_get_ex(root, "data", &data) && data &&
        json_object_object_get_ex(data, "path", &v) &&
        json_object_is_type(v, json_type_string)) {
        snprintf(prefix, len, "%s", json_object_get_string(v));
        size_t n = strlen(prefix);
        if (n > 0 && n + 1 < len && prefix[n - 1] != '/')
            strcat(prefix, "/");
        json_object *type = NULL;
        *kv = json_object_object_get_ex(data, "type", &type) &&
              json_object_is_type(type, json_type_string) &&
              strcmp(json_object_get_string(type), "kv") == 0;
        ok = n > 0;
    }
    json_object_put(root);
    return ok;
}

static void
on_mount(vpd_static_cache *sc, vpd_fwd_resp *resp, void *arg)
{
    vpd_sc_mount_wait *w = arg;
    /* Off the list first: the stores below may start new lookups. */
    for (vpd_sc_mount_wait **at = &sc->mount_waits; *at; at = &(*at)->next)
        if (*at == w) {
            *at = w->next;
            break;
        }
    char prefix[1024];
    bool kv = false;
    if (resp->error != VPD_FWD_CANCELLED &&
        parse_mount(resp, prefix, sizeof prefix, &kv))
        remember(sc, w->ns, prefix, kv);
    for (pending_store *p = w->stores; p && !sc->closing; p = p->next) {
        if (vpd_sc_mount_kind(sc, w->ns, p->path) != 1 ||
            !vpd_sc_unwritten_since(sc, w->ns, p->path, p->epoch))
            continue;
        vpd_sc_store(sc, w->ns, p->path, p->query, p->token, p->status,
                     &p->headers, p->body, p->body_len);
    }
    free_wait(w);
}

static pending_store *
keep_answer(const char *path, const char *query, const char *token,
            uint64_t epoch, const vpd_fwd_resp *resp)
{
    pending_store *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->path = strdup(path);
    p->query = strdup(query);
    p->token = vpd_secret_dup(token, strlen(token));
    p->epoch = epoch;
    p->status = resp->status;
    p->body = malloc(resp->body_len + 1);
    p->body_len = resp->body_len;
    if (!p->path || !p->query || !p->token || !p->body ||
        vpd_hdrs_copy(&p->headers, &resp->headers) != 0) {
        free_store(p);
        return NULL;
    }
    memcpy(p->body, resp->body, resp->body_len);
    p->body[resp->body_len] = '\0';
    return p;
}

void
vpd_sc_store_after_mount_lookup(vpd_static_cache *sc, const char *ns,
                                const char *path, const char *query,
                                const char *token, uint64_t epoch,
                                const vpd_fwd_resp *resp)
{
    if (!sc->fwd || sc->closing || !token || !token[0])
        return;
    size_t seg = strcspn(path, "/");
    vpd_sc_mount_wait *w = sc->mount_waits;
    while (w && !(strcmp(w->ns, ns) == 0 && strlen(w->first_segment) == seg &&
                  strncmp(w->first_segment, path, seg) == 0))
        w = w->next;
    pending_store *p = keep_answer(path, query, token, epoch, resp);
    if (!p)
        return;
    if (w) {
        p->next = w->stores;
        w->stores = p;
        return;
    }
    w = calloc(1, sizeof *w);
    if (!w || !(w->ns = strdup(ns)) ||
        !(w->first_segment = strndup(path, seg))) {
        if (w)
            free_wait(w);
        free_store(p);
        return;
    }
    w->sc = sc;
    w->stores = p;
    size_t len = strlen(path) + 32;
    char *target = malloc(len);
    if (!target) {
        free_wait(w);
        return;
    }
    snprintf(target, len, "/v1/sys/internal/ui/mounts/%s", path);
    w->next = sc->mount_waits;
    sc->mount_waits = w;
    if (vpd_sc_call_send(sc, "GET", target, token, ns, NULL, on_mount, w) !=
        0) {
        sc->mount_waits = w->next;
        free_wait(w);
    }
    free(target);
}

void
vpd_sc_mounts_free(vpd_static_cache *sc)
{
    while (sc->mounts) {
        vpd_sc_mount *m = sc->mounts;
        sc->mounts = m->next;
        free(m->ns);
        free(m->prefix);
        free(m);
    }
    while (sc->mount_waits) {
        vpd_sc_mount_wait *w = sc->mount_waits;
        sc->mount_waits = w->next;
        free_wait(w);
    }
}
