/* The text a sink receives for a response-wrapped token (wrap_ttl):
 * the wrap_info object with Vault's field order, then a newline.
 *
 * Ownership: the result is a secret buffer (vpd_secret_free). */
#ifndef VPD_WRAP_INFO_H
#define VPD_WRAP_INFO_H

#include <stddef.h>

/* From a whole Vault answer's JSON text; NULL when it has no wrap_info
 * with a token. */
char *vpd_wrap_info_text(const char *answer, size_t len);

#endif
