/* The lease cache.  What it keeps (Vault Proxy's documented caching
 * rules, with the renew endpoints of hashicorp/vault#19684 never cached):
 *
 *   - logins and other token creations: orphans always, children only
 *     when their parent is a managed token (one the cache knows);
 *   - leased secrets obtained with a managed token.
 *
 * Each kept entry is renewed on Vault's schedule (its lifetime watcher) and
 * evicted when renewal ends; a revocation through the proxy or a cache-clear
 * evicts an entry together with the tokens and leases created from it.
 * Identical requests arriving while one is under way wait for it, so a
 * burst reaches the upstream once. */
#include "autoconf.h"

#include "cache/lease_cache.h"

#include <json.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/backoff.h"
#include "base/buf.h"
#include "cache/cache_key.h"
#include "cache/hot_answers.h"
#include "base/log.h"
#include "cache/persist.h"
#include "cache/renew_timers.h"
#include "cache/resp_pack.h"
#include "base/secmem.h"
#include "base/version.h"
#include "plugin/host_table.h"

#define COMPONENT "proxy.cache.leasecache"
#define BUCKETS 4096 /* in-flight table */
/* Keys whose last answer was relayed uncached, remembered by hash in a
 * table of this many slots (a power of two; a collision only forgets). */
#define RELAYED_SLOTS 1024
/* Room for an entry id: a key, one of an earlier version (twice as long)
 * or an auto-auth marker. */
#define ID_MAX (2 * VPD_CACHE_KEY_LEN + 8)
#define RENEW_BACKOFF_MIN_MS 10000
#define RENEW_BACKOFF_MAX_MS 300000

/* ---- small tables keyed by entry id or cache key ----------------------- */

static uint64_t
key_hash(const char *key)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 1099511628211ULL;
    return h ? h : 1; /* never 0: an empty slot of lc->relayed */
}

static size_t
bucket_of(uint64_t hash)
{
    return (size_t)(hash % BUCKETS);
}

/* An owner is a miss being forwarded: identical lookups meanwhile become
 * its waiters.  A waiter keeps what it needs to look up again. */
struct vpd_lc_pending {
    struct vpd_lc_pending *next;  /* in-flight chain, or owner's waiters */
    struct vpd_lc_pending *owner; /* NULL for an owner */
    char key[VPD_CACHE_KEY_LEN + 1];
    struct vpd_lc_pending *waiters; /* an owner's */
    bool listed;                    /* in lc->inflight: others may wait */
    /* A waiter's request. */
    vpd_lc_pending **slot;
    vp_req_t *req;
    vpd_lc_lookup_fn done;
    void *arg;
};

struct vpd_lease_cache {
    uv_loop_t *loop;
    vpd_instance *store;
    const vp_cache_ops_t *ops;
    vpd_fwd *fwd;
    vpd_token_holder *holder;
    bool register_auto_auth;
    char auto_auth_id[ID_MAX]; /* its token entry */
    char *auto_auth_token;     /* secret: the token registered there */
    vpd_persist *persist;      /* optional on-disk copy (borrowed) */
    /* The static secret cache's restore, for its entries in the store. */
    int (*restore_static)(void *arg, const vp_cache_entry_t *e);
    void *restore_static_arg;
    vpd_resp_packer *pack; /* packs stored answers */
    vpd_hot *hot;          /* answers served lately, inflated */
    /* The last request's canonical form (it holds its token): wiped when
     * the cache is freed. */
    vpd_cache_key_memo key_memo;
    vpd_rt_set *watches;         /* renewal watchers, one per kept entry */
    struct renew_ctx **renewing; /* renewals under way */
    size_t n_renewing, cap_renewing;
    vpd_lc_pending *inflight[BUCKETS];
    /* Hashes of keys whose last 2xx answer was relayed uncached (a KV
     * read, say): identical requests for them go upstream side by side
     * instead of waiting for the first, whose answer they could not have
     * used.  Forgotten once an answer for the key is kept. */
    uint64_t relayed[RELAYED_SLOTS];
    vpd_lc_counters counters;
    /* During a restore: ids of earlier versions' keys whose entries were
     * kept under today's keys (cache_key.h), for the store to follow. */
    char (*upgraded)[2 * VPD_CACHE_KEY_LEN + 1];
    size_t n_upgraded, cap_upgraded;
    bool closing;
    void (*closed)(void *);
    void *closed_arg;
};

/* ---- entries ------------------------------------------------------------ */

/* Forgets the inflated copy of entry id's answer: called for every store
 * and eviction, so a hit never serves an answer the store no longer
 * holds. */
static void
hot_forget(vpd_lease_cache *lc, const char *id)
{
    unsigned char bin[VPD_CACHE_KEY_BIN_LEN];
    if (vpd_cache_key_to_bin(id, bin) == 0)
        vpd_hot_drop(lc->hot, bin);
}

static vp_status_t
store_entry(vpd_lease_cache *lc, const vp_cache_entry_t *e)
{
    hot_forget(lc, e->id);
    return lc->ops->store(&lc->store->pub, e);
}

/* A copy of the strings of an entry, for decisions made after the
 * plugin's borrowed view is gone. */
typedef struct {
    char id[ID_MAX];
    char *token; /* secret */
    char *lease;
    char *lease_token; /* secret */
    bool found;
} entry_copy;

static int
copy_visit(void *arg, const vp_cache_entry_t *e)
{
    entry_copy *c = arg;
    snprintf(c->id, sizeof c->id, "%s", e->id);
    c->token = e->token ? vpd_secret_dup(e->token, strlen(e->token)) : NULL;
    c->lease = e->lease ? strdup(e->lease) : NULL;
    c->lease_token =
        e->lease_token ? vpd_secret_dup(e->lease_token, strlen(e->lease_token))
                       : NULL;
    c->found = true;
    return 1;
}

static void
entry_copy_free(entry_copy *c)
{
    vpd_secret_free(c->token);
    vpd_secret_free(c->lease_token);
    free(c->lease);
}

/* A detached copy of a whole entry. */
typedef struct {
    vp_cache_entry_t e;
    char *strings[8];
    char *response;
} entry_full;

static char *
dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int
full_visit(void *arg, const vp_cache_entry_t *src)
{
    entry_full *f = arg;
    const char *in[8] = {src->id,    src->namespace_,     src->request_path,
                         src->token, src->token_accessor, src->token_parent,
                         src->lease, src->lease_token};
    for (int i = 0; i < 8; i++)
        f->strings[i] = dup_or_null(in[i]);
    f->response = malloc(src->response.len + 1);
    if (f->response && src->response.len)
        memcpy(f->response, src->response.ptr, src->response.len);
    f->e = (vp_cache_entry_t){
        .size = sizeof f->e,
        .id = f->strings[0],
        .namespace_ = f->strings[1],
        .request_path = f->strings[2],
        .token = f->strings[3],
        .token_accessor = f->strings[4],
        .token_parent = f->strings[5],
        .lease = f->strings[6],
        .lease_token = f->strings[7],
        .response = {f->response, f->response ? src->response.len : 0},
        .last_renewed_ms = src->last_renewed_ms,
        .ttl_ms = src->ttl_ms,
    };
    return 1;
}

