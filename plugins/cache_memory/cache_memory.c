/* Cache "memory": the lease cache's in-memory database (the entries,
 * their indexes, eviction by index and cache clears, as vaproxyd(8)
 * describes the cache), the counterpart of OpenBao's cachememdb.  The core
 * decides what is cached, renews it and says what to evict; this plugin only
 * keeps the entries and finds them by the indexes of cache.h.
 *
 * Layout.  Each entry is ONE allocation: a 24-byte header, one 16-byte
 * list link per list index the entry is in (token_parent, lease_token),
 * then its strings (all NUL-terminated, in a fixed order, found by walking
 * them: offsets cost every entry 18 bytes) and its response.  An id that
 * is a cache key (32 or 64 lower-case hex digits) is kept as its 16 or 32
 * bytes; namespace "root/" takes no bytes; a request_path that is "/v1/"
 * and the start of the entry's lease id (as Vault's lease ids are: GET
 * /v1/database/creds/app leases "database/creds/app/<id>") is kept as the
 * length shared and the rest.  The public vp_cache_entry_t is not stored:
 * a visit gets one built on the stack.  With 100k cached leases every byte
 * counts (contrib/bench/cache.sh): a cached lease costs 40 bytes of header
 * and link besides its strings and response, where keeping the public
 * struct, every link and every hash in each entry cost 240.  The
 * strings many entries share - namespace_, token_parent, lease_token:
 * every lease obtained with one token repeats that token, 95 bytes for a
 * Vault service token - are interned when longer than a pointer: the
 * entry holds a pointer to one reference-counted copy (the `bytes`
 * statistic and max_bytes count them, the root namespace and a path kept
 * by reference as if inline, so limits do not depend on sharing).  Entry
 * data is secret (tokens, leases, response bodies) and is wiped with
 * explicit_bzero before it is freed.
 *
 * Indexes.  Six open-addressing hash tables (linear probing, load <= 13/16,
 * backward-shift deletion, so no tombstones), keyed with SipHash-1-3 under
 * a per-instance random key (ids are client-influenced: no hash flooding).
 * Hashes are recomputed when needed rather than stored:
 *
 *   id               unique: a slot holds the entry.
 *   token, token_accessor, lease
 *                    a slot per entry; entries sharing a value follow one
 *                    another in the probe sequence and are all found by
 *                    probing on.  The core should never store two entries
 *                    with one token or lease, but if it does, both stay
 *                    findable and evictable rather than one becoming
 *                    unreachable.
 *   token_parent, lease_token
 *                    many entries share a value: a slot holds the head of
 *                    an intrusive doubly-linked list of them.
 *   request_path     not indexed: a request_path selector scans every
 *                    entry, keeps those of its namespace (exact) whose
 *                    path has the prefix.  Path clears are rare (the
 *                    cache-clear API) and a scan of 100k entries takes
 *                    about a millisecond; an index would cost every
 *                    entry a link.
 *
 * NULL and "" index values are not indexed (cachememdb's "optional"
 * indexes), so a selector with an empty value matches nothing; VP_CACHE_ALL
 * ignores the value.  An entry matches request_path selectors only with a
 * non-empty namespace_ and a request_path.
 *
 * Visits.  lookup and find call back into the core with borrowed entries;
 * the core may evict or store from inside a visit.  While a visit is under
 * way, removed entries are unlinked at once (so they are never found
 * again) but only freed when the outermost visit returns; find visits a
 * snapshot of its matches and skips the ones removed meanwhile.
 *
 * Limits.  max_entries and max_bytes bound the cache; a store that would
 * pass either is declined (the core relays the answer uncached), as is an
 * entry whose strings take more than 64 KiB or whose response is 4 GiB or
 * more.  Nothing is ever evicted here: the proxy owns the renewals of
 * what it stored.  The limits change live on SIGHUP (reconfigure, ABI
 * 1.1); lowered below the cache's size, they keep every entry and decline
 * stores until evictions bring the cache under them. */
#include <inttypes.h>
#include <string.h>

#include <vaproxy/vaproxy.h>

#include "siphash.h"

/* ---- entries ----------------------------------------------------------- */

enum { T_ID, T_TOKEN, T_ACCESSOR, T_LEASE, T_PARENT, T_LEASE_TOKEN, T_COUNT };

/* The strings of an entry, in data[] order. */
enum {
    S_ID,
    S_NS,
    S_PATH,
    S_TOKEN,
    S_ACCESSOR,
    S_PARENT,
    S_LEASE,
    S_LEASE_TOKEN,
    N_STR
};

static const size_t str_off[N_STR] = {
    offsetof(vp_cache_entry_t, id),
    offsetof(vp_cache_entry_t, namespace_),
    offsetof(vp_cache_entry_t, request_path),
    offsetof(vp_cache_entry_t, token),
    offsetof(vp_cache_entry_t, token_accessor),
    offsetof(vp_cache_entry_t, token_parent),
    offsetof(vp_cache_entry_t, lease),
    offsetof(vp_cache_entry_t, lease_token),
};

/* The string each table indexes. */
static const int str_of[T_COUNT] = {
    [T_ID] = S_ID,       [T_TOKEN] = S_TOKEN,   [T_ACCESSOR] = S_ACCESSOR,
    [T_LEASE] = S_LEASE, [T_PARENT] = S_PARENT, [T_LEASE_TOKEN] = S_LEASE_TOKEN,
};

