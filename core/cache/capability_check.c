/* Capability checks: every static_secret_token_capability_refresh_interval
 * each token in any entry's set is checked once per namespace with
 * PUT /v1/sys/capabilities-self {"paths": [...]}, naming the paths it may
 * read from the cache.  A path without "read" (or "root") takes the token
 * out of that path's entries; "permission denied" or an invalid token
 * takes it out everywhere; any other failure keeps its access
 * (optimistic) or removes it from the checked paths (pessimistic).  An
 * entry left without tokens is evicted. */
#include "autoconf.h"

#include "cache/static_cache_impl.h"

#include <json.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define COMPONENT "cache.static"

/* Paths compared against the ones already listed to skip a name's other
 * versions; longer lists may repeat a path, which Vault accepts. */
#define DEDUP_LIMIT 256

typedef struct group {
    struct group *next; /* the same token in another namespace */
    uint32_t id;        /* holds a registry reference */
    char *ns;
    char **paths;
    size_t n, cap;
} group;

typedef struct {
    vpd_static_cache *sc;
    group **by_id;
    uint32_t limit;
    bool failed;
} collect_ctx;

static void
free_group(vpd_static_cache *sc, group *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->paths[i]);
    free(g->paths);
    free(g->ns);
    vpd_st_unref(sc->tokens, g->id);
    free(g);
}

static group *
group_of(collect_ctx *c, uint32_t id, const char *ns)
{
    group *g = c->by_id[id];
    while (g && strcmp(g->ns, ns) != 0)
        g = g->next;
    if (g)
        return g;
    g = calloc(1, sizeof *g);
    if (!g || !(g->ns = strdup(ns))) {
        free(g);
        return NULL;
    }
    g->id = id;
    vpd_st_ref(c->sc->tokens, id);
    g->next = c->by_id[id];
    c->by_id[id] = g;
    return g;
}

static int
add_path(group *g, const char *path)
{
    if (g->n <= DEDUP_LIMIT)
        for (size_t i = 0; i < g->n; i++)
            if (strcmp(g->paths[i], path) == 0)
                return 0;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 8;
        char **grown = realloc(g->paths, cap * sizeof *grown);
        if (!grown)
            return -1;
        g->paths = grown;
        g->cap = cap;
    }
    if (!(g->paths[g->n] = strdup(path)))
        return -1;
    g->n++;
    return 0;
}

static void
collect_visit(void *arg, vpd_se_entry *e)
{
    collect_ctx *c = arg;
    for (size_t i = 0; i < e->n_tokens; i++) {
        uint32_t id = vpd_se_token_at(e, i);
        group *g = id < c->limit ? group_of(c, id, vpd_se_ns(e)) : NULL;
        if (!g || add_path(g, vpd_se_path(e)) != 0)
            c->failed = true;
    }
}

/* ---- applying a result ------------------------------------------------- */

typedef struct {
    vpd_static_cache *sc;
    uint32_t id;
    const char *ns; /* NULL: every namespace */
} remove_ctx;

static void
remove_visit(void *arg, vpd_se_entry *e)
{
    remove_ctx *c = arg;
    if (c->ns && strcmp(vpd_se_ns(e), c->ns) != 0)
        return;
    if (!vpd_se_remove_token(c->sc->table, e, c->id))
        return;
    c->sc->counters.capability_removals++;
    if (e->n_tokens == 0)
        vpd_sc_evict(c->sc, e);
    else
        vpd_sc_persist_put(c->sc, e);
}

static void
remove_from_path(vpd_static_cache *sc, uint32_t id, const char *ns,
                 const char *path)
{
    remove_ctx c = {sc, id, ns};
    vpd_se_each_of_name(sc->table, ns, path, remove_visit, &c);
}