static void
entry_full_free(entry_full *f)
{
    for (int i = 0; i < 8; i++) {
        if (f->strings[i])
            OPENSSL_cleanse(f->strings[i], strlen(f->strings[i]));
        free(f->strings[i]);
    }
    if (f->response)
        OPENSSL_cleanse(f->response, f->e.response.len);
    free(f->response);
}

static int
entry_full_get(vpd_lease_cache *lc, const char *id, entry_full *f)
{
    memset(f, 0, sizeof *f);
    if (lc->ops->lookup(&lc->store->pub, id, full_visit, f) != VP_DONE ||
        !f->strings[0]) {
        entry_full_free(f);
        return -1;
    }
    return 0;
}

typedef struct {
    char (*ids)[ID_MAX];
    size_t n, cap;
} id_list;

static int
collect_visit(void *arg, const vp_cache_entry_t *e)
{
    id_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *grown = realloc(l->ids, cap * sizeof *l->ids);
        if (!grown)
            return 1;
        l->ids = grown;
        l->cap = cap;
    }
    snprintf(l->ids[l->n++], sizeof l->ids[0], "%s", e->id);
    return 0;
}

static int
find_ids(vpd_lease_cache *lc, vp_cache_index_t index, const char *value,
         const char *ns, id_list *out)
{
    vp_cache_selector_t sel = {sizeof sel, index, value, ns};
    return lc->ops->find(&lc->store->pub, &sel, collect_visit, out);
}

static bool
token_is_managed(vpd_lease_cache *lc, const char *token)
{
    if (!token || !token[0])
        return false;
    vp_cache_selector_t sel = {sizeof sel, VP_CACHE_BY_TOKEN, token, NULL};
    id_list none = {0};
    int n = lc->ops->find(&lc->store->pub, &sel, collect_visit, &none);
    free(none.ids);
    return n > 0;
}

/* ---- watchers ------------------------------------------------------------ */

/* A watcher is a vpd_rt record keyed by the entry's binary id; what it
 * renews (token, lease) is read from the entry when it renews. */

typedef vpd_rt watch;

static watch *
watch_get(vpd_lease_cache *lc, const char *id)
{
    unsigned char bin[VPD_CACHE_KEY_BIN_LEN];
    if (!lc->watches || vpd_cache_key_to_bin(id, bin) != 0)
        return NULL;
    return vpd_rt_get(lc->watches, bin);
}

/* A renewal under way.  Its watcher is parked (renew_timers.h) with the
 * index of this in lc->renewing as its tag, so that the records of the
 * 100k watchers that are not renewing need no op pointer. */
typedef struct renew_ctx {
    vpd_lease_cache *lc;
    watch *w;
    vpd_fwd_op *op;
    uint32_t idx; /* in lc->renewing */
    bool token;   /* a token renewal (answers with auth) */
} renew_ctx;

static renew_ctx *
renewal_of(vpd_lease_cache *lc, const watch *w)
{
    uint32_t tag = vpd_rt_parked(w);
    if (tag == VPD_RT_NO_TAG || tag >= lc->n_renewing ||
        lc->renewing[tag]->w != w)
        return NULL;
    return lc->renewing[tag];
}

static int
renewal_add(vpd_lease_cache *lc, renew_ctx *rc)
{
    if (lc->n_renewing == lc->cap_renewing) {
        size_t cap = lc->cap_renewing ? lc->cap_renewing * 2 : 64;
        renew_ctx **v =
            cap < 0x80000000u ? realloc(lc->renewing, cap * sizeof *v) : NULL;
        if (!v)
            return -1;
        lc->renewing = v;
        lc->cap_renewing = cap;
    }
    rc->idx = (uint32_t)lc->n_renewing;
    lc->renewing[lc->n_renewing++] = rc;
    vpd_rt_park(lc->watches, rc->w, rc->idx);
    return 0;
}

static void
renewal_remove(vpd_lease_cache *lc, renew_ctx *rc)
{
    renew_ctx *last = lc->renewing[--lc->n_renewing];
    if (last != rc) {
        last->idx = rc->idx;
        lc->renewing[rc->idx] = last;
        vpd_rt_park(lc->watches, last->w, last->idx);
    }
    /* A cache filled at once renews every entry at once; the array that
     * held them all is given back once they are done. */
    if (lc->n_renewing == 0 && lc->cap_renewing > 64) {
        free(lc->renewing);
        lc->renewing = NULL;
        lc->cap_renewing = 0;
    }
}

/* Unhooks and frees a watcher, abandoning its renewal. */
static void
watch_stop(vpd_lease_cache *lc, watch *w)
{
    renew_ctx *rc = renewal_of(lc, w);
    if (rc && rc->op) {
        vpd_fwd_op *op = rc->op;
        rc->op = NULL;
        vpd_fwd_cancel(op); /* on_renewed runs now and sees CANCELLED */
    }
    vpd_rt_remove(lc->watches, w);
    lc->counters.watchers--;
}

static void evict_one(vpd_lease_cache *lc, const char *id, bool cascade);

/* The back-off before the next try after `failures` failed renewals:
 * 10 s, doubling to 5 min. */
