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

#define FILE_MAX (1024 * 1024)

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

static const vp_conf_field_t *
schema_field(const vp_conf_field_t *schema, const char *key)
{
    for (const vp_conf_field_t *f = schema; f && f->key; f++) {
        if (strcmp(f->key, key) == 0)
            return f;
    }
    return NULL;
}

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

/* Go's strconv.ParseBool spellings, like the core. */
static int
parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int
parse_int(const char *s, int base, int64_t *out)
{
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Converts text to the field's type.  Returns 0, or -1 with what was
 * expected in *want, in the daemon's words (core/plugin/plugin_conf.c). */
static int
convert(vp_conf_type_t type, const char *text, int64_t *num, const char **want)
{
    int b = 0;
    uint64_t ms = 0;
    switch (type) {
    case VP_CONF_STRING:
    case VP_CONF_PATH:
        *want = "a string";
        return 0;
    case VP_CONF_INT:
        *want = "an integer";
        return parse_int(text, 10, num);
    case VP_CONF_BOOL:
        *want = "a bool";
        if (parse_bool(text, &b) != 0)
            return -1;
        *num = b;
        return 0;
    case VP_CONF_DURATION:
        *want = "a duration (\"30s\", \"5m\", or seconds)";
        if (vpd_duration_parse(text, &ms) != 0)
            return -1;
        *num = (int64_t)ms;
        return 0;
    case VP_CONF_MODE:
        *want = "a file mode (0640 or \"0640\")";
        if (parse_int(text, 8, num) != 0)
            return -1;
        return *num >= 0 && *num <= 07777 ? 0 : -1;
    }
    *want = "a known type";
    return -1;
}

static int
conf_get(const vp_instance_t *inst, const char *key, vp_conf_type_t want,
         const char **str, int64_t *num)
{
    const mock_instance *mi = (const mock_instance *)inst;
    const vp_conf_field_t *f = schema_field(mi->schema, key);
    if (!f)
        return VP_EINVAL; /* asking for a key the schema does not declare */
    int text_like = want == VP_CONF_STRING;
    int schema_text = f->type == VP_CONF_STRING || f->type == VP_CONF_PATH;
    if (text_like != schema_text)
        return VP_EINVAL;
    const char *text = pair_value(mi->pairs, key);
    if (!text)
        text = f->default_value;
    if (!text)
        return VP_ENOENT;
    *str = text;
    const char *unused;
    return convert(f->type, text, num, &unused) == 0 ? 0 : VP_EINVAL;
}

static int
mock_conf_string(const vp_instance_t *inst, const char *key, const char **out)
{
    int64_t unused = 0;
    return conf_get(inst, key, VP_CONF_STRING, out, &unused);
}

static int
mock_conf_int(const vp_instance_t *inst, const char *key, int64_t *out)
{
    const char *unused;
    return conf_get(inst, key, VP_CONF_INT, &unused, out);
}

static int
mock_conf_bool(const vp_instance_t *inst, const char *key, int *out)
{
    const char *unused;
    int64_t v = 0;
    int rc = conf_get(inst, key, VP_CONF_BOOL, &unused, &v);
    if (rc == 0)
        *out = v != 0;
    return rc;
}

static int
mock_conf_duration_ms(const vp_instance_t *inst, const char *key, uint64_t *out)
{
    const char *unused;
    int64_t v = 0;
    int rc = conf_get(inst, key, VP_CONF_DURATION, &unused, &v);
    if (rc == 0)
        *out = (uint64_t)v;
    return rc;
}

int
mock_check_schema(const vp_conf_field_t *schema, const char *const *pairs,
                  char *err, size_t err_len)
{
    for (size_t i = 0; pairs && pairs[i]; i += 2) {
        const vp_conf_field_t *f = schema_field(schema, pairs[i]);
        if (!f) {
            snprintf(err, err_len, "unknown key \"%s\"", pairs[i]);
            return -1;
        }
        int64_t num = 0;
        const char *want;
        if (convert(f->type, pairs[i + 1], &num, &want) != 0) {
            /* The mock's values are all text: the daemon says "got
             * string" for a quoted value that does not convert. */
            snprintf(err, err_len, "%s: expected %s, got string", pairs[i],
                     want);
            return -1;
        }
    }
    for (const vp_conf_field_t *f = schema; f && f->key; f++) {
        int present = 0;
        for (size_t i = 0; pairs && pairs[i]; i += 2)
            present |= strcmp(pairs[i], f->key) == 0;
        if ((f->flags & VP_CONF_REQUIRED) && !present) {
            snprintf(err, err_len, "missing required key \"%s\"", f->key);
            return -1;
        }
    }
    return 0;
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

/* ---- files ------------------------------------------------------------- */

/* The rules and messages are the daemon's own file_read.c's. */
static int
mock_read_with(const vp_instance_t *inst, const char *path, unsigned flags,
               unsigned deny_mode, char **out, size_t *out_len)
{
    *out = NULL;
    char why[512], *raw = NULL;
    size_t len = 0;
    int rc = vpd_file_read(path, flags, deny_mode, FILE_MAX, &raw, &len, why,
                           sizeof why);
    if (rc != 0) {
        if (inst && rc != VP_ENOMEM)
            mock_set_error(inst, "%s", why);
        return rc;
    }
    if (why[0])
        mock_log(inst, VP_LOG_WARN, "%s", why);
    const char *start = raw;
    size_t n = len;
    if (flags & VP_READ_TRIM) {
        while (n && isspace((unsigned char)*start)) {
            start++;
            n--;
        }
        while (n && isspace((unsigned char)start[n - 1]))
            n--;
    }
    *out = mock_secret_dup(start, n);
    file_read_wipe(raw, len);
    free(raw);
    if (!*out)
        return VP_ENOMEM;
    if (out_len)
        *out_len = n;
    return 0;
}

static int
mock_read_file(const vp_instance_t *inst, const char *path, int trim,
               char **out, size_t *out_len)
{
    return mock_read_with(inst, path, trim ? VP_READ_TRIM : 0, 0, out, out_len);
}

static int
mock_read_file_opts(const vp_instance_t *inst, const char *path,
                    const vp_read_opts_t *opts, char **out, size_t *out_len)
{
    *out = NULL;
    if (!opts)
        return mock_read_with(inst, path, 0, 0, out, out_len);
    const unsigned known = VP_READ_TRIM | VP_READ_NOFOLLOW | VP_READ_REMOVE;
    if (opts->size < sizeof *opts || (opts->flags & ~known)) {
        if (inst)
            mock_set_error(inst, "read_file_opts: %s",
                           opts->size < sizeof *opts ? "options too small"
                                                     : "unknown flags");
        return VP_EINVAL;
    }
    return mock_read_with(inst, path, opts->flags, opts->deny_mode, out,
                          out_len);
}

/* ---- JSON -------------------------------------------------------------- */

static int
mock_json_get_string(const char *json, size_t len, const char *path, char **out)
{
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return VP_ENOMEM;
    json_object *root = json_tokener_parse_ex(tok, json, (int)len);
    int ok = root && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(root);
        return VP_EINVAL;
    }
    json_object *cur = root;
    char part[128];
    const char *p = path;
    while (cur && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof part) {
            cur = NULL;
            break;
        }
        memcpy(part, p, n);
        part[n] = '\0';
        json_object *next = NULL;
        if (!json_object_is_type(cur, json_type_object) ||
            !json_object_object_get_ex(cur, part, &next))
            cur = NULL;
        else
            cur = next;
        p += n + (dot ? 1 : 0);
    }
    int rc = VP_ENOENT;
    if (cur && json_object_is_type(cur, json_type_string)) {
        *out = mock_secret_dup(json_object_get_string(cur),
                               (size_t)json_object_get_string_len(cur));
        rc = *out ? 0 : VP_ENOMEM;
    }
    json_object_put(root);
    return rc;
}

