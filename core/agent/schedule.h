/* When the agent fetches a secret again, from what its last answer said
 * (vaproxyd.hcl(5), AGENT MODE):
 *
 *   a renewable lease      renewed at about two thirds of its duration,
 *                          the way Vault's lifetime watcher does
 *   a non-renewable lease  fetched again at lease_renewal_threshold of
 *                          its duration, jittered by +-5 % (85-95 % with
 *                          the default 0.9), consul-template's rule
 *   no lease (KV, ...)     fetched again every static_secret_render_interval
 *   a failure              exponential backoff (base/backoff.h)
 *
 * Ownership: pure functions over plain values; the random source is
 * base/backoff's. */
#ifndef VPD_AGENT_SCHEDULE_H
#define VPD_AGENT_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

/* The lease facts of an answer. */
typedef struct {
    bool has_lease; /* a lease_id and a non-zero duration */
    bool renewable;
    uint64_t duration_ms; /* lease_duration */
} vpd_agent_lease;

typedef enum {
    VPD_AGENT_NEXT_REFETCH = 0, /* read the secret again */
    VPD_AGENT_NEXT_RENEW,       /* renew its lease */
} vpd_agent_next_kind;

typedef struct {
    vpd_agent_next_kind kind;
    uint64_t delay_ms;
} vpd_agent_next;

/* Reads lease_id, renewable and lease_duration from a Vault JSON answer;
 * a certificate's data.expiration counts as a non-renewable lease.
 * Returns 0, or -1 when the text is not a JSON object. */
int vpd_agent_lease_parse(const char *json, vpd_agent_lease *out);

/* What to do next, and when.  threshold is in (0, 1]. */
vpd_agent_next vpd_agent_schedule(const vpd_agent_lease *lease,
                                  double threshold,
                                  uint64_t static_interval_ms);

#endif