#define MAX_STRINGS 0xfffeu
#define ID_BIN_LEN 32 /* the longest binary id: 64 hex digits */
#define HEX_ID_LEN 64
/* The longest request_path kept as a reference to the lease (F_PATH_FRONT). */
#define PATH_FRONT_MAX 255
#define PATH_FRONT_MIN 3 /* a shorter shared part saves nothing */

/* F_NS_ROOT: namespace_ is "root/" and takes no bytes.  F_PATH_FRONT:
 * request_path is "/v1/", then the first k bytes of the lease, then a
 * suffix; it takes 2 bytes for k (native order) and the suffix with its
 * NUL.  Vault's lease ids start with the path that made them
 * ("database/creds/app/<id>" for GET /v1/database/creds/app), so the
 * path of a lease entry mostly takes those 2 bytes and a NUL. */
enum {
    F_DEAD = 1,
    F_ID_BIN = 2,
    F_RESPONSE = 4,
    F_NS_ROOT = 64,
    F_PATH_FRONT = 128
};

static const char root_ns[] = "root/";

/* The tables whose slots hold lists (many entries share a value: every
 * lease obtained with one token); the others hold each entry in a slot of
 * its own, duplicates found by probing on. */
#define LIST_TABLES (1u << T_PARENT | 1u << T_LEASE_TOKEN)

/* Strings that may be interned, and the flag bit saying an entry's is. */
static int
intern_bit(int s)
{
    return s == S_NS ? 8 : s == S_PARENT ? 16 : s == S_LEASE_TOKEN ? 32 : 0;
}

/* One shared copy of a string. */
typedef struct {
    uint32_t refs;
    uint32_t len; /* strlen */
    char s[];
} mc_istr;

typedef struct mc_entry mc_entry;

typedef struct {
    mc_entry *prev, *next;
} mc_link;

struct mc_entry {
    uint32_t resp_len;
    uint8_t present; /* bit s: the entry has string s */
    uint8_t links;   /* bit t: in list table t (a link follows) */
    uint8_t flags;
    uint8_t id_len; /* with F_ID_BIN: the id's bytes (16 or 32) */
    union {
        struct {
            uint64_t last_renewed_ms, ttl_ms;
        } t;
        mc_entry *grave_next; /* once removed during a visit */
    } u;
    mc_link link[]; /* one per bit of `links`, then the data */
};

/* What the header and a slot cost an entry in the `bytes` statistic: the
 * fixed header, then per index it is in a slot (8 bytes at load 1/4..13/16)
 * and, for the list indexes, its link. */
#define SLOT_COST 16u
#define HDR_COST ((uint64_t)sizeof(mc_entry))

#define TAB_MIN 16u
#define VIEW_DEPTH 8

static unsigned
popcount8(unsigned v)
{
    return (unsigned)__builtin_popcount(v & 0xffu);
}

static char *
edata(const mc_entry *e)
{
    return (char *)(e->link + popcount8(e->links));
}

static mc_link *
elink(mc_entry *e, int t)
{
    return &e->link[popcount8(e->links & ((1u << t) - 1u))];
}

static int
interned(const mc_entry *e, int s)
{
    int bit = intern_bit(s);
    return bit && (e->flags & bit);
}

static int
has(const mc_entry *e, int s)
{
    return (e->present >> s) & 1;
}

/* The bytes string s (which e has) takes in e's data, where it starts at
 * p. */
static size_t
stored_len(const mc_entry *e, int s, const char *p)
{
    if (s == S_ID && (e->flags & F_ID_BIN))
        return e->id_len;
    if (interned(e, s))
        return sizeof(mc_istr *);
    if (s == S_NS && (e->flags & F_NS_ROOT))
        return 0;
    if (s == S_PATH && (e->flags & F_PATH_FRONT))
        return 2 + strlen(p + 2) + 1;
    return strlen(p) + 1;
}

/* Where string s starts in e's data (s == N_STR: the response).  Not
 * stored: the strings are short and found by walking them, which costs
 * less than the 18 bytes of offsets every entry carried. */
static size_t
str_at(const mc_entry *e, int s)
{
    const char *d = edata(e);
    size_t at = 0;
    for (int i = 0; i < s; i++) {
        if (has(e, i))
            at += stored_len(e, i, d + at);
    }
    return at;
}

static const mc_istr *
eistr(const mc_entry *e, int s)
{
    const mc_istr *is;
    memcpy(&is, edata(e) + str_at(e, s), sizeof is);
    return is;
}

/* String s of e, or NULL; never asked for a path kept as F_PATH_FRONT
 * (path_of spells that one out). */
static const char *
estr(const mc_entry *e, int s)
{
    if (!has(e, s))
        return NULL;
    if (s == S_NS && (e->flags & F_NS_ROOT))
        return root_ns;
    return interned(e, s) ? eistr(e, s)->s : edata(e) + str_at(e, s);
}