static bool
allows_read(json_object *caps)
{
    if (!caps || !json_object_is_type(caps, json_type_array))
        return false;
    for (size_t i = 0; i < json_object_array_length(caps); i++) {
        const char *c =
            json_object_get_string(json_object_array_get_idx(caps, i));
        if (c && (strcmp(c, "read") == 0 || strcmp(c, "root") == 0))
            return true;
    }
    return false;
}

/* The capabilities Vault gave for path: at the top level, or in data. */
static json_object *
caps_of(json_object *root, const char *path)
{
    json_object *v = NULL, *data = NULL;
    if (json_object_object_get_ex(root, path, &v) && v)
        return v;
    if (json_object_object_get_ex(root, "data", &data) && data &&
        json_object_object_get_ex(data, path, &v))
        return v;
    return NULL;
}

static void
apply_answer(vpd_static_cache *sc, group *g, json_object *root)
{
    for (size_t i = 0; i < g->n; i++)
        if (!allows_read(caps_of(root, g->paths[i])))
            remove_from_path(sc, g->id, g->ns, g->paths[i]);
}

static void
on_checked(vpd_static_cache *sc, vpd_fwd_resp *resp, void *arg)
{
    group *g = arg;
    if (resp->error == VPD_FWD_CANCELLED) {
        free_group(sc, g);
        return;
    }
    sc->counters.capability_checks++;
    json_object *root = NULL;
    if (resp->error == VPD_FWD_OK && resp->status == 200 &&
        (root = json_tokener_parse(resp->body)) &&
        json_object_is_type(root, json_type_object)) {
        apply_answer(sc, g, root);
    } else if (resp->error == VPD_FWD_OK && resp->status == 403 && resp->body &&
               (strstr(resp->body, "permission denied") ||
                strstr(resp->body, "invalid token"))) {
        /* A revoked or expired token may read nothing. */
        remove_ctx c = {sc, g->id, NULL};
        vpd_se_each(sc->table, remove_visit, &c);
    } else if (sc->cfg.behavior == VPD_CAP_PESSIMISTIC) {
        vpd_log(VPD_LOG_DEBUG, COMPONENT,
                "capability check failed; removing the token's access "
                "(pessimistic)");
        for (size_t i = 0; i < g->n; i++)
            remove_from_path(sc, g->id, g->ns, g->paths[i]);
    } else {
        vpd_log(VPD_LOG_DEBUG, COMPONENT,
                "capability check failed; keeping the token's access "
                "(optimistic)");
    }
    json_object_put(root);
    free_group(sc, g);
}

static void
send_check(vpd_static_cache *sc, group *g)
{
    json_object *body = json_object_new_object();
    json_object *paths = json_object_new_array();
    for (size_t i = 0; body && paths && i < g->n; i++)
        json_object_array_add(paths, json_object_new_string(g->paths[i]));
    const char *text = NULL;
    if (body && paths) {
        json_object_object_add(body, "paths", paths);
        paths = NULL;
        text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
    }
    const char *token = vpd_st_token(sc->tokens, g->id);
    if (!text || !token ||
        vpd_sc_call_send(sc, "PUT", "/v1/sys/capabilities-self", token, g->ns,
                         text, on_checked, g) != 0)
        free_group(sc, g);
    json_object_put(paths);
    json_object_put(body);
}

void
vpd_sc_check_capabilities(vpd_static_cache *sc)
{
    collect_ctx c = {sc, NULL, vpd_st_id_limit(sc->tokens), false};
    if (!c.limit)
        return;
    c.by_id = calloc(c.limit, sizeof *c.by_id);
    if (!c.by_id)
        return;
    vpd_se_each(sc->table, collect_visit, &c);
    if (c.failed)
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "capability check: out of memory listing the paths");
    for (uint32_t id = 0; id < c.limit; id++) {
        group *g = c.by_id[id];
        while (g) {
            group *next = g->next;
            g->next = NULL;
            send_check(sc, g);
            g = next;
        }
    }
    free(c.by_id);
}
