/* Plugin timers: see timers.h. */
#include "autoconf.h"

#include "plugin/timers.h"

#include <stdbool.h>
#include <stdlib.h>

struct vp_timer {
    uv_timer_t handle;
    vp_instance_t *inst;
    vp_timer_cb cb;
    void *arg;
    bool repeating;
    bool in_callback; /* released when the callback returns */
    bool released;
    struct vp_timer *prev, *next;
};

static uv_loop_t *timer_loop;
static vp_timer_t *live_timers;

void
vpd_plugin_timers_set_loop(uv_loop_t *loop)
{
    timer_loop = loop;
}

static void
on_handle_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Unlinks the timer and closes its handle; the memory goes when libuv is
 * done with it.  Inside the timer's own callback only the unlinking
 * happens: on_timer closes the handle when the callback returns. */
static void
release(vp_timer_t *t)
{
    if (t->released)
        return;
    t->released = true;
    if (t->prev)
        t->prev->next = t->next;
    else
        live_timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    uv_timer_stop(&t->handle);
    if (!t->in_callback)
        uv_close((uv_handle_t *)&t->handle, on_handle_closed);
}

static void
on_timer(uv_timer_t *h)
{
    vp_timer_t *t = h->data;
    t->in_callback = true;
    t->cb(t->inst, t->arg);
    if (!t->repeating)
        release(t);
    t->in_callback = false;
    if (t->released)
        uv_close((uv_handle_t *)&t->handle, on_handle_closed);
}

vp_timer_t *
vpd_plugin_timer_start(vp_instance_t *inst, uint64_t delay_ms,
                       uint64_t repeat_ms, vp_timer_cb cb, void *arg)
{
    if (!timer_loop || !inst || !cb)
        return NULL;
    vp_timer_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    uv_timer_init(timer_loop, &t->handle);
    t->handle.data = t;
    t->inst = inst;
    t->cb = cb;
    t->arg = arg;
    t->repeating = repeat_ms != 0;
    t->next = live_timers;
    if (live_timers)
        live_timers->prev = t;
    live_timers = t;
    uv_timer_start(&t->handle, on_timer, delay_ms, repeat_ms);
    return t;
}

void
vpd_plugin_timer_stop(vp_timer_t *t)
{
    if (t)
        release(t);
}

void
vpd_plugin_timers_cancel(const vp_instance_t *inst)
{
    vp_timer_t *t = live_timers;
    while (t) {
        vp_timer_t *next = t->next;
        if (t->inst == inst)
            release(t);
        t = next;
    }
}

void
vpd_plugin_timers_shutdown(void)
{
    while (live_timers)
        release(live_timers);
    timer_loop = NULL;
}
