/* A template's destination file: written only when the rendered text
 * differs from what is there, atomically with the file sink's
 * temp-and-rename (auth/sink_file.h), then given its mode exactly (the
 * umask does not narrow it, as in consul-template).  Missing directories
 * are created when create_dest_dirs says so; backup keeps the previous
 * contents as DEST.bak.
 *
 * Ownership: the caller's strings are borrowed for the call. */
#ifndef VPD_AGENT_DEST_FILE_H
#define VPD_AGENT_DEST_FILE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *path;
    unsigned mode;
    const char *user;  /* a name or a number; NULL: unchanged */
    const char *group; /* likewise */
    bool create_dirs;
    bool backup;
} vpd_agent_dest;

/* Returns 1 when the file was written, 0 when it already held data, or -1
 * with a message. */
int vpd_agent_dest_write(const vpd_agent_dest *d, const char *data, size_t len,
                         char *err, size_t err_len);

#endif
