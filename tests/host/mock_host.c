/* A stand-alone host table for plugin tests: see mock_host.h.
 *
 * This file is installed with the SDK and compiled by plugin projects with
 * their own flags, perhaps a strict -std=c11: ask for POSIX (strdup,
 * O_CLOEXEC, clock_gettime, strcasecmp) unless the project already chose
 * its feature macros. */
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include "mock_host.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* The daemon's duration parser itself (core/base/duration.c, installed
 * beside this file as base/duration.c), so that a plugin test accepts and
 * refuses exactly the durations vaproxyd does. */
#define VPD_DURATION_STATIC
#include "base/duration.c"

/* The daemon's file reader (core/plugin/file_read.c, installed beside this
 * file as plugin/file_read.c): the same refusals, in the same words. */
#define VPD_FILE_READ_STATIC
#include "plugin/file_read.c"

/* The daemon's configuration words and schema checks
 * (core/base/conf_words.c and core/plugin/conf_schema.c, installed beside
 * this file as base/conf_words.c and plugin/conf_schema.c): a bad
 * configuration is refused here with the daemon's verdict, in its words. */
#define VPD_CONF_WORDS_STATIC
#include "base/conf_words.c"
#define VPD_CONF_SCHEMA_STATIC
#include "plugin/conf_schema.c"

static char *mock_secret_dup(const char *s, size_t len);
static void mock_secret_free(char *s);
static void mock_release_instance_async(const mock_instance *mi);

/* The daemon's JSON members themselves (core/plugin/json_api.c, installed
 * beside this file as plugin/json_api.c), with the mock's counted secret
 * buffers: a plugin's JSON code behaves here as in vaproxyd. */
#define VPD_JSON_SECRET_DUP mock_secret_dup
#include "plugin/json_api.c"

/* The daemon's login setters (core/plugin/login_fields.c, installed beside
 * this file as plugin/login_fields.c), with the mock's counted secret
 * buffers; the mock keeps its own header list, which a test can read. */
#define VPD_LOGIN_FIELDS_STATIC
#define VPD_LOGIN_SECRET_DUP mock_secret_dup
#define VPD_LOGIN_SECRET_FREE mock_secret_free
#include "plugin/login_fields.c"

static long live_secrets;
static long live_allocs;
static char init_error[1024];

static char *log_buf;
static size_t log_len, log_cap;

/* ---- counting memory --------------------------------------------------- */

static void *
mock_alloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p)
        live_allocs++;
    return p;
}

static void *
mock_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p)
        live_allocs++;
    return p;
}

static void
mock_free(void *p)
{
    if (!p)
        return;
    live_allocs--;
    free(p);
}

static char *
mock_strdup(const char *s)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (p)
        live_allocs++;
    return p;
}

/* A secret buffer keeps its size just before the bytes, so it can be
 * wiped on release (as the core's are). */
static char *
mock_secret_dup(const char *s, size_t len)
{
    size_t *block = malloc(sizeof(size_t) + len + 1);
    if (!block)
        return NULL;
    block[0] = len + 1;
    char *out = (char *)(block + 1);
    if (len)
        memcpy(out, s, len);
    out[len] = '\0';
    live_secrets++;
    return out;
}

static void
mock_secret_free(char *s)
{
    if (!s)
        return;
    size_t *block = (size_t *)s - 1;
    volatile char *v = s;
    for (size_t i = 0; i < block[0]; i++)
        v[i] = 0;
    live_secrets--;
    free(block);
}

long
mock_live_secrets(void)
{
    return live_secrets;
}

long
mock_live_allocs(void)
{
    return live_allocs;
}

/* ---- logging and errors ------------------------------------------------ */

static void
log_append(const char *text, size_t len)
{
    if (log_len + len + 1 > log_cap) {
        size_t cap = log_cap ? log_cap : 1024;
        while (cap < log_len + len + 1)
            cap *= 2;
        char *b = realloc(log_buf, cap);
        if (!b)
            return;
        log_buf = b;
        log_cap = cap;
    }
    memcpy(log_buf + log_len, text, len);
    log_len += len;
    log_buf[log_len] = '\0';
}

