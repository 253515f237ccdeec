/* Waits between retries: one random source for jitter and the three
 * shapes of wait vaproxyd uses.
 *
 *   vpd_backoff_next     exponential backoff with jitter, bounded by a
 *                        minimum and a maximum (auto-auth's login retries)
 *   vpd_backoff_linear   n * a random value in [min, max] (request retries,
 *                        go-retryablehttp's linear jitter)
 *   vpd_rand_between     a random value in [lo, hi] (renewal grace, sink
 *                        retries, the jittered half of a renewal backoff)
 *
 * The upstream client (upstream/forward.c) waits before attempt n+1 (n
 * counted from 0) for vpd_backoff_linear(retry_min_ms, retry_max_ms, n + 1)
 * unless a Retry-After says otherwise; its own xorshift goes away.
 *
 * Ownership: nothing here allocates.  A vpd_backoff is a plain value the
 * caller embeds and owns; the random state is one per process, seeded on
 * first use and safe to draw from on any thread. */
#ifndef VPD_BACKOFF_H
#define VPD_BACKOFF_H

#include <stdint.h>

/* 64 random bits for jitter.  Not for secrets: use the host table's
 * random_bytes (or RAND_bytes) for anything an attacker must not guess. */
uint64_t vpd_jitter_u64(void);

/* A uniform random value in [lo, hi], both ends included; lo when
 * hi <= lo. */
uint64_t vpd_rand_between(uint64_t lo, uint64_t hi);

/* Linear jitter: n times a random value in [min_ms, max_ms] (min_ms * n
 * when max_ms <= min_ms).  Saturates instead of overflowing. */
uint64_t vpd_backoff_linear(uint64_t min_ms, uint64_t max_ms, unsigned n);

/* Exponential backoff.  The first wait is min_ms; after each wait the next
 * one doubles, is capped at max_ms, loses up to a quarter of itself at
 * random (so that restarted proxies do not retry in step) and is never
 * below min_ms. */
typedef struct {
    uint64_t min_ms;
    uint64_t max_ms;
    uint64_t next_ms; /* the wait the next failure gets */
} vpd_backoff;

void vpd_backoff_init(vpd_backoff *b, uint64_t min_ms, uint64_t max_ms);

/* Returns the wait for this failure and grows the one after it. */
uint64_t vpd_backoff_next(vpd_backoff *b);

/* After a success: the next failure waits min_ms again. */
void vpd_backoff_reset(vpd_backoff *b);

#endif
