/* Which bytes a request target may hold: none of the controls, space,
 * DEL or '#' (a fragment is never part of a request target, RFC 9112
 * 3.2).  The listener checks every target it parses with it, and the
 * forwarder every target it sends, so the check goes eight bytes at a time.
 *
 * Ownership: nothing here allocates or keeps a pointer. */
#ifndef VPD_TARGET_BYTES_H
#define VPD_TARGET_BYTES_H

#include <stdbool.h>
#include <stddef.h>

/* Whether none of the n bytes at s is one a target may not hold. */
bool vpd_target_bytes_ok(const char *s, size_t n);

#endif
