/* The quick reader of an ordinary answer head: the whole status line and
 * header lines in one piece of bytes, read in one pass without llhttp,
 * for the answers Vault gives nearly every time (HTTP/1.x, a final
 * status, Content-Length or no body, plain header lines).  Anything else
 * it declines, and the caller hands the same bytes to llhttp: it never
 * accepts what llhttp would read differently, so it only saves work.
 *
 * It can also leave out, while reading, the headers a proxy must not pass
 * to its client (hdr_policy.h, toward the client), so that the list needs
 * no second pass.
 *
 * Ownership: it appends copies to the caller's header list and keeps
 * nothing; on a refusal the list is as it was. */
#ifndef VPD_UP_RESP_HEAD_H
#define VPD_UP_RESP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/hdrs.h"

typedef struct {
    int status;
    size_t head_len;   /* status line, header lines, blank line */
    uint64_t body_len; /* the body that follows (0: none) */
    bool keep_alive;   /* as llhttp_should_keep_alive would say */
    bool filtered;     /* the list holds only headers to pass on */
} vpd_up_head;

typedef enum {
    VPD_UP_HEAD_DECLINED = 0, /* not an ordinary head: use llhttp */
    VPD_UP_HEAD_READ,
    VPD_UP_HEAD_NOMEM,
} vpd_up_head_result;

/* Reads the head at the start of the n bytes at p.  is_head: the answer
 * to HEAD (no body).  to_client: leave out what a proxy drops toward its
 * client (h->filtered tells whether the list needs no further filtering).
 * out may be NULL (headers not kept). */
vpd_up_head_result vpd_up_head_read(const char *p, size_t n, bool is_head,
                                    bool to_client, size_t max_head,
                                    vpd_hdrs *out, vpd_up_head *h);

#endif
