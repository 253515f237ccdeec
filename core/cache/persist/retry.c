/* Getting the persistent cache whole again after a failed write.  From the
 * failure on, every change stays in the index (a put as a pending
 * payload) and nothing more is appended to the damaged log; the rewrite
 * that makes the file hold the whole state again is retried with a
 * bounded exponential backoff: with a loop, on a libuv timer that starts
 * a background compaction; without one, by the next write whose wait is
 * over; and once more, on the calling thread, before the handle closes.
 *
 * Ownership: the handle owns its retry timer while it is armed; closing
 * it hands the timer's memory to the loop, which frees it in the close
 * callback (so the loop must run once more after vpd_persist_set_loop
 * with another loop or NULL). */
#include "autoconf.h"

#include "cache/persist/persist_internal.h"

#include <stdlib.h>

#include "base/log.h"

static void
on_timer_closed(uv_handle_t *h)
{
    free(h);
}

void
vpd_persist_retry_stop(vpd_persist *p)
{
    if (!p->retry_timer)
        return;
    uv_close((uv_handle_t *)p->retry_timer, on_timer_closed);
    p->retry_timer = NULL;
}

/* One tick: the store healed (a rewrite finished after the last unwritten
 * change) ends the timer; otherwise a background rewrite is started
 * unless one is under way, whose end is judged when it finishes, and the
 * timer looks again after the next wait. */
static void
on_retry(uv_timer_t *t)
{
    vpd_persist *p = t->data;
    if (!p->behind || p->inert) {
        vpd_persist_retry_stop(p);
        return;
    }
    if (!p->job)
        vpd_persist_job_start(p);
    uv_timer_start(t, on_retry, vpd_backoff_next(&p->retry), 0);
}

static void
arm_timer(vpd_persist *p)
{
    if (p->retry_timer)
        return; /* armed: it runs until the store is whole */
    uv_timer_t *t = malloc(sizeof *t);
    if (!t || uv_timer_init(p->loop, t) != 0) {
        /* The next write arms it; close rewrites in any case. */
        free(t);
        return;
    }
    t->data = p;
    p->retry_timer = t;
    uv_timer_start(t, on_retry, vpd_backoff_next(&p->retry), 0);
}

void
vpd_persist_retry_kick(vpd_persist *p)
{
    if (!p->behind || p->inert)
        return;
    if (p->loop) {
        arm_timer(p);
        return;
    }
    uint64_t now = vpd_persist_mono_ms();
    if (p->job || now < p->retry_at_ms)
        return;
    char why[512];
    if (vpd_persist_rewrite(p, why, sizeof why) == 0)
        return; /* the rewrite logged that the store is whole */
    uint64_t wait = vpd_backoff_next(&p->retry);
    p->retry_at_ms = now + wait;
    vpd_log(VPD_LOG_DEBUG, VPD_PERSIST_COMPONENT,
            "cannot rewrite %s yet (%s); a write after %llu ms tries again",
            p->db_path, why, (unsigned long long)wait);
}

void
vpd_persist_retry_last(vpd_persist *p)
{
    vpd_persist_retry_stop(p);
    if (!p->behind || p->inert)
        return;
    char why[512];
    if (vpd_persist_rewrite(p, why, sizeof why) == 0)
        return;
    vpd_log(VPD_LOG_WARN, VPD_PERSIST_COMPONENT,
            "cannot write the persistent cache %s before closing it (%s): "
            "the changes of the last %llu ms are lost, and a restart "
            "restores the state from before them",
            p->db_path, why,
            (unsigned long long)(vpd_persist_mono_ms() - p->episode_start_ms));
}

void
vpd_persist_set_loop(vpd_persist *p, uv_loop_t *loop)
{
    if (!p)
        return;
    if (loop != p->loop)
        vpd_persist_retry_stop(p);
    p->loop = loop;
    vpd_persist_retry_kick(p);
}
