/* Log lines go to stderr in one write(2) each, so lines from a crashing
 * daemon and from test harnesses never interleave mid-line.  With a
 * log_file configured every line also goes there (log_file.c), as Vault
 * writes to both. */
#include "autoconf.h"

#include "base/log.h"
#include "base/log_file.h"

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
        {"trace", VPD_LOG_TRACE},  {"debug", VPD_LOG_DEBUG},
        {"info", VPD_LOG_INFO},    {"notice", VPD_LOG_INFO},
        {"", VPD_LOG_INFO},        {"warn", VPD_LOG_WARN},
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

/* A line being built; once full, further text is dropped and the line
 * ends in "\n" anyway.  Built with memcpy rather than printf: request
 * lines are written for every request, so their cost is on the hot path. */
typedef struct {
    char buf[4096];
    size_t len;
} line_buf;

/* Room kept for the closing "\"}\n" of a JSON line. */
#define LINE_TAIL 4

static void
put(line_buf *l, const char *s)
{
    size_t n = strlen(s);
    size_t room = sizeof l->buf - LINE_TAIL - l->len;
    if (n > room)
        n = room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

/* Appends s as the inside of a JSON string. */
static void
put_json(line_buf *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s && l->len + 6 < sizeof l->buf - LINE_TAIL; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            l->buf[l->len++] = '\\';
            l->buf[l->len++] = (char)c;
        } else if (c < 0x20) {
            memcpy(l->buf + l->len, "\\u00", 4);
            l->buf[l->len + 4] = hex[c >> 4];
            l->buf[l->len + 5] = hex[c & 15];
            l->len += 6;
        } else {
            l->buf[l->len++] = (char)c;
        }
    }
}

/* The time stamp every line starts with, UTC with milliseconds.  The
 * part up to the seconds is formatted once per second, not per line. */
static void
format_stamp(char stamp[32])
{
    /* Per thread: work-queue threads may log too. */
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[24];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    if (tv.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = tv.tv_sec;
    }
    size_t n = strlen(cached);
    memcpy(stamp, cached, n);
    unsigned ms = (unsigned)(tv.tv_usec / 1000);
    stamp[n] = '.';
    stamp[n + 1] = (char)('0' + ms / 100);
    stamp[n + 2] = (char)('0' + ms / 10 % 10);
    stamp[n + 3] = (char)('0' + ms % 10);
    stamp[n + 4] = 'Z';
    stamp[n + 5] = '\0';
}

static void
emit(vpd_log_level level, const char *component, const char *msg,
     const vpd_log_field *fields, size_t n_fields)
{
    char stamp[32];
    format_stamp(stamp);

    line_buf l;
    l.len = 0;
    if (current_format == VPD_LOG_JSON) {
        put(&l, "{\"@timestamp\":\"");
        put(&l, stamp);
        put(&l, "\",\"@level\":\"");
        put(&l, level_names[level]);
        put(&l, "\",\"@module\":\"");
        put_json(&l, component);
        put(&l, "\",\"@message\":\"");
        put_json(&l, msg);
        for (size_t i = 0; i < n_fields; i++) {
            put(&l, "\",\"");
            put_json(&l, fields[i].key);
            put(&l, "\":\"");
            put_json(&l, fields[i].value);
        }
        memcpy(l.buf + l.len, "\"}\n", 3);
        l.len += 3;
    } else {
        put(&l, stamp);
        put(&l, " [");
        put(&l, level_names[level]);
        put(&l, "] ");
        put(&l, component);
        put(&l, ": ");
        put(&l, msg);
        for (size_t i = 0; i < n_fields; i++) {
            put(&l, i == 0 ? ": " : " ");
            put(&l, fields[i].key);
            put(&l, "=");
            put(&l, fields[i].value);
        }
        l.buf[l.len++] = '\n';
    }
    ssize_t w = write(out_fd, l.buf, l.len);
    (void)w;
    vpd_log_file_write(l.buf, l.len);
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