static const char *const level_names[] = {"TRACE", "DEBUG", "INFO", "WARN",
                                          "ERROR"};

static void mock_log(const vp_instance_t *inst, vp_log_level_t level,
                     const char *fmt, ...) VP_PRINTF(3, 4);

static void
mock_log(const vp_instance_t *inst, vp_log_level_t level, const char *fmt, ...)
{
    char line[2048];
    int n = snprintf(line, sizeof line, "%s %s: ",
                     level <= VP_LOG_ERROR ? level_names[level] : "ERROR",
                     inst ? inst->name : "plugin");
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    if (len + 1 < sizeof line)
        line[len++] = '\n';
    log_append(line, len);
    if (getenv("MOCK_HOST_VERBOSE"))
        fprintf(stdout, "# log: %.*s", (int)len, line);
}

static void mock_set_error(const vp_instance_t *inst, const char *fmt, ...)
    VP_PRINTF(2, 3);

static void
mock_set_error(const vp_instance_t *inst, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (inst) {
        mock_instance *mi = (mock_instance *)inst;
        vsnprintf(mi->error, sizeof mi->error, fmt, ap);
    } else {
        vsnprintf(init_error, sizeof init_error, fmt, ap);
    }
    va_end(ap);
}

const char *
mock_log_text(void)
{
    return log_buf ? log_buf : "";
}

void
mock_log_clear(void)
{
    log_len = 0;
    if (log_buf)
        log_buf[0] = '\0';
}

const char *
mock_init_error(void)
{
    return init_error;
}

/* ---- configuration ----------------------------------------------------- */

static const char *
pair_value(char *const *pairs, const char *key)
{
    const char *found = NULL; /* the last one wins, as in HCL */
    for (size_t i = 0; pairs && pairs[i]; i += 2) {
        if (strcmp(pairs[i], key) == 0)
            found = pairs[i + 1];
    }
    return found;
}

/* The mock's values are all text, as a quoted value in a config file. */
static vpd_conf_value
text_value(const char *text)
{
    return (vpd_conf_value){VPD_CONF_VALUE_TEXT, text, 0, "string"};
}

static int
mock_conf_get(const vp_instance_t *inst, const char *key, vp_conf_type_t want,
              const char **str, int64_t *num)
{
    const mock_instance *mi = (const mock_instance *)inst;
    const char *text = pair_value(mi->pairs, key);
    vpd_conf_value v = text_value(text);
    return vpd_conf_schema_get(mi->schema, key, want, text ? &v : NULL, str,
                               num);
}

/* The getters and file readers are the daemon's own (host_members.c,
 * installed beside this file as plugin/host_members.c). */
#define VPD_MEMBERS_CONF_GET mock_conf_get
#define VPD_MEMBERS_SECRET_DUP mock_secret_dup
#define VPD_MEMBERS_SET_ERROR mock_set_error
#define VPD_MEMBERS_LOG mock_log
#include "plugin/host_members.c"

static int
pairs_present(const void *ctx, const char *key)
{
    return pair_value((char *const *)ctx, key) != NULL;
}

int
mock_check_schema(const vp_conf_field_t *schema, const char *const *pairs,
                  char *err, size_t err_len)
{
    for (size_t i = 0; pairs && pairs[i]; i += 2) {
        vpd_conf_value v = text_value(pairs[i + 1] ? pairs[i + 1] : "");
        if (vpd_conf_schema_check_value(schema, pairs[i], &v, err, err_len))
            return -1;
    }
    return vpd_conf_schema_missing(schema, pairs_present, pairs, err, err_len)
               ? -1
               : 0;
}

/* ---- instances --------------------------------------------------------- */