static uint64_t
backoff_ms(unsigned failures)
{
    uint64_t ms = RENEW_BACKOFF_MIN_MS;
    for (unsigned i = 0; i < failures && ms < RENEW_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms > RENEW_BACKOFF_MAX_MS ? RENEW_BACKOFF_MAX_MS : ms;
}

/* Grace for a lease: a random value in [10 %, 20 %) of it, as Vault's
 * lifetime watcher picks it. */
static uint32_t
grace_for(uint64_t lease_ms)
{
    uint64_t g = vpd_rand_between(lease_ms / 10, lease_ms / 5);
    return g > UINT32_MAX ? UINT32_MAX : (uint32_t)g;
}

/* The watcher ends: the entry goes, its children stay until
 * their own renewals fail, as in Vault. */
static void
watch_end(vpd_lease_cache *lc, watch *w, const char *why)
{
    char id[VPD_CACHE_KEY_LEN + 1];
    vpd_cache_key_to_hex(w->id, id);
    vpd_log(VPD_LOG_DEBUG, COMPONENT, "entry %.12s: %s, evicting", id, why);
    evict_one(lc, id, false);
}

static void
on_renewed(vpd_fwd_resp *resp, void *arg)
{
    renew_ctx *rc = arg;
    vpd_lease_cache *lc = rc->lc;
    watch *w = rc->w;
    bool token_mode = rc->token;
    renewal_remove(lc, rc);
    free(rc);
    if (lc->closing || resp->error == VPD_FWD_CANCELLED)
        return;
    char id[VPD_CACHE_KEY_LEN + 1];
    vpd_cache_key_to_hex(w->id, id);
    uint64_t now = uv_now(lc->loop);
    uint64_t lease_s = 0;
    bool ok = resp->error == VPD_FWD_OK && resp->status < 400;
    if (ok) {
        json_object *root = json_tokener_parse(resp->body ? resp->body : "");
        json_object *block = root, *v = NULL;
        if (token_mode &&
            !(root && json_object_object_get_ex(root, "auth", &block)))
            ok = false; /* a token renewal must answer with auth */
        if (ok && block &&
            json_object_object_get_ex(block, "lease_duration", &v))
            lease_s = (uint64_t)json_object_get_int64(v);
        json_object_put(root);
    }
    if (!ok) {
        lc->counters.renewal_failures++;
        if (resp->error == VPD_FWD_OK && resp->status >= 400 &&
            resp->status < 500) {
            /* The server refused: the lease or token is gone. */
            watch_end(lc, w, "renewal refused");
            return;
        }
        uint64_t expires_at = vpd_rt_expires_at(lc->watches, w);
        if (now >= expires_at) {
            watch_end(lc, w, "renewal failed until the lease ran out");
            return;
        }
        /* Back off for real (OpenBao computes this wait and never sleeps
         * it): 10 s, doubling to 5 min, half of it random. */
        uint64_t half = backoff_ms(w->failures) / 2;
        uint64_t wait = vpd_rand_between(half, 2 * half);
        if (w->failures < 15)
            w->failures++;
        if (now + wait > expires_at)
            wait = expires_at - now;
        vpd_rt_schedule(lc->watches, w, wait);
        return;
    }
    lc->counters.renewals++;
    w->failures = 0;
    uint64_t lease_ms = lease_s * 1000;
    uint32_t lease_rounded =
        lease_s > VPD_RT_LEASE_S_MAX ? VPD_RT_LEASE_S_MAX : (uint32_t)lease_s;
    if (lease_rounded > w->lease_s)
        w->grace_ms = grace_for(lease_ms);
    w->lease_s = lease_rounded;
    vpd_rt_set_expires_at(lc->watches, w, now + lease_ms);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t wall = (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (lc->ops->renewed)
        lc->ops->renewed(&lc->store->pub, id, wall, lease_ms);
    if (lc->persist)
        vpd_persist_renewed(lc->persist, id, wall, lease_ms);
    /* Vault's lifetime watcher: sleep two thirds of what is left plus a
     * third of the
     * grace; inside the grace the lease is near its max TTL: let it go. */
    uint64_t sleep = lease_ms * 2 / 3 + w->grace_ms / 3;
    if (lease_ms <= w->grace_ms || lease_ms - sleep <= w->grace_ms) {
        vpd_rt_set_expires_at(lc->watches, w, 0); /* the next firing ends it */
        vpd_rt_schedule(lc->watches, w, lease_ms);
        return;
    }
    vpd_rt_schedule(lc->watches, w, sleep);
}

/* The renewal request of an entry, built from its borrowed view (the
 * forwarder copies everything before vpd_fwd_send returns). */
typedef struct {
    vpd_lease_cache *lc;
    watch *w;
    bool found, sent;
} renew_visit_ctx;

static int
renew_visit(void *arg, const vp_cache_entry_t *e)
{
    renew_visit_ctx *c = arg;
    vpd_lease_cache *lc = c->lc;
    c->found = true;
    bool lease = e->lease && e->lease[0];
    const char *token = lease ? e->lease_token : e->token;
    if (!token || !token[0])
        return 1;
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "User-Agent", VPD_API_PROXY_UA);
    vpd_hdrs_add(&h, "X-Vault-Request", "true");
    vpd_hdrs_add(&h, "X-Vault-Token", token);
    vpd_hdrs_add(&h, "Content-Type", "application/json");
    char *body = NULL;
    const char *target;
    if (lease) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "increment", json_object_new_int(0));
        json_object_object_add(o, "lease_id", json_object_new_string(e->lease));
        body =
            strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        target = "/v1/sys/leases/renew";
    } else {
        body = strdup("{\"increment\":0}");
        target = "/v1/auth/token/renew-self";
    }
    vpd_fwd_req req = {
        .method = "PUT",
        .target = target,
        .headers = &h,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .max_retries = 0,
    };
    renew_ctx *rc = body ? calloc(1, sizeof *rc) : NULL;
    if (rc) {
        *rc = (renew_ctx){.lc = lc, .w = c->w, .token = !lease};
        /* Registered first: the callback never runs before send returns,
         * and a failed send is undone below. */
        if (renewal_add(lc, rc) != 0) {
            free(rc);
            rc = NULL;
        }
    }
    if (rc && !(rc->op = vpd_fwd_send(lc->fwd, &req, on_renewed, rc))) {
        renewal_remove(lc, rc);
        free(rc);
        rc = NULL;
    }
    c->sent = rc != NULL;
    vpd_hdrs_free(&h);
    free(body);
    return 1;
}

static void
renew_now(vpd_lease_cache *lc, watch *w)
{
    if (vpd_rt_expires_at(lc->watches, w) == 0) {
        watch_end(lc, w, "lease reached its max TTL");
        return;
    }
    char id[VPD_CACHE_KEY_LEN + 1];
    vpd_cache_key_to_hex(w->id, id);
    renew_visit_ctx c = {lc, w, false, false};
    lc->ops->lookup(&lc->store->pub, id, renew_visit, &c);
    if (!c.found) {
        /* Its entry is gone without an eviction through here. */
        vpd_rt_remove(lc->watches, w);
        lc->counters.watchers--;
        return;
    }
    if (!c.sent)
        vpd_rt_schedule(lc->watches, w, RENEW_BACKOFF_MIN_MS);
}

static void
on_watch_due(void *arg, vpd_rt *w)
{
    renew_now(arg, w);
}

static void
watch_start(vpd_lease_cache *lc, const char *id, uint64_t lease_ms)
{
    unsigned char bin[VPD_CACHE_KEY_BIN_LEN];
    if (vpd_cache_key_to_bin(id, bin) != 0) {
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "entry %.12s: not a cache key, "
                "not renewed",
                id);
        return;
    }
    watch *w = vpd_rt_get(lc->watches, bin);
    if (w)
        watch_stop(lc, w); /* a replaced entry starts over */
    if (!(w = vpd_rt_add(lc->watches, bin)))
        return;
    lc->counters.watchers++;
    uint64_t lease_s = (lease_ms + 999) / 1000;
    w->lease_s =
        lease_s > VPD_RT_LEASE_S_MAX ? VPD_RT_LEASE_S_MAX : (uint32_t)lease_s;
    w->grace_ms = grace_for(lease_ms);
    vpd_rt_set_expires_at(lc->watches, w, uv_now(lc->loop) + lease_ms);
    w->failures = 0;
    renew_now(lc, w); /* the first renewal goes out at once, as in Vault */
}

/* ---- eviction ------------------------------------------------------------ */

static void
evict_ids(vpd_lease_cache *lc, id_list *ids, bool cascade)
{
    for (size_t i = 0; i < ids->n; i++)
        evict_one(lc, ids->ids[i], cascade);
    free(ids->ids);
    ids->ids = NULL;
    ids->n = ids->cap = 0;
}

/* Evicts one entry; with cascade also every token created with its token
 * and every lease obtained with it (a revoked parent takes its children,
 * as in Vault). */
