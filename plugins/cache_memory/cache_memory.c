/* Cache "memory": the lease cache's in-memory database (spec 2.5-2.7, 2.9,
 * 2.11), the counterpart of OpenBao's cachememdb.  The core decides what is
 * cached, renews it and says what to evict; this plugin only keeps the
 * entries and finds them by the indexes of cache.h.
 *
 * Layout.  Each entry is ONE allocation: a header (the public
 * vp_cache_entry_t, index links, cached hashes) followed by the response
 * bytes and every string, all NUL-terminated.  Entry data is secret
 * (tokens, leases, response bodies) and is wiped with explicit_bzero
 * before it is freed.
 *
 * Indexes.  Seven open-addressing hash tables (linear probing, load <= 1/2,
 * backward-shift deletion, so no tombstones), keyed with SipHash-1-3 under
 * a per-instance random key (ids are client-influenced: no hash flooding):
 *
 *   id               unique: a slot holds the entry.
 *   token, token_accessor, lease, token_parent, lease_token, namespace_
 *                    a slot holds the head of an intrusive doubly-linked
 *                    list of the entries sharing that value.  "Unique"
 *                    indexes use the same structure: the core should never
 *                    store two entries with one token or lease, but if it
 *                    does (a cached renewal carries the same token / lease
 *                    as the original), both stay findable and evictable
 *                    rather than one becoming unreachable.
 *   request_path     the namespace_ table groups entries by namespace; a
 *                    request_path selector scans that namespace's group
 *                    and keeps the paths with the prefix: O(entries in
 *                    that namespace).  Path clears are rare (cache-clear
 *                    API, spec 2.11) so no ordered structure is kept.
 *
 * NULL and "" index values are not indexed (cachememdb's "optional"
 * indexes), so a selector with an empty value matches nothing; VP_CACHE_ALL
 * ignores the value.  An entry is in the request_path index only with a
 * namespace_ and a request_path.
 *
 * Visits.  lookup and find call back into the core with borrowed entries;
 * the core may evict or store from inside a visit.  While a visit is under
 * way, removed entries are unlinked at once (so they are never found
 * again) but only freed when the outermost visit returns; find visits a
 * snapshot of its matches and skips the ones removed meanwhile.
 *
 * Limits.  max_entries and max_bytes bound the cache; a store that would
 * pass either is declined (the core relays the answer uncached).  Nothing
 * is ever evicted here: the proxy owns the renewals of what it stored. */
#include <inttypes.h>
#include <string.h>

#include <vaproxy/vaproxy.h>

/* ---- entries ----------------------------------------------------------- */

enum {
    T_ID,
    T_TOKEN,
    T_ACCESSOR,
    T_LEASE,
    T_PARENT,
    T_LEASE_TOKEN,
    T_NS, /* request_path: namespace exact, then a prefix scan */
    T_COUNT
};

typedef struct mc_entry mc_entry;

typedef struct {
    mc_entry *prev, *next;
} mc_link;

struct mc_entry {
    vp_cache_entry_t pub;       /* strings point into data[] */
    mc_link link[T_COUNT - 1];  /* link[t - 1]: same value in table t */
    uint32_t hash[T_COUNT];     /* of each indexed value */
    uint32_t dead;              /* removed during a visit, not yet freed */
    size_t alloc;               /* size of this allocation */
    char data[];                /* response, then the strings */
};

/* Where each table's value lives in an entry. */
static const size_t key_off[T_COUNT] = {
    offsetof(vp_cache_entry_t, id),
    offsetof(vp_cache_entry_t, token),
    offsetof(vp_cache_entry_t, token_accessor),
    offsetof(vp_cache_entry_t, lease),
    offsetof(vp_cache_entry_t, token_parent),
    offsetof(vp_cache_entry_t, lease_token),
    offsetof(vp_cache_entry_t, namespace_),
};

/* The strings copied into an entry, in data[] order. */
static const size_t str_off[] = {
    offsetof(vp_cache_entry_t, id),
    offsetof(vp_cache_entry_t, namespace_),
    offsetof(vp_cache_entry_t, request_path),
    offsetof(vp_cache_entry_t, token),
    offsetof(vp_cache_entry_t, token_accessor),
    offsetof(vp_cache_entry_t, token_parent),
    offsetof(vp_cache_entry_t, lease),
    offsetof(vp_cache_entry_t, lease_token),
};
#define N_STR (sizeof str_off / sizeof str_off[0])

