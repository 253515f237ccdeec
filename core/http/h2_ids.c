/* The client stream ids of one HTTP/2 connection: the highest one and the
 * ranges skipped below it (core/http/h2_ids.h). */
#include "autoconf.h"

#include <stdbool.h>
#include <string.h>

#include "http/h2_ids.h"

/* Remembers the odd ids lo..hi as skipped.  The ranges are appended in
 * increasing order, so the first one is the oldest and the one dropped
 * when there is no room. */
static void
add_gap(vpd_h2_ids *t, int32_t lo, int32_t hi)
{
    if (t->n_gaps == VPD_H2_IDS_GAPS) {
        memmove(&t->gaps[0], &t->gaps[1],
                (VPD_H2_IDS_GAPS - 1) * sizeof t->gaps[0]);
        t->n_gaps--;
    }
    t->gaps[t->n_gaps].lo = lo;
    t->gaps[t->n_gaps].hi = hi;
    t->n_gaps++;
}

static bool
in_gap(const vpd_h2_ids *t, int32_t id)
{
    for (unsigned i = 0; i < t->n_gaps; i++)
        if (id >= t->gaps[i].lo && id <= t->gaps[i].hi)
            return true;
    return false;
}

vpd_h2_id_kind
vpd_h2_ids_headers(vpd_h2_ids *t, int32_t id)
{
    if (id <= 0 || id % 2 == 0)
        return VPD_H2_ID_USED;
    if (id > t->highest) {
        /* The first client id is 1: anything above the next odd id
         * leaves a range never opened behind it. */
        int32_t next = t->highest + (t->highest ? 2 : 1);
        if (id > next)
            add_gap(t, next, id - 2);
        t->highest = id;
        return VPD_H2_ID_NEW;
    }
    return in_gap(t, id) ? VPD_H2_ID_NEVER_OPENED : VPD_H2_ID_USED;
}
