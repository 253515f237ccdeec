/* A stand-alone vp_host_api_t for testing plugins without the daemon (in
 * the spirit of collectd's plugin_mock.c).  It links against json-c and
 * libc only, never against the core, so a plugin test exercises exactly
 * the SDK contract:
 *
 *   - configuration comes from key/value string pairs, checked and
 *     converted against the implementation's schema like the core does;
 *   - read_file reads real files; json_* use json-c;
 *   - login requests are plain structs the test can read (method, path,
 *     body, token, headers, TLS paths, result rule);
 *   - set_error texts and log lines are captured, so a test can assert
 *     what was said and that no secret was;
 *   - secret buffers and ordinary allocations are counted, so a test can
 *     assert that an instance released everything.
 *
 * The same two files serve vaproxy's own plugin tests and plugin authors:
 * `make install` puts them, unchanged, in $(datadir)/vaproxy-sdk (the
 * pkg-config variable mockhostdir), and the aclocal macro
 * VAPROXY_CHECK_MOCKHOST finds them.  They are shipped as source, to be
 * compiled into the author's test program with the author's compiler and
 * flags (C11 or later, POSIX, json-c).  mock_host.c includes more files,
 * the daemon's own sources, installed beside it under base/ and plugin/
 * (in the tree they are core/base and core/plugin, found through
 * -I core): the duration parser, the configuration words and schema
 * checks, the file reader, the login setters, the JSON members and the
 * configuration and file members.  So the mock reads, refuses and words
 * its refusals exactly as vaproxyd does.  See sdk/GUIDE.md and the
 * template.
 *
 * What it covers: every member of the host table, for every kind, the
 * 1.2 timers, fetch and JSON members too (see the end of this file).
 * mock_create, mock_create_cache and mock_create_consistency check the
 * schema and run the implementation's create, like the core; the
 * proxied-request members (req_*, resp_*) act on a mock_req_new request
 * whose upstream answer the test sets and whose outcome (headers added,
 * the answer given with req_respond) it reads.  Files are read by the
 * daemon's own code (plugin/file_read.c), so the refusals and their texts
 * are the daemon's.
 *
 * Ownership, for every function below: strings passed in are borrowed
 * for the call (what is kept is copied); what a mock_*_new or mock_create
 * returns is the caller's, released with the matching mock_*_free or
 * mock_destroy; const char * results are borrowed from the mock and valid
 * until the object they came from changes or is freed.
 *
 * Not thread-safe; one test at a time (state such as the log and the
 * counters is global to the process). */
#ifndef VP_MOCK_HOST_H
#define VP_MOCK_HOST_H

#include <stddef.h>

#include <vaproxy/vaproxy.h>

#define MOCK_LOGIN_MAX_HEADERS 16
#define MOCK_REQ_MAX_HEADERS 32
/* As many instances as the daemon keeps per-request state for. */
#define MOCK_REQ_CTX_MAX 8

/* A header list of the mock's requests. */
typedef struct mock_headers {
    size_t n;
    struct {
        char *name;
        char *value;
    } v[MOCK_REQ_MAX_HEADERS];
} mock_headers;

/* The mock's proxied request, readable by the test.  The strings belong to
 * the request (mock_req_free releases them). */
struct vp_req {
    char method[16];
    char *path;
    char *token;          /* secret buffer; "" when none */
    mock_headers headers; /* as they go upstream (req_header_add here) */
    int attempts;         /* what req_attempts returns; the test sets it */
    /* The upstream answer response hooks see (mock_req_set_response);
     * resp_status 0: none arrived. */
    int resp_status;
    char *resp_body;
    mock_headers resp_headers;
    /* What the plugin did: resp_header_add, and req_respond. */
    mock_headers added_resp_headers;
    int answer_status; /* 0 until req_respond */
    char *answer_content_type;
    char *answer_body;
    size_t answer_len;
    size_t n_ctx;
    struct {
        const vp_instance_t *inst;
        void *ptr;
        void (*cleanup)(void *ptr);
    } ctx[MOCK_REQ_CTX_MAX];
};

/* The mock's login request, readable by the test.  Every string is NULL
 * until set; all belong to the login (mock_login_reset frees them). */
struct vp_login {
    char method[16];
    char *path;
    char *body;  /* secret buffer */
    char *token; /* secret buffer */
    char *client_cert;
    char *client_key;
    char *ca_cert;
    vp_login_result_t result;
    size_t n_headers;
    struct {
        char *name;
        char *value;
    } headers[MOCK_LOGIN_MAX_HEADERS];
};

/* One instance of an implementation, with its configuration. */
typedef struct mock_instance {
    vp_instance_t pub; /* first: the plugin sees this */
    const vp_conf_field_t *schema;
    char **pairs;     /* key, value, ..., NULL (copies) */
    char error[1024]; /* the last set_error text */
} mock_instance;

/* The host table (full size, ABI of the headers). */
const vp_host_api_t *mock_host(void);

/* An instance named `name` with the given schema and configuration, a
 * NULL-terminated list of key, value strings (NULL for none).  The pairs
 * are copied.  create is not called: see mock_create. */
mock_instance *mock_instance_new(const char *name,
                                 const vp_conf_field_t *schema,
                                 const char *const *pairs);
