/* The in-memory index of the persistent cache: per live entry its id,
 * where its latest PUT record is and its latest renewal values, in a hash
 * table for lookups and a list in creation order (the order restore hands
 * entries out and compaction rewrites them); and the auto-auth token.
 * The entries themselves stay in the file, so the store does not keep a
 * second copy of every cached response.
 *
 * An entry whose latest PUT could not be written keeps that payload here
 * (pending) until a rewrite puts it in the file, so the index is always
 * the whole state the cache gave the store.
 *
 * Ownership: the handle owns the index entries, their ids and pending
 * payloads (wiped when freed), and the auto-auth token copy (a secret
 * buffer). */
#include "autoconf.h"

#include "cache/persist/persist_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/secmem.h"

static uint64_t
hash_id(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

vpd_persist_entry *
vpd_persist_idx_find(const vpd_persist *p, const char *id)
{
    if (!p->nbuckets)
        return NULL;
    for (vpd_persist_entry *x = p->buckets[hash_id(id) & (p->nbuckets - 1)]; x;
         x = x->hnext)
        if (strcmp(x->id, id) == 0)
            return x;
    return NULL;
}

static int
idx_grow(vpd_persist *p)
{
    size_t nb = p->nbuckets ? p->nbuckets * 2 : 64;
    vpd_persist_entry **b = calloc(nb, sizeof *b);
    if (!b)
        return -1;
    for (vpd_persist_entry *x = p->head; x; x = x->next) {
        size_t i = hash_id(x->id) & (nb - 1);
        x->hnext = b[i];
        b[i] = x;
    }
    free(p->buckets);
    p->buckets = b;
    p->nbuckets = nb;
    return 0;
}

/* A new entry, not yet linked. */
vpd_persist_entry *
vpd_persist_entry_new(const char *id)
{
    vpd_persist_entry *x = calloc(1, sizeof *x);
    if (x && !(x->id = strdup(id))) {
        free(x);
        return NULL;
    }
    return x;
}

void
vpd_persist_entry_drop_pending(vpd_persist_entry *x)
{
    if (x->pending) {
        OPENSSL_cleanse(x->pending, x->pending_cap);
        free(x->pending);
    }
    x->pending = NULL;
    x->pending_len = x->pending_cap = 0;
    x->pending_mark = 0;
}

void
vpd_persist_entry_free(vpd_persist_entry *x)
{
    if (x) {
        vpd_persist_entry_drop_pending(x);
        free(x->id);
        free(x);
    }
}

/* Links x at the end of the creation order.  Returns 0 or -1 (ENOMEM;
 * x is then not linked). */
int
vpd_persist_idx_link(vpd_persist *p, vpd_persist_entry *x)
{
    if (p->count + 1 > p->nbuckets && idx_grow(p) != 0 && !p->nbuckets)
        return -1;
    size_t i = hash_id(x->id) & (p->nbuckets - 1);
    x->hnext = p->buckets[i];
    p->buckets[i] = x;
    x->prev = p->tail;
    x->next = NULL;
    if (p->tail)
        p->tail->next = x;
    else
        p->head = x;
    p->tail = x;
    p->count++;
    p->live_bytes += x->rec_len;
    return 0;
}

void
vpd_persist_idx_remove(vpd_persist *p, vpd_persist_entry *x)
{
    vpd_persist_entry **pp = &p->buckets[hash_id(x->id) & (p->nbuckets - 1)];
    while (*pp != x)
        pp = &(*pp)->hnext;
    *pp = x->hnext;
    if (x->prev)
        x->prev->next = x->next;
    else
        p->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        p->tail = x->prev;
    p->count--;
    p->live_bytes -= x->rec_len;
    vpd_persist_entry_free(x);
}

void
vpd_persist_idx_clear(vpd_persist *p)
{
    for (vpd_persist_entry *x = p->head, *n; x; x = n) {
        n = x->next;
        vpd_persist_entry_free(x);
    }
    p->head = p->tail = NULL;
    if (p->buckets)
        memset(p->buckets, 0, p->nbuckets * sizeof *p->buckets);
    p->count = 0;
    p->live_bytes = 0;
}

int
vpd_persist_keep_auto_auth(vpd_persist *p, const char *token)
{
    char *copy = NULL;
    if (token && token[0] && !(copy = vpd_secret_dup(token, strlen(token))))
        return -1;
    vpd_secret_free(p->auto_auth);
    p->auto_auth = copy;
    return 0;
}
