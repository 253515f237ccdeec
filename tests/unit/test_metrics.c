/* The metrics registry: instruments, histogram bucketing, retention, prefix
 * filters, Go's number formatting, and both writers byte for byte. */
#include "autoconf.h"

#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/metrics.h"

/* 2024-01-02 03:04:05 UTC */
#define T0_MS 1704164645000ull

static const char *
g(double v)
{
    static char buf[4][48];
    static int i;
    char *b = buf[i++ & 3];
    vpd_metrics_fmt_g(v, b);
    return b;
}

static const char *
j(double v, bool f32)
{
    static char buf[4][48];
    static int i;
    char *b = buf[i++ & 3];
    vpd_metrics_fmt_json(v, f32, b);
    return b;
}

TEST(go_g_formatting)
{
    ASSERT_STR_EQ(g(0), "0");
    ASSERT_STR_EQ(g(1), "1");
    ASSERT_STR_EQ(g(-1), "-1");
    ASSERT_STR_EQ(g(3), "3");
    ASSERT_STR_EQ(g(0.5), "0.5");
    ASSERT_STR_EQ(g(0.00005), "5e-05");
    ASSERT_STR_EQ(g(0.0001), "0.0001");
    ASSERT_STR_EQ(g(0.00025), "0.00025");
    ASSERT_STR_EQ(g(2.5), "2.5");
    ASSERT_STR_EQ(g(30), "30");
    ASSERT_STR_EQ(g(100000), "100000");
    ASSERT_STR_EQ(g(1000000), "1e+06");
    ASSERT_STR_EQ(g(1234567), "1.234567e+06");
    ASSERT_STR_EQ(g(0.1 + 0.2), "0.30000000000000004");
    ASSERT_STR_EQ(g(1.0 / 0.0), "+Inf");
}

TEST(go_json_formatting)
{
    ASSERT_STR_EQ(j(0, false), "0");
    ASSERT_STR_EQ(j(1, false), "1");
    ASSERT_STR_EQ(j(0.25, false), "0.25");
    ASSERT_STR_EQ(j(1234567, false), "1234567");
    ASSERT_STR_EQ(j(0.0000001, false), "1e-7");
    ASSERT_STR_EQ(j(1e21, false), "1e+21");
    ASSERT_STR_EQ(j(0.000123, false), "0.000123");
    /* float32 gauges: shortest for the float, not the double. */
    ASSERT_STR_EQ(j(0.1, true), "0.1");
    ASSERT_STR_EQ(j(16777216, true), "16777216");
    ASSERT_STR_EQ(j(-3, true), "-3");
}

TEST(histogram_bucketing)
{
    vpd_metrics r;
    vpd_metrics_init(&r, NULL, T0_MS);
    vpd_metric *h = vpd_metrics_add(&r, VPD_METRIC_HISTOGRAM, "h", "h");
    /* Bounds are inclusive upper limits, as Prometheus' le. */
    vpd_histogram_observe(h, 0.00001);  /* below the first bound */
    vpd_histogram_observe(h, 0.00005);  /* exactly the first bound */
    vpd_histogram_observe(h, 0.000051); /* just above it */
    vpd_histogram_observe(h, 1.0);
    vpd_histogram_observe(h, 30.0);
    vpd_histogram_observe(h, 31.0); /* +Inf */
    ASSERT_INT_EQ(h->h.buckets[0], 2);
    ASSERT_INT_EQ(h->h.buckets[1], 1);
    ASSERT_INT_EQ(h->h.buckets[13], 1); /* le 1 */
    ASSERT_INT_EQ(h->h.buckets[17], 1); /* le 30 */
    ASSERT_INT_EQ(h->h.buckets[18], 1); /* above 30 */
    ASSERT_INT_EQ(h->h.count, 6);
    ASSERT(h->h.min == 0.00001);
    ASSERT(h->h.max == 31.0);
    for (size_t i = 1; i < VPD_METRICS_BOUNDS; i++)
        ASSERT(vpd_metrics_bounds[i] > vpd_metrics_bounds[i - 1]);
    ASSERT(vpd_metrics_bounds[0] == 0.00005);
    ASSERT(vpd_metrics_bounds[VPD_METRICS_BOUNDS - 1] == 30.0);
}