static char *
mock_json_object_from_pairs(const char *const *pairs)
{
    json_object *obj = json_object_new_object();
    if (!obj)
        return NULL;
    for (size_t i = 0; pairs[i]; i += 2) {
        if (pairs[i + 1])
            json_object_object_add(obj, pairs[i],
                                   json_object_new_string(pairs[i + 1]));
    }
    size_t len = 0;
    const char *text =
        json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
    char *out = mock_secret_dup(text, len);
    json_object_put(obj);
    return out;
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
    .conf_string = mock_conf_string,
    .conf_int = mock_conf_int,
    .conf_bool = mock_conf_bool,
    .conf_duration_ms = mock_conf_duration_ms,
    .read_file = mock_read_file,
    .json_get_string = mock_json_get_string,
    .json_object_from_pairs = mock_json_object_from_pairs,
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

    /* 1.2: JSON */
    .json_parse = vpd_json_parse,
    .json_free = vpd_json_free,
    .json_get = vpd_json_get,
    .json_type = vpd_json_type,
    .json_get_int = vpd_json_get_int,
    .json_get_number = vpd_json_get_number,
    .json_get_bool = vpd_json_get_bool,
    .json_get_str = vpd_json_get_str,
    .json_array_len = vpd_json_array_len,
    .json_array_at = vpd_json_array_at,
    .json_new = vpd_json_new,
    .json_add_str = vpd_json_add_str,
    .json_add_int = vpd_json_add_int,
    .json_add_number = vpd_json_add_number,
    .json_add_bool = vpd_json_add_bool,
    .json_add = vpd_json_add,
    .json_to_text = vpd_json_to_text,
    .read_file_opts = mock_read_file_opts,
};

const vp_host_api_t *
mock_host(void)
{
    return &mock_table;
}