static void
evict_one(vpd_lease_cache *lc, const char *id, bool cascade)
{
    entry_copy c = {0};
    lc->ops->lookup(&lc->store->pub, id, copy_visit, &c);
    watch *w = watch_get(lc, id);
    if (w)
        watch_stop(lc, w);
    vp_cache_selector_t sel = {sizeof sel, VP_CACHE_BY_ID, id, NULL};
    hot_forget(lc, id);
    if (lc->ops->evict(&lc->store->pub, &sel) > 0)
        lc->counters.evicted++;
    if (lc->persist && !lc->closing)
        vpd_persist_delete(lc->persist, id);
    if (cascade && c.found && c.token) {
        id_list kids = {0};
        find_ids(lc, VP_CACHE_BY_TOKEN_PARENT, c.token, NULL, &kids);
        find_ids(lc, VP_CACHE_BY_LEASE_TOKEN, c.token, NULL, &kids);
        evict_ids(lc, &kids, true);
    }
    entry_copy_free(&c);
}

static int
evict_by(vpd_lease_cache *lc, vp_cache_index_t index, const char *value,
         const char *ns, bool cascade)
{
    id_list ids = {0};
    find_ids(lc, index, value, ns, &ids);
    int n = (int)ids.n;
    evict_ids(lc, &ids, cascade);
    return n;
}

/* Leases whose id starts with prefix (revoke-prefix, revoke-force). */
typedef struct {
    const char *prefix;
    id_list ids;
} prefix_find;

static int
prefix_visit(void *arg, const vp_cache_entry_t *e)
{
    prefix_find *pf = arg;
    if (e->lease && strncmp(e->lease, pf->prefix, strlen(pf->prefix)) == 0)
        return collect_visit(&pf->ids, e);
    return 0;
}

static int
evict_lease_prefix(vpd_lease_cache *lc, const char *prefix)
{
    prefix_find pf = {prefix, {0}};
    vp_cache_selector_t sel = {sizeof sel, VP_CACHE_ALL, NULL, NULL};
    lc->ops->find(&lc->store->pub, &sel, prefix_visit, &pf);
    int n = (int)pf.ids.n;
    evict_ids(lc, &pf.ids, true);
    return n;
}

/* ---- the on-disk copy -----------------------------------------------------
 */

/* The store keeps what it could not write (a full disk) in memory and
 * writes it later, so a failed put means the entry is not persisted at
 * all (out of memory): the cache still holds and serves it, and the log
 * says a restart will not bring it back. */
static void
persist_put(vpd_lease_cache *lc, const vp_cache_entry_t *e)
{
    if (!lc->persist)
        return;
    int rc = vpd_persist_put(lc->persist, e);
    if (rc != 0)
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "cache entry %.12s is served from memory but not persisted: "
                "%s",
                e->id, vp_strerror(rc));
}

/* ---- the auto-auth token ------------------------------------------------- */

/* A new auto-auth token becomes a managed token entry (no response, never
 * served); the old one goes with everything created from it
 * (hashicorp/vault#25712). */
static void
on_auto_auth_token(const char *token, uint64_t generation, void *arg)
{
    vpd_lease_cache *lc = arg;
    if (lc->closing)
        return;
    /* The same token again (a re-login that got it back): nothing to do
     * (Vault's TestRegisterAutoAuth_sameToken). */
    if (lc->auto_auth_id[0] && lc->auto_auth_token &&
        strcmp(lc->auto_auth_token, token) == 0)
        return;
    vpd_secret_free(lc->auto_auth_token);
    lc->auto_auth_token = vpd_secret_dup(token, strlen(token));
    if (lc->auto_auth_id[0]) {
        char old[sizeof lc->auto_auth_id];
        snprintf(old, sizeof old, "%s", lc->auto_auth_id);
        lc->auto_auth_id[0] = '\0';
        evict_one(lc, old, true);
    }
    snprintf(lc->auto_auth_id, sizeof lc->auto_auth_id, "auto-auth-%llu",
             (unsigned long long)generation);
    vp_cache_entry_t e = {
        .size = sizeof e,
        .id = lc->auto_auth_id,
        .namespace_ = "",
        .request_path = "",
        .token = token,
    };
    if (store_entry(lc, &e) != VP_CONTINUE)
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "could not register the auto-auth token as managed");
    else
        persist_put(lc, &e);
}

/* ---- lookups ---------------------------------------------------------------
 */

typedef struct {
    vpd_lease_cache *lc;
    const unsigned char *key; /* binary */
    vpd_lc_hit *hit;
    uint64_t date; /* of the answer, seconds since the epoch; 0: unknown */
    bool found;
} hit_visit_ctx;

static int
digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Seconds since the epoch of an HTTP date ("Sun, 06 Nov 1994 08:49:37
 * GMT", the form servers send), or 0.  By hand: strptime matched every
 * month and day name against the locale, and was a quarter of a hit. */
static uint64_t
http_date(const char *s, size_t len)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *comma = memchr(s, ',', len);
    if (!comma || (size_t)(s + len - comma) < 26 || comma[1] != ' ')
        return 0;
    const char *p = comma + 2; /* "06 Nov 1994 08:49:37 GMT" */
    int day = digits(p, 2), year = digits(p + 7, 4), hh = digits(p + 12, 2),
        mm = digits(p + 15, 2), ss = digits(p + 18, 2), mon = -1;
    for (int m = 0; m < 12; m++) {
        if (memcmp(p + 3, months + 3 * m, 3) == 0)
            mon = m + 1;
    }
    if (day < 1 || day > 31 || mon < 0 || year < 1970 || hh > 23 || mm > 59 ||
        ss > 60 || hh < 0 || mm < 0 || ss < 0 || p[2] != ' ' || p[6] != ' ' ||
        p[11] != ' ' || p[14] != ':' || p[17] != ':' ||
        memcmp(p + 20, " GMT", 4) != 0)
        return 0;
    /* Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil,
     * March-based years so that leap days come last). */
    int y = year - (mon <= 2);
    int era = y / 400, yoe = y - era * 400;
    int doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    return (uint64_t)(days * 86400 + hh * 3600 + mm * 60 + ss);
}

/* The Date of a stored answer's text, or 0. */
static uint64_t
text_date(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol || eol - p <= 1)
            break; /* the blank line: no Date */
        if (eol - p > 5 && strncasecmp(p, "Date:", 5) == 0) {
            const char *v = p + 5;
            while (v < eol && *v == ' ')
                v++;
            return http_date(v, (size_t)(eol - v));
        }
        p = eol + 1;
    }
    return 0;
}

/* Parses "HTTP/1.1 200 OK\r\nName: value\r\n...\r\n\r\nbody" and takes
 * the text, whose start then holds the body (one buffer, no copy). */
int
vpd_lc_parse_stored(char *text, size_t len, vpd_lc_hit *hit)
{
    const char *p = text, *end = text + len;
    const char *eol = memchr(p, '\n', len);
    /* "HTTP/1.1", white space, the status (strtol, not sscanf: this runs
     * for every hit). */
    char *num_end = NULL;
    long status = eol && len >= 8 && memcmp(p, "HTTP/1.1", 8) == 0
                      ? strtol(p + 8, &num_end, 10)
                      : 0;
    if (!num_end || num_end == p + 8 || num_end > eol || status < INT_MIN ||
        status > INT_MAX)
        goto bad;
    hit->status = (int)status;
    p = eol + 1;
    while (p < end && *p != '\r') {
        eol = memchr(p, '\n', (size_t)(end - p));
        const char *colon = memchr(p, ':', eol ? (size_t)(eol - p) : 0);
        if (!eol || !colon || eol - p < 2)
            goto bad;
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        vpd_hdrs_addn(&hit->headers, p, (size_t)(colon - p), v,
                      (size_t)(eol - 1 - v));
        p = eol + 1;
    }
    if (end - p < 2)
        goto bad;
    p += 2;
    hit->body_len = (size_t)(end - p);
    memmove(text, p, hit->body_len);
    OPENSSL_cleanse(text + hit->body_len, len - hit->body_len);
    text[hit->body_len] = '\0';
    hit->body = text;
    return 0;
bad:
    OPENSSL_cleanse(text, len);
    free(text);
    return -1;
}

