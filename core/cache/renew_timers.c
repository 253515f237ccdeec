/* Records live in slabs of SLAB records, never moved, and are numbered
 * (slab << SLAB_BITS | position): the table and the heap hold numbers, 4
 * bytes where a pointer took 8.  The table is open addressing with linear
 * probing (load <= 13/16, as the memory store's tables, backward-shift
 * deletion); ids are SHA-256 outputs a client can steer by grinding, so
 * the slot comes from the id mixed with a random per-set seed, not from
 * its raw bytes. */
#include "autoconf.h"

#include "cache/renew_timers.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define SLAB_BITS 10
#define SLAB (1u << SLAB_BITS)
#define IDLE UINT32_MAX
#define PARKED 0x80000000u /* `where` of a parked record: the bit | tag */
#define TAB_MIN 64
#define EMPTY 0           /* a table slot holds a record's number + 1 */
#define NO_REC UINT32_MAX /* the end of the free list */

_Static_assert(sizeof(vpd_rt) <= 40, "a watcher record is 40 bytes");
_Static_assert(VPD_RT_ID_LEN % 8 == 0, "ids are hashed 8 bytes at a time");

typedef struct slab {
    vpd_rt rec[SLAB];
} slab;

struct vpd_rt_set {
    uv_timer_t timer;
    uv_loop_t *loop;
    void (*fire)(void *, vpd_rt *);
    void *arg;
    uint64_t seed[4];
    uint64_t base; /* loop time when made: vpd_rt_expires_at counts from it */
    uint32_t *tab; /* by id: a record's number + 1, or EMPTY */
    size_t mask, count;
    uint32_t *heap; /* by due: records' numbers */
    size_t heap_n, heap_cap;
    slab **slabs;
    size_t n_slabs;
    uint32_t free_list; /* linked through the id bytes */
    uint64_t armed_at;  /* due time the timer is set for, or 0 */
    bool firing;        /* inside on_timer: it re-arms at the end */
    void (*done)(void *);
    void *done_arg;
};

static vpd_rt *
rec(const vpd_rt_set *s, uint32_t n)
{
    return &s->slabs[n >> SLAB_BITS]->rec[n & (SLAB - 1)];
}

/* ---- table ------------------------------------------------------------- */

static uint64_t
load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static size_t
slot_of(const vpd_rt_set *s, const uint8_t id[VPD_RT_ID_LEN])
{
    uint64_t h = 0;
    for (int i = 0; i < VPD_RT_ID_LEN / 8; i++) {
        h ^= load64(id + 8 * i) ^ s->seed[i];
        h *= 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    return (size_t)h & s->mask;
}

static int
tab_resize(vpd_rt_set *s, size_t cap)
{
    uint32_t *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return -1;
    uint32_t *old = s->tab;
    size_t old_cap = old ? s->mask + 1 : 0;
    s->tab = tab;
    s->mask = cap - 1;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i] == EMPTY)
            continue;
        size_t j = slot_of(s, rec(s, old[i] - 1)->id);
        while (tab[j] != EMPTY)
            j = (j + 1) & s->mask;
        tab[j] = old[i];
    }
    free(old);
    return 0;
}

static size_t
tab_find(const vpd_rt_set *s, const uint8_t id[VPD_RT_ID_LEN], int *found)
{
    size_t i = slot_of(s, id);
    while (s->tab[i] != EMPTY) {
        if (memcmp(rec(s, s->tab[i] - 1)->id, id, VPD_RT_ID_LEN) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & s->mask;
    }
    *found = 0;
    return i;
}

static void
tab_delete(vpd_rt_set *s, size_t i)
{
    size_t j = i;
    for (;;) {
        j = (j + 1) & s->mask;
        uint32_t n = s->tab[j];
        if (n == EMPTY)
            break;
        size_t home = slot_of(s, rec(s, n - 1)->id);
        /* n may move to i unless its home lies cyclically in (i, j]. */
        int movable = j > i ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            s->tab[i] = n;
            i = j;
        }
    }
    s->tab[i] = EMPTY;
}

/* ---- heap -------------------------------------------------------------- */

static uint64_t
due_at(const vpd_rt_set *s, size_t i)
{
    return rec(s, s->heap[i])->due;
}

static void
heap_set(vpd_rt_set *s, size_t i, uint32_t n)
{
    s->heap[i] = n;
    rec(s, n)->where = (uint32_t)i;
}

static bool
in_heap(const vpd_rt *r)
{
    return r->where != IDLE && !(r->where & PARKED);
}

