/* Reason phrases and the body of a Vault error answer: text both the
 * listener side and the forwarder side need.
 *
 * Ownership: vpd_http_reason returns static text; vpd_http_error_json
 * returns a string the caller frees. */
#ifndef VPD_HTTP_STATUS_H
#define VPD_HTTP_STATUS_H

#include <stddef.h>

/* The body of a Vault error answer: {"errors":["msg"]} plus "\n", JSON
 * escaped like Go's encoding/json (so <, >, & become \u003c, \u003e,
 * \u0026).  Returns a malloc'd NUL-terminated string (free() it) and its
 * length in *len (may be NULL), or NULL when out of memory. */
char *vpd_http_error_json(const char *msg, size_t *len);

/* The standard reason phrase ("Not Found"), or "" for an unknown code. */
const char *vpd_http_reason(int status);

#endif
