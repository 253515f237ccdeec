/* The registry and its two writers.  The writers run only when someone
 * scrapes, so they may format with snprintf; the instruments' updates are
 * the inline functions of metrics.h. */
#include "autoconf.h"

#include "base/metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const double vpd_metrics_bounds[VPD_METRICS_BOUNDS] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,
};

static void
copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

void
vpd_metrics_init(vpd_metrics *r, const vpd_metrics_options *opt,
                 uint64_t now_wall_ms)
{
    memset(r, 0, sizeof *r);
    copy_str(r->prefix, sizeof r->prefix,
             opt && opt->prefix && opt->prefix[0] ? opt->prefix : "vault");
    r->filter_default = true;
    r->started_ms = now_wall_ms;
    if (!opt)
        return;
    copy_str(r->host, sizeof r->host, opt->hostname);
    r->host_in_gauges = opt->hostname_in_gauges && r->host[0];
    r->host_label = opt->hostname_label && r->host[0];
    r->retention_ms = opt->retention_ms;
    r->filters = opt->filters;
    r->n_filters = opt->n_filters;
    r->filter_default = !opt->block_by_default;
}

bool
vpd_metrics_prometheus_enabled(const vpd_metrics *r)
{
    return r->retention_ms > 0;
}

/* The dotted name the sinks see: prefix, the host for gauges when
 * go-metrics would insert it, then the name. */
static void
full_name(const vpd_metrics *r, const vpd_metric *m, char *out, size_t cap)
{
    if (m->kind == VPD_METRIC_GAUGE && r->host_in_gauges)
        snprintf(out, cap, "%s.%s.%s", r->prefix, r->host, m->name);
    else
        snprintf(out, cap, "%s.%s", r->prefix, m->name);
}

static void prom_name(const vpd_metrics *r, const vpd_metric *m, char *out,
                      size_t cap);

/* The order both sinks show series in: sorted by name (go-metrics sorts
 * its summary; Prometheus' gatherer sorts metric families).  Fills idx
 * with indices into r->m and returns how many. */
typedef void (*name_fn)(const vpd_metrics *, const vpd_metric *, char *,
                        size_t);

static size_t
sorted_order(const vpd_metrics *r, name_fn name_of, size_t *idx)
{
    char names[VPD_METRICS_MAX][160];
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++) {
        name_of(r, &r->m[i], names[i], sizeof names[i]);
        /* Insertion sort: a few dozen names, once per scrape. */
        size_t k = n++;
        while (k > 0 && strcmp(names[idx[k - 1]], names[i]) > 0) {
            idx[k] = idx[k - 1];
            k--;
        }
        idx[k] = i;
    }
    return n;
}

/* go-metrics allowMetric: the longest matching rule decides. */
static bool
passes_filter(const vpd_metrics *r, const char *name)
{
    size_t best = 0;
    bool allowed = r->filter_default;
    for (size_t i = 0; i < r->n_filters; i++) {
        const char *rule = r->filters[i];
        if (!rule || (rule[0] != '+' && rule[0] != '-'))
            continue;
        size_t n = strlen(rule + 1);
        if (n >= best && strncmp(name, rule + 1, n) == 0) {
            best = n;
            allowed = rule[0] == '+';
        }
    }
    return allowed;
}

vpd_metric *
vpd_metrics_add(vpd_metrics *r, vpd_metric_kind kind, const char *name,
                const char *help)
{
    if (r->n >= VPD_METRICS_MAX) {
        memset(&r->spare, 0, sizeof r->spare);
        r->spare.kind = kind;
        r->spare.name = name;
        return &r->spare;
    }
    vpd_metric *m = &r->m[r->n++];
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->name = name;
    m->help = help;
    char full[256];
    full_name(r, m, full, sizeof full);
    m->shown = passes_filter(r, full);
    return m;
}

void
vpd_metrics_seal(vpd_metrics *r)
{
    r->filters = NULL;
    r->n_filters = 0;
}

void
vpd_metrics_note_scrape(vpd_metrics *r, uint64_t now_ms)
{
    for (size_t i = 0; i < r->n; i++) {
        vpd_metric *m = &r->m[i];
        bool changed;
        switch (m->kind) {
        case VPD_METRIC_GAUGE:
            /* Gauges are sampled right before a scrape: each sample is an
             * update, as each SetGauge is for go-metrics. */
            changed = true;
            m->seen_value = m->value;
            break;
        case VPD_METRIC_HISTOGRAM:
            changed = m->h.count != m->seen;
            m->seen = m->h.count;
            break;
        default:
            changed = m->count != m->seen;
            m->seen = m->count;
            break;
        }
        /* The first scrape starts every series' clock, zeros included. */
        if (changed || !r->scraped)
            m->changed_ms = now_ms;
    }
    r->scraped = true;
}