static void
heap_up(vpd_rt_set *s, size_t i)
{
    uint32_t n = s->heap[i];
    uint64_t due = rec(s, n)->due;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (due_at(s, parent) <= due)
            break;
        heap_set(s, i, s->heap[parent]);
        i = parent;
    }
    heap_set(s, i, n);
}

static void
heap_down(vpd_rt_set *s, size_t i)
{
    uint32_t n = s->heap[i];
    uint64_t due = rec(s, n)->due;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->heap_n)
            break;
        if (c + 1 < s->heap_n && due_at(s, c + 1) < due_at(s, c))
            c++;
        if (due_at(s, c) >= due)
            break;
        heap_set(s, i, s->heap[c]);
        i = c;
    }
    heap_set(s, i, n);
}

/* Takes r out of the heap (if there); it is then idle. */
static void
heap_remove(vpd_rt_set *s, vpd_rt *r)
{
    if (!in_heap(r)) {
        r->where = IDLE;
        return;
    }
    size_t i = r->where;
    r->where = IDLE;
    uint32_t last = s->heap[--s->heap_n];
    if (rec(s, last) == r)
        return;
    heap_set(s, i, last);
    heap_up(s, i);
    heap_down(s, rec(s, last)->where);
}

/* ---- the timer --------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

/* Points the one timer at the earliest due time. */
static void
rearm(vpd_rt_set *s)
{
    if (s->firing)
        return;
    if (s->heap_n == 0) {
        if (s->armed_at) {
            uv_timer_stop(&s->timer);
            s->armed_at = 0;
        }
        return;
    }
    uint64_t due = due_at(s, 0);
    if (s->armed_at == due)
        return;
    uint64_t now = uv_now(s->loop);
    uv_timer_start(&s->timer, on_timer, due > now ? due - now : 0, 0);
    s->armed_at = due;
}

/* After a batch: what is due already (rescheduled with no delay, or left
 * by the batch bound) waits a millisecond, because libuv before 1.46 runs
 * a zero timeout set from a timer callback again in the same pass. */
static void
rearm_after_fire(vpd_rt_set *s, uint64_t now)
{
    s->firing = false;
    if (s->heap_n && due_at(s, 0) <= now) {
        uv_timer_start(&s->timer, on_timer, 1, 0);
        s->armed_at = due_at(s, 0);
        return;
    }
    rearm(s);
}

static void
on_timer(uv_timer_t *t)
{
    vpd_rt_set *s = t->data;
    s->armed_at = 0;
    uint64_t now = uv_now(s->loop);
    /* fire may schedule a record again with no delay; the batch bound
     * leaves such a record for the next iteration instead of spinning. */
    size_t batch = s->heap_n;
    s->firing = true;
    while (batch-- && s->heap_n && due_at(s, 0) <= now) {
        vpd_rt *r = rec(s, s->heap[0]);
        heap_remove(s, r);
        s->fire(s->arg, r);
    }
    rearm_after_fire(s, now);
}

/* ---- API --------------------------------------------------------------- */

vpd_rt_set *
vpd_rt_new(uv_loop_t *loop, void (*fire)(void *arg, vpd_rt *r), void *arg)
{
    vpd_rt_set *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->fire = fire;
    s->arg = arg;
    s->base = uv_now(loop);
    s->free_list = NO_REC;
    if (RAND_bytes((unsigned char *)s->seed, sizeof s->seed) != 1 ||
        tab_resize(s, TAB_MIN) != 0) {
        free(s->tab);
        free(s);
        return NULL;
    }
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    return s;
}

/* Another slab of free records; -1 when out of memory or numbers. */
static int
slab_add(vpd_rt_set *s)
{
    if (s->n_slabs >= (NO_REC >> SLAB_BITS) - 1)
        return -1;
    slab **v = realloc(s->slabs, (s->n_slabs + 1) * sizeof *v);
    if (!v)
        return -1;
    s->slabs = v;
    slab *sl = malloc(sizeof *sl);
    if (!sl)
        return -1;
    s->slabs[s->n_slabs] = sl;
    uint32_t first = (uint32_t)(s->n_slabs << SLAB_BITS);
    s->n_slabs++;
    for (uint32_t k = SLAB; k-- > 0;) {
        memcpy(sl->rec[k].id, &s->free_list, sizeof s->free_list);
        s->free_list = first + k;
    }
    return 0;
}