/* The words an entry's answer is packed with (resp_pack.h): the strings
 * of the entry that its body repeats. */
static void
entry_words(const vp_cache_entry_t *e, vpd_resp_meta *m)
{
    m->words[0] = e->lease;
    m->words[1] = e->token;
    m->words[2] = e->token_accessor;
}

/* The hit is built from the inflated copy when there is one (hot_answers.h),
 * else from the stored form, which then becomes the copy. */
static int
hit_visit(void *arg, const vp_cache_entry_t *e)
{
    hit_visit_ctx *c = arg;
    if (e->response.len == 0)
        return 1; /* a managed-token marker, not an answer */
    size_t len = 0;
    char *text = NULL;
    const char *hot = vpd_hot_get(c->lc->hot, c->key, &len, &c->date);
    if (hot) {
        if ((text = malloc(len + 1)) != NULL)
            memcpy(text, hot, len + 1);
    } else {
        vpd_resp_meta m = {{NULL}, 0};
        entry_words(e, &m);
        text = vpd_resp_unpack_with(c->lc->pack, e->response.ptr,
                                    e->response.len, &m, &len);
        if (text) {
            c->date = m.date ? m.date : text_date(text, len);
            vpd_hot_put(c->lc->hot, c->key, text, len, c->date);
        }
    }
    if (text && vpd_lc_parse_stored(text, len, c->hit) == 0)
        c->found = true;
    return 1;
}

/* Vault Proxy resets Date on a hit and says how old the answer is. */
static void
age_headers(vpd_lc_hit *hit, uint64_t date)
{
    uint64_t now = (uint64_t)time(NULL);
    long age = date && now > date ? (long)(now - date) : 0;
    vpd_hdrs_del(&hit->headers, "Date");
    vpd_hdrs_del(&hit->headers, "Age");
    /* Digits by hand: snprintf costs more than the rest of this. */
    char text[24], *p = text + sizeof text - 1;
    *p = '\0';
    do {
        *--p = (char)('0' + age % 10);
        age /= 10;
    } while (age && p > text);
    vpd_hdrs_add(&hit->headers, "X-Cache", "HIT");
    vpd_hdrs_add(&hit->headers, "Age", p);
}

bool
vpd_lc_has_waiters(const vpd_lc_pending *slot)
{
    return slot && !slot->owner && slot->waiters;
}

void
vpd_lc_hit_free(vpd_lc_hit *hit)
{
    vpd_hdrs_free(&hit->headers);
    free(hit->body);
    memset(hit, 0, sizeof *hit);
}

/* may_wait false: a request that already waited once; it never waits
 * again and nobody waits for it, so woken requests that still miss go
 * upstream in parallel instead of queueing one behind another.  A key
 * whose last answer was relayed uncached is treated the same from the
 * start: waiting would only delay each request by one round trip to
 * Vault, and they would all be forwarded afterwards anyway.  known_key:
 * the request's key when the caller has it already (a waiter has its
 * owner's: that is how it found the owner), else NULL. */
static void
lookup(vpd_lease_cache *lc, vp_req_t *r, vpd_lc_pending **slot,
       vpd_lc_lookup_fn done, void *arg, bool may_wait, const char *known_key)
{
    *slot = NULL;
    vpd_lc_hit hit;
    memset(&hit, 0, sizeof hit);
    char key[VPD_CACHE_KEY_LEN + 1];
    if (known_key) {
        memcpy(key, known_key, sizeof key);
    } else if (vpd_cache_key(r->http->method, r->http->target, &r->up_headers,
                             r->http->body, r->http->body_len, r->token,
                             &lc->key_memo, key) != 0) {
        done(arg, NULL);
        return;
    }
    unsigned char bin[VPD_CACHE_KEY_BIN_LEN];
    vpd_cache_key_to_bin(key, bin);
    hit_visit_ctx hv = {lc, bin, &hit, 0, false};
    if (lc->ops->lookup(&lc->store->pub, key, hit_visit, &hv) == VP_DONE &&
        hv.found) {
        lc->counters.hits++;
        age_headers(&hit, hv.date);
        done(arg, &hit);
        return;
    }
    vpd_lc_hit_free(&hit);

    uint64_t h = key_hash(key);
    if (lc->relayed[h % RELAYED_SLOTS] == h)
        may_wait = false;
    size_t b = bucket_of(h);
    for (vpd_lc_pending *t = lc->inflight[b]; may_wait && t; t = t->next) {
        if (strcmp(t->key, key) != 0)
            continue;
        vpd_lc_pending *w = calloc(1, sizeof *w);
        if (!w)
            break; /* go on alone */
        *w = (vpd_lc_pending){.owner = t,
                              .next = t->waiters,
                              .slot = slot,
                              .req = r,
                              .done = done,
                              .arg = arg};
        t->waiters = w;
        *slot = w;
        return;
    }
    vpd_lc_pending *t = calloc(1, sizeof *t);
    if (t) {
        memcpy(t->key, key, sizeof key);
        if (may_wait) {
            t->listed = true;
            t->next = lc->inflight[b];
            lc->inflight[b] = t;
        }
        lc->counters.misses++;
    }
    *slot = t;
    done(arg, NULL);
}

void
vpd_lc_lookup(vpd_lease_cache *lc, vp_req_t *r, vpd_lc_pending **slot,
              vpd_lc_lookup_fn done, void *arg)
{
    lookup(lc, r, slot, done, arg, true, NULL);
}

/* ---- deciding what to keep ---------------------------------------------- */

/* The part of path after /v1/ and any namespace, from the first of the
 * known endpoint roots. */
static const char *
endpoint_of(const char *path)
{
    if (strncmp(path, "/v1/", 4) != 0)
        return NULL;
    static const char *const roots[] = {"auth/token/", "sys/leases/",
                                        "sys/revoke", "sys/renew"};
    const char *best = NULL;
    for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
        const char *p = path + 4;
        while ((p = strstr(p, roots[i])) != NULL) {
            if (p[-1] == '/' && (!best || p < best)) {
                best = p;
                break;
            }
            p++;
        }
    }
    return best ? best : path + 4;
}

static bool
is_renewal(const char *ep)
{
    return strncmp(ep, "sys/leases/renew", 16) == 0 ||
           strncmp(ep, "sys/renew", 9) == 0 ||
           strncmp(ep, "auth/token/renew", 16) == 0;
}

