/* Re-reads of cached KV answers.  A re-read tries the entry's tokens in
 * turn: the first 2xx replaces the answer; a 403 takes that token out of
 * the set and tries the next; a 404, or no token left, evicts the entry.
 * When the server cannot be reached or answers 5xx the entry and its
 * tokens stay as they are -- serving the last answer while Vault is down
 * is what the cache is for -- and the next event or refresh tries again. */
#include "autoconf.h"

#include "cache/static_cache_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define COMPONENT "cache.static"

typedef struct {
    char *ns, *path, *query;
    uint32_t *ids; /* a snapshot of the set, each with a reference */
    size_t n_ids, next;
    uint64_t epoch;
} reread;

static void
free_reread(vpd_static_cache *sc, reread *rr)
{
    for (size_t i = 0; i < rr->n_ids; i++)
        vpd_st_unref(sc->tokens, rr->ids[i]);
    free(rr->ids);
    free(rr->ns);
    free(rr->path);
    free(rr->query);
    free(rr);
}

static void try_next(vpd_static_cache *sc, reread *rr);

/* The entry, still cached, or NULL. */
static vpd_se_entry *
entry_of(vpd_static_cache *sc, const reread *rr)
{
    return vpd_se_get(sc->table, rr->ns, rr->path, rr->query);
}

static void
finish(vpd_static_cache *sc, reread *rr)
{
    vpd_se_entry *e = entry_of(sc, rr);
    if (e && e->reading)
        e->reading--;
    free_reread(sc, rr);
}

static void
on_reread(vpd_static_cache *sc, vpd_fwd_resp *resp, void *arg)
{
    reread *rr = arg;
    vpd_se_entry *e = entry_of(sc, rr);
    if (!e || resp->error == VPD_FWD_CANCELLED) {
        finish(sc, rr);
        return;
    }
    uint32_t id = rr->ids[rr->next - 1];
    int mount_type;
    if (resp->error == VPD_FWD_OK && resp->status >= 200 &&
        resp->status <= 299 &&
        vpd_sc_answer_is_static(resp->body, resp->body_len, &mount_type) &&
        mount_type != 0) {
        /* A write through the proxy since the re-read began has evicted
         * (and maybe re-stored) the entry: this answer may predate it. */
        if (vpd_sc_unwritten_since(sc, rr->ns, rr->path, rr->epoch) &&
            vpd_se_has_token(e, id) &&
            vpd_sc_replace(sc, &e, resp->status, &resp->headers, resp->body,
                           resp->body_len) == 0) {
            sc->counters.refreshes++;
            vpd_sc_persist_put(sc, e);
        }
        finish(sc, rr);
        return;
    }
    if (resp->error == VPD_FWD_OK && resp->status == 404) {
        sc->counters.refreshes++;
        vpd_sc_evict(sc, e);
        finish(sc, rr);
        return;
    }
    if (resp->error == VPD_FWD_OK && resp->status == 403) {
        if (vpd_se_remove_token(sc->table, e, id) && e->n_tokens)
            vpd_sc_persist_put(sc, e);
        try_next(sc, rr);
        return;
    }
    sc->counters.refresh_failures++;
    vpd_log(VPD_LOG_DEBUG, COMPONENT,
            "re-reading %s: %s; the cached answer is kept", rr->path,
            resp->error == VPD_FWD_OK
                ? "the server failed"
                : (resp->error_text ? resp->error_text : "no answer"));
    finish(sc, rr);
}

static void
try_next(vpd_static_cache *sc, reread *rr)
{
    vpd_se_entry *e = entry_of(sc, rr);
    if (!e) {
        finish(sc, rr);
        return;
    }
    while (rr->next < rr->n_ids && !vpd_se_has_token(e, rr->ids[rr->next]))
        rr->next++;
    if (rr->next >= rr->n_ids) {
        if (e->n_tokens == 0) {
            /* Nobody left whom Vault lets read it. */
            vpd_sc_evict(sc, e);
            free_reread(sc, rr);
            return;
        }
        finish(sc, rr);
        return;
    }
    const char *token = vpd_st_token(sc->tokens, rr->ids[rr->next]);
    rr->next++;
    size_t len = strlen(rr->path) + strlen(rr->query) + 6;
    char *target = malloc(len);
    if (!target) {
        finish(sc, rr);
        return;
    }
    snprintf(target, len, "/v1/%s%s%s", rr->path, rr->query[0] ? "?" : "",
             rr->query);
    int rc =
        vpd_sc_call_send(sc, "GET", target, token, rr->ns, NULL, on_reread, rr);
    free(target);
    if (rc != 0)
        finish(sc, rr);
}

void
vpd_sc_reread(vpd_static_cache *sc, vpd_se_entry *e)
{
    if (!sc->fwd || sc->closing || e->reading)
        return;
    reread *rr = calloc(1, sizeof *rr);
    if (!rr)
        return;
    rr->ns = strdup(vpd_se_ns(e));
    rr->path = strdup(vpd_se_path(e));
    rr->query = strdup(vpd_se_query(e));
    rr->ids = calloc(e->n_tokens ? e->n_tokens : 1, sizeof *rr->ids);
    rr->epoch = sc->epoch;
    if (!rr->ns || !rr->path || !rr->query || !rr->ids) {
        free_reread(sc, rr);
        return;
    }
    for (size_t i = 0; i < e->n_tokens; i++) {
        rr->ids[i] = vpd_se_token_at(e, i);
        vpd_st_ref(sc->tokens, rr->ids[i]);
    }
    rr->n_ids = e->n_tokens;
    e->reading++;
    try_next(sc, rr);
}