TEST(full_registry_hands_out_a_spare)
{
    vpd_metrics r;
    vpd_metrics_init(&r, NULL, T0_MS);
    for (int i = 0; i < VPD_METRICS_MAX; i++)
        ASSERT(vpd_metrics_add(&r, VPD_METRIC_COUNTER, "c", "c") != &r.spare);
    vpd_metric *s = vpd_metrics_add(&r, VPD_METRIC_COUNTER, "x", "x");
    ASSERT(s == &r.spare);
    vpd_counter_inc(s); /* harmless */
    vpd_buf b = VPD_BUF_INIT;
    ASSERT_INT_EQ(vpd_metrics_write_json(&r, T0_MS, &b), 0);
    ASSERT(!strstr(b.data, "\"vault.x\""));
    vpd_buf_free(&b);
}

/* A small registry with one instrument of each kind. */
static void
small(vpd_metrics *r, const vpd_metrics_options *o)
{
    vpd_metrics_init(r, o, T0_MS);
    vpd_metric *c = vpd_metrics_add(r, VPD_METRIC_COUNTER,
                                    "agent.proxy.success", "answered");
    vpd_metric *gg = vpd_metrics_add(r, VPD_METRIC_GAUGE,
                                     "proxy.client.connections", "open");
    vpd_metric *h = vpd_metrics_add(r, VPD_METRIC_HISTOGRAM,
                                    "proxy.request.duration_seconds", "time");
    vpd_counter_inc(c);
    vpd_counter_inc(c);
    vpd_counter_inc(c);
    vpd_gauge_set(gg, 2);
    vpd_histogram_observe(h, 0.5);
    vpd_histogram_observe(h, 1.5);
}

TEST(json_writer_byte_exact)
{
    vpd_metrics r;
    small(&r, NULL);
    vpd_buf b = VPD_BUF_INIT;
    /* 10 s after start: Rate is Sum per second. */
    ASSERT_INT_EQ(vpd_metrics_write_json(&r, T0_MS + 10000, &b), 0);
    ASSERT_STR_EQ(
        b.data,
        "{\"Timestamp\":\"2024-01-02 03:04:15 +0000 UTC\","
        "\"Gauges\":[{\"Name\":\"vault.proxy.client.connections\","
        "\"Value\":2,\"Labels\":{}}],"
        "\"Points\":[],"
        "\"Counters\":[{\"Name\":\"vault.agent.proxy.success\",\"Count\":3,"
        "\"Rate\":0.3,\"Sum\":3,\"Min\":1,\"Max\":1,\"Mean\":1,\"Stddev\":0,"
        "\"Labels\":{}}],"
        "\"Samples\":[{\"Name\":\"vault.proxy.request.duration_seconds\","
        "\"Count\":2,\"Rate\":0.2,\"Sum\":2,\"Min\":0.5,\"Max\":1.5,"
        "\"Mean\":1,\"Stddev\":0.7071067811865476,\"Labels\":{}}]}");
    vpd_buf_free(&b);
}

TEST(json_writer_hostname_and_label)
{
    vpd_metrics r;
    vpd_metrics_options o = {.prefix = "bao",
                             .hostname = "h-1",
                             .hostname_in_gauges = true,
                             .hostname_label = true};
    small(&r, &o);
    vpd_buf b = VPD_BUF_INIT;
    ASSERT_INT_EQ(vpd_metrics_write_json(&r, T0_MS, &b), 0);
    /* go-metrics puts the host in gauge names only. */
    ASSERT_STR_CONTAINS(b.data,
                        "\"Name\":\"bao.h-1.proxy.client.connections\"");
    ASSERT_STR_CONTAINS(b.data, "\"Name\":\"bao.agent.proxy.success\"");
    ASSERT_STR_CONTAINS(b.data, "\"Labels\":{\"host\":\"h-1\"}");
    vpd_buf_free(&b);
}

