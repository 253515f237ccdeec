/* Log lines go to stderr in one write(2) each, so lines from a crashing
 * daemon and from test harnesses never interleave mid-line.  With a
 * log_file configured every line also goes there (log_file.c), as Vault
 * writes to both. */
#include "autoconf.h"

#include "log.h"
#include "log_file.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static vpd_log_level current_level = VPD_LOG_INFO;
static vpd_log_format current_format = VPD_LOG_STANDARD;
static int out_fd = STDERR_FILENO;

static const char *const level_names[] = {"trace", "debug", "info", "warn",
                                          "error"};

int
vpd_log_level_parse(const char *name, vpd_log_level *out)
{
    static const struct {
        const char *name;
        vpd_log_level level;
    } table[] = {
        {"trace", VPD_LOG_TRACE}, {"debug", VPD_LOG_DEBUG},
        {"info", VPD_LOG_INFO},   {"notice", VPD_LOG_INFO},
        {"", VPD_LOG_INFO},       {"warn", VPD_LOG_WARN},
        {"warning", VPD_LOG_WARN}, {"error", VPD_LOG_ERROR},
        {"err", VPD_LOG_ERROR},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcasecmp(name, table[i].name) == 0) {
            *out = table[i].level;
            return 0;
        }
    }
    return -1;
}

int
vpd_log_format_parse(const char *name, vpd_log_format *out)
{
    if (strcasecmp(name, "standard") == 0 || name[0] == '\0') {
        *out = VPD_LOG_STANDARD;
        return 0;
    }
    if (strcasecmp(name, "json") == 0) {
        *out = VPD_LOG_JSON;
        return 0;
    }
    return -1;
}

void
vpd_log_set_level(vpd_log_level level)
{
    current_level = level;
}

void
vpd_log_set_stdout(bool on)
{
    out_fd = on ? STDOUT_FILENO : STDERR_FILENO;
}

vpd_log_level
vpd_log_get_level(void)
{
    return current_level;
}

void
vpd_log_set_format(vpd_log_format format)
{
    current_format = format;
}

vpd_log_format
vpd_log_get_format(void)
{
    return current_format;
}

/* Appends s to buf as the inside of a JSON string. */
static size_t
json_escape(char *buf, size_t cap, size_t len, const char *s)
{
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c < 0x20) {
            len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
        } else {
            buf[len++] = (char)c;
        }
    }
    return len;
}

/* The time stamp every line starts with, UTC with milliseconds. */
static void
format_stamp(char *stamp, size_t cap)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(stamp, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, cap - n, ".%03ldZ", (long)tv.tv_usec / 1000);
}

static void
emit(vpd_log_level level, const char *component, const char *msg,
     const vpd_log_field *fields, size_t n_fields)
{
    char stamp[40];
    format_stamp(stamp, sizeof stamp);

    char line[4096];
    size_t len;
    if (current_format == VPD_LOG_JSON) {
        len = (size_t)snprintf(line, sizeof line,
                               "{\"@timestamp\":\"%s\",\"@level\":\"%s\","
                               "\"@module\":\"",
                               stamp, level_names[level]);
        len = json_escape(line, sizeof line, len, component);
        len += (size_t)snprintf(line + len, sizeof line - len,
                                "\",\"@message\":\"");
        len = json_escape(line, sizeof line, len, msg);
        for (size_t i = 0; i < n_fields && len < sizeof line; i++) {
            len += (size_t)snprintf(line + len, sizeof line - len, "\",\"");
            len = json_escape(line, sizeof line, len, fields[i].key);
            if (len < sizeof line)
                len += (size_t)snprintf(line + len, sizeof line - len,
                                        "\":\"");
            len = json_escape(line, sizeof line, len, fields[i].value);
        }
        if (len < sizeof line)
            len += (size_t)snprintf(line + len, sizeof line - len, "\"}\n");
    } else {
        len = (size_t)snprintf(line, sizeof line, "%s [%s] %s: %s", stamp,
                               level_names[level], component, msg);
        for (size_t i = 0; i < n_fields && len < sizeof line; i++)
            len += (size_t)snprintf(line + len, sizeof line - len,
                                    "%s%s=%s", i == 0 ? ": " : " ",
                                    fields[i].key, fields[i].value);
        if (len < sizeof line)
            len += (size_t)snprintf(line + len, sizeof line - len, "\n");
    }
    if (len >= sizeof line) {
        len = sizeof line - 1;
        line[len - 1] = '\n';
    }
    ssize_t w = write(out_fd, line, len);
    (void)w;
    vpd_log_file_write(line, len);
}

void
vpd_vlog(vpd_log_level level, const char *component, const char *fmt,
         va_list ap)
{
    if (level < current_level)
        return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    emit(level, component, msg, NULL, 0);
}

void
vpd_log_kv(vpd_log_level level, const char *component, const char *msg,
           const vpd_log_field *fields, size_t n_fields)
{
    if (level < current_level)
        return;
    emit(level, component, msg, fields, n_fields);
}

void
vpd_log(vpd_log_level level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vpd_vlog(level, component, fmt, ap);
    va_end(ap);
}