/* What a hash slot costs an entry, amortised (8-byte slot, load 1/4..1/2),
 * counted in `bytes` for each index the entry is in. */
#define SLOT_COST 16u

#define TAB_MIN 16u

static const char **
field(vp_cache_entry_t *e, size_t off)
{
    return (const char **)(void *)((char *)e + off);
}

static const char *
cfield(const vp_cache_entry_t *e, size_t off)
{
    return *(const char *const *)(const void *)((const char *)e + off);
}

/* The value entry e is indexed by in table t, or NULL when it is not in
 * that index. */
static const char *
entry_key(const vp_cache_entry_t *e, int t)
{
    const char *k = cfield(e, key_off[t]);
    if (!k || !k[0])
        return NULL;
    if (t == T_NS && !e->request_path)
        return NULL;
    return k;
}

static size_t
entry_cost(const mc_entry *e)
{
    size_t cost = e->alloc;
    for (int t = 0; t < T_COUNT; t++)
        cost += entry_key(&e->pub, t) ? SLOT_COST : 0;
    return cost;
}

/* ---- SipHash-1-3 ------------------------------------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                             \
    do {                                                                     \
        v0 += v1;                                                            \
        v1 = ROTL(v1, 13);                                                   \
        v1 ^= v0;                                                            \
        v0 = ROTL(v0, 32);                                                   \
        v2 += v3;                                                            \
        v3 = ROTL(v3, 16);                                                   \
        v3 ^= v2;                                                            \
        v0 += v3;                                                            \
        v3 = ROTL(v3, 21);                                                   \
        v3 ^= v0;                                                            \
        v2 += v1;                                                            \
        v1 = ROTL(v1, 17);                                                   \
        v1 ^= v2;                                                            \
        v2 = ROTL(v2, 32);                                                   \
    } while (0)

static uint64_t
load64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t
siphash13(const uint64_t key[2], const void *src, size_t len)
{
    const unsigned char *p = src;
    uint64_t v0 = 0x736f6d6570736575ULL ^ key[0];
    uint64_t v1 = 0x646f72616e646f6dULL ^ key[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ key[0];
    uint64_t v3 = 0x7465646279746573ULL ^ key[1];
    uint64_t b = (uint64_t)len << 56;
    const unsigned char *end = p + (len & ~(size_t)7);
    for (; p != end; p += 8) {
        uint64_t m = load64le(p);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    switch (len & 7) {
    case 7:
        b |= (uint64_t)p[6] << 48;
        /* fall through */
    case 6:
        b |= (uint64_t)p[5] << 40;
        /* fall through */
    case 5:
        b |= (uint64_t)p[4] << 32;
        /* fall through */
    case 4:
        b |= (uint64_t)p[3] << 24;
        /* fall through */
    case 3:
        b |= (uint64_t)p[2] << 16;
        /* fall through */
    case 2:
        b |= (uint64_t)p[1] << 8;
        /* fall through */
    case 1:
        b |= (uint64_t)p[0];
        break;
    default:
        break;
    }
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- hash tables ------------------------------------------------------- */

/* Open addressing, linear probing; a slot holds an entry (T_ID) or the
 * head of the list of entries sharing a value.  cap = mask + 1, a power of
 * two; used <= cap / 2. */
typedef struct {
    mc_entry **slot;
    size_t mask;
    size_t used;
} mc_tab;

typedef struct {
    mc_tab tab[T_COUNT];
    uint64_t key[2];            /* SipHash key, random per instance */
    uint64_t entries, bytes;
    uint64_t max_entries, max_bytes;
    unsigned busy;              /* visits under way */
    mc_entry *graveyard;        /* removed during a visit (via link[0]) */
    int full_logged;
} mc_state;

static uint32_t
hash_str(const mc_state *st, const char *s)
{
    uint64_t h = siphash13(st->key, s, strlen(s));
    return (uint32_t)(h ^ (h >> 32));
}