static const char PROM[] =
    "# HELP vault_agent_proxy_success answered\n"
    "# TYPE vault_agent_proxy_success counter\n"
    "vault_agent_proxy_success 3\n"
    "# HELP vault_proxy_client_connections open\n"
    "# TYPE vault_proxy_client_connections gauge\n"
    "vault_proxy_client_connections 2\n"
    "# HELP vault_proxy_request_duration_seconds time\n"
    "# TYPE vault_proxy_request_duration_seconds histogram\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"5e-05\"} 0\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"0.0001\"} 0\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"0.00025\"} 0\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"0.0005\"} 0\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"0.001\"} 0\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"0.0025\"} 0\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"0.005\"} 0\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"0.01\"} 0\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"0.025\"} 0\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"0.05\"} 0\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"0.1\"} 0\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"0.25\"} 0\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"0.5\"} 1\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"1\"} 1\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"2.5\"} 2\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"5\"} 2\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"10\"} 2\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"30\"} 2\n"
    "vault_proxy_request_duration_seconds_bucket{le=\"+Inf\"} 2\n"
    "vault_proxy_request_duration_seconds_sum 2\n"
    "vault_proxy_request_duration_seconds_count 2\n";

TEST(prometheus_writer_byte_exact)
{
    vpd_metrics r;
    vpd_metrics_options o = {.retention_ms = 60000};
    small(&r, &o);
    ASSERT(vpd_metrics_prometheus_enabled(&r));
    vpd_metrics_note_scrape(&r, 1000);
    vpd_buf b = VPD_BUF_INIT;
    ASSERT_INT_EQ(vpd_metrics_write_prometheus(&r, 1000, &b), 0);
    ASSERT_STR_EQ(b.data, PROM);
    vpd_buf_free(&b);
}

TEST(prometheus_names_and_labels_are_sanitised)
{
    vpd_metrics r;
    vpd_metrics_options o = {.prefix = "my-app",
                             .hostname = "web\"1",
                             .hostname_label = true,
                             .retention_ms = 1};
    vpd_metrics_init(&r, &o, T0_MS);
    vpd_metric *c = vpd_metrics_add(&r, VPD_METRIC_COUNTER, "a.b-c/d", NULL);
    vpd_counter_inc(c);
    vpd_metrics_note_scrape(&r, 5);
    vpd_buf b = VPD_BUF_INIT;
    ASSERT_INT_EQ(vpd_metrics_write_prometheus(&r, 5, &b), 0);
    ASSERT_STR_EQ(b.data, "# HELP my_app_a_b_c_d my_app_a_b_c_d\n"
                          "# TYPE my_app_a_b_c_d counter\n"
                          "my_app_a_b_c_d{host=\"web\\\"1\"} 1\n");
    vpd_buf_free(&b);
}

TEST(retention_drops_series_that_stopped_changing)
{
    vpd_metrics r;
    vpd_metrics_options o = {.retention_ms = 1000};
    vpd_metrics_init(&r, &o, T0_MS);
    vpd_metric *busy = vpd_metrics_add(&r, VPD_METRIC_COUNTER, "busy", "b");
    vpd_metric *idle = vpd_metrics_add(&r, VPD_METRIC_COUNTER, "idle", "i");
    vpd_metric *gauge = vpd_metrics_add(&r, VPD_METRIC_GAUGE, "g", "g");
    vpd_counter_inc(busy);
    vpd_counter_inc(idle);
    vpd_gauge_set(gauge, 1);
    vpd_metrics_note_scrape(&r, 100);
    vpd_buf b = VPD_BUF_INIT;
    vpd_metrics_write_prometheus(&r, 100, &b);
    ASSERT_STR_CONTAINS(b.data, "vault_idle 1\n");
    /* 1.5 s later only the busy one changed. */
    vpd_counter_inc(busy);
    vpd_metrics_note_scrape(&r, 1600);
    vpd_buf_reset(&b);
    vpd_metrics_write_prometheus(&r, 1600, &b);
    ASSERT_STR_CONTAINS(b.data, "vault_busy 2\n");
    ASSERT_STR_CONTAINS(b.data, "vault_g 1\n"); /* sampled: always fresh */
    ASSERT(!strstr(b.data, "vault_idle"));
    /* It comes back, still cumulative, once it changes again. */
    vpd_counter_inc(idle);
    vpd_metrics_note_scrape(&r, 1700);
    vpd_buf_reset(&b);
    vpd_metrics_write_prometheus(&r, 1700, &b);
    ASSERT_STR_CONTAINS(b.data, "vault_idle 2\n");
    vpd_buf_free(&b);
}

