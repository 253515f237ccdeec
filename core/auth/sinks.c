/* Each sink runs a small pipeline for the latest token:
 *
 *   [wrap_ttl: PUT sys/wrapping/wrap, async] -> [dh: encrypt] -> write
 *
 * One timer per sink carries its retries (2 s +- 1 s, random so that the
 * retries of many sinks spread out); a newer
 * token restarts the pipeline; a write that succeeds ends it. */
#include "autoconf.h"

#include "auth/sinks.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plugin/host_api.h"
#include "base/backoff.h"
#include "base/log.h"
#include "auth/sink_dh.h"
#include "auth/sink_file.h"
#include "base/version.h"
#include "auth/wrap_info.h"

#define COMPONENT "proxy.sink.server"
#define RETRY_BASE_MS 2000
#define RETRY_JITTER_MS 1000

typedef struct sink {
    struct vpd_sinks *owner;
    const vpd_sink_config *cfg;
    vpd_file_sink file;
    vpd_dh_sink *dh; /* NULL unless dh_type is set */
    uv_timer_t retry;
    char *pending;       /* secret; NULL when up to date */
    vpd_fwd_op *wrap_op; /* a wrap request under way */
} sink;

struct vpd_sinks {
    uv_loop_t *loop;
    vpd_fwd *fwd;
    sink *v;
    size_t n;
    char *latest; /* secret: the last token delivered */
    void (*all_written)(void *);
    void *all_written_arg;
    size_t open_timers;
    void (*closed)(void *);
    void *closed_arg;
    bool closing;
};

static void run_sink(sink *k);