/* The slot holding value `key` in table t, or the empty slot where it
 * would go (*found = 0). */
static size_t
tab_probe(const mc_tab *tb, int t, const char *key, uint32_t h, int *found)
{
    size_t i = h & tb->mask;
    for (;;) {
        const mc_entry *e = tb->slot[i];
        if (!e) {
            *found = 0;
            return i;
        }
        if (e->hash[t] == h && strcmp(cfield(&e->pub, key_off[t]), key) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & tb->mask;
    }
}

/* The slot holding entry e (which heads its list). */
static size_t
tab_slot_of(const mc_tab *tb, int t, const mc_entry *e)
{
    size_t i = e->hash[t] & tb->mask;
    while (tb->slot[i] != e)
        i = (i + 1) & tb->mask;
    return i;
}

/* Empties slot i and shifts back the run after it. */
static void
tab_delete_slot(mc_tab *tb, int t, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & tb->mask;
        mc_entry *e = tb->slot[j];
        if (!e)
            break;
        size_t home = e->hash[t] & tb->mask;
        /* e may move to i unless its home lies cyclically in (i, j]. */
        int movable = j > i ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            tb->slot[i] = e;
            i = j;
        }
    }
    tb->slot[i] = NULL;
    tb->used--;
}

static int
tab_resize(const vp_host_api_t *host, mc_tab *tb, int t, size_t cap)
{
    mc_entry **slot = host->calloc(cap, sizeof *slot);
    if (!slot)
        return VP_ENOMEM;
    size_t mask = cap - 1;
    for (size_t i = 0; tb->slot && i <= tb->mask; i++) {
        mc_entry *e = tb->slot[i];
        if (!e)
            continue;
        size_t j = e->hash[t] & mask;
        while (slot[j])
            j = (j + 1) & mask;
        slot[j] = e;
    }
    host->free(tb->slot);
    tb->slot = slot;
    tb->mask = mask;
    return 0;
}

/* Room for one more value. */
static int
tab_reserve(const vp_host_api_t *host, mc_tab *tb, int t)
{
    size_t cap = tb->mask + 1;
    if ((tb->used + 1) * 2 <= cap)
        return 0;
    if (cap > SIZE_MAX / 2 / sizeof(mc_entry *))
        return VP_ENOMEM;
    return tab_resize(host, tb, t, cap * 2);
}

/* Gives memory back after evictions (failure is harmless). */
static void
tab_shrink(const vp_host_api_t *host, mc_tab *tb, int t)
{
    size_t cap = tb->mask + 1;
    if (cap <= TAB_MIN || tb->used * 8 >= cap)
        return;
    size_t want = TAB_MIN;
    while (want < tb->used * 4)
        want *= 2;
    tab_resize(host, tb, t, want);
}

static void
tab_link(mc_tab *tb, int t, mc_entry *e)
{
    const char *k = entry_key(&e->pub, t);
    if (!k)
        return;
    int found = 0;
    size_t i = tab_probe(tb, t, k, e->hash[t], &found);
    if (t != T_ID) {
        mc_link *l = &e->link[t - 1];
        l->prev = NULL;
        l->next = found ? tb->slot[i] : NULL;
        if (found)
            tb->slot[i]->link[t - 1].prev = e;
    }
    if (!found)
        tb->used++;
    tb->slot[i] = e;
}

static void
tab_unlink(mc_tab *tb, int t, mc_entry *e)
{
    if (!entry_key(&e->pub, t))
        return;
    if (t == T_ID) {
        tab_delete_slot(tb, t, tab_slot_of(tb, t, e));
        return;
    }
    mc_link *l = &e->link[t - 1];
    if (l->next)
        l->next->link[t - 1].prev = l->prev;
    if (l->prev) {
        l->prev->link[t - 1].next = l->next;
    } else {
        size_t i = tab_slot_of(tb, t, e);
        if (l->next)
            tb->slot[i] = l->next;
        else
            tab_delete_slot(tb, t, i);
    }
    l->prev = l->next = NULL;
}