void mock_instance_free(mock_instance *mi);

/* What the core does before create: every key must be in the schema, its
 * value must convert to the key's type, required keys must be present.
 * Returns 0, or -1 with the daemon's message in err, byte for byte what
 * vaproxyd says after "FILE:LINE: KIND \"NAME\": " for the same keys
 * given as quoted strings (the mock's values are all text). */
int mock_check_schema(const vp_conf_field_t *schema, const char *const *pairs,
                      char *err, size_t err_len);

/* Checks the schema, makes the instance and runs ops->create, like the
 * core.  Returns the instance, or NULL with *rc (the create code, or
 * VP_EINVAL for a schema error) and the message in err. */
mock_instance *mock_create(const vp_auth_ops_t *ops, const char *name,
                           const vp_conf_field_t *schema,
                           const char *const *pairs, int *rc, char *err,
                           size_t err_len);
/* Runs ops->destroy and frees the instance. */
void mock_destroy(const vp_auth_ops_t *ops, mock_instance *mi);

/* The same for a cache store and for a consistency policy. */
mock_instance *mock_create_cache(const vp_cache_ops_t *ops, const char *name,
                                 const vp_conf_field_t *schema,
                                 const char *const *pairs, int *rc, char *err,
                                 size_t err_len);
void mock_destroy_cache(const vp_cache_ops_t *ops, mock_instance *mi);
mock_instance *mock_create_consistency(const vp_consistency_ops_t *ops,
                                       const char *name,
                                       const vp_conf_field_t *schema,
                                       const char *const *pairs, int *rc,
                                       char *err, size_t err_len);
void mock_destroy_consistency(const vp_consistency_ops_t *ops,
                              mock_instance *mi);

/* Proxied requests for consistency (and cache) hooks: method (NULL:
 * "GET"), raw path with query, and the token it carries (NULL: none).
 * Returns NULL when out of memory.  mock_req_free runs the cleanups of
 * req_ctx_set, as the daemon does when a request ends. */
vp_req_t *mock_req_new(const char *method, const char *path, const char *token);
void mock_req_free(vp_req_t *req);
/* A request header as the client sent it.  Returns 0 or VP_ENOMEM. */
int mock_req_add_header(vp_req_t *req, const char *name, const char *value);
/* The upstream answer response hooks see, and its headers.  Return 0 or
 * VP_ENOMEM. */
int mock_req_set_response(vp_req_t *req, int status, const char *body);
int mock_req_add_response_header(vp_req_t *req, const char *name,
                                 const char *value);
/* The first value of a header the plugin added to the client's answer
 * (resp_header_add), or NULL. */
const char *mock_req_added_response_header(const vp_req_t *req,
                                           const char *name);

/* Login requests.  mock_login_default fills in what the core does before
 * login_begin: PUT <mount_path>/login with the body {}. */
vp_login_t *mock_login_new(void);
void mock_login_reset(vp_login_t *login);
void mock_login_free(vp_login_t *login);
void mock_login_default(vp_login_t *login, const char *mount_path);
const char *mock_login_header(const vp_login_t *login, const char *name);

/* Captured log lines ("LEVEL name: text\n" each), borrowed until the next
 * log line or mock_log_clear.  MOCK_HOST_VERBOSE=1 in the environment also
 * prints them, as "# log: ..." lines. */
const char *mock_log_text(void);
void mock_log_clear(void);
/* The text set_error recorded with a NULL instance (in init); an
 * instance's own last error is in mock_instance.error. */
const char *mock_init_error(void);

/* Live secret buffers and live ordinary allocations made through the
 * host table (alloc, calloc, strdup minus free). */
long mock_live_secrets(void);
long mock_live_allocs(void);

/* ---- ABI 1.2 members ----------------------------------------------------
 *
 * Timers run on a fake clock that only mock_clock_advance moves (now_ms
 * stays the real monotonic clock): a test advances it and the timers due
 * on the way fire in order, each at its time, repeating ones again and
 * again.  mock_destroy stops an instance's timers, as the daemon does. */
void mock_clock_advance(uint64_t ms);
uint64_t mock_clock_now(void);
/* Timers started and not yet stopped or fired (one-shot), of mi, or of
 * every instance when mi is NULL. */
size_t mock_timers_live(const mock_instance *mi);
/* How many times reauth was called (it always returns 0 here). */
long mock_reauth_count(void);

/* fetch never calls back inside the call: requests wait until the test
 * calls mock_fetch_complete, which answers every pending one, in order,
 * with the canned answer (status 200 and an empty body until set), or
 * fails them with the canned error; an answer longer than the request's
 * max_answer fails with the daemon's text.  mock_destroy abandons an
 * instance's requests.  The last request is kept for the test to read. */
typedef struct {
    char *method, *url;
    char *headers; /* "Name: value\n" each */
    char *body;    /* NULL: none */
    uint64_t timeout_ms;
    size_t max_answer;
} mock_fetch_seen;

void mock_fetch_answer(int status, const char *body);
void mock_fetch_fail(const char *error);
size_t mock_fetch_complete(void);
size_t mock_fetch_pending(void);
const mock_fetch_seen *mock_fetch_last(void);

#endif