mock_instance *
mock_instance_new(const char *name, const vp_conf_field_t *schema,
                  const char *const *pairs)
{
    mock_instance *mi = calloc(1, sizeof *mi);
    if (!mi)
        return NULL;
    size_t n = 0;
    while (pairs && pairs[n])
        n += 2;
    mi->pairs = calloc(n + 1, sizeof *mi->pairs);
    if (!mi->pairs) {
        free(mi);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        mi->pairs[i] = strdup(pairs[i] ? pairs[i] : "");
    mi->pub.host = mock_host();
    mi->pub.name = name;
    mi->pub.size = (uint32_t)sizeof mi->pub;
    mi->schema = schema;
    return mi;
}

void
mock_instance_free(mock_instance *mi)
{
    if (!mi)
        return;
    for (size_t i = 0; mi->pairs[i]; i++)
        free(mi->pairs[i]);
    free(mi->pairs);
    free(mi);
}

/* Every kind's ops table starts with size, create and destroy, in that
 * order: the kinds share this. */
static mock_instance *
create_with(int (*create)(vp_instance_t *), const char *name,
            const vp_conf_field_t *schema, const char *const *pairs, int *rc,
            char *err, size_t err_len)
{
    *rc = 0;
    err[0] = '\0';
    if (mock_check_schema(schema, pairs, err, err_len) != 0) {
        *rc = VP_EINVAL;
        return NULL;
    }
    mock_instance *mi = mock_instance_new(name, schema, pairs);
    if (!mi) {
        *rc = VP_ENOMEM;
        return NULL;
    }
    if (create && (*rc = create(&mi->pub)) != 0) {
        snprintf(err, err_len, "%s", mi->error);
        mock_instance_free(mi);
        return NULL;
    }
    return mi;
}

static void
destroy_with(void (*destroy)(vp_instance_t *), mock_instance *mi)
{
    if (!mi)
        return;
    if (destroy)
        destroy(&mi->pub);
    mock_release_instance_async(mi);
    mock_instance_free(mi);
}

mock_instance *
mock_create(const vp_auth_ops_t *ops, const char *name,
            const vp_conf_field_t *schema, const char *const *pairs, int *rc,
            char *err, size_t err_len)
{
    return create_with(ops->create, name, schema, pairs, rc, err, err_len);
}

void
mock_destroy(const vp_auth_ops_t *ops, mock_instance *mi)
{
    destroy_with(ops->destroy, mi);
}

mock_instance *
mock_create_cache(const vp_cache_ops_t *ops, const char *name,
                  const vp_conf_field_t *schema, const char *const *pairs,
                  int *rc, char *err, size_t err_len)
{
    return create_with(ops->create, name, schema, pairs, rc, err, err_len);
}

void
mock_destroy_cache(const vp_cache_ops_t *ops, mock_instance *mi)
{
    destroy_with(ops->destroy, mi);
}

mock_instance *
mock_create_consistency(const vp_consistency_ops_t *ops, const char *name,
                        const vp_conf_field_t *schema, const char *const *pairs,
                        int *rc, char *err, size_t err_len)
{
    return create_with(ops->create, name, schema, pairs, rc, err, err_len);
}

void
mock_destroy_consistency(const vp_consistency_ops_t *ops, mock_instance *mi)
{
    destroy_with(ops->destroy, mi);
}

/* ---- proxied requests -------------------------------------------------- */

/* The headers plugins may not add upstream: the daemon's forwarder owns
 * the hop-by-hop ones and Host (core/http/hdr_policy.c lists the same). */
static int
mock_owned_header(const char *name)
{
    static const char *const owned[] = {"Connection",
                                        "Keep-Alive",
                                        "Proxy-Connection",
                                        "Proxy-Authenticate",
                                        "Proxy-Authorization",
                                        "TE",
                                        "Trailer",
                                        "Transfer-Encoding",
                                        "Upgrade",
                                        "Host"};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        if (strcasecmp(name, owned[i]) == 0)
            return 1;
    return 0;
}

static int
hdr_add(mock_headers *h, const char *name, const char *value)
{
    if (h->n == MOCK_REQ_MAX_HEADERS)
        return VP_ENOMEM;
    char *n = strdup(name), *v = strdup(value ? value : "");
    if (!n || !v) {
        free(n);
        free(v);
        return VP_ENOMEM;
    }
    h->v[h->n].name = n;
    h->v[h->n].value = v;
    h->n++;
    return 0;
}

static const char *
hdr_get(const mock_headers *h, const char *name, size_t idx)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->v[i].name, name) == 0 && idx-- == 0)
            return h->v[i].value;
    return NULL;
}

