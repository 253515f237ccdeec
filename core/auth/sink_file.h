/* The file sink (sink "file" in vaproxyd.hcl(5)): writes the auto-auth token to
 * a file, atomically (a temp file in the same directory, renamed over the
 * target) with the configured mode and owner.
 *
 * Ownership: a vpd_file_sink owns copies of its settings. */
#ifndef VPD_SINK_FILE_H
#define VPD_SINK_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config/cfgtree.h"

typedef struct {
    char *path;
    mode_t mode; /* default 0640 */
    uid_t uid;   /* (uid_t)-1: unchanged */
    gid_t gid;   /* (gid_t)-1: unchanged */
} vpd_file_sink;

/* Reads the sink's `config` map (path, mode, uid, gid; unknown keys are
 * errors with file and line).  Returns 0, or -1 with a message. */
int vpd_file_sink_init(vpd_file_sink *s, const vpd_cfg_node *config,
                       const char *file, int line, char *err, size_t err_len);

/* Writes data atomically.  Returns 0, or -1 with a message (errno-based,
 * never containing the data). */
int vpd_file_sink_write(const vpd_file_sink *s, const char *data, size_t len,
                        char *err, size_t err_len);

/* The start-up write check: writes and removes a temp file next to the
 * target so an unwritable directory fails at start.  Returns 0 or -1. */
int vpd_file_sink_check(const vpd_file_sink *s, char *err, size_t err_len);

void vpd_file_sink_free(vpd_file_sink *s);

#endif
