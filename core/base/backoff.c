/* Jitter and backoff waits.
 *
 * The random source is a xorshift64* generator, one per process, seeded
 * once from getrandom(2) (OpenSSL's RAND_bytes if that fails, the clock
 * and the pid as a last resort).  Jitter only has to spread the retries
 * of many proxies and requests over time; nobody gains by predicting it,
 * so a fast generator that cannot fail is the right tool, and the
 * cryptographic source stays for tokens and keys. */
#include "autoconf.h"

#include "base/backoff.h"

#include <openssl/rand.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static _Atomic uint64_t rng_state;

static uint64_t
seed(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s &&
        RAND_bytes((unsigned char *)&s, sizeof s) != 1) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
            ((uint64_t)getpid() << 16);
    }
    /* Zero is the one state xorshift never leaves. */
    return s ? s : 0x9E3779B97F4A7C15ULL;
}

uint64_t
vpd_jitter_u64(void)
{
    uint64_t x = atomic_load_explicit(&rng_state, memory_order_relaxed);
    for (;;) {
        uint64_t cur = x;
        if (cur == 0)
            x = seed();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        /* A lost race only means another draw; no two callers get the
         * same state. */
        if (atomic_compare_exchange_weak_explicit(&rng_state, &cur, x,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
            return x * 0x2545F4914F6CDD1DULL;
        x = cur;
    }
}

uint64_t
vpd_rand_between(uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = hi - lo;
    if (span == UINT64_MAX)
        return vpd_jitter_u64();
    return lo + vpd_jitter_u64() % (span + 1);
}

uint64_t
vpd_backoff_linear(uint64_t min_ms, uint64_t max_ms, unsigned n)
{
    uint64_t base = vpd_rand_between(min_ms, max_ms);
    if (n && base > UINT64_MAX / n)
        return UINT64_MAX;
    return base * n;
}

void
vpd_backoff_init(vpd_backoff *b, uint64_t min_ms, uint64_t max_ms)
{
    b->min_ms = min_ms;
    b->max_ms = max_ms;
    b->next_ms = min_ms;
}

uint64_t
vpd_backoff_next(vpd_backoff *b)
{
    uint64_t wait = b->next_ms;
    uint64_t next = wait > UINT64_MAX / 2 ? UINT64_MAX : wait * 2;
    if (next > b->max_ms)
        next = b->max_ms;
    next -= vpd_rand_between(0, next / 4);
    if (next < b->min_ms)
        next = b->min_ms;
    b->next_ms = next;
    return wait;
}

void
vpd_backoff_reset(vpd_backoff *b)
{
    b->next_ms = b->min_ms;
}
