/* The entry table: chained buckets hashed by name (namespace + path), so
 * the variants of a name (its queries) are found together.  The bucket
 * array doubles when entries outnumber buckets. */
#include "autoconf.h"

#include "cache/static_table.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

struct vpd_se_table {
    vpd_st_registry *tokens;
    vpd_se_entry **buckets;
    size_t n_buckets; /* a power of two */
    size_t count;
    size_t bytes;
    uint64_t seed;
};

static uint64_t
hash_name(uint64_t seed, const char *ns, const char *path)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (const char *s = ns; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h = (h ^ 0xffu) * 1099511628211ull;
    for (const char *s = path; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

const char *
vpd_se_ns(const vpd_se_entry *e)
{
    return e->key;
}

const char *
vpd_se_path(const vpd_se_entry *e)
{
    return e->key + e->ns_len + 1;
}

const char *
vpd_se_query(const vpd_se_entry *e)
{
    return e->key + e->ns_len + 1 + e->path_len + 1;
}

static size_t
key_size(const vpd_se_entry *e)
{
    return (size_t)e->ns_len + e->path_len + e->query_len + 3;
}

const char *
vpd_se_answer(const vpd_se_entry *e)
{
    return e->key + key_size(e);
}

static size_t
entry_bytes(const vpd_se_entry *e)
{
    size_t n = sizeof *e + key_size(e) + e->packed_len;
    if (e->cap_tokens > 1)
        n += (size_t)(e->cap_tokens - 1) * sizeof(uint32_t);
    return n;
}

vpd_se_table *
vpd_se_new(vpd_st_registry *tokens)
{
    vpd_se_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->tokens = tokens;
    t->n_buckets = 64;
    t->buckets = calloc(t->n_buckets, sizeof *t->buckets);
    if (!t->buckets) {
        free(t);
        return NULL;
    }
    if (RAND_bytes((unsigned char *)&t->seed, sizeof t->seed) != 1)
        t->seed = (uint64_t)(uintptr_t)t;
    return t;
}

static void
free_entry(vpd_se_table *t, vpd_se_entry *e)
{
    for (size_t i = 0; i < e->n_tokens; i++)
        vpd_st_unref(t->tokens, vpd_se_token_at(e, i));
    free(e->tokens);
    OPENSSL_cleanse(e->key + key_size(e), e->packed_len);
    free(e);
}

void
vpd_se_free(vpd_se_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_buckets; i++) {
        vpd_se_entry *e = t->buckets[i];
        while (e) {
            vpd_se_entry *next = e->next;
            free_entry(t, e);
            e = next;
        }
    }
    free(t->buckets);
    free(t);
}

static vpd_se_entry **
bucket_of(const vpd_se_table *t, const char *ns, const char *path)
{
    return &t->buckets[hash_name(t->seed, ns, path) & (t->n_buckets - 1)];
}

static bool
same_name(const vpd_se_entry *e, const char *ns, const char *path)
{
    return strcmp(vpd_se_ns(e), ns) == 0 && strcmp(vpd_se_path(e), path) == 0;
}

vpd_se_entry *
vpd_se_get(const vpd_se_table *t, const char *ns, const char *path,
           const char *query)
{
    for (vpd_se_entry *e = *bucket_of(t, ns, path); e; e = e->next)
        if (same_name(e, ns, path) && strcmp(vpd_se_query(e), query) == 0)
            return e;
    return NULL;
}

static void
grow(vpd_se_table *t)
{
    size_t n = t->n_buckets * 2;
    vpd_se_entry **b = calloc(n, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < t->n_buckets; i++) {
        vpd_se_entry *e = t->buckets[i];
        while (e) {
            vpd_se_entry *next = e->next;
            size_t at =
                hash_name(t->seed, vpd_se_ns(e), vpd_se_path(e)) & (n - 1);
            e->next = b[at];
            b[at] = e;
            e = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = n;
}

vpd_se_entry *
vpd_se_put(vpd_se_table *t, const char *ns, const char *path, const char *query)
{
    vpd_se_entry *e = vpd_se_get(t, ns, path, query);
    if (e)
        return e;
    size_t nl = strlen(ns), pl = strlen(path), ql = strlen(query);
    if (nl > UINT16_MAX || pl > UINT16_MAX || ql > UINT16_MAX)
        return NULL;
    e = calloc(1, sizeof *e + nl + pl + ql + 3);
    if (!e)
        return NULL;
    e->ns_len = (uint16_t)nl;
    e->path_len = (uint16_t)pl;
    e->query_len = (uint16_t)ql;
    memcpy(e->key, ns, nl + 1);
    memcpy(e->key + nl + 1, path, pl + 1);
    memcpy(e->key + nl + 1 + pl + 1, query, ql + 1);
    if (t->count >= t->n_buckets)
        grow(t);
    vpd_se_entry **b = bucket_of(t, ns, path);
    e->next = *b;
    *b = e;
    t->count++;
    t->bytes += entry_bytes(e);
    return e;
}

vpd_se_entry *
vpd_se_set_answer(vpd_se_table *t, vpd_se_entry *e, const char *packed,
                  uint32_t len, uint64_t now_ms)
{
    size_t ks = key_size(e);
    vpd_se_entry *n = malloc(sizeof *n + ks + len);
    if (!n)
        return NULL;
    memcpy(n, e, sizeof *n + ks);
    memcpy(n->key + ks, packed, len);
    n->packed_len = len;
    n->stored_ms = now_ms;
    vpd_se_entry **at = bucket_of(t, vpd_se_ns(e), vpd_se_path(e));
    while (*at != e)
        at = &(*at)->next;
    *at = n;
    t->bytes -= entry_bytes(e);
    t->bytes += entry_bytes(n);
    OPENSSL_cleanse(e->key + ks, e->packed_len);
    free(e);
    return n;
}

uint32_t
vpd_se_token_at(const vpd_se_entry *e, size_t i)
{
    return i == 0 ? e->token0 : e->tokens[i - 1];
}

bool
vpd_se_has_token(const vpd_se_entry *e, uint32_t id)
{
    if (!id)
        return false;
    for (size_t i = 0; i < e->n_tokens; i++)
        if (vpd_se_token_at(e, i) == id)
            return true;
    return false;
}

int
vpd_se_add_token(vpd_se_table *t, vpd_se_entry *e, uint32_t id)
{
    if (!id || vpd_se_has_token(e, id))
        return id ? 0 : -1;
    if (e->n_tokens == UINT16_MAX)
        return -1;
    if (e->n_tokens == 0) {
        if (e->cap_tokens == 0)
            e->cap_tokens = 1;
        e->token0 = id;
    } else {
        if (e->n_tokens >= e->cap_tokens) {
            uint16_t cap = e->cap_tokens < 4 ? 4 : e->cap_tokens;
            cap = cap > UINT16_MAX / 2 ? UINT16_MAX : (uint16_t)(cap * 2);
            uint32_t *grown = realloc(e->tokens, (cap - 1) * sizeof *grown);
            if (!grown)
                return -1;
            t->bytes -= entry_bytes(e);
            e->tokens = grown;
            e->cap_tokens = cap;
            t->bytes += entry_bytes(e);
        }
        e->tokens[e->n_tokens - 1] = id;
    }
    e->n_tokens++;
    vpd_st_ref(t->tokens, id);
    return 0;
}

bool
vpd_se_remove_token(vpd_se_table *t, vpd_se_entry *e, uint32_t id)
{
    for (size_t i = 0; i < e->n_tokens; i++) {
        if (vpd_se_token_at(e, i) != id)
            continue;
        /* The last id takes its place. */
        uint32_t last = vpd_se_token_at(e, e->n_tokens - 1);
        if (i == 0)
            e->token0 = last;
        else
            e->tokens[i - 1] = last;
        e->n_tokens--;
        vpd_st_unref(t->tokens, id);
        return true;
    }
    return false;
}

void
vpd_se_remove(vpd_se_table *t, vpd_se_entry *e)
{
    vpd_se_entry **at = bucket_of(t, vpd_se_ns(e), vpd_se_path(e));
    while (*at && *at != e)
        at = &(*at)->next;
    if (!*at)
        return;
    *at = e->next;
    t->count--;
    t->bytes -= entry_bytes(e);
    free_entry(t, e);
}

size_t
vpd_se_each_of_name(vpd_se_table *t, const char *ns, const char *path,
                    void (*fn)(void *arg, vpd_se_entry *e), void *arg)
{
    size_t n = 0;
    vpd_se_entry *e = *bucket_of(t, ns, path);
    while (e) {
        vpd_se_entry *next = e->next;
        if (same_name(e, ns, path)) {
            fn(arg, e);
            n++;
        }
        e = next;
    }
    return n;
}

void
vpd_se_each(vpd_se_table *t, void (*fn)(void *arg, vpd_se_entry *e), void *arg)
{
    for (size_t i = 0; i < t->n_buckets; i++) {
        vpd_se_entry *e = t->buckets[i];
        while (e) {
            vpd_se_entry *next = e->next;
            fn(arg, e);
            e = next;
        }
    }
}

size_t
vpd_se_count(const vpd_se_table *t)
{
    return t->count;
}

size_t
vpd_se_bytes(const vpd_se_table *t)
{
    return t->bytes;
}
