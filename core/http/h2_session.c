/* What the connection and its streams share without depending on each
 * other: the loop clock, ending a session with GOAWAY, and the process-wide
 * totals the metrics read (vpd_h2_counters_get). */
#include "autoconf.h"

#include "base/log.h"
#include "http/h2_stream.h"

#define LOG_COMP "proxy.listener"

static vpd_h2_counters counters;

void
vpd_h2_counters_get(vpd_h2_counters *out)
{
    *out = counters;
}

void
vpd_h2_count_conn(bool opened)
{
    if (opened) {
        counters.conns_total++;
        counters.conns_open++;
    } else {
        counters.conns_open--;
    }
}

void
vpd_h2_count_stream(bool opened)
{
    if (opened) {
        counters.streams_total++;
        counters.streams_open++;
    } else {
        counters.streams_open--;
    }
}

void
vpd_h2_count_peer_reset(void)
{
    counters.peer_resets++;
}

void
vpd_h2_count_goaway(void)
{
    counters.goaways_sent++;
}

void
vpd_h2_count_send(void)
{
    counters.sends++;
}

uint64_t
vpd_h2_now(const vpd_h2_conn *h)
{
    return uv_now(h->lim.loop);
}

void
vpd_h2_conn_fail(vpd_h2_conn *h, uint32_t code, const char *why)
{
    if (h->failed)
        return;
    h->failed = true;
    h->failed_at = vpd_h2_now(h);
    vpd_log(VPD_LOG_INFO, LOG_COMP, "h2 connection from %s: %s (GOAWAY %s)",
            h->peer, why, nghttp2_http2_strerror(code));
    nghttp2_session_terminate_session(h->ng, code);
}
