/* Logging for the daemon: levels, standard or JSON lines, on stderr (or
 * stdout) and, when configured, in a log file (log_file.h).
 *
 * Ownership: every function copies what it is given; nothing is retained.
 * Secrets (tokens, secret ids, bodies) must never be passed to these calls:
 * log the fact ("token renewed"), never the value. */
#ifndef VPD_LOG_H
#define VPD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    VPD_LOG_TRACE = 0,
    VPD_LOG_DEBUG,
    VPD_LOG_INFO,
    VPD_LOG_WARN,
    VPD_LOG_ERROR,
} vpd_log_level;

typedef enum { VPD_LOG_STANDARD = 0, VPD_LOG_JSON } vpd_log_format;

/* Parses "trace", "debug", "info"/"notice"/"", "warn"/"warning",
 * "error"/"err" (case-insensitive). Returns 0, or -1 for an unknown name. */
int vpd_log_level_parse(const char *name, vpd_log_level *out);
int vpd_log_format_parse(const char *name, vpd_log_format *out);

void vpd_log_set_level(vpd_log_level level);
vpd_log_level vpd_log_get_level(void);
void vpd_log_set_format(vpd_log_format format);
vpd_log_format vpd_log_get_format(void);

/* Vault's -combine-logs: lines go to stdout instead of stderr. */
void vpd_log_set_stdout(bool on);

/* Writes one line: time, level, component ("proxy.apiproxy"), message. */
void vpd_log(vpd_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void vpd_vlog(vpd_log_level level, const char *component, const char *fmt,
              va_list ap) __attribute__((format(printf, 3, 0)));

/* One key/value pair of a structured line; both strings are copied. */
typedef struct {
    const char *key;
    const char *value;
} vpd_log_field;

/* Writes one line with fields: "msg: k=v k=v" in the standard format,
 * extra JSON members in the json format.  For request lines and other
 * records that tools parse; values must never be secrets. */
void vpd_log_kv(vpd_log_level level, const char *component, const char *msg,
                const vpd_log_field *fields, size_t n_fields);

#define vpd_log_enabled(level) ((level) >= vpd_log_get_level())

#endif