static void
on_retry(uv_timer_t *t)
{
    run_sink(t->data);
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
retry_later(sink *k, const char *why)
{
    uint64_t wait = vpd_rand_between(RETRY_BASE_MS - RETRY_JITTER_MS,
                                     RETRY_BASE_MS + RETRY_JITTER_MS);
    vpd_log(VPD_LOG_ERROR, COMPONENT, "sink %s: %s (retrying in %llu ms)",
            k->file.path, why, (unsigned long long)wait);
    uv_timer_start(&k->retry, on_retry, wait, 0);
}

/* Encrypts if configured, then writes.  `payload` is what the sink gets
 * before encryption: the token or the wrap-info text. */
static void
finish_sink(sink *k, const char *payload)
{
    vpd_sinks *s = k->owner;
    char err[512];
    char *sealed = NULL;
    size_t len = strlen(payload);
    const char *out = payload;
    if (k->dh) {
        if (vpd_dh_sink_encrypt(k->dh, payload, len, &sealed, &len, err,
                                sizeof err) != 0) {
            retry_later(k, err);
            return;
        }
        out = sealed;
    }
    int rc = vpd_file_sink_write(&k->file, out, len, err, sizeof err);
    if (sealed) {
        OPENSSL_cleanse(sealed, len);
        free(sealed);
    }
    if (rc != 0) {
        retry_later(k, err);
        return;
    }
    vpd_secret_free(k->pending);
    k->pending = NULL;
    vpd_log(VPD_LOG_INFO, COMPONENT, "token written to %s", k->file.path);
    if (all_current(s) && s->all_written)
        s->all_written(s->all_written_arg);
}

static void
on_wrapped(vpd_fwd_resp *resp, void *arg)
{
    sink *k = arg;
    k->wrap_op = NULL;
    if (k->owner->closing || resp->error == VPD_FWD_CANCELLED)
        return;
    if (!k->pending)
        return;
    if (resp->error != VPD_FWD_OK || resp->status >= 400) {
        char why[256];
        snprintf(why, sizeof why, "wrapping the token failed: %s",
                 resp->error != VPD_FWD_OK
                     ? (resp->error_text ? resp->error_text : "no answer")
                     : "the server refused");
        retry_later(k, why);
        return;
    }
    char *text = vpd_wrap_info_text(resp->body, resp->body_len);
    if (!text) {
        retry_later(k, "the wrap answer has no wrap_info");
        return;
    }
    finish_sink(k, text);
    vpd_secret_free(text);
}

static void
start_wrap(sink *k)
{
    vpd_sinks *s = k->owner;
    char ttl[32];
    uint64_t ms = k->cfg->wrap_ttl_ms;
    if (ms % 1000)
        snprintf(ttl, sizeof ttl, "%llums", (unsigned long long)ms);
    else
        snprintf(ttl, sizeof ttl, "%llus", (unsigned long long)(ms / 1000));
    const char *pairs[] = {"token", k->pending, NULL};
    char *body = vpd_host_api()->json_object_from_pairs(pairs);
    vpd_hdrs h = {0};
    vpd_hdrs_add(&h, "User-Agent", VPD_AUTO_AUTH_UA);
    vpd_hdrs_add(&h, "X-Vault-Request", "true");
    vpd_hdrs_add(&h, "X-Vault-Token", k->pending);
    vpd_hdrs_add(&h, "X-Vault-Wrap-TTL", ttl);
    vpd_hdrs_add(&h, "Content-Type", "application/json");
    vpd_fwd_req req = {
        .method = "PUT",
        .target = "/v1/sys/wrapping/wrap",
        .headers = &h,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .max_retries = 0,
    };
    k->wrap_op = body ? vpd_fwd_send(s->fwd, &req, on_wrapped, k) : NULL;
    vpd_hdrs_free(&h); /* wipes the token header */
    vpd_secret_free(body);
    if (!k->wrap_op)
        retry_later(k, "could not start the wrap request");
}

static void
run_sink(sink *k)
{
    if (!k->pending || k->owner->closing || k->wrap_op)
        return;
    if (k->cfg->wrap_ttl_ms)
        start_wrap(k);
    else
        finish_sink(k, k->pending);
}

vpd_sinks *
vpd_sinks_new(uv_loop_t *loop, const vpd_auto_auth_config *aa, vpd_fwd *fwd,
              char *err, size_t err_len)
{
    vpd_sinks *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->fwd = fwd;
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
        k->cfg = c;
        int rc = vpd_file_sink_init(&k->file, c->config, c->file, c->line, err,
                                    err_len);
        if (rc == 0)
            rc = vpd_file_sink_check(&k->file, err, err_len);
        if (rc == 0 && c->dh_type && c->dh_type[0]) {
            /* aad_env_var, when that variable is set, wins over aad. */
            const char *aad = c->aad ? c->aad : "";
            const char *env = c->aad_env_var ? getenv(c->aad_env_var) : NULL;
            if (env)
                aad = env;
            char why[512];
            k->dh = vpd_dh_sink_new(c->dh_path, c->derive_key, aad, strlen(aad),
                                    why, sizeof why);
            if (!k->dh) {
                snprintf(err, err_len, "%s:%d: sink \"file\": %s", c->file,
                         c->line, why);
                rc = -1;
            }
        }
        if (rc != 0) {
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
        if (k->wrap_op) {
            vpd_fwd_op *op = k->wrap_op;
            k->wrap_op = NULL;
            vpd_fwd_cancel(op);
        }
        vpd_secret_free(k->pending);
        k->pending = vpd_secret_dup(token, strlen(token));
    }
    for (size_t i = 0; i < s->n; i++)
        run_sink(&s->v[i]);
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
        vpd_dh_sink_free(s->v[i].dh);
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
    for (size_t i = 0; i < s->n; i++) {
        if (s->v[i].wrap_op) {
            vpd_fwd_op *op = s->v[i].wrap_op;
            s->v[i].wrap_op = NULL;
            vpd_fwd_cancel(op);
        }
    }
    if (s->open_timers == 0) {
        finish_close(s);
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        uv_timer_stop(&s->v[i].retry);
        uv_close((uv_handle_t *)&s->v[i].retry, on_timer_closed);
    }
}