/* The first entry with `value` in table t, or NULL. */
static mc_entry *
tab_get(const mc_state *st, int t, const char *value)
{
    if (!value || !value[0])
        return NULL;
    int found = 0;
    const mc_tab *tb = &st->tab[t];
    size_t i = tab_probe(tb, t, value, hash_str(st, value), &found);
    return found ? tb->slot[i] : NULL;
}

/* ---- entry life -------------------------------------------------------- */

static void
entry_free(const vp_host_api_t *host, mc_entry *e)
{
    explicit_bzero(e->data, e->alloc - sizeof *e);
    host->free(e);
}

static void
bury_graveyard(const vp_host_api_t *host, mc_state *st)
{
    while (st->graveyard) {
        mc_entry *e = st->graveyard;
        st->graveyard = e->link[0].next;
        entry_free(host, e);
    }
}

/* Takes e out of every index and the accounting; frees it now, or when the
 * visits under way end. */
static void
entry_remove(const vp_host_api_t *host, mc_state *st, mc_entry *e)
{
    st->bytes -= entry_cost(e);
    st->entries--;
    for (int t = 0; t < T_COUNT; t++)
        tab_unlink(&st->tab[t], t, e);
    if (st->busy) {
        e->dead = 1;
        e->link[0].next = st->graveyard;
        st->graveyard = e;
    } else {
        entry_free(host, e);
    }
}

static void
visits_begin(mc_state *st)
{
    st->busy++;
}

static void
visits_end(const vp_host_api_t *host, mc_state *st)
{
    if (--st->busy == 0)
        bury_graveyard(host, st);
}

/* ---- the ops ----------------------------------------------------------- */

static const vp_conf_field_t memory_schema[] = {
    {"max_entries", VP_CONF_INT, 0, "100000",
     "most entries kept; further answers are relayed uncached"},
    {"max_bytes", VP_CONF_INT, 0, "268435456",
     "most bytes kept (responses, strings and per-entry overhead)"},
    {NULL, 0, 0, NULL, NULL},
};

static int
read_limit(vp_instance_t *inst, const char *key, uint64_t *out)
{
    int64_t v = 0;
    if (inst->host->conf_int(inst, key, &v) != 0 || v <= 0) {
        inst->host->set_error(inst, "%s must be a positive integer", key);
        return VP_EINVAL;
    }
    *out = (uint64_t)v;
    return 0;
}

static void memory_destroy(vp_instance_t *inst);

static int
memory_create(vp_instance_t *inst)
{
    const vp_host_api_t *host = inst->host;
    uint64_t max_entries = 0, max_bytes = 0;
    int rc;
    if ((rc = read_limit(inst, "max_entries", &max_entries)) != 0
        || (rc = read_limit(inst, "max_bytes", &max_bytes)) != 0)
        return rc;
    mc_state *st = host->calloc(1, sizeof *st);
    if (!st)
        return VP_ENOMEM;
    inst->data = st;
    st->max_entries = max_entries;
    st->max_bytes = max_bytes;
    if (host->random_bytes(st->key, sizeof st->key) != 0) {
        host->set_error(inst, "no random bytes for the hash key");
        memory_destroy(inst);
        return VP_EIO;
    }
    for (int t = 0; t < T_COUNT; t++) {
        if (tab_resize(host, &st->tab[t], t, TAB_MIN) != 0) {
            memory_destroy(inst);
            return VP_ENOMEM;
        }
    }
    return 0;
}

static void
memory_destroy(vp_instance_t *inst)
{
    const vp_host_api_t *host = inst->host;
    mc_state *st = inst->data;
    if (!st)
        return;
    mc_tab *ids = &st->tab[T_ID];
    for (size_t i = 0; ids->slot && i <= ids->mask; i++) {
        if (ids->slot[i])
            entry_free(host, ids->slot[i]);
    }
    bury_graveyard(host, st);
    for (int t = 0; t < T_COUNT; t++)
        host->free(st->tab[t].slot);
    explicit_bzero(st->key, sizeof st->key);
    host->free(st);
    inst->data = NULL;
}

static vp_status_t
memory_lookup(vp_instance_t *inst, const char *id, vp_cache_visit_fn visit,
              void *arg)
{
    mc_state *st = inst->data;
    mc_entry *e = tab_get(st, T_ID, id);
    if (!e)
        return VP_DECLINED;
    if (visit) {
        visits_begin(st);
        visit(arg, &e->pub);
        visits_end(inst->host, st);
    }
    return VP_DONE;
}