static size_t
hdr_count(const mock_headers *h, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++)
        n += strcasecmp(h->v[i].name, name) == 0;
    return n;
}

static size_t
hdr_remove(mock_headers *h, const char *name)
{
    size_t kept = 0, removed = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->v[i].name, name) == 0) {
            free(h->v[i].name);
            free(h->v[i].value);
            removed++;
        } else {
            h->v[kept++] = h->v[i];
        }
    }
    h->n = kept;
    return removed;
}

static void
hdr_free(mock_headers *h)
{
    while (h->n > 0) {
        h->n--;
        free(h->v[h->n].name);
        free(h->v[h->n].value);
    }
}

vp_req_t *
mock_req_new(const char *method, const char *path, const char *token)
{
    vp_req_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->method, sizeof r->method, "%s", method ? method : "GET");
    r->path = strdup(path ? path : "/");
    r->token = mock_secret_dup(token ? token : "", token ? strlen(token) : 0);
    if (!r->path || !r->token) {
        mock_req_free(r);
        return NULL;
    }
    return r;
}

int
mock_req_add_header(vp_req_t *r, const char *name, const char *value)
{
    return hdr_add(&r->headers, name, value);
}

int
mock_req_set_response(vp_req_t *r, int status, const char *body)
{
    free(r->resp_body);
    r->resp_body = strdup(body ? body : "");
    r->resp_status = status;
    return r->resp_body ? 0 : VP_ENOMEM;
}

int
mock_req_add_response_header(vp_req_t *r, const char *name, const char *value)
{
    return hdr_add(&r->resp_headers, name, value);
}

const char *
mock_req_added_response_header(const vp_req_t *r, const char *name)
{
    return hdr_get(&r->added_resp_headers, name, 0);
}

void
mock_req_free(vp_req_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_ctx; i++)
        if (r->ctx[i].cleanup)
            r->ctx[i].cleanup(r->ctx[i].ptr);
    hdr_free(&r->headers);
    hdr_free(&r->resp_headers);
    hdr_free(&r->added_resp_headers);
    free(r->path);
    mock_secret_free(r->token);
    free(r->resp_body);
    free(r->answer_content_type);
    free(r->answer_body);
    free(r);
}

static const char *
mock_req_method(const vp_req_t *r)
{
    return r->method;
}

static const char *
mock_req_path(const vp_req_t *r)
{
    return r->path;
}

static const char *
mock_req_token(const vp_req_t *r)
{
    return r->token;
}

static const char *
mock_req_header(const vp_req_t *r, const char *name, size_t idx)
{
    return hdr_get(&r->headers, name, idx);
}

static size_t
mock_req_header_count(const vp_req_t *r, const char *name)
{
    return hdr_count(&r->headers, name);
}

static int
mock_req_header_add(vp_req_t *r, const char *name, const char *value)
{
    if (!name || mock_owned_header(name))
        return VP_EINVAL;
    return hdr_add(&r->headers, name, value);
}

static size_t
mock_req_header_remove(vp_req_t *r, const char *name)
{
    return hdr_remove(&r->headers, name);
}

static int
mock_resp_status(const vp_req_t *r)
{
    return r->resp_status;
}

static const char *
mock_resp_header(const vp_req_t *r, const char *name, size_t idx)
{
    return r->resp_status ? hdr_get(&r->resp_headers, name, idx) : NULL;
}

static size_t
mock_resp_header_count(const vp_req_t *r, const char *name)
{
    return r->resp_status ? hdr_count(&r->resp_headers, name) : 0;
}

static vp_str_t
mock_resp_body(const vp_req_t *r)
{
    vp_str_t s = {"", 0};
    if (r->resp_status && r->resp_body) {
        s.ptr = r->resp_body;
        s.len = strlen(r->resp_body);
    }
    return s;
}

static int
mock_resp_header_add(vp_req_t *r, const char *name, const char *value)
{
    return hdr_add(&r->added_resp_headers, name, value);
}

