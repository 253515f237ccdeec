/* The lease cache's renewal watchers as plain records: found by their
 * entry's 32-byte binary id, ordered by due time in one min-heap that a
 * single uv_timer_t drives.  A uv_timer_t per watcher cost ~150 bytes of
 * every cached lease; a record here is 40 bytes plus a 4-byte slot in the
 * table and one in the heap (records are numbered, not pointed to),
 * allocated in slabs (no malloc header per watcher).
 *
 * A record is idle, scheduled (in the heap) or parked: taken out of the
 * heap while its owner does something (a renewal under way), with a
 * 31-bit tag the owner chooses to find that work again.
 *
 * A watcher holds no token or lease string: the lease cache reads them
 * from the store entry when it renews (the store keeps them anyway).
 *
 * Ownership: the set owns its records; a record pointer stays valid until
 * vpd_rt_remove or vpd_rt_close.  One thread (the loop). */
#ifndef VPD_RENEW_TIMERS_H
#define VPD_RENEW_TIMERS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define VPD_RT_ID_LEN 16 /* a cache key's bytes (cache_key.h) */

#define VPD_RT_LEASE_S_MAX ((1u << 28) - 1) /* 8.5 years */

typedef struct vpd_rt {
    uint8_t id[VPD_RT_ID_LEN]; /* the entry's key, binary (on a free
                                  record: the next free one's number) */
    uint64_t due;              /* loop time it fires (when scheduled) */
    uint32_t expires;          /* private: vpd_rt_expires_at */
    uint32_t lease_s : 28;     /* lease duration, seconds rounded up,
                                  at most VPD_RT_LEASE_S_MAX */
    uint32_t failures : 4;     /* renewals failed in a row (capped) */
    uint32_t grace_ms;         /* <= 20 % of the lease: fits for 248 days */
    uint32_t where;            /* private: heap position or parked tag */
} vpd_rt;

#define VPD_RT_NO_TAG UINT32_MAX

typedef struct vpd_rt_set vpd_rt_set;

/* fire runs on the loop for each record whose due time has come; the
 * record is unscheduled first, so fire may reschedule or remove it (and
 * remove others). */
vpd_rt_set *vpd_rt_new(uv_loop_t *loop, void (*fire)(void *arg, vpd_rt *r),
                       void *arg);

/* A new unscheduled record with this id, or NULL (out of memory, or the
 * id is there already). */
vpd_rt *vpd_rt_add(vpd_rt_set *s, const uint8_t id[VPD_RT_ID_LEN]);

vpd_rt *vpd_rt_get(vpd_rt_set *s, const uint8_t id[VPD_RT_ID_LEN]);

/* Fires r after delay_ms (0: on the next loop iteration); replaces any
 * earlier schedule. */
void vpd_rt_schedule(vpd_rt_set *s, vpd_rt *r, uint64_t delay_ms);

/* Takes r out of the heap (if there) and parks it with tag < 2^31. */
void vpd_rt_park(vpd_rt_set *s, vpd_rt *r, uint32_t tag);

/* The tag r is parked with, or VPD_RT_NO_TAG. */
uint32_t vpd_rt_parked(const vpd_rt *r);

/* When r's lease runs out, in loop time (kept to the second, rounded
 * up), or 0: the next firing ends the watcher. */
uint64_t vpd_rt_expires_at(const vpd_rt_set *s, const vpd_rt *r);
void vpd_rt_set_expires_at(const vpd_rt_set *s, vpd_rt *r, uint64_t at);

/* Takes r out of the set and frees it. */
void vpd_rt_remove(vpd_rt_set *s, vpd_rt *r);

size_t vpd_rt_count(const vpd_rt_set *s);

/* Calls fn for every record (fn must not remove any). */
void vpd_rt_each(vpd_rt_set *s, void (*fn)(void *arg, vpd_rt *r), void *arg);

/* Frees every record, closes the timer and frees the set; done runs once
 * the timer handle is closed. */
void vpd_rt_close(vpd_rt_set *s, void (*done)(void *arg), void *arg);

#endif