vpd_rt *
vpd_rt_add(vpd_rt_set *s, const uint8_t id[VPD_RT_ID_LEN])
{
    if ((s->count + 1) * 16 > (s->mask + 1) * 13 &&
        tab_resize(s, (s->mask + 1) * 2))
        return NULL;
    if (s->count + 1 > s->heap_cap) {
        size_t cap = s->heap_cap ? s->heap_cap * 2 : 256;
        uint32_t *h = realloc(s->heap, cap * sizeof *h);
        if (!h)
            return NULL;
        s->heap = h;
        s->heap_cap = cap;
    }
    int found = 0;
    size_t i = tab_find(s, id, &found);
    if (found)
        return NULL;
    if (s->free_list == NO_REC && slab_add(s) != 0)
        return NULL;
    uint32_t n = s->free_list;
    vpd_rt *r = rec(s, n);
    memcpy(&s->free_list, r->id, sizeof s->free_list);
    memset(r, 0, sizeof *r);
    memcpy(r->id, id, VPD_RT_ID_LEN);
    r->where = IDLE;
    s->tab[i] = n + 1;
    s->count++;
    return r;
}

vpd_rt *
vpd_rt_get(vpd_rt_set *s, const uint8_t id[VPD_RT_ID_LEN])
{
    int found = 0;
    size_t i = tab_find(s, id, &found);
    return found ? rec(s, s->tab[i] - 1) : NULL;
}

/* r's number, from the table (r is in the set). */
static uint32_t
number_of(const vpd_rt_set *s, const vpd_rt *r)
{
    int found = 0;
    size_t i = tab_find(s, r->id, &found);
    return s->tab[i] - 1;
}

void
vpd_rt_schedule(vpd_rt_set *s, vpd_rt *r, uint64_t delay_ms)
{
    uint32_t n = in_heap(r) ? s->heap[r->where] : number_of(s, r);
    heap_remove(s, r);
    r->due = uv_now(s->loop) + delay_ms;
    /* The heap has room: vpd_rt_add reserved a slot for every record. */
    size_t i = s->heap_n++;
    heap_set(s, i, n);
    heap_up(s, i);
    rearm(s);
}

void
vpd_rt_park(vpd_rt_set *s, vpd_rt *r, uint32_t tag)
{
    heap_remove(s, r);
    r->where = PARKED | (tag & ~PARKED);
    rearm(s);
}

uint32_t
vpd_rt_parked(const vpd_rt *r)
{
    return r->where != IDLE && (r->where & PARKED) ? r->where & ~PARKED
                                                   : VPD_RT_NO_TAG;
}

uint64_t
vpd_rt_expires_at(const vpd_rt_set *s, const vpd_rt *r)
{
    return r->expires ? s->base + (uint64_t)(r->expires - 1) * 1000 : 0;
}

void
vpd_rt_set_expires_at(const vpd_rt_set *s, vpd_rt *r, uint64_t at)
{
    if (!at) {
        r->expires = 0;
        return;
    }
    uint64_t secs = at > s->base ? (at - s->base + 999) / 1000 : 0;
    r->expires = secs >= UINT32_MAX - 1 ? UINT32_MAX : (uint32_t)secs + 1;
}

void
vpd_rt_remove(vpd_rt_set *s, vpd_rt *r)
{
    heap_remove(s, r);
    int found = 0;
    size_t i = tab_find(s, r->id, &found);
    uint32_t n = found ? s->tab[i] - 1 : NO_REC;
    if (found)
        tab_delete(s, i);
    s->count--;
    memset(r, 0, sizeof *r);
    if (n != NO_REC) {
        memcpy(r->id, &s->free_list, sizeof s->free_list);
        s->free_list = n;
    }
    rearm(s);
}

size_t
vpd_rt_count(const vpd_rt_set *s)
{
    return s->count;
}

void
vpd_rt_each(vpd_rt_set *s, void (*fn)(void *arg, vpd_rt *r), void *arg)
{
    for (size_t i = 0; i <= s->mask; i++) {
        if (s->tab[i] != EMPTY)
            fn(arg, rec(s, s->tab[i] - 1));
    }
}

static void
timer_closed(uv_handle_t *h)
{
    vpd_rt_set *s = h->data;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    for (size_t i = 0; i < s->n_slabs; i++)
        free(s->slabs[i]);
    free(s->slabs);
    free(s->tab);
    free(s->heap);
    free(s);
    if (done)
        done(arg);
}

void
vpd_rt_close(vpd_rt_set *s, void (*done)(void *arg), void *arg)
{
    s->done = done;
    s->done_arg = arg;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, timer_closed);
}