/* ---- numbers as Go writes them ------------------------------------------ */

/* The shortest decimal digits that read back as v (as float when f32),
 * and the position of the decimal point: v = 0.DIGITS x 10^dp. */
static size_t
shortest(double v, bool f32, char *digits, int *dp)
{
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
        bool same =
            f32 ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v;
        if (same || prec == 17)
            break;
    }
    /* buf is "d.ddde+XX" (v > 0 here). */
    size_t nd = 0;
    const char *p = buf;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int exp = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    *dp = exp + 1;
    return nd;
}

static size_t
put_exp(char *out, size_t o, const char *d, size_t nd, int dp, bool two)
{
    out[o++] = d[0];
    if (nd > 1) {
        out[o++] = '.';
        memcpy(out + o, d + 1, nd - 1);
        o += nd - 1;
    }
    int e = dp - 1;
    o += (size_t)sprintf(out + o, two ? "e%c%02d" : "e%c%d", e < 0 ? '-' : '+',
                         e < 0 ? -e : e);
    return o;
}

static size_t
put_fixed(char *out, size_t o, const char *d, size_t nd, int dp)
{
    if (dp <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -dp; i++)
            out[o++] = '0';
        memcpy(out + o, d, nd);
        return o + nd;
    }
    for (int i = 0; i < dp; i++)
        out[o++] = (size_t)i < nd ? d[i] : '0';
    if ((size_t)dp < nd) {
        out[o++] = '.';
        memcpy(out + o, d + dp, nd - (size_t)dp);
        o += nd - (size_t)dp;
    }
    return o;
}

/* Handles sign, zero and non-finite values; returns 1 when done. */
static int
special(double v, char *out, size_t *len, size_t *o)
{
    if (isnan(v)) {
        *len = (size_t)sprintf(out, "NaN");
        return 1;
    }
    if (isinf(v)) {
        *len = (size_t)sprintf(out, v > 0 ? "+Inf" : "-Inf");
        return 1;
    }
    if (v == 0) {
        *len = (size_t)sprintf(out, "0");
        return 1;
    }
    *o = 0;
    if (v < 0)
        out[(*o)++] = '-';
    return 0;
}

size_t
vpd_metrics_fmt_g(double v, char *out)
{
    size_t len, o;
    if (special(v, out, &len, &o))
        return len;
    char d[24];
    int dp;
    size_t nd = shortest(fabs(v), false, d, &dp);
    /* strconv 'g' with the shortest precision: the exponent form when
     * the exponent is below -4 or at least 6 (Go's eprec for shortest). */
    int exp = dp - 1;
    if (exp < -4 || exp >= 6)
        o = put_exp(out, o, d, nd, dp, true);
    else
        o = put_fixed(out, o, d, nd, dp);
    out[o] = '\0';
    return o;
}

size_t
vpd_metrics_fmt_json(double v, bool as_float32, char *out)
{
    size_t len, o;
    if (special(v, out, &len, &o))
        return len;
    char d[24];
    int dp;
    double a = fabs(v);
    size_t nd = shortest(a, as_float32, d, &dp);
    bool e = as_float32 ? ((float)a < 1e-6f || (float)a >= 1e21f)
                        : (a < 1e-6 || a >= 1e21);
    o = e ? put_exp(out, o, d, nd, dp, false) : put_fixed(out, o, d, nd, dp);
    out[o] = '\0';
    return o;
}

/* ---- JSON (go-metrics MetricsSummary) ----------------------------------- */

static int
json_str(vpd_buf *b, const char *s)
{
    /* Names are ours and the host name; escape what JSON needs anyway. */
    if (vpd_buf_append(b, "\"", 1) != 0)
        return -1;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int rc;
        if (c == '"' || c == '\\')
            rc = vpd_buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == '<' || c == '>' || c == '&')
            rc = vpd_buf_printf(b, "\\u%04x", c);
        else
            rc = vpd_buf_append(b, s, 1);
        if (rc != 0)
            return -1;
    }
    return vpd_buf_append(b, "\"", 1);
}

static int
json_num(vpd_buf *b, double v, bool f32)
{
    char tmp[48];
    size_t n = vpd_metrics_fmt_json(v, f32, tmp);
    return vpd_buf_append(b, tmp, n);
}

static int
json_labels(const vpd_metrics *r, vpd_buf *b)
{
    if (!r->host_label)
        return vpd_buf_append_str(b, "\"Labels\":{}");
    if (vpd_buf_append_str(b, "\"Labels\":{\"host\":") != 0 ||
        json_str(b, r->host) != 0)
        return -1;
    return vpd_buf_append(b, "}", 1);
}

