/* A small metrics registry: counters, gauges and latency histograms, and
 * the two ways of showing them that Vault Proxy's /v1/metrics offers
 * (telemetry in vaproxyd.hcl(5)): go-metrics' in-memory JSON summary and the
 * Prometheus text exposition format 0.0.4.
 *
 * Instruments live in a fixed array inside the registry and are created
 * once at start, so updating one is a plain add or store on the loop
 * thread: no allocation, no lock, no clock read.  Values are cumulative
 * since start (go-metrics' JSON shows the last 10 s interval instead; a
 * running total is what a scraper wants and what the tests can see).
 *
 * Retention (prometheus_retention_time): a series that has not changed for
 * longer than the retention is left out of the Prometheus output, as
 * go-metrics' Prometheus sink expires it.  Changes are noticed when the
 * registry is scraped (vpd_metrics_note_scrape), which keeps the hot path
 * free of clock reads: with scrapes every I seconds a series drops out
 * between `retention` and `retention + I` after its last change.
 *
 * Ownership: the registry is a plain struct owned by whoever embeds it;
 * it allocates nothing.  Names and help texts given to vpd_metrics_add
 * are borrowed and must outlive the registry (string literals).  The
 * writers append to a vpd_buf the caller owns. */
#ifndef VPD_METRICS_H
#define VPD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define VPD_METRICS_MAX 48
#define VPD_METRICS_BOUNDS 18 /* finite histogram bounds; +Inf is implied */
#define VPD_METRICS_PREFIX_MAX 64
#define VPD_METRICS_HOST_MAX 128

typedef enum {
    VPD_METRIC_COUNTER = 0,
    VPD_METRIC_GAUGE,
    VPD_METRIC_HISTOGRAM,
} vpd_metric_kind;

/* The histogram's upper bounds in seconds, 50 us to 30 s. */
extern const double vpd_metrics_bounds[VPD_METRICS_BOUNDS];

typedef struct {
    uint64_t count;
    double sum, sumsq, min, max;
    uint64_t buckets[VPD_METRICS_BOUNDS + 1]; /* per bucket, not cumulative;
                                                 the last is above 30 s */
} vpd_histogram;

typedef struct vpd_metric {
    vpd_metric_kind kind;
    const char *name; /* dotted, without the prefix: "agent.proxy.success" */
    const char *help;
    bool shown;      /* passes the telemetry prefix_filter */
    uint64_t count;  /* counter */
    double value;    /* gauge */
    vpd_histogram h; /* histogram */
    /* Retention bookkeeping, touched only when scraped. */
    uint64_t seen;       /* count (or histogram count) at the last scrape */
    double seen_value;   /* gauge value at the last scrape */
    uint64_t changed_ms; /* scrape time that first saw the current value */
} vpd_metric;

typedef struct {
    const char *prefix;      /* metrics_prefix; NULL or "" => "vault" */
    const char *hostname;    /* NULL: none */
    bool hostname_in_gauges; /* go-metrics EnableHostname */
    bool hostname_label;     /* enable_hostname_label: label host="..." */
    uint64_t retention_ms;   /* 0: Prometheus output disabled */
    /* prefix_filter rules, "+prefix" or "-prefix", matched against the full
     * dotted name (prefix included); the longest match wins, as in
     * go-metrics.  Names no rule matches are shown unless
     * block_by_default (telemetry filter_default = false). */
    const char *const *filters;
    size_t n_filters;
    bool block_by_default;
} vpd_metrics_options;

typedef struct {
    vpd_metric m[VPD_METRICS_MAX];
    size_t n;
    vpd_metric spare; /* handed out when the array is full */
    char prefix[VPD_METRICS_PREFIX_MAX];
    char host[VPD_METRICS_HOST_MAX];
    bool host_in_gauges, host_label;
    uint64_t retention_ms;
    bool scraped;        /* note_scrape ran at least once */
    uint64_t started_ms; /* wall clock, for the JSON Rate */
    const char *const *filters;
    size_t n_filters;
    bool filter_default;
} vpd_metrics;

/* opt may be NULL (defaults: prefix "vault", no hostname, no Prometheus).
 * The filters array is borrowed until vpd_metrics_seal. */
void vpd_metrics_init(vpd_metrics *r, const vpd_metrics_options *opt,
                      uint64_t now_wall_ms);

/* Creates an instrument.  Never returns NULL: when the registry is full a
 * shared spare instrument that is never shown comes back, so callers need
 * no checks on the hot path (VPD_METRICS_MAX is sized for the daemon). */
vpd_metric *vpd_metrics_add(vpd_metrics *r, vpd_metric_kind kind,
                            const char *name, const char *help);

/* Every instrument is created: the registry forgets the borrowed filter
 * rules (the config they live in may be reloaded and freed). */
void vpd_metrics_seal(vpd_metrics *r);

bool vpd_metrics_prometheus_enabled(const vpd_metrics *r);

static inline void
vpd_counter_inc(vpd_metric *c)
{
    c->count++;
}

/* For totals another module keeps (the lease cache's counters): copied in
 * just before a scrape. */
static inline void
vpd_counter_set(vpd_metric *c, uint64_t total)
{
    c->count = total;
}

static inline void
vpd_gauge_set(vpd_metric *g, double v)
{
    g->value = v;
}

/* Records one observation in seconds. */
static inline void
vpd_histogram_observe(vpd_metric *m, double seconds)
{
    vpd_histogram *h = &m->h;
    size_t i = 0;
    while (i < VPD_METRICS_BOUNDS && seconds > vpd_metrics_bounds[i])
        i++;
    h->buckets[i]++;
    if (h->count == 0 || seconds < h->min)
        h->min = seconds;
    if (h->count == 0 || seconds > h->max)
        h->max = seconds;
    h->count++;
    h->sum += seconds;
    h->sumsq += seconds * seconds;
}

/* Bookkeeping for retention: notes which series changed since the last
 * scrape.  Call once per scrape before writing. */
void vpd_metrics_note_scrape(vpd_metrics *r, uint64_t now_ms);

/* go-metrics' MetricsSummary as Go's encoding/json writes it (keys in its
 * field order: Timestamp, Gauges, Points, Counters, Samples).  Counters and
 * histograms (as Samples) carry Count, Rate (Sum per second since start),
 * Sum, Min, Max, Mean, Stddev and Labels.  Returns 0 or -1 (out of
 * memory). */
int vpd_metrics_write_json(const vpd_metrics *r, uint64_t now_wall_ms,
                           vpd_buf *out);

/* The text exposition format 0.0.4: names are prefix + name with every
 * character outside [a-zA-Z0-9_:] turned into '_'; series unchanged for
 * longer than the retention (as of the last vpd_metrics_note_scrape at
 * now_ms) are left out.  Returns 0 or -1 (out of memory). */
int vpd_metrics_write_prometheus(const vpd_metrics *r, uint64_t now_ms,
                                 vpd_buf *out);

/* Number formatting as Go does it, exposed for the tests: 'g' with the
 * shortest representation (Prometheus) and encoding/json's float64 and
 * float32 forms.  Each writes a NUL-terminated string into out (at least
 * 32 bytes) and returns its length. */
size_t vpd_metrics_fmt_g(double v, char *out);
size_t vpd_metrics_fmt_json(double v, bool as_float32, char *out);
/* sqrt() without libm (metrics.c says why), equal to it for every x. */
double vpd_metrics_sqrt(double x);

#endif
