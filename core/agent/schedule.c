/* The refresh rules of schedule.h. */
#include "autoconf.h"

#include "agent/schedule.h"

#include <json.h>
#include <string.h>
#include <time.h>

#include "base/backoff.h"

/* Never busy-loop on a tiny lease. */
#define MIN_DELAY_MS 1000u

int
vpd_agent_lease_parse(const char *json, vpd_agent_lease *out)
{
    memset(out, 0, sizeof(*out));
    json_object *o = json_tokener_parse(json);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return -1;
    }
    json_object *v;
    const char *lease_id = NULL;
    if (json_object_object_get_ex(o, "lease_id", &v) &&
        json_object_is_type(v, json_type_string))
        lease_id = json_object_get_string(v);
    if (json_object_object_get_ex(o, "renewable", &v))
        out->renewable = json_object_get_boolean(v);
    int64_t secs = 0;
    if (json_object_object_get_ex(o, "lease_duration", &v))
        secs = json_object_get_int64(v);
    out->duration_ms = secs > 0 ? (uint64_t)secs * 1000u : 0;
    out->has_lease = lease_id && lease_id[0] && out->duration_ms > 0;
    if (!out->has_lease)
        out->renewable = false;
    /* A certificate (a PKI issue) has no lease but an end: it counts as a
     * non-renewable lease running until data.expiration, as
     * consul-template treats it. */
    json_object *data;
    if (!out->has_lease && json_object_object_get_ex(o, "data", &data) &&
        json_object_is_type(data, json_type_object) &&
        json_object_object_get_ex(data, "expiration", &v) &&
        json_object_is_type(v, json_type_int)) {
        int64_t left = json_object_get_int64(v) - (int64_t)time(NULL);
        if (left > 0) {
            out->has_lease = true;
            out->duration_ms = (uint64_t)left * 1000u;
        }
    }
    json_object_put(o);
    return 0;
}

static uint64_t
fraction(uint64_t ms, double f)
{
    double d = (double)ms * f;
    return d < MIN_DELAY_MS ? MIN_DELAY_MS : (uint64_t)d;
}

vpd_agent_next
vpd_agent_schedule(const vpd_agent_lease *lease, double threshold,
                   uint64_t static_interval_ms)
{
    vpd_agent_next n = {VPD_AGENT_NEXT_REFETCH, static_interval_ms};
    if (!lease->has_lease)
        return n;
    /* A jitter of +-5 % of the duration, in thousandths. */
    uint64_t jitter = vpd_rand_between(0, 100);
    if (lease->renewable) {
        n.kind = VPD_AGENT_NEXT_RENEW;
        n.delay_ms = fraction(lease->duration_ms,
                              (2.0 / 3.0) - 0.05 + (double)jitter / 1000.0);
        return n;
    }
    /* threshold +-5 %, kept strictly inside the lease: a re-fetch at its
     * very end would race the expiry it is meant to beat. */
    double f = threshold - 0.05 + (double)jitter / 1000.0;
    if (f < 0.05)
        f = 0.05;
    if (f > 0.99)
        f = 0.99;
    n.delay_ms = fraction(lease->duration_ms, f);
    return n;
}
