/* The static cache's upstream calls (re-reads, capability checks, mount
 * lookups): a FIFO queue with a bound on the calls running at once, so a
 * refresh of 100k entries never becomes a storm against Vault. */
#include "autoconf.h"

#include "cache/static_cache_impl.h"

#include <stdlib.h>
#include <string.h>

#include "base/secmem.h"

struct vpd_sc_call {
    vpd_sc_call *next, *prev; /* the queue, or the running list */
    vpd_static_cache *sc;
    char *method, *target, *body;
    vpd_hdrs headers; /* holds the token: wiped when freed */
    vpd_fwd_op *op;
    vpd_sc_call_fn cb;
    void *arg;
};

static void
free_call(vpd_sc_call *c)
{
    for (size_t i = 0; i < c->headers.n; i++)
        if (strcasecmp(c->headers.v[i].name, "X-Vault-Token") == 0)
            memset(c->headers.v[i].value, 0, strlen(c->headers.v[i].value));
    vpd_hdrs_free(&c->headers);
    free(c->method);
    free(c->target);
    free(c->body);
    free(c);
}

static void start_queued(vpd_static_cache *sc);

static void
unlink_running(vpd_static_cache *sc, vpd_sc_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        sc->running = c->next;
    if (c->next)
        c->next->prev = c->prev;
    sc->n_running--;
}

static void
on_answer(vpd_fwd_resp *resp, void *arg)
{
    vpd_sc_call *c = arg;
    vpd_static_cache *sc = c->sc;
    unlink_running(sc, c);
    c->cb(sc, resp, c->arg);
    free_call(c);
    if (!sc->closing)
        start_queued(sc);
}

static void
cancelled(vpd_sc_call *c)
{
    vpd_fwd_resp resp = {
        .error = VPD_FWD_CANCELLED, .error_text = "cancelled", .body = ""};
    c->cb(c->sc, &resp, c->arg);
    free_call(c);
}

static void
start_queued(vpd_static_cache *sc)
{
    while (sc->queue_head && sc->n_running < sc->cfg.max_parallel) {
        vpd_sc_call *c = sc->queue_head;
        sc->queue_head = c->next;
        if (!sc->queue_head)
            sc->queue_tail = NULL;
        c->next = sc->running;
        c->prev = NULL;
        if (sc->running)
            sc->running->prev = c;
        sc->running = c;
        sc->n_running++;
        vpd_fwd_req fr = {
            .method = c->method,
            .target = c->target,
            .headers = &c->headers,
            .body = c->body,
            .body_len = c->body ? strlen(c->body) : 0,
            .max_retries = 0, /* the next event or refresh tries again */
        };
        c->op = vpd_fwd_send(sc->fwd, &fr, on_answer, c);
        if (!c->op) {
            unlink_running(sc, c);
            cancelled(c);
        }
    }
}

int
vpd_sc_call_send(vpd_static_cache *sc, const char *method, const char *target,
                 const char *token, const char *ns, const char *body,
                 vpd_sc_call_fn cb, void *arg)
{
    if (!sc->fwd || sc->closing)
        return -1;
    vpd_sc_call *c = calloc(1, sizeof *c);
    if (!c)
        return -1;
    c->sc = sc;
    c->cb = cb;
    c->arg = arg;
    c->method = strdup(method);
    c->target = strdup(target);
    c->body = body ? strdup(body) : NULL;
    int rc = (!c->method || !c->target || (body && !c->body)) ? -1 : 0;
    rc |= vpd_hdrs_add(&c->headers, "X-Vault-Token", token);
    rc |= vpd_hdrs_add(&c->headers, "X-Vault-Request", "true");
    if (ns && ns[0])
        rc |= vpd_hdrs_add(&c->headers, "X-Vault-Namespace", ns);
    if (body)
        rc |= vpd_hdrs_add(&c->headers, "Content-Type", "application/json");
    if (rc != 0) {
        free_call(c);
        return -1;
    }
    if (sc->queue_tail)
        sc->queue_tail->next = c;
    else
        sc->queue_head = c;
    sc->queue_tail = c;
    start_queued(sc);
    return 0;
}

void
vpd_sc_calls_cancel(vpd_static_cache *sc)
{
    while (sc->queue_head) {
        vpd_sc_call *c = sc->queue_head;
        sc->queue_head = c->next;
        cancelled(c);
    }
    sc->queue_tail = NULL;
    /* vpd_fwd_cancel runs on_answer, which unlinks that call only (a
     * call whose callback is running now is left to finish). */
    vpd_sc_call *c = sc->running;
    while (c) {
        vpd_sc_call *next = c->next;
        vpd_fwd_cancel(c->op);
        c = next;
    }
}
