/* One timer per sink carries its retries; a write that succeeds, or a
 * newer token, cancels it. */
#include "autoconf.h"

#include "sinks.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_api.h"
#include "log.h"
#include "sink_file.h"

#define COMPONENT "proxy.sink.server"
#define RETRY_BASE_MS 2000
#define RETRY_JITTER_MS 1000

typedef struct sink {
    struct vpd_sinks *owner;
    vpd_file_sink file;
    uv_timer_t retry;
    char *pending;            /* secret; NULL when up to date */
} sink;

struct vpd_sinks {
    uv_loop_t *loop;
    sink *v;
    size_t n;
    char *latest;             /* secret: the last token delivered */
    void (*all_written)(void *);
    void *all_written_arg;
    size_t open_timers;
    void (*closed)(void *);
    void *closed_arg;
    bool closing;
};

static void write_sink(sink *k);

static void
on_retry(uv_timer_t *t)
{
    write_sink(t->data);
}

static bool
all_current(const vpd_sinks *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].pending)
            return false;
    }
    return true;
}

static void
write_sink(sink *k)
{
    vpd_sinks *s = k->owner;
    if (!k->pending || s->closing)
        return;
    char err[512];
    if (vpd_file_sink_write(&k->file, k->pending, strlen(k->pending), err,
                            sizeof err) != 0) {
        uint16_t r = 0;
        RAND_bytes((unsigned char *)&r, sizeof r);
        uint64_t wait = RETRY_BASE_MS - RETRY_JITTER_MS
                        + r % (2 * RETRY_JITTER_MS + 1);
        vpd_log(VPD_LOG_ERROR, COMPONENT, "sink %s: %s (retrying in %llu ms)",
                k->file.path, err, (unsigned long long)wait);
        uv_timer_start(&k->retry, on_retry, wait, 0);
        return;
    }
    vpd_secret_free(k->pending);
    k->pending = NULL;
    vpd_log(VPD_LOG_INFO, COMPONENT, "token written to %s", k->file.path);
    if (all_current(s) && s->all_written)
        s->all_written(s->all_written_arg);
}

vpd_sinks *
vpd_sinks_new(uv_loop_t *loop, const vpd_auto_auth_config *aa, char *err,
              size_t err_len)
{
    vpd_sinks *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->v = calloc(aa->n_sinks ? aa->n_sinks : 1, sizeof *s->v);
    if (!s->v) {
        free(s);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < aa->n_sinks; i++) {
        const vpd_sink_config *c = &aa->sinks[i];
        sink *k = &s->v[i];
        k->owner = s;
        if (vpd_file_sink_init(&k->file, c->config, c->file, c->line, err,
                               err_len) != 0
            || vpd_file_sink_check(&k->file, err, err_len) != 0) {
            vpd_file_sink_free(&k->file);
            s->n = i;
            vpd_sinks_close(s, NULL, NULL);
            return NULL;
        }
        uv_timer_init(loop, &k->retry);
        k->retry.data = k;
        s->n = i + 1;
        s->open_timers++;
    }
    return s;
}

size_t
vpd_sinks_count(const vpd_sinks *s)
{
    return s->n;
}

void
vpd_sinks_deliver(vpd_sinks *s, const char *token)
{
    if (s->closing)
        return;
    if (s->latest && strcmp(s->latest, token) == 0)
        return; /* the same token again: nothing to rewrite */
    vpd_secret_free(s->latest);
    s->latest = vpd_secret_dup(token, strlen(token));
    for (size_t i = 0; i < s->n; i++) {
        sink *k = &s->v[i];
        uv_timer_stop(&k->retry);
        vpd_secret_free(k->pending);
        k->pending = vpd_secret_dup(token, strlen(token));
    }
    for (size_t i = 0; i < s->n; i++)
        write_sink(&s->v[i]);
    if (s->n == 0 && s->all_written)
        s->all_written(s->all_written_arg);
}

void
vpd_sinks_on_all_written(vpd_sinks *s, void (*fn)(void *), void *arg)
{
    s->all_written = fn;
    s->all_written_arg = arg;
}

static void
finish_close(vpd_sinks *s)
{
    void (*done)(void *) = s->closed;
    void *arg = s->closed_arg;
    for (size_t i = 0; i < s->n; i++) {
        vpd_secret_free(s->v[i].pending);
        vpd_file_sink_free(&s->v[i].file);
    }
    vpd_secret_free(s->latest);
    free(s->v);
    free(s);
    if (done)
        done(arg);
}

static void
on_timer_closed(uv_handle_t *h)
{
    sink *k = h->data;
    vpd_sinks *s = k->owner;
    if (--s->open_timers == 0)
        finish_close(s);
}

void
vpd_sinks_close(vpd_sinks *s, void (*done)(void *), void *arg)
{
    s->closing = true;
    s->closed = done;
    s->closed_arg = arg;
    if (s->open_timers == 0) {
        finish_close(s);
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        uv_timer_stop(&s->v[i].retry);
        uv_close((uv_handle_t *)&s->v[i].retry, on_timer_closed);
    }
}