TEST(prefix_filter_longest_match_wins)
{
    static const char *const rules[] = {"-vault.agent", "+vault.agent.cache"};
    vpd_metrics r;
    vpd_metrics_options o = {.filters = rules, .n_filters = 2};
    vpd_metrics_init(&r, &o, T0_MS);
    vpd_metric *a =
        vpd_metrics_add(&r, VPD_METRIC_COUNTER, "agent.proxy.success", "x");
    vpd_metric *b =
        vpd_metrics_add(&r, VPD_METRIC_COUNTER, "agent.cache.hit", "x");
    vpd_metric *c =
        vpd_metrics_add(&r, VPD_METRIC_COUNTER, "proxy.proxy.success", "x");
    ASSERT(!a->shown);
    ASSERT(b->shown);
    ASSERT(c->shown);
    o.block_by_default = true;
    o.n_filters = 0;
    vpd_metrics_init(&r, &o, T0_MS);
    ASSERT(!vpd_metrics_add(&r, VPD_METRIC_COUNTER, "x", "x")->shown);
}

TEST(writers_sort_by_name)
{
    vpd_metrics r;
    vpd_metrics_options o = {.retention_ms = 1000};
    vpd_metrics_init(&r, &o, T0_MS);
    vpd_metrics_add(&r, VPD_METRIC_COUNTER, "b.z", "x");
    vpd_metrics_add(&r, VPD_METRIC_COUNTER, "a.y", "x");
    vpd_metrics_add(&r, VPD_METRIC_GAUGE, "a.x", "x");
    vpd_buf b = VPD_BUF_INIT;
    vpd_metrics_write_json(&r, T0_MS, &b);
    ASSERT(strstr(b.data, "vault.a.y") < strstr(b.data, "vault.b.z"));
    vpd_buf_reset(&b);
    vpd_metrics_note_scrape(&r, 1);
    vpd_metrics_write_prometheus(&r, 1, &b);
    const char *x = strstr(b.data, "vault_a_x"),
               *y = strstr(b.data, "vault_a_y"),
               *z = strstr(b.data, "vault_b_z");
    ASSERT(x && y && z && x < y && y < z);
    vpd_buf_free(&b);
}

/* The libm-free root equals libm's, bit for bit, over the whole range of
 * doubles (subnormals included) and at the edges. */
TEST(sqrt_without_libm_matches_libm)
{
    static const double fixed[] = {0.5,
                                   1,
                                   2,
                                   3,
                                   4,
                                   1e-310,
                                   4.9e-324,
                                   1.7976931348623157e308,
                                   0.25,
                                   1e300,
                                   2.2250738585072014e-308,
                                   123456789.0};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        ASSERT(vpd_metrics_sqrt(fixed[i]) == sqrt(fixed[i]));
    ASSERT(vpd_metrics_sqrt(0) == 0);
    ASSERT(isnan(vpd_metrics_sqrt(-1)));
    ASSERT(isinf(vpd_metrics_sqrt(INFINITY)));
    uint64_t state = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 200000; i++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        /* Random bits with the sign cleared: any positive double. */
        uint64_t bits = state & 0x7fefffffffffffffull;
        double x;
        memcpy(&x, &bits, sizeof x);
        if (!(x > 0))
            continue;
        double mine = vpd_metrics_sqrt(x), theirs = sqrt(x);
        if (mine != theirs)
            TEST_FAIL_("sqrt(%a): %a, libm %a", x, mine, theirs);
    }
}

int
main(void)
{
    return RUN_TESTS(
        T(sqrt_without_libm_matches_libm), T(go_g_formatting),
        T(go_json_formatting), T(histogram_bucketing),
        T(full_registry_hands_out_a_spare), T(json_writer_byte_exact),
        T(json_writer_hostname_and_label), T(prometheus_writer_byte_exact),
        T(prometheus_names_and_labels_are_sanitised),
        T(retention_drops_series_that_stopped_changing),
        T(prefix_filter_longest_match_wins), T(writers_sort_by_name));
}
