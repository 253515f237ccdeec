/* The token registry: an array of slots indexed by id, and an open
 * addressing index from token text to id.  The index is keyed by a
 * seeded hash so request tokens cannot be chosen to collide. */
#include "autoconf.h"

#include "cache/static_tokens.h"

#include <openssl/rand.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/secmem.h"

typedef struct {
    char *token; /* secret memory; NULL: a free slot */
    uint32_t refs;
    uint32_t next_free;
} slot;

struct vpd_st_registry {
    slot *slots; /* slots[0] unused */
    uint32_t n_slots, cap_slots;
    uint32_t free_head;
    uint32_t *index; /* ids; 0 empty; UINT32_MAX deleted */
    uint32_t index_cap;
    uint32_t index_used; /* live plus deleted marks */
    size_t live;
    uint64_t seed;
};

#define DELETED UINT32_MAX

static uint64_t
hash_token(uint64_t seed, const char *s)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

vpd_st_registry *
vpd_st_new(void)
{
    vpd_st_registry *reg = calloc(1, sizeof *reg);
    if (!reg)
        return NULL;
    if (RAND_bytes((unsigned char *)&reg->seed, sizeof reg->seed) != 1)
        reg->seed = (uint64_t)(uintptr_t)reg;
    reg->n_slots = 1;
    return reg;
}

void
vpd_st_free(vpd_st_registry *reg)
{
    if (!reg)
        return;
    for (uint32_t i = 1; i < reg->n_slots; i++)
        vpd_secret_free(reg->slots[i].token);
    free(reg->slots);
    free(reg->index);
    free(reg);
}

/* The index position of token, or of the empty place it would go. */
static uint32_t *
index_find(const vpd_st_registry *reg, const char *token, bool *found)
{
    *found = false;
    if (!reg->index_cap)
        return NULL;
    uint32_t mask = reg->index_cap - 1;
    uint32_t at = (uint32_t)hash_token(reg->seed, token) & mask;
    uint32_t *tomb = NULL;
    for (;;) {
        uint32_t id = reg->index[at];
        if (id == 0)
            return tomb ? tomb : &reg->index[at];
        if (id == DELETED) {
            if (!tomb)
                tomb = &reg->index[at];
        } else if (strcmp(reg->slots[id].token, token) == 0) {
            *found = true;
            return &reg->index[at];
        }
        at = (at + 1) & mask;
    }
}

static int
index_grow(vpd_st_registry *reg)
{
    uint32_t cap = reg->index_cap ? reg->index_cap * 2 : 64;
    while (cap < (reg->live + 1) * 4)
        cap *= 2;
    uint32_t *old = reg->index;
    uint32_t old_cap = reg->index_cap;
    reg->index = calloc(cap, sizeof *reg->index);
    if (!reg->index) {
        reg->index = old;
        return -1;
    }
    reg->index_cap = cap;
    reg->index_used = 0;
    for (uint32_t i = 0; i < old_cap; i++) {
        if (old[i] == 0 || old[i] == DELETED)
            continue;
        bool found;
        *index_find(reg, reg->slots[old[i]].token, &found) = old[i];
        reg->index_used++;
    }
    free(old);
    return 0;
}

uint32_t
vpd_st_find(const vpd_st_registry *reg, const char *token)
{
    bool found;
    if (!token || !token[0])
        return 0;
    uint32_t *at = index_find(reg, token, &found);
    return found ? *at : 0;
}

static uint32_t
new_slot(vpd_st_registry *reg)
{
    if (reg->free_head) {
        uint32_t id = reg->free_head;
        reg->free_head = reg->slots[id].next_free;
        return id;
    }
    if (reg->n_slots >= reg->cap_slots) {
        uint32_t cap = reg->cap_slots ? reg->cap_slots * 2 : 16;
        slot *grown = realloc(reg->slots, cap * sizeof *grown);
        if (!grown)
            return 0;
        reg->slots = grown;
        reg->cap_slots = cap;
    }
    return reg->n_slots++;
}

uint32_t
vpd_st_acquire(vpd_st_registry *reg, const char *token)
{
    if (!token || !token[0])
        return 0;
    uint32_t id = vpd_st_find(reg, token);
    if (id) {
        reg->slots[id].refs++;
        return id;
    }
    if ((reg->index_used + 1) * 2 > reg->index_cap && index_grow(reg) != 0)
        return 0;
    id = new_slot(reg);
    if (!id)
        return 0;
    char *copy = vpd_secret_dup(token, strlen(token));
    if (!copy) {
        reg->slots[id] = (slot){.next_free = reg->free_head};
        reg->free_head = id;
        return 0;
    }
    reg->slots[id] = (slot){.token = copy, .refs = 1};
    bool found;
    uint32_t *at = index_find(reg, token, &found);
    if (*at == 0)
        reg->index_used++;
    *at = id;
    reg->live++;
    return id;
}

void
vpd_st_ref(vpd_st_registry *reg, uint32_t id)
{
    if (id && id < reg->n_slots && reg->slots[id].token)
        reg->slots[id].refs++;
}

void
vpd_st_unref(vpd_st_registry *reg, uint32_t id)
{
    if (!id || id >= reg->n_slots || !reg->slots[id].token)
        return;
    slot *s = &reg->slots[id];
    if (--s->refs > 0)
        return;
    bool found;
    uint32_t *at = index_find(reg, s->token, &found);
    if (found)
        *at = DELETED;
    vpd_secret_free(s->token);
    *s = (slot){.next_free = reg->free_head};
    reg->free_head = id;
    reg->live--;
}

const char *
vpd_st_token(const vpd_st_registry *reg, uint32_t id)
{
    return id && id < reg->n_slots ? reg->slots[id].token : NULL;
}

uint32_t
vpd_st_id_limit(const vpd_st_registry *reg)
{
    return reg->n_slots;
}

size_t
vpd_st_count(const vpd_st_registry *reg)
{
    return reg->live;
}