static int
mock_req_respond(vp_req_t *r, int status, const char *content_type,
                 const char *body, size_t len)
{
    if (status < 100 || status > 599)
        return VP_EINVAL;
    char *copy = malloc(len + 1);
    char *ct = content_type ? strdup(content_type) : NULL;
    if (!copy || (content_type && !ct)) {
        free(copy);
        free(ct);
        return VP_ENOMEM;
    }
    if (len)
        memcpy(copy, body, len);
    copy[len] = '\0';
    free(r->answer_body);
    free(r->answer_content_type);
    r->answer_body = copy;
    r->answer_len = len;
    r->answer_content_type = ct;
    r->answer_status = status;
    return 0;
}

static int
mock_req_attempts(const vp_req_t *r)
{
    return r->attempts;
}

static int
mock_req_ctx_set(vp_req_t *r, const vp_instance_t *inst, void *ptr,
                 void (*cleanup)(void *ptr))
{
    for (size_t i = 0; i < r->n_ctx; i++) {
        if (r->ctx[i].inst == inst) {
            if (r->ctx[i].cleanup && r->ctx[i].ptr != ptr)
                r->ctx[i].cleanup(r->ctx[i].ptr);
            r->ctx[i].ptr = ptr;
            r->ctx[i].cleanup = cleanup;
            return 0;
        }
    }
    if (r->n_ctx == MOCK_REQ_CTX_MAX)
        return VP_EFULL;
    r->ctx[r->n_ctx].inst = inst;
    r->ctx[r->n_ctx].ptr = ptr;
    r->ctx[r->n_ctx].cleanup = cleanup;
    r->n_ctx++;
    return 0;
}

static void *
mock_req_ctx_get(const vp_req_t *r, const vp_instance_t *inst)
{
    for (size_t i = 0; i < r->n_ctx; i++)
        if (r->ctx[i].inst == inst)
            return r->ctx[i].ptr;
    return NULL;
}

/* ---- login requests ---------------------------------------------------- */

vp_login_t *
mock_login_new(void)
{
    return calloc(1, sizeof(vp_login_t));
}

void
mock_login_reset(vp_login_t *l)
{
    free(l->path);
    mock_secret_free(l->body);
    mock_secret_free(l->token);
    free(l->client_cert);
    free(l->client_key);
    free(l->ca_cert);
    for (size_t i = 0; i < l->n_headers; i++) {
        free(l->headers[i].name);
        free(l->headers[i].value);
    }
    memset(l, 0, sizeof *l);
}

void
mock_login_free(vp_login_t *l)
{
    if (!l)
        return;
    mock_login_reset(l);
    free(l);
}

static int
mock_login_add_header(vp_login_t *l, const char *name, const char *value)
{
    if (!name || !value || l->n_headers == MOCK_LOGIN_MAX_HEADERS)
        return VP_EINVAL;
    l->headers[l->n_headers].name = strdup(name);
    l->headers[l->n_headers].value = strdup(value);
    l->n_headers++;
    return 0;
}

void
mock_login_default(vp_login_t *login, const char *mount_path)
{
    char path[512];
    snprintf(path, sizeof path, "%s/login", mount_path);
    mock_login_reset(login);
    vpd_login_set_request(login, "PUT", path);
    vpd_login_set_body(login, "{}");
}

const char *
mock_login_header(const vp_login_t *l, const char *name)
{
    for (size_t i = 0; i < l->n_headers; i++) {
        if (strcasecmp(l->headers[i].name, name) == 0)
            return l->headers[i].value;
    }
    return NULL;
}

/* ---- time and randomness ----------------------------------------------- */

static uint64_t
mock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
mock_random_bytes(void *buf, size_t len)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return VP_EIO;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n <= 0) {
            close(fd);
            return VP_EIO;
        }
        got += (size_t)n;
    }
    close(fd);
    return 0;
}

/* ---- 1.2: timers on a fake clock --------------------------------------- */

struct vp_timer {
    vp_instance_t *inst;
    vp_timer_cb cb;
    void *arg;
    uint64_t due, repeat;
    int stopped;
    struct vp_timer *next;
};

static vp_timer_t *mock_timers;
static uint64_t mock_clock;
static long reauth_calls;

