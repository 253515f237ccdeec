/* The log file: a second destination for log lines (they still go to
 * stderr), with Vault's rotation rules (log_file, log_rotate_* in
 * vaproxyd.hcl(5) and vaproxyd(8)):
 *
 *  - the file is opened for appending and created with mode 0600;
 *  - before a line is written, the file is rotated when it holds
 *    rotate_bytes or more (0: no size limit) or when it was opened
 *    rotate_ms or longer ago (0: the default, 24 h);
 *  - rotating renames NAME.EXT to NAME-<unix nanoseconds>.EXT (".log" when
 *    the name has no extension, as Vault names its archives) and opens a
 *    fresh NAME.EXT;
 *  - max_files archives are kept, the oldest removed first: 0 keeps every
 *    archive, -1 removes them all.  Archives are also pruned when the file
 *    is opened.
 *
 * Writes are plain write(2) calls (never fsync) on the loop thread.  A
 * failing write (disk full, file system gone) drops the line, says so once
 * on stderr and never stops or blocks the daemon.
 *
 * Ownership: the module keeps its own copy of the path; the state is
 * process-wide, like the rest of the logging.  Not thread-safe: only the
 * loop thread logs. */
#ifndef VPD_LOG_FILE_H
#define VPD_LOG_FILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *path;      /* NULL or "": no file */
    uint64_t rotate_bytes; /* 0: no size limit */
    uint64_t rotate_ms;    /* 0: 24 h */
    int64_t max_files;     /* 0: keep all archives, -1: none, N: N */
} vpd_log_file_config;

#define VPD_LOG_FILE_DEFAULT_ROTATE_MS (24ull * 3600ull * 1000ull)

/* Opens (or switches to) the file of c; with no path, closes the current
 * one.  On failure the previous file stays in use and err says why.
 * Returns 0 or -1. */
int vpd_log_file_configure(const vpd_log_file_config *c, char *err,
                           size_t err_len);

/* Closes and opens the same path again: after an external tool renamed
 * the file, lines go to a new file under the configured name.  Returns 0
 * (also when no file is configured) or -1 with err set; on failure the
 * old descriptor stays in use. */
int vpd_log_file_reopen(char *err, size_t err_len);

/* Appends one complete line (rotating first when due). */
void vpd_log_file_write(const char *line, size_t len);

/* True while a file is configured. */
int vpd_log_file_active(void);

void vpd_log_file_close(void);

#endif