/* The request_path of e, spelled out in buf if need be, or NULL. */
static const char *
path_of(const mc_entry *e, char buf[PATH_FRONT_MAX + 1])
{
    if (!(e->flags & F_PATH_FRONT))
        return estr(e, S_PATH);
    const char *p = edata(e) + str_at(e, S_PATH);
    uint16_t k;
    memcpy(&k, p, sizeof k);
    memcpy(buf, "/v1/", 4);
    memcpy(buf + 4, estr(e, S_LEASE), k);
    strcpy(buf + 4 + k, p + 2); /* fits: checked when stored */
    return buf;
}

/* The value e is indexed by in list table t, or NULL. */
static const char *
ekey(const mc_entry *e, int t)
{
    const char *k = estr(e, str_of[t]);
    return k && k[0] ? k : NULL;
}

/* Bytes of strings and response. */
static size_t
data_len(const mc_entry *e)
{
    return str_at(e, N_STR) + ((e->flags & F_RESPONSE) ? e->resp_len + 1u : 0u);
}

/* The size of e's allocation (not stored: derived from its layout). */
static size_t
alloc_len(const mc_entry *e)
{
    return sizeof *e + popcount8(e->links) * sizeof(mc_link) + data_len(e);
}

/* Bit t: e is in table t (by its value; T_ID always). */
static unsigned
tables_of(const mc_entry *e)
{
    unsigned in = 1u << T_ID;
    for (int t = T_ID + 1; t < T_COUNT; t++) {
        if (ekey(e, t))
            in |= 1u << t;
    }
    return in;
}

/* Interned strings, the root namespace and a path kept as a reference to
 * the lease count as if inline (see the top of this file). */