/* The daemon's one use of libm was sqrt() here, and mapping libm costs
 * every vaproxyd about 300 KiB of resident memory; so the root is taken
 * on integers instead.  x = mant * 2^exp with a 53-bit mant is scaled to
 * a 105- or 106-bit integer with an even exponent, whose integer root
 * (53 bits) is found bit by bit; the remainder then rounds it to nearest,
 * which gives exactly what sqrt() gives. */
double
vpd_metrics_sqrt(double x)
{
    if (!(x > 0) || isinf(x))
        return x == 0 || isinf(x) ? x : NAN;
    __extension__ typedef unsigned __int128 u128;
    int e;
    double m = frexp(x, &e); /* x = m * 2^e, m in [0.5, 1) */
    int exp = e - 53;
    int shift = 52 + ((exp - 52) & 1);
    u128 n = (u128)(uint64_t)ldexp(m, 53) << shift;
    u128 root = 0;
    u128 bit = (u128)1 << 106;
    while (bit > n)
        bit >>= 2;
    for (; bit; bit >>= 2) {
        if (n >= root + bit) {
            n -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
    }
    /* sqrt(N) lies in [root, root + 1): above the midpoint exactly when
     * N > root^2 + root, i.e. when the remainder exceeds root. */
    if (n > root)
        root++;
    return ldexp((double)(uint64_t)root, (exp - shift) / 2);
}

/* One SampledValue: go-metrics' AggregateSample with Mean and Stddev. */
static int
json_sampled(const vpd_metrics *r, vpd_buf *b, const char *name, uint64_t count,
             double sum, double sumsq, double min, double max, double secs)
{
    double n = (double)count;
    double mean = count ? sum / n : 0;
    double var_num = n * sumsq - sum * sum;
    double div = n * (n - 1);
    double stddev =
        div > 0 && var_num > 0 ? vpd_metrics_sqrt(var_num / div) : 0;
    if (vpd_buf_append_str(b, "{\"Name\":") != 0 || json_str(b, name) != 0 ||
        vpd_buf_printf(
            b, ",\"Count\":%llu,\"Rate\":", (unsigned long long)count) != 0 ||
        json_num(b, sum / secs, false) != 0 ||
        vpd_buf_append_str(b, ",\"Sum\":") != 0 ||
        json_num(b, sum, false) != 0 ||
        vpd_buf_append_str(b, ",\"Min\":") != 0 ||
        json_num(b, min, false) != 0 ||
        vpd_buf_append_str(b, ",\"Max\":") != 0 ||
        json_num(b, max, false) != 0 ||
        vpd_buf_append_str(b, ",\"Mean\":") != 0 ||
        json_num(b, mean, false) != 0 ||
        vpd_buf_append_str(b, ",\"Stddev\":") != 0 ||
        json_num(b, stddev, false) != 0 || vpd_buf_append(b, ",", 1) != 0 ||
        json_labels(r, b) != 0)
        return -1;
    return vpd_buf_append(b, "}", 1);
}

static int
json_section(const vpd_metrics *r, vpd_buf *b, vpd_metric_kind kind,
             double secs)
{
    bool first = true;
    size_t idx[VPD_METRICS_MAX];
    size_t n = sorted_order(r, full_name, idx);
    for (size_t i = 0; i < n; i++) {
        const vpd_metric *m = &r->m[idx[i]];
        if (m->kind != kind || !m->shown)
            continue;
        char name[256];
        full_name(r, m, name, sizeof name);
        if (!first && vpd_buf_append(b, ",", 1) != 0)
            return -1;
        first = false;
        int rc;
        if (kind == VPD_METRIC_GAUGE) {
            rc = vpd_buf_append_str(b, "{\"Name\":") != 0 ||
                         json_str(b, name) != 0 ||
                         vpd_buf_append_str(b, ",\"Value\":") != 0 ||
                         json_num(b, m->value, true) != 0 ||
                         vpd_buf_append(b, ",", 1) != 0 ||
                         json_labels(r, b) != 0 ||
                         vpd_buf_append(b, "}", 1) != 0
                     ? -1
                     : 0;
        } else if (kind == VPD_METRIC_COUNTER) {
            /* Every increment is 1: min = max = mean = 1, stddev 0. */
            double c = (double)m->count;
            rc = json_sampled(r, b, name, m->count, c, c, m->count ? 1 : 0,
                              m->count ? 1 : 0, secs);
        } else {
            const vpd_histogram *h = &m->h;
            rc = json_sampled(r, b, name, h->count, h->sum, h->sumsq, h->min,
                              h->max, secs);
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

int
vpd_metrics_write_json(const vpd_metrics *r, uint64_t now_wall_ms, vpd_buf *out)
{
    /* Go's time.Time String() of the UTC time, rounded to the second. */
    time_t now = (time_t)((now_wall_ms + 500) / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[64];
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
    double secs = now_wall_ms > r->started_ms
                      ? (double)(now_wall_ms - r->started_ms) / 1000.0
                      : 0;
    if (secs < 1)
        secs = 1;
    if (vpd_buf_printf(out, "{\"Timestamp\":\"%s\",\"Gauges\":[", stamp) != 0 ||
        json_section(r, out, VPD_METRIC_GAUGE, secs) != 0 ||
        vpd_buf_append_str(out, "],\"Points\":[],\"Counters\":[") != 0 ||
        json_section(r, out, VPD_METRIC_COUNTER, secs) != 0 ||
        vpd_buf_append_str(out, "],\"Samples\":[") != 0 ||
        json_section(r, out, VPD_METRIC_HISTOGRAM, secs) != 0 ||
        vpd_buf_append_str(out, "]}") != 0)
        return -1;
    return 0;
}

/* ---- Prometheus text format 0.0.4 --------------------------------------- */

static void
prom_name(const vpd_metrics *r, const vpd_metric *m, char *out, size_t cap)
{
    full_name(r, m, out, cap);
    for (char *p = out; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == ':';
        if (!ok)
            *p = '_';
    }
    if (out[0] >= '0' && out[0] <= '9')
        out[0] = '_';
}

/* A label value: backslash, double quote and newline escaped. */
static int
prom_label_value(vpd_buf *b, const char *s)
{
    for (; *s; s++) {
        int rc;
        if (*s == '\\' || *s == '"')
            rc = vpd_buf_printf(b, "\\%c", *s);
        else if (*s == '\n')
            rc = vpd_buf_append_str(b, "\\n");
        else
            rc = vpd_buf_append(b, s, 1);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* "{host="x",le="0.5"}", "{host="x"}", "{le="0.5"}" or "". */
static int
prom_labels(const vpd_metrics *r, vpd_buf *b, const char *le)
{
    if (!r->host_label && !le)
        return 0;
    if (vpd_buf_append(b, "{", 1) != 0)
        return -1;
    if (r->host_label &&
        (vpd_buf_append_str(b, "host=\"") != 0 ||
         prom_label_value(b, r->host) != 0 || vpd_buf_append(b, "\"", 1) != 0))
        return -1;
    if (le &&
        vpd_buf_printf(b, "%sle=\"%s\"", r->host_label ? "," : "", le) != 0)
        return -1;
    return vpd_buf_append(b, "}", 1);
}

static int
prom_sample(const vpd_metrics *r, vpd_buf *b, const char *name,
            const char *suffix, const char *le, double v)
{
    char num[48];
    vpd_metrics_fmt_g(v, num);
    if (vpd_buf_printf(b, "%s%s", name, suffix) != 0 ||
        prom_labels(r, b, le) != 0 || vpd_buf_printf(b, " %s\n", num) != 0)
        return -1;
    return 0;
}

static int
prom_histogram(const vpd_metrics *r, vpd_buf *b, const char *name,
               const vpd_histogram *h)
{
    uint64_t cum = 0;
    char le[48];
    for (size_t i = 0; i < VPD_METRICS_BOUNDS; i++) {
        cum += h->buckets[i];
        vpd_metrics_fmt_g(vpd_metrics_bounds[i], le);
        if (prom_sample(r, b, name, "_bucket", le, (double)cum) != 0)
            return -1;
    }
    if (prom_sample(r, b, name, "_bucket", "+Inf", (double)h->count) != 0 ||
        prom_sample(r, b, name, "_sum", NULL, h->sum) != 0 ||
        prom_sample(r, b, name, "_count", NULL, (double)h->count) != 0)
        return -1;
    return 0;
}

int
vpd_metrics_write_prometheus(const vpd_metrics *r, uint64_t now_ms,
                             vpd_buf *out)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    size_t idx[VPD_METRICS_MAX];
    size_t n = sorted_order(r, prom_name, idx);
    for (size_t i = 0; i < n; i++) {
        const vpd_metric *m = &r->m[idx[i]];
        if (!m->shown)
            continue;
        if (r->retention_ms && now_ms > m->changed_ms &&
            now_ms - m->changed_ms > r->retention_ms)
            continue;
        char name[256];
        prom_name(r, m, name, sizeof name);
        if (vpd_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name,
                           m->help ? m->help : name, name, types[m->kind]) != 0)
            return -1;
        int rc;
        if (m->kind == VPD_METRIC_HISTOGRAM)
            rc = prom_histogram(r, out, name, &m->h);
        else
            rc = prom_sample(r, out, name, "", NULL,
                             m->kind == VPD_METRIC_GAUGE ? m->value
                                                         : (double)m->count);
        if (rc != 0)
            return -1;
    }
    return 0;
}
