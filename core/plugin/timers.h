/* Timers for plugin instances (the host table's timer_start / timer_stop,
 * ABI 1.2): one-shot or repeating libuv timers on the daemon's loop, each
 * tied to the instance that started it, so that destroying the instance
 * stops them all.
 *
 * Ownership: a timer is this module's from timer_start until it is
 * released (a one-shot one after its callback, a repeating one by
 * timer_stop, every one of an instance when it is destroyed, every one at
 * all by vpd_plugin_timers_shutdown).  The loop is borrowed: set it with
 * vpd_plugin_timers_set_loop before serving, and call
 * vpd_plugin_timers_shutdown while it still runs, before it closes. */
#ifndef VPD_PLUGIN_TIMERS_H
#define VPD_PLUGIN_TIMERS_H

#include <uv.h>
#include <vaproxy/vaproxy.h>

void vpd_plugin_timers_set_loop(uv_loop_t *loop);
/* Releases every timer and forgets the loop: timer_start returns NULL from
 * now on. */
void vpd_plugin_timers_shutdown(void);
/* Releases the timers inst started (vpd_instance_free calls it). */
void vpd_plugin_timers_cancel(const vp_instance_t *inst);

vp_timer_t *vpd_plugin_timer_start(vp_instance_t *inst, uint64_t delay_ms,
                                   uint64_t repeat_ms, vp_timer_cb cb,
                                   void *arg);
void vpd_plugin_timer_stop(vp_timer_t *timer);

#endif
