/* Pools, the bound on connections and the wait queue.  Which connection
 * an exchange gets: the most recently used idle one of its pool (the
 * warmest, and it lets the others reach their idle timeout), else a new
 * one while fewer than max_connections are open, else an idle connection
 * of another pool is closed to make room, else the exchange waits in one
 * FIFO queue shared by all pools.  A connection that ends an exchange
 * goes first to the oldest waiter of its own pool. */
#include "autoconf.h"

#include "upstream/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct up_pool up_pool;

struct up_pool {
    vpd_up_client *cl;
    up_pool *next;
    vpd_up_dest dest; /* strings point into `strs` */
    char *strs;
    vpd_up_proxy proxy;
    vpd_up_conn **idle; /* oldest first */
    size_t n_idle, cap_idle;
    size_t n_open;
    bool retired;
};

struct vpd_up_client {
    uv_loop_t *loop;
    unsigned max_conns;
    uint64_t idle_ms;
    up_pool *pools;
    size_t n_open;
    vpd_up_exchange *qhead, *qtail;
    uv_timer_t *qtimer; /* deadlines of queued exchanges */
    /* Connections given an exchange since the loop last waited, whose
     * requests go out together just before it waits again (a prepare
     * handle: after all the events of an iteration were handled, and
     * before the wait for a request made by a timer or from outside the
     * loop); NULL where one closed meanwhile.  See vpd_up_conn_send. */
    uv_prepare_t *flusher;
    vpd_up_conn **due;
    size_t n_due, cap_due;
    int busy;
    bool dispatching, redispatch;
    bool free_requested, freeing;
};

static void on_conn_done(vpd_up_conn *c, vpd_up_exchange *x);
static void on_conn_closed(vpd_up_conn *c);
static const vpd_up_conn_events conn_events = {on_conn_done, on_conn_closed};
static void dispatch(vpd_up_client *cl);
static void client_destroy(vpd_up_client *cl);

/* ---- pools ------------------------------------------------------------ */

static bool
str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool
dest_eq(const vpd_up_dest *a, const vpd_up_dest *b)
{
    if (a->https != b->https || a->port != b->port || a->tls != b->tls ||
        !str_eq(a->host, b->host) || !str_eq(a->unix_path, b->unix_path) ||
        !str_eq(a->https ? a->tls_name : NULL, b->https ? b->tls_name : NULL) ||
        !a->proxy != !b->proxy)
        return false;
    return !a->proxy || (a->proxy->port == b->proxy->port &&
                         strcmp(a->proxy->host, b->proxy->host) == 0 &&
                         strcmp(a->proxy->auth, b->proxy->auth) == 0);
}

static void
pool_free(up_pool *p)
{
    vpd_up_tls_unref(p->dest.tls);
    free(p->idle);
    free(p->strs);
    free(p);
}

