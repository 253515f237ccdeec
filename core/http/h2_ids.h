/* Which stream ids an HTTP/2 client has used to open streams, so that a
 * HEADERS frame on an id below the highest one can be told apart: an id
 * the client skipped (never opened: a connection error) or one it opened
 * before (a late frame for a stream that is or was open: nghttp2's own
 * handling).  nghttp2 forgets closed streams and cannot tell the two
 * apart, so h2_conn.c asks here from its frame-header callback, before
 * nghttp2 looks at the frame.
 *
 * Clients number their streams 1, 3, 5... so what is kept is the highest
 * id and the few ranges of ids skipped below it.  The number of ranges is
 * bounded: past the bound the oldest range is forgotten, and its ids count
 * as opened (nghttp2's handling, never a false connection error).
 *
 * Ownership: plain data embedded in the connection (vpd_h2_conn); nothing
 * to free. */
#ifndef VPD_H2_IDS_H
#define VPD_H2_IDS_H

#include <stdint.h>

/* Skipped ranges remembered at most. */
#define VPD_H2_IDS_GAPS 16

typedef struct {
    int32_t highest; /* the highest client id seen in a HEADERS frame */
    struct {
        int32_t lo, hi; /* odd ids, both included */
    } gaps[VPD_H2_IDS_GAPS];
    unsigned n_gaps;
} vpd_h2_ids;

typedef enum {
    VPD_H2_ID_NEW,          /* above every id so far: a new stream */
    VPD_H2_ID_USED,         /* opened before (or not a client id) */
    VPD_H2_ID_NEVER_OPENED, /* below the highest id and skipped */
} vpd_h2_id_kind;

/* Classifies the stream id of a HEADERS frame from the client and, when
 * it is new, records it as the highest.  Even ids (the server's) and 0
 * are left to nghttp2, which rejects them itself. */
vpd_h2_id_kind vpd_h2_ids_headers(vpd_h2_ids *t, int32_t id);

#endif
