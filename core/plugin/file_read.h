/* Reading the small local files plugins ask for (host->read_file and
 * read_file_opts): one implementation for the daemon and the SDK's mock
 * host, so both accept, refuse and word their refusals alike.
 *
 * Ownership: the path is borrowed; the bytes read are returned in a
 * malloc'd buffer the caller owns, must wipe (they are usually secrets)
 * and free. */
#ifndef VPD_FILE_READ_H
#define VPD_FILE_READ_H

#include <stddef.h>

/* Reads path, at most max bytes, under flags (VP_READ_NOFOLLOW,
 * VP_READ_REMOVE of host.h; VP_READ_TRIM is the caller's business) and
 * deny_mode (permission bits that must not be set; 0 checks none).  The
 * open never blocks: anything but a regular file (a FIFO, a device, a
 * directory) is refused.  Returns 0 with *out (NUL-terminated) and
 * *out_len; a failed removal leaves a warning in why.  Or VP_ENOENT,
 * VP_EIO or VP_ENOMEM, with the reason in why. */
int vpd_file_read(const char *path, unsigned flags, unsigned deny_mode,
                  size_t max, char **out, size_t *out_len, char *why,
                  size_t why_len);

#endif