static size_t
entry_cost(const mc_entry *e)
{
    size_t cost = HDR_COST + data_len(e) + SLOT_COST * popcount8(tables_of(e));
    for (int s = 0; s < N_STR; s++) {
        if (has(e, s) && interned(e, s))
            cost += eistr(e, s)->len + 1u - sizeof(mc_istr *);
    }
    if (e->flags & F_NS_ROOT)
        cost += sizeof root_ns;
    if (e->flags & F_PATH_FRONT) {
        uint16_t k;
        memcpy(&k, edata(e) + str_at(e, S_PATH), sizeof k);
        cost += 4u + k - 2u; /* "/v1/" and the lease's part, not k's bytes */
    }
    return cost;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The bytes a cache key spells: 16 for 32 lower-case hex digits (the
 * lease cache's keys), 32 for 64 (keys of earlier versions), else 0 (an id
 * kept as text). */
static size_t
id_to_bin(const char *id, uint8_t out[ID_BIN_LEN])
{
    size_t n = 0;
    while (n < ID_BIN_LEN) {
        int hi = hexval(id[2 * n]);
        int lo = hi < 0 ? -1 : hexval(id[2 * n + 1]);
        if (lo < 0)
            break;
        out[n++] = (uint8_t)(hi << 4 | lo);
    }
    return id[2 * n] == '\0' && (n == 16 || n == 32) ? n : 0;
}

/* The public view of e for a visit; idbuf holds the hex id, pathbuf the
 * path when it is kept as a reference to the lease. */
static void
view_of(const mc_entry *e, vp_cache_entry_t *v, char idbuf[HEX_ID_LEN + 1],
        char pathbuf[PATH_FRONT_MAX + 1])
{
    static const char hex[] = "0123456789abcdef";
    memset(v, 0, sizeof *v);
    v->size = sizeof *v;
    /* One walk over the strings (estr walks from the start each time). */
    const char *d = edata(e);
    size_t at = 0;
    for (int s = 0; s < N_STR; s++) {
        if (!has(e, s))
            continue;
        const char *p = d + at, *val = p;
        if (s == S_NS && (e->flags & F_NS_ROOT)) {
            val = root_ns;
        } else if (interned(e, s)) {
            const mc_istr *is;
            memcpy(&is, p, sizeof is);
            val = is->s;
        }
        if (s != S_PATH)
            *(const char **)(void *)((char *)v + str_off[s]) = val;
        at += stored_len(e, s, p);
    }
    v->request_path = path_of(e, pathbuf);
    if (e->flags & F_ID_BIN) {
        const uint8_t *b = (const uint8_t *)edata(e); /* the id comes first */
        for (size_t i = 0; i < e->id_len; i++) {
            idbuf[2 * i] = hex[b[i] >> 4];
            idbuf[2 * i + 1] = hex[b[i] & 15];
        }
        idbuf[2 * e->id_len] = '\0';
        v->id = idbuf;
    }
    if (e->flags & F_RESPONSE) {
        v->response.ptr = d + at;
        v->response.len = e->resp_len;
    }
    v->last_renewed_ms = e->u.t.last_renewed_ms;
    v->ttl_ms = e->u.t.ttl_ms;
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
    uint64_t key[2]; /* SipHash key, random per instance */
    uint64_t entries, bytes;
    uint64_t max_entries, max_bytes;
    unsigned busy;       /* visits under way */
    mc_entry *graveyard; /* removed during a visit */
    int full_logged;
    mc_istr **pool; /* interned strings, open addressing */
    size_t pool_mask, pool_used;
    /* The public views handed to visits, one per nesting depth: a view
     * stays readable after its visit until the next visit at that depth
     * (callers are promised only the call, but an outer visit must never
     * see its view rewritten by a visit nested inside it). */
    struct {
        vp_cache_entry_t v;
        char id[HEX_ID_LEN + 1];
        char path[PATH_FRONT_MAX + 1];
    } views[VIEW_DEPTH];
} mc_state;

/* A value looked for: the string, and for ids its binary form. */
typedef struct {
    const char *s;
    uint8_t bin[ID_BIN_LEN];
    size_t bin_len; /* 0: not an id spelling bytes */
    uint32_t h;
} mc_query;

static uint32_t
hash_bytes(const mc_state *st, const void *p, size_t n)
{
    uint64_t h = siphash13(st->key, p, n);
    return (uint32_t)(h ^ (h >> 32));
}

/* ---- interned strings ---------------------------------------------------- */

static uint32_t
istr_hash(const mc_state *st, const mc_istr *is)
{
    return hash_bytes(st, is->s, is->len);
}

static size_t
pool_find(const mc_state *st, const char *v, size_t len, uint32_t h, int *found)
{
    size_t i = h & st->pool_mask;
    for (mc_istr *is; (is = st->pool[i]) != NULL; i = (i + 1) & st->pool_mask) {
        if (is->len == len && memcmp(is->s, v, len) == 0) {
            *found = 1;
            return i;
        }
    }
    *found = 0;
    return i;
}

static int
pool_resize(const vp_host_api_t *host, mc_state *st, size_t cap)
{
    mc_istr **pool = host->calloc(cap, sizeof *pool);
    if (!pool)
        return VP_ENOMEM;
    for (size_t i = 0; st->pool && i <= st->pool_mask; i++) {
        mc_istr *is = st->pool[i];
        if (!is)
            continue;
        size_t j = istr_hash(st, is) & (cap - 1);
        while (pool[j])
            j = (j + 1) & (cap - 1);
        pool[j] = is;
    }
    host->free(st->pool);
    st->pool = pool;
    st->pool_mask = cap - 1;
    return 0;
}

/* A reference to the shared copy of v, or NULL (out of memory). */
static mc_istr *
intern_get(const vp_host_api_t *host, mc_state *st, const char *v)
{
    if ((st->pool_used + 1) * 2 > st->pool_mask + 1 &&
        pool_resize(host, st, (st->pool_mask + 1) * 2) != 0)
        return NULL;
    size_t len = strlen(v);
    int found = 0;
    size_t i = pool_find(st, v, len, hash_bytes(st, v, len), &found);
    if (found) {
        st->pool[i]->refs++;
        return st->pool[i];
    }
    mc_istr *is = len < UINT32_MAX ? host->alloc(sizeof *is + len + 1) : NULL;
    if (!is)
        return NULL;
    is->refs = 1;
    is->len = (uint32_t)len;
    memcpy(is->s, v, len + 1);
    st->pool[i] = is;
    st->pool_used++;
    return is;
}

static void
intern_put(const vp_host_api_t *host, mc_state *st, mc_istr *is)
{
    if (--is->refs)
        return;
    int found = 0;
    size_t i = pool_find(st, is->s, is->len, istr_hash(st, is), &found);
    /* Backward-shift deletion, as for the index tables. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & st->pool_mask;
        mc_istr *o = st->pool[j];
        if (!o)
            break;
        size_t home = istr_hash(st, o) & st->pool_mask;
        int movable = j > i ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            st->pool[i] = o;
            i = j;
        }
    }
    st->pool[i] = NULL;
    st->pool_used--;
    explicit_bzero(is, sizeof *is + is->len + 1);
    host->free(is);
}

static void
query_init(const mc_state *st, int t, const char *value, mc_query *q)
{
    q->s = value;
    q->bin_len = t == T_ID ? id_to_bin(value, q->bin) : 0;
    q->h = q->bin_len ? hash_bytes(st, q->bin, q->bin_len)
                      : hash_bytes(st, value, strlen(value));
}

/* The hash of e's value in table t (which e is in). */
static uint32_t
ehash(const mc_state *st, const mc_entry *e, int t)
{
    if (t == T_ID && (e->flags & F_ID_BIN))
        return hash_bytes(st, edata(e), e->id_len);
    const char *k = estr(e, str_of[t]);
    return hash_bytes(st, k, strlen(k));
}

static int
matches(const mc_entry *e, int t, const mc_query *q)
{
    if (t == T_ID && (e->flags & F_ID_BIN))
        return q->bin_len == e->id_len &&
               memcmp(edata(e), q->bin, e->id_len) == 0;
    if (t == T_ID && q->bin_len)
        return 0;
    return strcmp(estr(e, str_of[t]), q->s) == 0;
}

/* The slot holding the value of q in table t, or the empty slot where it
 * would go (*found = 0). */
static size_t
tab_probe(const mc_tab *tb, int t, const mc_query *q, int *found)
{
    size_t i = q->h & tb->mask;
    for (;;) {
        const mc_entry *e = tb->slot[i];
        if (!e) {
            *found = 0;
            return i;
        }
        if (matches(e, t, q)) {
            *found = 1;
            return i;
        }
        i = (i + 1) & tb->mask;
    }
}

/* The slot holding entry e (which heads its list). */
static size_t
tab_slot_of(const mc_state *st, const mc_tab *tb, int t, const mc_entry *e)
{
    size_t i = ehash(st, e, t) & tb->mask;
    while (tb->slot[i] != e)
        i = (i + 1) & tb->mask;
    return i;
}

/* Empties slot i and shifts back the run after it. */
static void
tab_delete_slot(const mc_state *st, mc_tab *tb, int t, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & tb->mask;
        mc_entry *e = tb->slot[j];
        if (!e)
            break;
        size_t home = ehash(st, e, t) & tb->mask;
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
tab_resize(const vp_host_api_t *host, const mc_state *st, mc_tab *tb, int t,
           size_t cap)
{
    mc_entry **slot = host->calloc(cap, sizeof *slot);
    if (!slot)
        return VP_ENOMEM;
    size_t mask = cap - 1;
    for (size_t i = 0; tb->slot && i <= tb->mask; i++) {
        mc_entry *e = tb->slot[i];
        if (!e)
            continue;
        size_t j = ehash(st, e, t) & mask;
        while (slot[j])
            j = (j + 1) & mask;
        slot[j] = e;
    }
    host->free(tb->slot);
    tb->slot = slot;
    tb->mask = mask;
    return 0;
}

/* Room for one more value.  The tables fill to 13/16 before they double:
 * at 1/2 they took 8 to 16 bytes per entry each, and linear probing with
 * backward-shift deletion still finds an entry in about three probes at
 * that load. */
static int
tab_reserve(const vp_host_api_t *host, const mc_state *st, mc_tab *tb, int t)
{
    size_t cap = tb->mask + 1;
    if ((tb->used + 1) * 16 <= cap * 13)
        return 0;
    if (cap > SIZE_MAX / 2 / sizeof(mc_entry *))
        return VP_ENOMEM;
    return tab_resize(host, st, tb, t, cap * 2);
}

/* Gives memory back after evictions (failure is harmless). */
static void
tab_shrink(const vp_host_api_t *host, const mc_state *st, mc_tab *tb, int t)
{
    size_t cap = tb->mask + 1;
    if (cap <= TAB_MIN || tb->used * 8 >= cap)
        return;
    size_t want = TAB_MIN;
    while (want < tb->used * 4)
        want *= 2;
    tab_resize(host, st, tb, t, want);
}

static void
tab_link(const mc_state *st, mc_tab *tb, int t, mc_entry *e)
{
    mc_query q;
    if (t == T_ID) {
        q.bin_len = (e->flags & F_ID_BIN) ? e->id_len : 0;
        memcpy(q.bin, edata(e), q.bin_len);
        q.s = q.bin_len ? "" : estr(e, S_ID);
        q.h = ehash(st, e, t);
    } else {
        if (!ekey(e, t))
            return;
        q.s = ekey(e, t);
        q.bin_len = 0;
        q.h = ehash(st, e, t);
    }
    if (t != T_ID && !(LIST_TABLES & (1u << t))) {
        /* A slot of its own, after any with the same value. */
        size_t i = q.h & tb->mask;
        while (tb->slot[i])
            i = (i + 1) & tb->mask;
        tb->slot[i] = e;
        tb->used++;
        return;
    }
    int found = 0;
    size_t i = tab_probe(tb, t, &q, &found);
    if (t != T_ID) {
        mc_link *l = elink(e, t);
        l->prev = NULL;
        l->next = found ? tb->slot[i] : NULL;
        if (found)
            elink(tb->slot[i], t)->prev = e;
    }
    if (!found)
        tb->used++;
    tb->slot[i] = e;
}

static void
tab_unlink(const mc_state *st, mc_tab *tb, int t, mc_entry *e)
{
    if (t != T_ID && !ekey(e, t))
        return;
    if (!(LIST_TABLES & (1u << t))) {
        tab_delete_slot(st, tb, t, tab_slot_of(st, tb, t, e));
        return;
    }
    mc_link *l = elink(e, t);
    if (l->next)
        elink(l->next, t)->prev = l->prev;
    if (l->prev) {
        elink(l->prev, t)->next = l->next;
    } else {
        size_t i = tab_slot_of(st, tb, t, e);
        if (l->next)
            tb->slot[i] = l->next;
        else
            tab_delete_slot(st, tb, t, i);
    }
    l->prev = l->next = NULL;
}

/* The first entry with `value` in table t, or NULL. */
static mc_entry *
tab_get(const mc_state *st, int t, const char *value)
{
    if (!value || !value[0])
        return NULL;
    mc_query q;
    query_init(st, t, value, &q);
    int found = 0;
    const mc_tab *tb = &st->tab[t];
    size_t i = tab_probe(tb, t, &q, &found);
    return found ? tb->slot[i] : NULL;
}

/* Calls fn for every entry with q's value in table t (a list table's
 * list, or the slots of the others) until fn returns non-zero. */
static void
tab_each(const mc_tab *tb, int t, const mc_query *q,
         int (*fn)(void *ctx, mc_entry *e), void *ctx)
{
    if (LIST_TABLES & (1u << t)) {
        int found = 0;
        size_t i = tab_probe(tb, t, q, &found);
        for (mc_entry *e = found ? tb->slot[i] : NULL; e;
             e = elink(e, t)->next) {
            if (fn(ctx, e))
                return;
        }
        return;
    }
    for (size_t i = q->h & tb->mask; tb->slot[i]; i = (i + 1) & tb->mask) {
        if (matches(tb->slot[i], t, q) && fn(ctx, tb->slot[i]))
            return;
    }
}

/* ---- entry life -------------------------------------------------------- */

static void
entry_free(const vp_host_api_t *host, mc_state *st, mc_entry *e)
{
    for (int s = 0; s < N_STR; s++) {
        if (has(e, s) && interned(e, s))
            intern_put(host, st, (mc_istr *)(uintptr_t)eistr(e, s));
    }
    explicit_bzero(e, alloc_len(e));
    host->free(e);
}

static void
bury_graveyard(const vp_host_api_t *host, mc_state *st)
{
    while (st->graveyard) {
        mc_entry *e = st->graveyard;
        st->graveyard = e->u.grave_next;
        entry_free(host, st, e);
    }
}

static void
bury_later(mc_state *st, mc_entry *e)
{
    e->flags |= F_DEAD;
    e->u.grave_next = st->graveyard;
    st->graveyard = e;
}

/* Takes e out of every index and the accounting; frees it now, or when the
 * visits under way end. */
static void
entry_remove(const vp_host_api_t *host, mc_state *st, mc_entry *e)
{
    st->bytes -= entry_cost(e);
    st->entries--;
    for (int t = 0; t < T_COUNT; t++)
        tab_unlink(st, &st->tab[t], t, e);
    if (st->busy)
        bury_later(st, e);
    else
        entry_free(host, st, e);
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

/* Calls visit with e's public view (inside visits_begin/end). */
static int
visit_entry(mc_state *st, const mc_entry *e, vp_cache_visit_fn visit, void *arg)
{
    unsigned depth = st->busy - 1;
    if (depth < VIEW_DEPTH) {
        view_of(e, &st->views[depth].v, st->views[depth].id,
                st->views[depth].path);
        return visit(arg, &st->views[depth].v);
    }
    vp_cache_entry_t v;
    char idbuf[HEX_ID_LEN + 1], pathbuf[PATH_FRONT_MAX + 1];
    view_of(e, &v, idbuf, pathbuf);
    return visit(arg, &v);
}

/* ---- the ops ----------------------------------------------------------- */

static const vp_conf_field_t memory_schema[] = {
    VP_CONF_FIELD("max_entries", VP_CONF_INT, 0, "100000",
                  "most entries kept; further answers are relayed uncached"),
    VP_CONF_FIELD(
        "max_bytes", VP_CONF_INT, 0, "268435456",
        "most bytes kept (responses, strings and per-entry overhead)"),
    VP_CONF_END,
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
    if ((rc = read_limit(inst, "max_entries", &max_entries)) != 0 ||
        (rc = read_limit(inst, "max_bytes", &max_bytes)) != 0)
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
        if (tab_resize(host, st, &st->tab[t], t, TAB_MIN) != 0) {
            memory_destroy(inst);
            return VP_ENOMEM;
        }
    }
    if (pool_resize(host, st, TAB_MIN) != 0) {
        memory_destroy(inst);
        return VP_ENOMEM;
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
            entry_free(host, st, ids->slot[i]);
    }
    bury_graveyard(host, st);
    for (int t = 0; t < T_COUNT; t++)
        host->free(st->tab[t].slot);
    host->free(st->pool); /* empty: every entry let go of its strings */
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
        visit_entry(st, e, visit, arg);
        visits_end(inst->host, st);
    }
    return VP_DONE;
}

static const char *
cfield(const vp_cache_entry_t *e, size_t off)
{
    return *(const char *const *)(const void *)((const char *)e + off);
}

static vp_status_t
memory_store(vp_instance_t *inst, const vp_cache_entry_t *entry)
{
    const vp_host_api_t *host = inst->host;
    mc_state *st = inst->data;

    /* Our view of the entry: exactly the ABI 1.0 fields, whatever the
     * core's struct adds after them. */
    if (!entry || entry->size < sizeof(vp_cache_entry_t)) {
        host->set_error(inst,
                        "cache entry of %zu bytes, less than the %zu "
                        "of ABI 1.0",
                        entry ? entry->size : (size_t)0,
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
    if (in.response.ptr && in.response.len >= UINT32_MAX - 4096)
        return VP_DECLINED;

    /* The strings first (16-bit offsets), then the response.  A shared
     * string longer than a pointer is a pointer to its interned copy. */
    uint8_t idbin[ID_BIN_LEN];
    size_t id_bin = id_to_bin(in.id, idbin);
    size_t lens[N_STR];
    size_t strings = 0, logical = 0;
    unsigned intern = 0, present = 0, flags = 0;
    uint16_t path_k = 0; /* with F_PATH_FRONT */
    for (int s = 0; s < N_STR; s++) {
        const char *v = cfield(&in, str_off[s]);
        lens[s] = !v ? 0 : s == S_ID && id_bin ? id_bin : strlen(v) + 1;
        if (lens[s] > MAX_STRINGS)
            return VP_DECLINED;
        logical += lens[s];
        if (v)
            present |= 1u << s;
        if (s == S_NS && v && strcmp(v, root_ns) == 0) {
            flags |= F_NS_ROOT;
            lens[s] = 0;
        } else if (s == S_PATH && v && in.lease && lens[s] <= PATH_FRONT_MAX &&
                   strncmp(v, "/v1/", 4) == 0) {
            size_t k = 0;
            while (v[4 + k] && v[4 + k] == in.lease[k])
                k++;
            if (k >= PATH_FRONT_MIN) {
                flags |= F_PATH_FRONT;
                path_k = (uint16_t)k;
                lens[s] = 2 + strlen(v + 4 + k) + 1;
            }
        } else if (intern_bit(s) && lens[s] > sizeof(mc_istr *)) {
            intern |= (unsigned)intern_bit(s);
            lens[s] = sizeof(mc_istr *);
        }
        strings += lens[s];
    }
    if (strings > MAX_STRINGS)
        return VP_DECLINED;
    unsigned tables = 1u << T_ID;
    for (int t = T_ID + 1; t < T_COUNT; t++) {
        const char *k = cfield(&in, str_off[str_of[t]]);
        if (k && k[0])
            tables |= 1u << t;
    }
    unsigned links = tables & LIST_TABLES;
    size_t resp = in.response.ptr ? in.response.len + 1 : 0;
    size_t head = sizeof(mc_entry) + popcount8(links) * sizeof(mc_link);
    size_t need = head + strings + resp;
    if (need > UINT32_MAX)
        return VP_DECLINED;

    size_t cost = HDR_COST + logical + resp + SLOT_COST * popcount8(tables);
    mc_entry *old = tab_get(st, T_ID, in.id);
    uint64_t entries = st->entries + (old ? 0 : 1);
    uint64_t bytes = st->bytes - (old ? entry_cost(old) : 0);
    if (entries > st->max_entries || cost > st->max_bytes ||
        bytes > st->max_bytes - cost) {
        if (!st->full_logged) {
            host->log(inst, VP_LOG_WARN,
                      "cache full (%" PRIu64 " entries, %" PRIu64
                      " bytes; max_entries %" PRIu64 ", max_bytes %" PRIu64
                      "): answers are relayed uncached until entries are "
                      "evicted",
                      st->entries, st->bytes, st->max_entries, st->max_bytes);
            st->full_logged = 1;
        }
        return VP_DECLINED;
    }

    /* Every table gets room first, so nothing below can fail half-way. */
    for (int t = 0; t < T_COUNT; t++) {
        if ((tables & (1u << t)) &&
            tab_reserve(host, st, &st->tab[t], t) != 0) {
            host->set_error(inst, "out of memory");
            return VP_ERROR;
        }
    }
    mc_istr *ist[N_STR] = {0};
    int oom = 0;
    for (int s = 0; s < N_STR && !oom; s++) {
        if (intern & (unsigned)intern_bit(s))
            oom = !(ist[s] = intern_get(host, st, cfield(&in, str_off[s])));
    }
    mc_entry *e = oom ? NULL : host->alloc(need);
    if (!e) {
        for (int s = 0; s < N_STR; s++) {
            if (ist[s])
                intern_put(host, st, ist[s]);
        }
        host->set_error(inst, "out of memory");
        return VP_ERROR;
    }
    memset(e, 0, head);
    e->links = (uint8_t)links;
    e->present = (uint8_t)present;
    e->id_len = (uint8_t)id_bin;
    e->flags = (uint8_t)((id_bin ? F_ID_BIN : 0) |
                         (in.response.ptr ? F_RESPONSE : 0) | intern | flags);
    e->u.t.last_renewed_ms = in.last_renewed_ms;
    e->u.t.ttl_ms = in.ttl_ms;
    char *d = edata(e);
    size_t at = 0;
    for (int s = 0; s < N_STR; s++) {
        if (!lens[s])
            continue;
        if (s == S_ID && id_bin)
            memcpy(d + at, idbin, id_bin);
        else if (ist[s])
            memcpy(d + at, &ist[s], sizeof ist[s]);
        else if (s == S_PATH && (flags & F_PATH_FRONT)) {
            memcpy(d + at, &path_k, sizeof path_k);
            memcpy(d + at + 2, in.request_path + 4 + path_k, lens[s] - 2);
        } else
            memcpy(d + at, cfield(&in, str_off[s]), lens[s]);
        at += lens[s];
    }
    if (in.response.ptr) {
        if (in.response.len)
            memcpy(d + at, in.response.ptr, in.response.len);
        d[at + in.response.len] = '\0';
        e->resp_len = (uint32_t)in.response.len;
    }
    explicit_bzero(idbin, sizeof idbin);

    if (old)
        entry_remove(host, st, old);
    for (int t = 0; t < T_COUNT; t++)
        tab_link(st, &st->tab[t], t, e);
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

/* True when e is in the request_path index under ns with this prefix. */
static int
path_matches(const mc_entry *e, const char *ns, const char *prefix,
             size_t prefix_len)
{
    char buf[PATH_FRONT_MAX + 1];
    const char *ens = estr(e, S_NS), *path = path_of(e, buf);
    return ens && ens[0] && path && strcmp(ens, ns) == 0 &&
           strncmp(path, prefix, prefix_len) == 0;
}

/* Walks the entries a selector matches: calls fn(ctx, e) for each; fn
 * must not remove entries (callers that do work on a snapshot).  Stops
 * when fn returns non-zero. */
static void
walk(mc_state *st, const vp_cache_selector_t *sel,
     int (*fn)(void *ctx, mc_entry *e), void *ctx)
{
    static const int table_of[] = {
        [VP_CACHE_BY_ID] = T_ID,
        [VP_CACHE_BY_REQUEST_PATH] = -1,
        [VP_CACHE_BY_TOKEN] = T_TOKEN,
        [VP_CACHE_BY_TOKEN_ACCESSOR] = T_ACCESSOR,
        [VP_CACHE_BY_LEASE] = T_LEASE,
        [VP_CACHE_BY_TOKEN_PARENT] = T_PARENT,
        [VP_CACHE_BY_LEASE_TOKEN] = T_LEASE_TOKEN,
        [VP_CACHE_ALL] = -2,
    };
    int t = table_of[sel->index];
    const mc_tab *ids = &st->tab[T_ID];
    if (t == -2) {
        for (size_t i = 0; i <= ids->mask; i++) {
            if (ids->slot[i] && fn(ctx, ids->slot[i]))
                return;
        }
        return;
    }
    const char *value = sel->value;
    if (!value || !value[0])
        return;
    if (t == -1) {
        const char *ns = sel->namespace_ ? sel->namespace_ : "root/";
        size_t n = strlen(value);
        for (size_t i = 0; i <= ids->mask; i++) {
            mc_entry *e = ids->slot[i];
            if (e && path_matches(e, ns, value, n) && fn(ctx, e))
                return;
        }
        return;
    }
    if (t == T_ID) {
        mc_entry *e = tab_get(st, t, value);
        if (e)
            fn(ctx, e);
        return;
    }
    mc_query q;
    query_init(st, t, value, &q);
    tab_each(&st->tab[t], t, &q, fn, ctx);
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
                           ? s->host->alloc(cap * sizeof *v)
                           : NULL;
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

static void
snap_free(snapshot *s)
{
    if (s->v != s->small)
        s->host->free(s->v);
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
    walk(st, &sel, snap_add, &snap);
    int visited = 0;
    if (snap.failed) {
        host->set_error(inst, "out of memory");
        rc = VP_ENOMEM;
    } else {
        visits_begin(st);
        for (size_t i = 0; i < snap.n; i++) {
            if (snap.v[i]->flags & F_DEAD)
                continue;
            visited++;
            if (visit_entry(st, snap.v[i], visit, arg))
                break;
        }
        visits_end(host, st);
    }
    snap_free(&snap);
    return rc ? rc : visited;
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
            if (st->busy)
                bury_later(st, e);
            else
                entry_free(host, st, e);
        }
        for (int t = 0; t < T_COUNT; t++) {
            mc_tab *tb = &st->tab[t];
            memset(tb->slot, 0, (tb->mask + 1) * sizeof *tb->slot);
            tb->used = 0;
        }
        st->entries = 0;
        st->bytes = 0;
    } else {
        /* Removing moves entries within the tables: collect first. */
        snapshot snap = {.host = host, .cap = 32};
        snap.v = snap.small;
        walk(st, &sel, snap_add, &snap);
        if (snap.failed) {
            snap_free(&snap);
            host->set_error(inst, "out of memory");
            return VP_ENOMEM;
        }
        for (size_t i = 0; i < snap.n; i++) {
            entry_remove(host, st, snap.v[i]);
            removed++;
        }
        snap_free(&snap);
    }
    if (removed) {
        for (int t = 0; t < T_COUNT; t++)
            tab_shrink(host, st, &st->tab[t], t);
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
    e->u.t.last_renewed_ms = last_renewed_ms;
    e->u.t.ttl_ms = ttl_ms;
    return 0;
}

/* SIGHUP: new max_entries / max_bytes (checked by next's create).  Nothing
 * is dropped when the cache already holds more than a lowered limit: the
 * proxy renews what it stored and tells us what to evict, and an entry
 * vanishing here would leave it renewing a lease nobody can be served.
 * The limits are checked on store, as always, so every new answer is
 * relayed uncached until evictions bring the cache under them. */
static int
memory_reconfigure(vp_instance_t *inst, vp_instance_t *next)
{
    mc_state *st = inst->data;
    const mc_state *fresh = next->data;
    st->max_entries = fresh->max_entries;
    st->max_bytes = fresh->max_bytes;
    st->full_logged = 0; /* "cache full" is said again under the new limits */
    if (st->entries > st->max_entries || st->bytes > st->max_bytes)
        inst->host->log(inst, VP_LOG_WARN,
                        "%" PRIu64 " entries, %" PRIu64 " bytes: above the "
                        "new max_entries %" PRIu64 " / max_bytes %" PRIu64
                        "; they are kept, and new answers relayed uncached "
                        "until evictions bring the cache under the limits",
                        st->entries, st->bytes, st->max_entries, st->max_bytes);
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
    .reconfigure = memory_reconfigure,
};

static const vp_provide_t memory_provides[] = {
    {VP_KIND_CACHE, "memory", &memory_ops, memory_schema},
    {0, NULL, NULL, NULL},
};

VP_PLUGIN_DEFINE(cache_memory) = {
    VP_PLUGIN_HEADER(cache_memory),
    .version = "1.1",
    .summary = "cache memory: the lease cache in memory, indexed for "
               "lookups and evictions",
    .provides = memory_provides,
};