static const char *
body_string(json_object *body, const char *key)
{
    json_object *v = NULL;
    if (body && json_object_object_get_ex(body, key, &v) &&
        json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

/* Re-stores an entry with token_parent cleared: its parent was revoked
 * as an orphan, so it now stands alone (Vault's revoke-orphan). */
static int
orphan_visit(void *arg, const vp_cache_entry_t *e)
{
    vpd_lease_cache *lc = arg;
    vp_cache_entry_t copy = *e;
    copy.size = sizeof copy;
    copy.token_parent = NULL;
    /* The store copies the entry; a replacement keeps its place. */
    if (store_entry(lc, &copy) == VP_CONTINUE)
        persist_put(lc, &copy);
    return 1;
}

static void
orphan_children(vpd_lease_cache *lc, const char *token)
{
    id_list kids = {0};
    find_ids(lc, VP_CACHE_BY_TOKEN_PARENT, token, NULL, &kids);
    for (size_t i = 0; i < kids.n; i++) {
        /* The visit gets the plugin's own view, which a replacing store
         * must not invalidate mid-copy: take a detached copy first. */
        entry_full full;
        if (entry_full_get(lc, kids.ids[i], &full) == 0) {
            orphan_visit(lc, &full.e);
            entry_full_free(&full);
        }
    }
    free(kids.ids);
}

/* Eviction on the revocations Vault Proxy watches for, plus the
 * URL-parameter and legacy forms Vault misses.  Errors in
 * this bookkeeping are logged, never turned into an error answer. */
static void
evict_on_revocation(vpd_lease_cache *lc, const vp_req_t *r, const char *ep)
{
    json_object *body = json_tokener_parse(r->http->body ? r->http->body : "");
    const char *v = NULL;
    int n = -1;
    if (strcmp(ep, "auth/token/revoke") == 0) {
        if ((v = body_string(body, "token")))
            n = evict_by(lc, VP_CACHE_BY_TOKEN, v, NULL, true);
    } else if (strcmp(ep, "auth/token/revoke-self") == 0) {
        n = evict_by(lc, VP_CACHE_BY_TOKEN, r->token, NULL, true);
    } else if (strcmp(ep, "auth/token/revoke-accessor") == 0) {
        if ((v = body_string(body, "accessor")))
            n = evict_by(lc, VP_CACHE_BY_TOKEN_ACCESSOR, v, NULL, true);
    } else if (strncmp(ep, "auth/token/revoke-accessor/", 27) == 0) {
        n = evict_by(lc, VP_CACHE_BY_TOKEN_ACCESSOR, ep + 27, NULL, true);
    } else if (strcmp(ep, "auth/token/revoke-orphan") == 0) {
        /* The token goes, with its leases (exact match, not Vault's
         * prefix match); its child tokens stay. */
        if ((v = body_string(body, "token"))) {
            n = evict_by(lc, VP_CACHE_BY_TOKEN, v, NULL, false);
            n += evict_by(lc, VP_CACHE_BY_LEASE_TOKEN, v, NULL, false);
            orphan_children(lc, v);
        }
    } else if (strcmp(ep, "sys/leases/revoke") == 0 ||
               strcmp(ep, "sys/revoke") == 0) {
        if ((v = body_string(body, "lease_id")))
            n = evict_by(lc, VP_CACHE_BY_LEASE, v, NULL, true);
    } else if (strncmp(ep, "sys/leases/revoke/", 18) == 0) {
        n = evict_by(lc, VP_CACHE_BY_LEASE, ep + 18, NULL, true);
    } else if (strncmp(ep, "sys/revoke/", 11) == 0) {
        n = evict_by(lc, VP_CACHE_BY_LEASE, ep + 11, NULL, true);
    } else if (strncmp(ep, "sys/leases/revoke-prefix/", 25) == 0 ||
               strncmp(ep, "sys/leases/revoke-force/", 24) == 0) {
        n = evict_lease_prefix(lc, strchr(ep + 11, '/') + 1);
    } else if (strncmp(ep, "sys/revoke-prefix/", 18) == 0 ||
               strncmp(ep, "sys/revoke-force/", 17) == 0) {
        n = evict_lease_prefix(lc, strchr(ep + 4, '/') + 1);
    } else {
        json_object_put(body);
        return;
    }
    if (n < 0)
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "revocation %s: could not tell what "
                "to evict from the request",
                ep);
    else if (n > 0)
        vpd_log(VPD_LOG_DEBUG, COMPONENT, "revocation %s evicted %d entr%s", ep,
                n, n == 1 ? "y" : "ies");
    json_object_put(body);
}

/* The stored form of an answer (resp_pack.h) for entry e.  A Date that
 * reads as a date is kept as a number, not in the text. */
static char *
serialise(vpd_lease_cache *lc, const vp_cache_entry_t *e,
          const vpd_fwd_resp *resp, size_t *len)
{
    vpd_resp_meta m = {{NULL}, 0};
    entry_words(e, &m);
    vpd_buf b = VPD_BUF_INIT;
    int rc = vpd_buf_printf(&b, "HTTP/1.1 %d %s\r\n", resp->status,
                            vpd_http_reason(resp->status));
    for (size_t i = 0; i < resp->headers.n; i++) {
        const vpd_hdr *h = &resp->headers.v[i];
        if (!m.date && strcasecmp(h->name, "Date") == 0 &&
            (m.date = http_date(h->value, strlen(h->value))) != 0)
            continue;
        rc |= vpd_buf_printf(&b, "%s: %s\r\n", h->name, h->value);
    }
    rc |= vpd_buf_append(&b, "\r\n", 2);
    rc |= vpd_buf_append(&b, resp->body ? resp->body : "", resp->body_len);
    char *packed =
        rc == 0 ? vpd_resp_pack_with(lc->pack, b.data, b.len, &m, len) : NULL;
    vpd_buf_free_secret(&b);
    return packed;
}

/* Whether the answer may say "renewable": true anywhere, which every answer
 * kept here does (a lease's, or its auth's).  Most answers that pass
 * through (KV reads, lists, sys/) say false or nothing, and telling them
 * apart costs a scan instead of a JSON parse of the whole body.  A key
 * written with escapes would be missed, and the answer then only goes
 * uncached, never wrongly cached. */
static bool
may_be_renewable(const char *body, size_t len)
{
    static const char key[] = "\"renewable\"";
    const char *end = body + len;
    for (const char *p = body;
         (p = memmem(p, (size_t)(end - p), key, sizeof key - 1)) != NULL;) {
        p += sizeof key - 1;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        if (p == end || *p != ':')
            continue;
        p++;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        if ((size_t)(end - p) >= 4 && memcmp(p, "true", 4) == 0)
            return true;
    }
    return false;
}

/* What became of an upstream answer. */
typedef enum {
    ANSWER_KEPT,
    ANSWER_RELAYED, /* a success, not for keeping: the next one won't be */
    ANSWER_OTHER    /* an error, or a keeper the store refused */
} answer_fate;

static answer_fate
maybe_store(vpd_lease_cache *lc, const char *key, const vp_req_t *r,
            const vpd_fwd_resp *resp)
{
    const char *path = r->http->path;
    const char *ep = endpoint_of(path);
    if (resp->error != VPD_FWD_OK || resp->status >= 300)
        return ANSWER_OTHER;
    if (!ep)
        return ANSWER_RELAYED;
    const char *ctype = vpd_hdrs_get(&resp->headers, "Content-Type", 0);
    if (!ctype || strcmp(ctype, "application/json") != 0)
        return ANSWER_RELAYED;
    if (resp->status == 204) {
        evict_on_revocation(lc, r, ep);
        return ANSWER_RELAYED;
    }
    if (!resp->body_len || is_renewal(ep) ||
        !may_be_renewable(resp->body, resp->body_len))
        return ANSWER_RELAYED;
    json_object *root = json_tokener_parse(resp->body);
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return ANSWER_RELAYED;
    }
    json_object *auth = NULL, *v = NULL;
    bool renewable = json_object_object_get_ex(root, "renewable", &v) &&
                     json_object_get_boolean(v);
    bool has_auth = json_object_object_get_ex(root, "auth", &auth) &&
                    json_object_is_type(auth, json_type_object);
    bool token_renewable = has_auth &&
                           json_object_object_get_ex(auth, "renewable", &v) &&
                           json_object_get_boolean(v);
    const char *lease = body_string(root, "lease_id");
    uint64_t ttl_s = 0;
    if (json_object_object_get_ex(has_auth ? auth : root, "lease_duration", &v))
        ttl_s = (uint64_t)json_object_get_int64(v);

    vp_cache_entry_t e = {.size = sizeof e, .id = key};
    const char *ns = vpd_hdrs_get(&r->up_headers, "X-Vault-Namespace", 0);
    e.namespace_ = ns && ns[0] ? ns : "root/";
    e.request_path = path;
    bool keep = false;
    if (!renewable && !token_renewable) {
        keep = false; /* KV reads, batch tokens, wrapped answers */
    } else if (lease && lease[0]) {
        keep = token_is_managed(lc, r->token);
        e.lease = lease;
        e.lease_token = r->token;
    } else if (has_auth) {
        const char *token = body_string(auth, "client_token");
        bool orphan = json_object_object_get_ex(auth, "orphan", &v) &&
                      json_object_get_boolean(v);
        if (token && token[0]) {
            keep = orphan || token_is_managed(lc, r->token);
            e.token = token;
            e.token_accessor = body_string(auth, "accessor");
            e.token_parent = orphan ? NULL : r->token;
        }
    }
    answer_fate fate = keep ? ANSWER_OTHER : ANSWER_RELAYED;
    if (keep) {
        size_t len = 0;
        char *raw = serialise(lc, &e, resp, &len);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        e.response.ptr = raw;
        e.response.len = len;
        e.last_renewed_ms = (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        e.ttl_ms = ttl_s * 1000;
        vp_status_t rc = raw ? store_entry(lc, &e) : VP_ERROR;
        if (rc == VP_CONTINUE) {
            fate = ANSWER_KEPT;
            lc->counters.stored++;
            persist_put(lc, &e);
            watch_start(lc, key, ttl_s * 1000);
        } else if (rc == VP_DECLINED) {
            lc->counters.refused_full++;
            vpd_log(VPD_LOG_WARN, COMPONENT,
                    "cache full: %s relayed "
                    "uncached",
                    path);
        }
        if (raw) {
            OPENSSL_cleanse(raw, len);
            free(raw);
        }
    }
    json_object_put(root);
    return fate;
}

/* A waiter whose request ended before the one it waited for. */
static void
drop_waiter(vpd_lc_pending *w)
{
    for (vpd_lc_pending **pp = &w->owner->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    free(w);
}

void
vpd_lc_settle(vpd_lease_cache *lc, vpd_lc_pending **slot, const vp_req_t *r,
              const vpd_fwd_resp *resp)
{
    vpd_lc_pending *t = *slot;
    if (!t)
        return;
    *slot = NULL;
    if (t->owner) {
        drop_waiter(t);
        return;
    }
    uint64_t h = key_hash(t->key);
    if (resp && !lc->closing) {
        uint64_t *relayed = &lc->relayed[h % RELAYED_SLOTS];
        answer_fate fate = maybe_store(lc, t->key, r, resp);
        if (fate == ANSWER_RELAYED)
            *relayed = h;
        else if (fate == ANSWER_KEPT && *relayed == h)
            *relayed = 0;
    }
    vpd_lc_pending **pp = &lc->inflight[bucket_of(h)];
    while (t->listed && *pp && *pp != t)
        pp = &(*pp)->next;
    if (t->listed && *pp)
        *pp = t->next;
    /* Each waiter looks up again: a hit now, or its own forward.  One at a
     * time off the list, so that a waiter whose request ends meanwhile
     * can still take itself out of it. */
    vpd_lc_pending *w;
    while ((w = t->waiters) != NULL) {
        t->waiters = w->next;
        vpd_lc_pending **wslot = w->slot;
        vp_req_t *wreq = w->req;
        vpd_lc_lookup_fn wdone = w->done;
        void *warg = w->arg;
        free(w);
        lookup(lc, wreq, wslot, wdone, warg, false, t->key);
    }
    free(t);
}

/* ---- cache-clear ------------------------------------------------------- */

int
vpd_lc_clear(vpd_lease_cache *lc, const vpd_lc_selector *sel)
{
    const char *value = sel->value ? sel->value : "";
    const char *ns =
        sel->namespace_ && sel->namespace_[0] ? sel->namespace_ : "root/";
    if (sel->type != VPD_LC_CLEAR_ALL && !value[0])
        return VPD_LC_CLEAR_NO_VALUE;
    switch (sel->type) {
    case VPD_LC_CLEAR_REQUEST_PATH:
        return evict_by(lc, VP_CACHE_BY_REQUEST_PATH, value, ns, true);
    case VPD_LC_CLEAR_TOKEN:
        return evict_by(lc, VP_CACHE_BY_TOKEN, value, NULL, true);
    case VPD_LC_CLEAR_TOKEN_ACCESSOR:
        return evict_by(lc, VP_CACHE_BY_TOKEN_ACCESSOR, value, NULL, true);
    case VPD_LC_CLEAR_LEASE:
        return evict_by(lc, VP_CACHE_BY_LEASE, value, NULL, true);
    case VPD_LC_CLEAR_ALL:
        break;
    }
    int n = evict_by(lc, VP_CACHE_ALL, NULL, NULL, false);
    if (lc->persist)
        vpd_persist_clear(lc->persist);
    if (lc->auto_auth_id[0]) {
        /* Everything went, the auto-auth marker too: put it back. */
        lc->auto_auth_id[0] = '\0';
        const char *cur = vpd_token_current(lc->holder);
        if (cur && lc->register_auto_auth)
            on_auto_auth_token(cur, vpd_token_generation(lc->holder), lc);
    }
    return n;
}

/* ---- life ------------------------------------------------------------------
 */

vpd_lease_cache *
vpd_lease_cache_new(uv_loop_t *loop, vpd_instance *store, vpd_fwd *fwd,
                    vpd_token_holder *holder, bool register_auto_auth)
{
    vpd_lease_cache *lc = calloc(1, sizeof *lc);
    if (!lc)
        return NULL;
    lc->loop = loop;
    lc->store = store;
    lc->ops = vpd_instance_ops(store);
    lc->fwd = fwd;
    lc->holder = holder;
    lc->register_auto_auth = register_auto_auth;
    lc->pack = vpd_resp_pack_new();
    lc->hot = vpd_hot_new();
    if (!lc->pack || !lc->hot ||
        !(lc->watches = vpd_rt_new(loop, on_watch_due, lc))) {
        vpd_resp_pack_free(lc->pack);
        vpd_hot_free(lc->hot);
        free(lc);
        return NULL;
    }
    if (register_auto_auth)
        vpd_token_listen(holder, on_auto_auth_token, lc);
    return lc;
}

/* ---- persistence ----------------------------------------------------------
 */

static uint64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Remembers the earlier-version id of an entry restored under today's key;
 * without memory the store just keeps the old id (found by no request). */
static void
note_upgraded(vpd_lease_cache *lc, const char *old_id)
{
    if (lc->n_upgraded == lc->cap_upgraded) {
        size_t cap = lc->cap_upgraded ? lc->cap_upgraded * 2 : 16;
        void *v = realloc(lc->upgraded, cap * sizeof *lc->upgraded);
        if (!v)
            return;
        lc->upgraded = v;
        lc->cap_upgraded = cap;
    }
    snprintf(lc->upgraded[lc->n_upgraded++], sizeof lc->upgraded[0], "%s",
             old_id);
}

/* After a restore: the store keeps the upgraded entries under today's
 * keys, so that renewals and evictions reach them. */
static void
persist_upgraded(vpd_lease_cache *lc)
{
    for (size_t i = 0; lc->persist && i < lc->n_upgraded; i++) {
        char key[VPD_CACHE_KEY_LEN + 1];
        entry_full f;
        if (vpd_cache_key_upgrade(lc->upgraded[i], key) != 0 ||
            entry_full_get(lc, key, &f) != 0)
            continue;
        vpd_persist_delete(lc->persist, lc->upgraded[i]);
        persist_put(lc, &f.e);
        entry_full_free(&f);
    }
    free(lc->upgraded);
    lc->upgraded = NULL;
    lc->n_upgraded = lc->cap_upgraded = 0;
}

/* One restored entry (tokens first, then the rest in creation order):
 * an entry whose parent token is not back is refused, as Vault's restore
 * does.  An entry an earlier version keyed with the whole SHA-256 is kept
 * under today's key, so that the same request finds it again. */
static int
restore_entry(void *arg, const vp_cache_entry_t *e)
{
    vpd_lease_cache *lc = arg;
    if (vpd_persist_is_static_entry(e))
        return lc->restore_static
                   ? lc->restore_static(lc->restore_static_arg, e)
                   : 0;
    char key[VPD_CACHE_KEY_LEN + 1];
    vp_cache_entry_t today;
    const char *old_id = NULL;
    if (vpd_cache_key_upgrade(e->id, key) == 0) {
        today = *e;
        today.id = key;
        old_id = e->id;
        e = &today;
    }
    if (vpd_persist_is_token_entry(e)) {
        if (store_entry(lc, e) != VP_CONTINUE)
            return 1;
        snprintf(lc->auto_auth_id, sizeof lc->auto_auth_id, "%s", e->id);
        vpd_secret_free(lc->auto_auth_token);
        lc->auto_auth_token = vpd_secret_dup(e->token, strlen(e->token));
        return 0;
    }
    const char *parent = e->lease ? e->lease_token : e->token_parent;
    if (parent && parent[0] && !token_is_managed(lc, parent)) {
        vpd_log(VPD_LOG_WARN, COMPONENT,
                "restore: entry %.12s: could not "
                "find its parent token",
                e->id);
        return 1;
    }
    if (store_entry(lc, e) != VP_CONTINUE)
        return 1;
    if (old_id)
        note_upgraded(lc, old_id);
    uint64_t age =
        wall_ms() > e->last_renewed_ms ? wall_ms() - e->last_renewed_ms : 0;
    uint64_t left = e->ttl_ms > age ? e->ttl_ms - age : 0;
    const char *renewer = e->lease ? e->lease_token : e->token;
    if (renewer && renewer[0])
        watch_start(lc, e->id, left);
    lc->counters.stored++;
    return 0;
}

void
vpd_lc_set_static_restore(vpd_lease_cache *lc,
                          int (*fn)(void *arg, const vp_cache_entry_t *e),
                          void *arg)
{
    lc->restore_static = fn;
    lc->restore_static_arg = arg;
}

int
vpd_lc_restore(vpd_lease_cache *lc, vpd_persist *p, char **auto_auth_token,
               char *err, size_t err_len)
{
    lc->persist = p;
    vpd_persist_restore_stats st;
    int n = vpd_persist_restore(p, wall_ms(), restore_entry, lc,
                                auto_auth_token, &st, err, err_len);
    if (n < 0) {
        lc->persist = NULL;
        persist_upgraded(lc);
        return -1;
    }
    vpd_log(VPD_LOG_INFO, COMPONENT,
            "restored %d cache entr%s (%u expired, "
            "%u without their parent)%s",
            n, n == 1 ? "y" : "ies", st.expired, st.failed,
            st.deleted ? "; the cache file was removed (keep_after_import "
                         "is false)"
                       : "");
    if (!vpd_persist_active(p))
        lc->persist = NULL;
    persist_upgraded(lc);
    if (lc->persist) /* compactions off the loop from now on */
        vpd_persist_set_loop(p, lc->loop);
    if (st.failed > 0) {
        snprintf(err, err_len, "%u cache entr%s could not be restored",
                 st.failed, st.failed == 1 ? "y" : "ies");
        return 1;
    }
    return 0;
}

const vpd_lc_counters *
vpd_lc_counters_get(const vpd_lease_cache *lc)
{
    return &lc->counters;
}

/* Frees the cache once the watchers' timer is closed. */
static void
lc_free(void *arg)
{
    vpd_lease_cache *lc = arg;
    void (*done)(void *) = lc->closed;
    void *done_arg = lc->closed_arg;
    for (size_t b = 0; b < BUCKETS; b++) {
        while (lc->inflight[b]) {
            vpd_lc_pending *t = lc->inflight[b];
            lc->inflight[b] = t->next;
            while (t->waiters) {
                vpd_lc_pending *w = t->waiters;
                t->waiters = w->next;
                free(w);
            }
            free(t);
        }
    }
    vpd_secret_free(lc->auto_auth_token);
    vpd_resp_pack_free(lc->pack);
    vpd_hot_free(lc->hot);
    vpd_cache_key_memo_wipe(&lc->key_memo);
    free(lc);
    if (done)
        done(done_arg);
}

void
vpd_lc_close(vpd_lease_cache *lc, void (*done)(void *), void *arg)
{
    lc->closing = true;
    lc->closed = done;
    lc->closed_arg = arg;
    /* Renewals under way are abandoned (each callback takes its own out
     * of the array); the records go with the set. */
    while (lc->n_renewing) {
        size_t before = lc->n_renewing;
        renew_ctx *rc = lc->renewing[before - 1];
        vpd_fwd_op *op = rc->op;
        rc->op = NULL;
        if (op)
            vpd_fwd_cancel(op);
        if (lc->n_renewing == before) { /* no callback took it out */
            renewal_remove(lc, rc);
            free(rc);
        }
    }
    free(lc->renewing);
    lc->renewing = NULL;
    /* The store's retry timer must close while the loop still runs. */
    if (lc->persist)
        vpd_persist_set_loop(lc->persist, NULL);
    vpd_rt_close(lc->watches, lc_free, lc);
    lc->watches = NULL;
}