static vp_status_t
memory_store(vp_instance_t *inst, const vp_cache_entry_t *entry)
{
    const vp_host_api_t *host = inst->host;
    mc_state *st = inst->data;

    /* Our view of the entry: exactly the ABI 1.0 fields, whatever the
     * core's struct adds after them. */
    if (!entry || entry->size < sizeof(vp_cache_entry_t)) {
        host->set_error(inst, "cache entry of %zu bytes, less than the %zu "
                              "of ABI 1.0", entry ? entry->size : (size_t)0,
                        sizeof(vp_cache_entry_t));
        return VP_ERROR;
    }
    vp_cache_entry_t in;
    memcpy(&in, entry, sizeof in);
    if (!in.id || !in.id[0]) {
        host->set_error(inst, "cache entry without an id");
        return VP_ERROR;
    }
    if (!in.response.ptr && in.response.len) {
        host->set_error(inst, "cache entry with a response length but no "
                              "bytes");
        return VP_ERROR;
    }

    /* Size of the one allocation: header, response, strings. */
    size_t lens[N_STR];
    size_t need = sizeof(mc_entry);
    size_t add = in.response.ptr ? in.response.len + 1 : 0;
    if (add == 0 && in.response.ptr) /* len == SIZE_MAX */
        return VP_DECLINED;
    int overflow = add > SIZE_MAX - need;
    need += add;
    for (size_t s = 0; s < N_STR; s++) {
        const char *v = cfield(&in, str_off[s]);
        lens[s] = v ? strlen(v) + 1 : 0;
        overflow |= lens[s] > SIZE_MAX - need;
        need += lens[s];
    }
    if (overflow)
        return VP_DECLINED;

    size_t cost = need;
    for (int t = 0; t < T_COUNT; t++)
        cost += entry_key(&in, t) ? SLOT_COST : 0;

    mc_entry *old = tab_get(st, T_ID, in.id);
    uint64_t entries = st->entries + (old ? 0 : 1);
    uint64_t bytes = st->bytes - (old ? entry_cost(old) : 0);
    if (entries > st->max_entries || cost > st->max_bytes
        || bytes > st->max_bytes - cost) {
        if (!st->full_logged) {
            host->log(inst, VP_LOG_WARN,
                      "cache full (%" PRIu64 " entries, %" PRIu64
                      " bytes; max_entries %" PRIu64 ", max_bytes %" PRIu64
                      "): answers are relayed uncached until entries are "
                      "evicted", st->entries, st->bytes, st->max_entries,
                      st->max_bytes);
            st->full_logged = 1;
        }
        return VP_DECLINED;
    }

    /* Every table gets room first, so nothing below can fail half-way. */
    for (int t = 0; t < T_COUNT; t++) {
        if (entry_key(&in, t) && tab_reserve(host, &st->tab[t], t) != 0) {
            host->set_error(inst, "out of memory");
            return VP_ERROR;
        }
    }
    mc_entry *e = host->alloc(need);
    if (!e) {
        host->set_error(inst, "out of memory");
        return VP_ERROR;
    }
    memset(e, 0, sizeof *e);
    e->alloc = need;
    e->pub = in;
    e->pub.size = sizeof(vp_cache_entry_t);
    char *d = e->data;
    if (in.response.ptr) {
        if (in.response.len)
            memcpy(d, in.response.ptr, in.response.len);
        d[in.response.len] = '\0';
        e->pub.response.ptr = d;
        d += in.response.len + 1;
    }
    for (size_t s = 0; s < N_STR; s++) {
        if (!lens[s])
            continue;
        memcpy(d, cfield(&in, str_off[s]), lens[s]);
        *field(&e->pub, str_off[s]) = d;
        d += lens[s];
    }
    for (int t = 0; t < T_COUNT; t++) {
        const char *k = entry_key(&e->pub, t);
        e->hash[t] = k ? hash_str(st, k) : 0;
    }

    if (old)
        entry_remove(host, st, old);
    for (int t = 0; t < T_COUNT; t++)
        tab_link(&st->tab[t], t, e);
    st->entries++;
    st->bytes += cost;
    st->full_logged = 0;
    return VP_CONTINUE;
}