/* Unlinks and frees a retired pool once nothing uses it. */
static void
pool_maybe_drop(up_pool *p)
{
    if (!p->retired || p->n_open || p->cl->freeing)
        return;
    for (vpd_up_exchange *x = p->cl->qhead; x; x = x->qnext)
        if (x->priv_pool == p)
            return;
    for (up_pool **pp = &p->cl->pools; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    pool_free(p);
}

static up_pool *
pool_get(vpd_up_client *cl, const vpd_up_dest *d)
{
    for (up_pool *p = cl->pools; p; p = p->next)
        if (!p->retired && dest_eq(&p->dest, d))
            return p;
    up_pool *p = calloc(1, sizeof *p);
    size_t hl = strlen(d->host ? d->host : "") + 1;
    size_t ul = d->unix_path ? strlen(d->unix_path) + 1 : 0;
    size_t nl = d->tls_name ? strlen(d->tls_name) + 1 : 0;
    char *s = p ? malloc(hl + ul + nl) : NULL;
    if (!s) {
        free(p);
        return NULL;
    }
    p->cl = cl;
    p->strs = s;
    p->dest = *d;
    memcpy(s, d->host ? d->host : "", hl);
    p->dest.host = s;
    if (ul) {
        memcpy(s + hl, d->unix_path, ul);
        p->dest.unix_path = s + hl;
    }
    if (nl) {
        memcpy(s + hl + ul, d->tls_name, nl);
        p->dest.tls_name = s + hl + ul;
    }
    if (d->proxy) {
        p->proxy = *d->proxy;
        p->dest.proxy = &p->proxy;
    }
    vpd_up_tls_ref(p->dest.tls);
    p->next = cl->pools;
    cl->pools = p;
    return p;
}

static int
idle_push(up_pool *p, vpd_up_conn *c)
{
    if (p->n_idle == p->cap_idle) {
        size_t cap = p->cap_idle ? 2 * p->cap_idle : 8;
        vpd_up_conn **v = realloc(p->idle, cap * sizeof *v);
        if (!v)
            return -1;
        p->idle = v;
        p->cap_idle = cap;
    }
    p->idle[p->n_idle++] = c;
    return 0;
}

static void
idle_remove(up_pool *p, vpd_up_conn *c)
{
    for (size_t i = p->n_idle; i-- > 0;) {
        if (p->idle[i] == c) {
            memmove(p->idle + i, p->idle + i + 1,
                    (p->n_idle - i - 1) * sizeof *p->idle);
            p->n_idle--;
            return;
        }
    }
}

/* ---- the queue -------------------------------------------------------- */

static void
queue_remove(vpd_up_client *cl, vpd_up_exchange *x)
{
    if (x->qprev)
        x->qprev->qnext = x->qnext;
    else
        cl->qhead = x->qnext;
    if (x->qnext)
        x->qnext->qprev = x->qprev;
    else
        cl->qtail = x->qprev;
    x->qnext = x->qprev = NULL;
    x->queued = false;
}

static void on_queue_timer(uv_timer_t *t);

/* Wakes up at the earliest deadline among the waiting exchanges. */
static void
queue_arm(vpd_up_client *cl)
{
    if (!cl->qhead) {
        uv_timer_stop(cl->qtimer);
        return;
    }
    uint64_t first = UINT64_MAX;
    for (vpd_up_exchange *x = cl->qhead; x; x = x->qnext)
        if (x->deadline_ms < first)
            first = x->deadline_ms;
    uint64_t now = uv_now(cl->loop);
    uv_timer_start(cl->qtimer, on_queue_timer, first > now ? first - now : 0,
                   0);
}

static void
enter(vpd_up_client *cl)
{
    cl->busy++;
}

static void
leave(vpd_up_client *cl)
{
    if (--cl->busy == 0 && cl->free_requested && !cl->freeing)
        client_destroy(cl);
}

static void
on_queue_timer(uv_timer_t *t)
{
    vpd_up_client *cl = t->data;
    uint64_t now = uv_now(cl->loop);
    enter(cl);
    for (vpd_up_exchange *x = cl->qhead, *next; x && !cl->free_requested;
         x = next) {
        next = x->qnext;
        if (x->deadline_ms > now)
            continue;
        up_pool *p = x->priv_pool;
        queue_remove(cl, x);
        x->error = VPD_UP_TIMEOUT;
        snprintf(x->errtext, sizeof x->errtext,
                 "timed out waiting for a free upstream connection "
                 "(vault.max_connections = %u)",
                 cl->max_conns);
        pool_maybe_drop(p);
        x->cb(x);
        next = cl->qhead; /* the callback may have changed the queue */
    }
    if (!cl->free_requested)
        queue_arm(cl);
    leave(cl);
}

/* ---- placing exchanges ------------------------------------------------ */

/* Closes the idle connection that waited longest in any pool other than
 * `except`.  Returns whether there was one. */
static bool
evict_idle(vpd_up_client *cl, up_pool *except)
{
    for (up_pool *p = cl->pools; p; p = p->next) {
        if (p != except && p->n_idle) {
            vpd_up_conn_close(p->idle[0]); /* on_conn_closed unlists it */
            return true;
        }
    }
    return false;
}

/* ---- requests written before the loop waits --------------------------- */

static void
on_flush(uv_prepare_t *h)
{
    vpd_up_client *cl = h->data;
    enter(cl);
    /* By index: a connection failing here may end exchanges whose
     * callbacks start new ones, which are appended and written too. */
    for (size_t i = 0; i < cl->n_due; i++) {
        vpd_up_conn *c = cl->due[i];
        cl->due[i] = NULL;
        if (c)
            vpd_up_conn_flush(c);
    }
    cl->n_due = 0;
    uv_prepare_stop(cl->flusher);
    leave(cl);
}

/* c has an exchange whose request is to be written: before the loop
 * waits, or now when the list cannot grow. */
static void
flush_later(vpd_up_client *cl, vpd_up_conn *c)
{
    if (cl->n_due == cl->cap_due) {
        size_t cap = cl->cap_due ? 2 * cl->cap_due : 32;
        vpd_up_conn **d = realloc(cl->due, cap * sizeof *d);
        if (!d) {
            vpd_up_conn_flush(c);
            return;
        }
        cl->due = d;
        cl->cap_due = cap;
    }
    if (cl->n_due == 0)
        uv_prepare_start(cl->flusher, on_flush);
    cl->due[cl->n_due++] = c;
}

static void
forget_due(vpd_up_client *cl, const vpd_up_conn *c)
{
    for (size_t i = 0; i < cl->n_due; i++)
        if (cl->due[i] == c)
            cl->due[i] = NULL;
}

/* Sends x on the pool's newest idle connection that takes it; those that
 * will not send are closed.  Returns whether one took it. */
static bool
send_on_idle(up_pool *p, vpd_up_exchange *x)
{
    while (p->n_idle) {
        vpd_up_conn *c = p->idle[--p->n_idle];
        x->priv_conn = c;
        if (vpd_up_conn_send(c, x) == 0) {
            flush_later(p->cl, c);
            return true;
        }
        x->priv_conn = NULL;
        vpd_up_conn_close(c);
    }
    return false;
}

/* Gives x a connection if one can be had now.  Returns whether it did. */
static bool
place(vpd_up_client *cl, vpd_up_exchange *x)
{
    up_pool *p = x->priv_pool;
    if (!x->fresh_only && send_on_idle(p, x))
        return true;
    if (cl->n_open >= cl->max_conns && !evict_idle(cl, p))
        return false;
    if (cl->n_open >= cl->max_conns)
        return false; /* eviction is under way */
    vpd_up_conn *c = vpd_up_conn_open(cl->loop, &p->dest, &conn_events, p, x);
    if (!c)
        return false; /* out of memory: wait for a connection to end */
    x->priv_conn = c;
    vpd_up_conn_set_idle(c, cl->idle_ms);
    p->n_open++;
    cl->n_open++;
    return true;
}

static void
dispatch(vpd_up_client *cl)
{
    if (cl->dispatching) {
        cl->redispatch = true;
        return;
    }
    cl->dispatching = true;
    do {
        cl->redispatch = false;
        while (cl->qhead && !cl->freeing) {
            vpd_up_exchange *x = cl->qhead;
            queue_remove(cl, x);
            if (!place(cl, x)) {
                /* Back at the head: order is kept. */
                x->qnext = cl->qhead;
                if (cl->qhead)
                    cl->qhead->qprev = x;
                else
                    cl->qtail = x;
                cl->qhead = x;
                x->queued = true;
                break;
            }
        }
    } while (cl->redispatch && !cl->freeing);
    cl->dispatching = false;
    if (!cl->freeing)
        queue_arm(cl);
}

static void
enqueue(vpd_up_client *cl, vpd_up_exchange *x)
{
    x->qnext = NULL;
    x->qprev = cl->qtail;
    if (cl->qtail)
        cl->qtail->qnext = x;
    else
        cl->qhead = x;
    cl->qtail = x;
    x->queued = true;
}

static void
exchange_reset(vpd_up_exchange *x)
{
    x->status = 0;
    x->error = VPD_UP_OK;
    x->errtext[0] = '\0';
    x->upgraded = NULL;
    vpd_hdrs_clear(x->headers);
    vpd_buf_reset(x->body);
}

int
vpd_up_client_start(vpd_up_client *cl, const vpd_up_dest *dest,
                    vpd_up_exchange *x)
{
    if (cl->free_requested || cl->freeing)
        return -1;
    up_pool *p = pool_get(cl, dest);
    if (!p)
        return -1;
    x->priv_pool = p;
    x->priv_conn = NULL;
    x->fresh_only = false;
    x->stale_retried = false;
    exchange_reset(x);
    /* Nearly every request finds an idle connection and nobody waiting:
     * then it goes out at once, without the trip through the queue and
     * its timer.  Anything else (a wait, no idle connection that sends, a
     * dispatch under way) takes the queue, which keeps the order. */
    if (!cl->qhead && !cl->dispatching && send_on_idle(p, x))
        return 0;
    enqueue(cl, x);
    dispatch(cl);
    return 0;
}

void
vpd_up_client_cancel(vpd_up_exchange *x)
{
    up_pool *p = x->priv_pool;
    if (!p)
        return;
    vpd_up_client *cl = p->cl;
    if (x->queued) {
        queue_remove(cl, x);
        queue_arm(cl);
        pool_maybe_drop(p);
        return;
    }
    vpd_up_conn *c = x->priv_conn;
    x->priv_conn = NULL;
    if (c)
        vpd_up_conn_abandon(c);
}

/* ---- connection events ------------------------------------------------ */

/* A connection has finished an exchange: reuse it, hand it on, or close
 * it. */
static void
recycle(up_pool *p, vpd_up_conn *c)
{
    vpd_up_client *cl = p->cl;
    if (!vpd_up_conn_reusable(c) || p->retired || cl->free_requested) {
        vpd_up_conn_close(c);
        return;
    }
    for (vpd_up_exchange *w = cl->qhead; w; w = w->qnext) {
        if (w->priv_pool == p && !w->fresh_only) {
            queue_remove(cl, w);
            w->priv_conn = c;
            if (vpd_up_conn_send(c, w) == 0) {
                flush_later(cl, c);
                queue_arm(cl);
                return;
            }
            enqueue(cl, w);
            break;
        }
    }
    if (cl->qhead || idle_push(p, c) != 0) {
        /* Someone else's turn: free the slot for another pool. */
        vpd_up_conn_close(c);
        return;
    }
}

static void
on_conn_done(vpd_up_conn *c, vpd_up_exchange *x)
{
    up_pool *p = vpd_up_conn_owner(c);
    vpd_up_client *cl = p->cl;
    enter(cl);
    x->priv_conn = NULL;
    if (x->upgraded) {
        /* The caller's now: out of the pool and its count. */
        vpd_up_conn_detach(c);
        p->n_open--;
        cl->n_open--;
        dispatch(cl);
        x->cb(x);
    } else if (x->error != VPD_UP_OK && !x->stale_retried &&
               vpd_up_conn_stale(c, x)) {
        /* The server had closed the kept-alive connection before this
         * request reached it: send it again on a fresh one, once. */
        vpd_up_conn_close(c);
        x->stale_retried = true;
        x->fresh_only = true;
        exchange_reset(x);
        enqueue(cl, x);
        dispatch(cl);
    } else {
        recycle(p, c);
        x->cb(x);
    }
    leave(cl);
}

static void
on_conn_closed(vpd_up_conn *c)
{
    up_pool *p = vpd_up_conn_owner(c);
    vpd_up_client *cl = p->cl;
    idle_remove(p, c);
    forget_due(cl, c);
    p->n_open--;
    cl->n_open--;
    if (cl->freeing)
        return;
    dispatch(cl);
    pool_maybe_drop(p);
}

/* ---- the client ------------------------------------------------------- */

vpd_up_client *
vpd_up_client_new(uv_loop_t *loop, unsigned max_connections, uint64_t idle_ms)
{
    vpd_up_client *cl = calloc(1, sizeof *cl);
    if (!cl)
        return NULL;
    cl->qtimer = malloc(sizeof *cl->qtimer);
    cl->flusher = malloc(sizeof *cl->flusher);
    if (!cl->qtimer || !cl->flusher) {
        free(cl->qtimer);
        free(cl->flusher);
        free(cl);
        return NULL;
    }
    cl->loop = loop;
    cl->max_conns =
        max_connections ? max_connections : VPD_UP_DEFAULT_MAX_CONNECTIONS;
    cl->idle_ms = idle_ms;
    uv_timer_init(loop, cl->qtimer);
    cl->qtimer->data = cl;
    uv_prepare_init(loop, cl->flusher);
    cl->flusher->data = cl;
    return cl;
}

void
vpd_up_client_retire(vpd_up_client *cl, const vpd_up_tls *tls)
{
    /* Closing a connection can drop other retired pools (on_conn_closed),
     * so the scan starts over after each pool. */
again:
    for (up_pool *p = cl->pools; p; p = p->next) {
        if (p->dest.tls != tls || p->retired)
            continue;
        while (p->n_idle)
            vpd_up_conn_close(p->idle[p->n_idle - 1]);
        p->retired = true;
        pool_maybe_drop(p);
        goto again;
    }
}

size_t
vpd_up_client_open_connections(const vpd_up_client *cl)
{
    return cl->n_open;
}

static void
handle_closed(uv_handle_t *h)
{
    free(h);
}

static void
client_destroy(vpd_up_client *cl)
{
    cl->freeing = true;
    for (up_pool *p = cl->pools; p; p = p->next)
        while (p->n_idle)
            vpd_up_conn_close(p->idle[p->n_idle - 1]);
    while (cl->pools) {
        up_pool *p = cl->pools;
        cl->pools = p->next;
        pool_free(p);
    }
    uv_close((uv_handle_t *)cl->qtimer, handle_closed);
    uv_close((uv_handle_t *)cl->flusher, handle_closed);
    free(cl->due);
    free(cl);
}

void
vpd_up_client_free(vpd_up_client *cl)
{
    if (!cl || cl->free_requested)
        return;
    cl->free_requested = true;
    if (cl->busy == 0)
        client_destroy(cl);
}