static vp_timer_t *
mock_timer_start(vp_instance_t *inst, uint64_t delay_ms, uint64_t repeat_ms,
                 vp_timer_cb cb, void *arg)
{
    if (!inst || !cb)
        return NULL;
    vp_timer_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    *t = (vp_timer_t){inst,      cb, arg,        mock_clock + delay_ms,
                      repeat_ms, 0,  mock_timers};
    mock_timers = t;
    return t;
}

static void
mock_timer_stop(vp_timer_t *t)
{
    if (t)
        t->stopped = 1; /* freed by the next sweep, never inside a call */
}

static void
sweep_timers(void)
{
    for (vp_timer_t **p = &mock_timers; *p;) {
        vp_timer_t *t = *p;
        if (t->stopped) {
            *p = t->next;
            free(t);
        } else {
            p = &t->next;
        }
    }
}

static vp_timer_t *
earliest_due(uint64_t until)
{
    vp_timer_t *best = NULL;
    for (vp_timer_t *t = mock_timers; t; t = t->next)
        if (!t->stopped && t->due <= until && (!best || t->due < best->due))
            best = t;
    return best;
}

void
mock_clock_advance(uint64_t ms)
{
    uint64_t until = mock_clock + ms;
    vp_timer_t *t;
    while ((t = earliest_due(until))) {
        mock_clock = t->due;
        if (t->repeat)
            t->due += t->repeat;
        else
            t->stopped = 1;
        t->cb(t->inst, t->arg);
    }
    mock_clock = until;
    sweep_timers();
}

uint64_t
mock_clock_now(void)
{
    return mock_clock;
}

size_t
mock_timers_live(const mock_instance *mi)
{
    size_t n = 0;
    for (vp_timer_t *t = mock_timers; t; t = t->next)
        if (!t->stopped && (!mi || t->inst == &mi->pub))
            n++;
    return n;
}

static int
mock_reauth(vp_instance_t *inst)
{
    if (!inst)
        return VP_ENOTSUP;
    reauth_calls++;
    return 0;
}

long
mock_reauth_count(void)
{
    return reauth_calls;
}

/* ---- 1.2: fetch with canned answers ------------------------------------ */

struct vp_fetch {
    vp_instance_t *inst;
    vp_fetch_cb cb;
    void *arg;
    int cancelled;
    size_t max_answer;
    struct vp_fetch *next;
};

static vp_fetch_t *mock_fetches;
static int canned_status = 200;
static char *canned_body;
static char *canned_error;
static mock_fetch_seen last_fetch;

static void
seen_free(mock_fetch_seen *f)
{
    free(f->method);
    free(f->url);
    free(f->headers);
    mock_secret_free(f->body);
    memset(f, 0, sizeof *f);
}

void
mock_fetch_answer(int status, const char *body)
{
    canned_status = status;
    free(canned_body);
    canned_body = body ? strdup(body) : NULL;
    free(canned_error);
    canned_error = NULL;
}

void
mock_fetch_fail(const char *error)
{
    free(canned_error);
    canned_error = strdup(error ? error : "failed");
}

const mock_fetch_seen *
mock_fetch_last(void)
{
    return &last_fetch;
}

static vp_fetch_t *
mock_fetch(vp_instance_t *inst, const vp_fetch_request_t *req, vp_fetch_cb cb,
           void *arg)
{
    if (!inst || !req || !cb || !req->url) {
        if (inst)
            mock_set_error(inst, "fetch: no request or no url");
        return NULL;
    }
    seen_free(&last_fetch);
    last_fetch.method = strdup(req->method ? req->method
                               : req->body ? "POST"
                                           : "GET");
    last_fetch.url = strdup(req->url);
    size_t hlen = 1;
    for (const char *const *h = req->headers; h && *h; h++)
        hlen += strlen(*h) + 1;
    last_fetch.headers = calloc(1, hlen);
    for (const char *const *h = req->headers; h && *h; h++) {
        strcat(last_fetch.headers, *h);
        strcat(last_fetch.headers, "\n");
    }
    if (req->body)
        last_fetch.body = mock_secret_dup(req->body, req->body_len);
    last_fetch.timeout_ms = req->timeout_ms;
    last_fetch.max_answer = req->max_answer;
    vp_fetch_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    *f = (vp_fetch_t){
        inst, cb, arg, 0, req->max_answer ? req->max_answer : 1024 * 1024,
        NULL};
    /* Appended, so answers come in the order requests went out. */
    vp_fetch_t **p = &mock_fetches;
    while (*p)
        p = &(*p)->next;
    *p = f;
    return f;
}