/* The selector the core passed, as an ABI 1.0 struct, or NULL. */
static int
read_selector(vp_instance_t *inst, const vp_cache_selector_t *sel,
              vp_cache_selector_t *out)
{
    if (!sel || sel->size < sizeof(vp_cache_selector_t)) {
        inst->host->set_error(inst, "cache selector missing or too small");
        return VP_EINVAL;
    }
    memcpy(out, sel, sizeof *out);
    switch (out->index) {
    case VP_CACHE_BY_ID:
    case VP_CACHE_BY_REQUEST_PATH:
    case VP_CACHE_BY_TOKEN:
    case VP_CACHE_BY_TOKEN_ACCESSOR:
    case VP_CACHE_BY_LEASE:
    case VP_CACHE_BY_TOKEN_PARENT:
    case VP_CACHE_BY_LEASE_TOKEN:
    case VP_CACHE_ALL:
        return 0;
    }
    inst->host->set_error(inst, "unknown cache index %d", (int)out->index);
    return VP_EINVAL;
}

/* Walks the entries a selector matches: calls fn(ctx, e) for each with
 * the next one already read, so fn may remove e.  Stops when fn returns
 * non-zero.  Not for VP_CACHE_ALL. */
static void
walk(mc_state *st, const vp_cache_selector_t *sel,
     int (*fn)(void *ctx, mc_entry *e), void *ctx)
{
    static const int table_of[] = {
        [VP_CACHE_BY_ID] = T_ID,
        [VP_CACHE_BY_REQUEST_PATH] = T_NS,
        [VP_CACHE_BY_TOKEN] = T_TOKEN,
        [VP_CACHE_BY_TOKEN_ACCESSOR] = T_ACCESSOR,
        [VP_CACHE_BY_LEASE] = T_LEASE,
        [VP_CACHE_BY_TOKEN_PARENT] = T_PARENT,
        [VP_CACHE_BY_LEASE_TOKEN] = T_LEASE_TOKEN,
    };
    int t = table_of[sel->index];
    const char *prefix = NULL;
    size_t prefix_len = 0;
    const char *value = sel->value;
    if (!value || !value[0])
        return;
    if (t == T_NS) {
        prefix = value;
        prefix_len = strlen(prefix);
        value = sel->namespace_ ? sel->namespace_ : "root/";
    }
    mc_entry *e = tab_get(st, t, value);
    if (t == T_ID) {
        if (e)
            fn(ctx, e);
        return;
    }
    while (e) {
        mc_entry *next = e->link[t - 1].next;
        if (!prefix || strncmp(e->pub.request_path, prefix, prefix_len) == 0) {
            if (fn(ctx, e))
                return;
        }
        e = next;
    }
}

typedef struct {
    const vp_host_api_t *host;
    mc_entry **v;
    size_t n, cap;
    int failed;
    mc_entry *small[32];
} snapshot;

