/* Jitter and backoff waits (base/backoff): bounds, growth, the cap, reset,
 * and that many draws stay inside their bounds and spread over them. */
#include "autoconf.h"

#include <stdbool.h>
#include <stdint.h>

#include "base/backoff.h"
#include "test.h"

#define DRAWS 100000

TEST(rand_between_stays_inside_and_reaches_both_ends)
{
    bool seen[3] = {false, false, false};
    for (int i = 0; i < DRAWS; i++) {
        uint64_t v = vpd_rand_between(3, 5);
        ASSERT(v >= 3 && v <= 5);
        seen[v - 3] = true;
    }
    ASSERT(seen[0] && seen[1] && seen[2]);
}

TEST(rand_between_with_an_empty_range_is_lo)
{
    ASSERT_INT_EQ(vpd_rand_between(7, 7), 7);
    ASSERT_INT_EQ(vpd_rand_between(9, 2), 9);
    uint64_t v = vpd_rand_between(0, UINT64_MAX);
    (void)v; /* the full range must not divide by zero */
}

TEST(rand_between_spreads_evenly)
{
    /* Ten buckets of 10,000 expected draws each: a bucket off by more
     * than 10 % would take a broken generator, not bad luck (that is
     * over 30 standard deviations). */
    unsigned buckets[10] = {0};
    for (int i = 0; i < DRAWS; i++)
        buckets[vpd_rand_between(0, 9)]++;
    for (int i = 0; i < 10; i++) {
        ASSERT(buckets[i] > DRAWS / 10 * 9 / 10);
        ASSERT(buckets[i] < DRAWS / 10 * 11 / 10);
    }
}

TEST(jitter_draws_differ)
{
    uint64_t a = vpd_jitter_u64(), b = vpd_jitter_u64(), c = vpd_jitter_u64();
    ASSERT(a != b || b != c);
}

TEST(linear_is_n_times_a_value_between_min_and_max)
{
    uint64_t lo_seen = UINT64_MAX, hi_seen = 0;
    for (int i = 0; i < DRAWS; i++) {
        uint64_t w = vpd_backoff_linear(1000, 1500, 3);
        ASSERT(w >= 3000 && w <= 4500);
        ASSERT_INT_EQ(w % 3, 0);
        lo_seen = w < lo_seen ? w : lo_seen;
        hi_seen = w > hi_seen ? w : hi_seen;
    }
    /* The whole range is used, not just its middle. */
    ASSERT(lo_seen < 3100);
    ASSERT(hi_seen > 4400);
}

TEST(linear_edges)
{
    ASSERT_INT_EQ(vpd_backoff_linear(1000, 1500, 0), 0);
    ASSERT_INT_EQ(vpd_backoff_linear(200, 100, 4), 800);
    ASSERT_INT_EQ(vpd_backoff_linear(20, 20, 1), 20);
    ASSERT(vpd_backoff_linear(UINT64_MAX / 2, UINT64_MAX / 2, 3) == UINT64_MAX);
}

TEST(exponential_starts_at_min_and_grows)
{
    vpd_backoff b;
    vpd_backoff_init(&b, 100, 100000);
    ASSERT_INT_EQ(vpd_backoff_next(&b), 100);
    uint64_t prev = 100;
    for (int i = 0; i < 8; i++) {
        uint64_t w = vpd_backoff_next(&b);
        /* Doubled, less at most a quarter of the doubled value. */
        ASSERT(w >= prev * 2 - prev / 2);
        ASSERT(w <= prev * 2);
        prev = w;
    }
    ASSERT(prev >= 100 * 20); /* 1.5^8 > 25 */
}

TEST(exponential_is_capped_at_max)
{
    for (int round = 0; round < 1000; round++) {
        vpd_backoff b;
        vpd_backoff_init(&b, 100, 1000);
        for (int i = 0; i < 20; i++) {
            uint64_t w = vpd_backoff_next(&b);
            ASSERT(w >= 100 && w <= 1000);
            if (i >= 6) /* capped by now: within a quarter of max */
                ASSERT(w >= 750);
        }
    }
}

TEST(exponential_never_goes_below_min)
{
    /* With max close to min the jitter could take the wait under min. */
    for (int round = 0; round < 1000; round++) {
        vpd_backoff b;
        vpd_backoff_init(&b, 1000, 1100);
        for (int i = 0; i < 5; i++) {
            uint64_t w = vpd_backoff_next(&b);
            ASSERT(w >= 1000 && w <= 1100);
        }
    }
}

TEST(exponential_reset_starts_over)
{
    vpd_backoff b;
    vpd_backoff_init(&b, 250, 60000);
    for (int i = 0; i < 6; i++)
        vpd_backoff_next(&b);
    ASSERT(b.next_ms > 250);
    vpd_backoff_reset(&b);
    ASSERT_INT_EQ(vpd_backoff_next(&b), 250);
}

TEST(exponential_does_not_overflow)
{
    vpd_backoff b;
    vpd_backoff_init(&b, UINT64_MAX / 2 + 10, UINT64_MAX);
    vpd_backoff_next(&b);
    uint64_t w = vpd_backoff_next(&b);
    ASSERT(w >= UINT64_MAX / 2 + 10);
}

int
main(void)
{
    return RUN_TESTS(
        T(rand_between_stays_inside_and_reaches_both_ends),
        T(rand_between_with_an_empty_range_is_lo),
        T(rand_between_spreads_evenly), T(jitter_draws_differ),
        T(linear_is_n_times_a_value_between_min_and_max), T(linear_edges),
        T(exponential_starts_at_min_and_grows), T(exponential_is_capped_at_max),
        T(exponential_never_goes_below_min), T(exponential_reset_starts_over),
        T(exponential_does_not_overflow));
}