static void
mock_fetch_cancel(vp_fetch_t *f)
{
    if (f)
        f->cancelled = 1;
}

size_t
mock_fetch_complete(void)
{
    size_t n = 0;
    while (mock_fetches) {
        vp_fetch_t *f = mock_fetches;
        mock_fetches = f->next;
        if (!f->cancelled) {
            char *body = NULL;
            vp_fetch_answer_t a = {.size = sizeof a};
            if (canned_error) {
                a.error = canned_error;
                a.body = "";
            } else if (canned_body && strlen(canned_body) > f->max_answer) {
                a.error = "the answer is larger than allowed";
                a.body = "";
            } else {
                const char *b = canned_body ? canned_body : "";
                body = mock_secret_dup(b, strlen(b));
                a.status = canned_status;
                a.body = body ? body : "";
                a.body_len = body ? strlen(body) : 0;
            }
            f->cb(f->inst, &a, f->arg);
            mock_secret_free(body);
            n++;
        }
        free(f);
    }
    return n;
}

size_t
mock_fetch_pending(void)
{
    size_t n = 0;
    for (vp_fetch_t *f = mock_fetches; f; f = f->next)
        n += !f->cancelled;
    return n;
}

/* What the daemon does after an instance's destroy: stop its timers and
 * abandon its requests. */
static void
mock_release_instance_async(const mock_instance *mi)
{
    for (vp_timer_t *t = mock_timers; t; t = t->next)
        if (t->inst == &mi->pub)
            t->stopped = 1;
    sweep_timers();
    for (vp_fetch_t *f = mock_fetches; f; f = f->next)
        if (f->inst == &mi->pub)
            f->cancelled = 1;
}

/* ---- the table --------------------------------------------------------- */

static const vp_host_api_t mock_table = {
    .size = sizeof(vp_host_api_t),
    .abi_major = VP_ABI_MAJOR,
    .abi_minor = VP_ABI_MINOR,
    .log = mock_log,
    .set_error = mock_set_error,
    .alloc = mock_alloc,
    .calloc = mock_calloc,
    .free = mock_free,
    .strdup = mock_strdup,
    .secret_dup = mock_secret_dup,
    .secret_free = mock_secret_free,
    VPD_HOST_MEMBERS_SHARED,
    VPD_JSON_MEMBERS,
    .login_set_request = vpd_login_set_request,
    .login_set_body = vpd_login_set_body,
    .login_set_token = vpd_login_set_token,
    .login_add_header = mock_login_add_header,
    .login_set_tls = vpd_login_set_tls,
    .login_set_result = vpd_login_set_result,
    .req_method = mock_req_method,
    .req_path = mock_req_path,
    .req_token = mock_req_token,
    .req_header = mock_req_header,
    .req_header_count = mock_req_header_count,
    .req_header_add = mock_req_header_add,
    .req_header_remove = mock_req_header_remove,
    .resp_status = mock_resp_status,
    .resp_header = mock_resp_header,
    .resp_header_count = mock_resp_header_count,
    .resp_body = mock_resp_body,
    .resp_header_add = mock_resp_header_add,
    .req_respond = mock_req_respond,
    .req_attempts = mock_req_attempts,
    .req_ctx_set = mock_req_ctx_set,
    .req_ctx_get = mock_req_ctx_get,
    .now_ms = mock_now_ms,
    .random_bytes = mock_random_bytes,
    .login_method = vpd_login_method,
    .login_path = vpd_login_path,

    /* 1.2: timers */
    .timer_start = mock_timer_start,
    .timer_stop = mock_timer_stop,
    .reauth = mock_reauth,

    /* 1.2: fetch */
    .fetch = mock_fetch,
    .fetch_cancel = mock_fetch_cancel,
};

const vp_host_api_t *
mock_host(void)
{
    return &mock_table;
}