static int
snap_add(void *ctx, mc_entry *e)
{
    snapshot *s = ctx;
    if (s->n == s->cap) {
        size_t cap = s->cap * 2;
        mc_entry **v = cap <= SIZE_MAX / sizeof *v
                           ? s->host->alloc(cap * sizeof *v) : NULL;
        if (!v) {
            s->failed = 1;
            return 1;
        }
        memcpy(v, s->v, s->n * sizeof *v);
        if (s->v != s->small)
            s->host->free(s->v);
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = e;
    return 0;
}

static int
count_one(void *ctx, mc_entry *e)
{
    (void)e;
    (*(int *)ctx)++;
    return 0;
}

static int
memory_find(vp_instance_t *inst, const vp_cache_selector_t *selector,
            vp_cache_visit_fn visit, void *arg)
{
    const vp_host_api_t *host = inst->host;
    mc_state *st = inst->data;
    vp_cache_selector_t sel;
    int rc = read_selector(inst, selector, &sel);
    if (rc != 0)
        return rc;
    if (!visit) {
        int n = 0;
        if (sel.index == VP_CACHE_ALL)
            return st->entries > INT32_MAX ? INT32_MAX : (int)st->entries;
        walk(st, &sel, count_one, &n);
        return n;
    }

    /* Visit a snapshot: the visits may store and evict. */
    snapshot snap = {.host = host, .cap = 32};
    snap.v = snap.small;
    if (sel.index == VP_CACHE_ALL) {
        const mc_tab *ids = &st->tab[T_ID];
        for (size_t i = 0; i <= ids->mask && !snap.failed; i++) {
            if (ids->slot[i])
                snap_add(&snap, ids->slot[i]);
        }
    } else {
        walk(st, &sel, snap_add, &snap);
    }
    int visited = 0;
    if (snap.failed) {
        host->set_error(inst, "out of memory");
        rc = VP_ENOMEM;
    } else {
        visits_begin(st);
        for (size_t i = 0; i < snap.n; i++) {
            if (snap.v[i]->dead)
                continue;
            visited++;
            if (visit(arg, &snap.v[i]->pub))
                break;
        }
        visits_end(host, st);
    }
    if (snap.v != snap.small)
        host->free(snap.v);
    return rc ? rc : visited;
}

typedef struct {
    const vp_host_api_t *host;
    mc_state *st;
    int removed;
} evict_ctx;

static int
evict_one(void *ctx, mc_entry *e)
{
    evict_ctx *c = ctx;
    entry_remove(c->host, c->st, e);
    c->removed++;
    return 0;
}

static int
memory_evict(vp_instance_t *inst, const vp_cache_selector_t *selector)
{
    const vp_host_api_t *host = inst->host;
    mc_state *st = inst->data;
    vp_cache_selector_t sel;
    int rc = read_selector(inst, selector, &sel);
    if (rc != 0)
        return rc;
    int removed = 0;
    if (sel.index == VP_CACHE_ALL) {
        mc_tab *ids = &st->tab[T_ID];
        for (size_t i = 0; i <= ids->mask; i++) {
            mc_entry *e = ids->slot[i];
            if (!e)
                continue;
            removed++;
            if (st->busy) {
                e->dead = 1;
                e->link[0].next = st->graveyard;
                st->graveyard = e;
            } else {
                entry_free(host, e);
            }
        }
        for (int t = 0; t < T_COUNT; t++) {
            mc_tab *tb = &st->tab[t];
            memset(tb->slot, 0, (tb->mask + 1) * sizeof *tb->slot);
            tb->used = 0;
        }
        st->entries = 0;
        st->bytes = 0;
    } else {
        evict_ctx c = {host, st, 0};
        walk(st, &sel, evict_one, &c);
        removed = c.removed;
    }
    if (removed) {
        for (int t = 0; t < T_COUNT; t++)
            tab_shrink(host, &st->tab[t], t);
    }
    return removed;
}

static int
memory_renewed(vp_instance_t *inst, const char *id, uint64_t last_renewed_ms,
               uint64_t ttl_ms)
{
    mc_entry *e = tab_get(inst->data, T_ID, id);
    if (!e)
        return VP_ENOENT;
    e->pub.last_renewed_ms = last_renewed_ms;
    e->pub.ttl_ms = ttl_ms;
    return 0;
}

static int
memory_stats(vp_instance_t *inst, uint64_t *entries, uint64_t *bytes)
{
    const mc_state *st = inst->data;
    if (entries)
        *entries = st->entries;
    if (bytes)
        *bytes = st->bytes;
    return 0;
}

static const vp_cache_ops_t memory_ops = {
    .size = sizeof(vp_cache_ops_t),
    .create = memory_create,
    .destroy = memory_destroy,
    .lookup = memory_lookup,
    .store = memory_store,
    .find = memory_find,
    .evict = memory_evict,
    .renewed = memory_renewed,
    .stats = memory_stats,
};

static const vp_provide_t memory_provides[] = {
    {VP_KIND_CACHE, "memory", &memory_ops, memory_schema},
    {0, NULL, NULL, NULL},
};

VP_PLUGIN_DEFINE(cache_memory) = {
    VP_PLUGIN_HEADER(cache_memory),
    .version = "1.0",
    .summary = "cache memory: the lease cache in memory, indexed for "
               "lookups and evictions",
    .provides = memory_provides,
};
