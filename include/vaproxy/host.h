/* SPDX-License-Identifier: Apache-2.0 */
/* vaproxy SDK: the host table, the only way a plugin reaches the daemon.
 *
 * The daemon hands a const vp_host_api_t to every plugin (in init and in
 * every vp_instance_t).  Plugins link against nothing of ours; they call
 * these function pointers.  The table only grows: before using a member
 * added after ABI 1.0, check it with VP_HOST_HAS(host, member).
 *
 * Each member documents Returns / Ownership / Async / Since.  "Async: no"
 * means the call completes before it returns and never calls back.
 */
#ifndef VAPROXY_HOST_H
#define VAPROXY_HOST_H

#include <stdarg.h>

#include "common.h"
#include "errors.h"
#include "plugin.h"

VP_BEGIN_DECLS

/* A request being proxied (consistency and cache hooks).  Opaque. */
typedef struct vp_req vp_req_t;
/* A login request an auth method is describing.  Opaque. */
typedef struct vp_login vp_login_t;

typedef enum vp_log_level {
    VP_LOG_TRACE = 0,
    VP_LOG_DEBUG = 1,
    VP_LOG_INFO = 2,
    VP_LOG_WARN = 3,
    VP_LOG_ERROR = 4
} vp_log_level_t;

/* A timer an instance started (1.2).  Opaque. */
typedef struct vp_timer vp_timer_t;
/* Runs on the loop when a timer is due; inst is the instance that started
 * it, arg what it gave. */
typedef void (*vp_timer_cb)(vp_instance_t *inst, void *arg);

/* An HTTP(S) request an instance started with fetch (1.2).  Opaque. */
typedef struct vp_fetch vp_fetch_t;

/* What fetch sends.  Zero every field you do not set (a designated
 * initialiser does), and set size to sizeof(vp_fetch_request_t): fields
 * appended later are then read as absent. */
typedef struct vp_fetch_request {
    uint32_t size;
    const char *method; /* NULL: GET, or POST when body is set */
    const char *url;    /* http:// or https:// */
    /* Request headers as "Name: value" strings, ended by NULL (may be
     * NULL). */
    const char *const *headers;
    const char *body; /* sent as is; NULL: none */
    size_t body_len;
    uint64_t timeout_ms; /* the whole exchange; 0: 10 seconds */
    size_t max_answer;   /* the longest body accepted; 0: 1 MiB */
    const char *ca_file; /* NULL: the system's CAs */
    const char *client_cert, *client_key; /* PEM files, or NULL */
    int insecure_skip_verify;             /* non-zero: no TLS checks */
} vp_fetch_request_t;

/* What a fetch got, borrowed for the callback.  status is 0 when no answer
 * arrived; error then says why (timeout, refused, too large, ...). */
typedef struct vp_fetch_answer {
    uint32_t size;     /* sizeof(vp_fetch_answer_t) of the host */
    int status;        /* HTTP status, or 0 */
    const char *error; /* NULL when an answer arrived */
    /* The body, NUL-terminated, in a secret buffer the host wipes after
     * the callback: copy with secret_dup what you keep. */
    const char *body;
    size_t body_len;
} vp_fetch_answer_t;

/* Runs on the loop once per fetch that was not cancelled. */
typedef void (*vp_fetch_cb)(vp_instance_t *inst,
                            const vp_fetch_answer_t *answer, void *arg);

/* A JSON value: a parsed document, a node inside one, or a value being
 * built (1.2).  Opaque. */
typedef struct vp_json vp_json_t;

typedef enum vp_json_type {
    VP_JSON_NULL = 0,
    VP_JSON_BOOL = 1,
    VP_JSON_NUMBER = 2, /* integer or not: json_get_int / json_get_number */
    VP_JSON_STRING = 3,
    VP_JSON_ARRAY = 4,
    VP_JSON_OBJECT = 5
} vp_json_type_t;

/* How the core finds the token in the answer to the last login request. */
typedef enum vp_login_result {
    VP_LOGIN_RESULT_AUTH = 0,  /* auth.client_token (every login method) */
    VP_LOGIN_RESULT_LOOKUP = 1 /* data.id of a token lookup (token_file) */
} vp_login_result_t;

/* Options of read_file_opts (Since 1.2). */
typedef struct vp_read_opts {
    size_t size;        /* sizeof(vp_read_opts_t) */
    unsigned flags;     /* VP_READ_* */
    unsigned deny_mode; /* permission bits the file must not have, e.g.
                           0077 for "readable by its owner only"; 0: any */
} vp_read_opts_t;

/* Trims white space around the contents (as read_file's `trim`). */
#define VP_READ_TRIM 0x1u
/* Refuses a path whose last component is a symbolic link. */
#define VP_READ_NOFOLLOW 0x2u
/* Removes the file once it has been read, as Vault Agent's
 * remove_*_after_reading options do; a failed removal is logged as a
 * warning and the contents are still returned. */
#define VP_READ_REMOVE 0x4u

struct vp_host_api {
    uint32_t size; /* sizeof the table the host was built with */
    uint16_t abi_major;
    uint16_t abi_minor;

    /* ---- Logging ---------------------------------------------------- */

    /* Writes one log line prefixed with the instance's kind and name
     * (inst may be NULL in init).  Never pass a secret.
     * Returns: nothing.  Ownership: fmt and arguments are borrowed.
     * Async: no.  Since 1.0. */
    void (*log)(const vp_instance_t *inst, vp_log_level_t level,
                const char *fmt, ...) VP_PRINTF(3, 4);

    /* Records why the current hook failed; the core copies the text and
     * shows it with the instance's name (inst NULL: why init failed).
     * Returns: nothing.  Ownership: fmt and arguments are borrowed.
     * Async: no.  Since 1.0. */
    void (*set_error)(const vp_instance_t *inst, const char *fmt, ...)
        VP_PRINTF(2, 3);

    /* ---- Memory ----------------------------------------------------- */

    /* The daemon's malloc.  Returns the block, or NULL when out of memory.
     * Ownership: the caller's; release it with `free`.  Async: no.
     * Since 1.0. */
    void *(*alloc)(size_t size);
    /* The daemon's calloc: n zeroed elements.  Returns the block, or NULL
     * when out of memory.  Ownership: the caller's; release it with
     * `free`.  Async: no.  Since 1.0. */
    void *(*calloc)(size_t n, size_t size);
    /* Releases what alloc, calloc or strdup returned; NULL is ignored.
     * Returns: nothing.  Ownership: takes ptr.  Async: no.  Since 1.0. */
    void (*free)(void *ptr);
    /* Copies a string.  Returns the copy, or NULL when out of memory or
     * when s is NULL.  Ownership: s is borrowed; the copy is the caller's,
     * released with `free`.  Async: no.  Since 1.0. */
    char *(*strdup)(const char *s);

    /* Copies len bytes (plus a NUL) into a buffer that secret_free wipes.
     * Returns the copy, or NULL when out of memory.
     * Ownership: s is borrowed; the copy is the caller's, released with
     * secret_free.  Async: no.  Since 1.0. */
    char *(*secret_dup)(const char *s, size_t len);
    /* Wipes and releases a secret buffer (from secret_dup, read_file,
     * json_get_string or json_object_from_pairs); NULL is ignored.
     * Returns: nothing.  Ownership: takes secret.  Async: no.  Since 1.0. */
    void (*secret_free)(char *secret);

    /* ---- Configuration of an instance (checked against its schema) ---- */

    /* Each getter reads key from the instance's configuration, or its
     * schema default.  The getter must match the key's schema type:
     * conf_string for VP_CONF_STRING and VP_CONF_PATH, conf_int for
     * VP_CONF_INT and VP_CONF_MODE, conf_bool for VP_CONF_BOOL,
     * conf_duration_ms for VP_CONF_DURATION.
     * Returns 0 and the value, VP_ENOENT when the key is absent and has no
     * default, VP_EINVAL when the key is not in the schema, the getter
     * does not match its type, or the value does not convert.
     * Ownership: a string stays valid until the instance is destroyed,
     * or until a reconfigure of it that returned 0 has returned (see
     * vp_cache_ops_t.reconfigure).  Async: no.  Since 1.0. */
    int (*conf_string)(const vp_instance_t *inst, const char *key,
                       const char **out);
    /* Returns, Ownership, Async, Since: as conf_string.  A mode is read
     * as its number (0640 is 416). */
    int (*conf_int)(const vp_instance_t *inst, const char *key, int64_t *out);
    /* Returns, Ownership, Async, Since: as conf_string.  *out is 0 or 1. */
    int (*conf_bool)(const vp_instance_t *inst, const char *key, int *out);
    /* Returns, Ownership, Async, Since: as conf_string.  *out is in
     * milliseconds; the text is read as vaproxyd.hcl(5) describes
     * durations ("90" seconds, "2d", "1h30m", "1.5h", "250ms"). */
    int (*conf_duration_ms)(const vp_instance_t *inst, const char *key,
                            uint64_t *out);

    /* ---- Files ------------------------------------------------------ */

    /* Reads a small local file (at most 1 MiB), trimming surrounding
     * white space when `trim` is non-zero.  The file is opened without
     * blocking and must be a regular file: a FIFO, a device or a
     * directory is refused (VP_EIO), never waited on.  For more checks
     * (no symbolic link, permissions) and removal after reading, see
     * read_file_opts.
     * Returns 0, VP_ENOENT / VP_EIO (set_error already says why, when
     * inst is not NULL) or VP_ENOMEM.
     * Ownership: path is borrowed; *out is a secret buffer, the caller's,
     * released with secret_free; *out_len (if not NULL) gets its length.
     * Async: no (a short blocking read).  Since 1.0. */
    int (*read_file)(const vp_instance_t *inst, const char *path, int trim,
                     char **out, size_t *out_len);

    /* ---- JSON ------------------------------------------------------- */

    /* Looks up a dotted path ("data.secret_id") in a JSON document.
     * Returns 0, VP_ENOENT (no such member or not a string), VP_EINVAL
     * (not JSON) or VP_ENOMEM.  Ownership: json and path are borrowed;
     * *out is a secret buffer, the caller's (secret_free).
     * Async: no.  Since 1.0. */
    int (*json_get_string)(const char *json, size_t len, const char *path,
                           char **out);

    /* Builds a JSON object from key, value pairs of strings ended by a NULL
     * key: {"k1","v1","k2","v2",NULL}.  A pair whose value is NULL is left
     * out (so {"k1",v1,"k2",NULL,NULL} gives {"k1":v1}).
     * Returns the text, or NULL when out of memory.
     * Ownership: pairs are borrowed; the text is a secret buffer, the
     * caller's (secret_free).  Async: no.  Since 1.0. */
    char *(*json_object_from_pairs)(const char *const *pairs);

    /* ---- Login requests (auth methods) ------------------------------ */

    /* Sets the HTTP method and the path below /v1/ ("auth/approle/login";
     * leading slashes are dropped).  Returns 0, VP_EINVAL (method NULL or
     * longer than 15 bytes, path NULL) or VP_ENOMEM.  Ownership: both
     * copied.  Async: no.  Since 1.0. */
    int (*login_set_request)(vp_login_t *login, const char *method,
                             const char *path);
    /* Sets the JSON body (NULL: none).  Returns 0 or VP_ENOMEM.
     * Ownership: copied into a buffer wiped when replaced or sent.
     * Async: no.  Since 1.0. */
    int (*login_set_body)(vp_login_t *login, const char *json);
    /* Sends X-Vault-Token with this request (token lookup, unwrap; NULL:
     * none).  Returns 0 or VP_ENOMEM.  Ownership: copied into a wiped
     * buffer.  Async: no.  Since 1.0. */
    int (*login_set_token)(vp_login_t *login, const char *token);
    /* Adds a request header.  Returns 0 or VP_ENOMEM.
     * Ownership: copied.  Async: no.  Since 1.0. */
    int (*login_add_header)(vp_login_t *login, const char *name,
                            const char *value);
    /* Uses this TLS client identity (and CA) for this request only; any
     * argument may be NULL.  Returns 0 or VP_ENOMEM.
     * Ownership: the paths are copied.  Async: no.  Since 1.0. */
    int (*login_set_tls)(vp_login_t *login, const char *client_cert,
                         const char *client_key, const char *ca_cert);
    /* Says where the token is in the answer (default AUTH).
     * Returns 0 or VP_EINVAL (not a vp_login_result_t).
     * Ownership: nothing is kept.  Async: no.  Since 1.0. */
    int (*login_set_result)(vp_login_t *login, vp_login_result_t where);

    /* ---- Proxied requests (consistency and cache hooks) ------------- */

    /* The request's method ("GET").  Returns it, never NULL.
     * Ownership: borrowed for the hook call.  Async: no.  Since 1.0. */
    const char *(*req_method)(const vp_req_t *req);
    /* The request's path ("/v1/...", raw, with its query).  Returns it,
     * never NULL.  Ownership: borrowed for the hook call.  Async: no.
     * Since 1.0. */
    const char *(*req_path)(const vp_req_t *req);
    /* The token the request will carry upstream.  Returns it, "" when
     * none.  Ownership: borrowed for the hook call; a secret, never log
     * it.  Async: no.  Since 1.0. */
    const char *(*req_token)(const vp_req_t *req);

    /* The idx-th value of a request header as it will go upstream
     * (case-insensitive name).  Returns it, or NULL when there is none.
     * Ownership: borrowed until the header list changes.  Async: no.
     * Since 1.0. */
    const char *(*req_header)(const vp_req_t *req, const char *name,
                              size_t idx);
    /* How many values the upstream request header has.  Returns the
     * count.  Ownership: name is borrowed.  Async: no.  Since 1.0. */
    size_t (*req_header_count)(const vp_req_t *req, const char *name);
    /* Adds an upstream request header.  Returns 0, VP_EINVAL (a
     * hop-by-hop header or Host, which the core owns) or VP_ENOMEM.
     * Ownership: copied.  Async: no.  Since 1.0. */
    int (*req_header_add)(vp_req_t *req, const char *name, const char *value);
    /* Removes every value of an upstream request header.  Returns how many
     * were removed.  Ownership: name is borrowed.  Async: no.  Since 1.0. */
    size_t (*req_header_remove)(vp_req_t *req, const char *name);

    /* The upstream answer's status, in response hooks.  Returns it, or 0
     * when no answer arrived.  Ownership: nothing.  Async: no.
     * Since 1.0. */
    int (*resp_status)(const vp_req_t *req);
    /* The idx-th value of an upstream answer header.  Returns it, or NULL
     * (no such value, or no answer).  Ownership: borrowed for the hook
     * call.  Async: no.  Since 1.0. */
    const char *(*resp_header)(const vp_req_t *req, const char *name,
                               size_t idx);
    /* How many values an upstream answer header has.  Returns the count
     * (0 with no answer).  Ownership: name is borrowed.  Async: no.
     * Since 1.0. */
    size_t (*resp_header_count)(const vp_req_t *req, const char *name);
    /* The upstream answer's body.  Returns it ({"", 0} with no answer).
     * Ownership: borrowed for the hook call.  Async: no.  Since 1.0. */
    vp_str_t (*resp_body)(const vp_req_t *req);
    /* Adds a header to the answer the client will get.  Returns 0 or
     * VP_ENOMEM.  Ownership: copied.  Async: no.  Since 1.0. */
    int (*resp_header_add)(vp_req_t *req, const char *name, const char *value);

    /* Answers the client now (a request hook then returns VP_DONE): status,
     * Content-Type (NULL for none) and body.  Returns 0, VP_EINVAL (status
     * outside 100-599) or VP_ENOMEM.  Ownership: copied.  Async: no (the
     * answer is sent after the hook returns).  Since 1.0. */
    int (*req_respond)(vp_req_t *req, int status, const char *content_type,
                       const char *body, size_t body_len);

    /* How many times the request has been sent upstream so far.  Returns
     * the count.  Ownership: nothing.  Async: no.  Since 1.0. */
    int (*req_attempts)(const vp_req_t *req);

    /* Sets the per-request state of one instance; cleanup (may be NULL)
     * runs when the request ends, or when the state is replaced by
     * another pointer.  Returns 0 or VP_EFULL (more instances than the
     * core keeps state for).  Ownership: the core keeps ptr and calls
     * cleanup(ptr) once.  Async: no.  Since 1.0. */
    int (*req_ctx_set)(vp_req_t *req, const vp_instance_t *inst, void *ptr,
                       void (*cleanup)(void *ptr));
    /* The state req_ctx_set stored for inst.  Returns it, or NULL.
     * Ownership: still the core's until the request ends.  Async: no.
     * Since 1.0. */
    void *(*req_ctx_get)(const vp_req_t *req, const vp_instance_t *inst);

    /* ---- Time and randomness ---------------------------------------- */

    /* Milliseconds of a monotonic clock (not wall time).  Returns them.
     * Ownership: nothing.  Async: no.  Since 1.0. */
    uint64_t (*now_ms)(void);
    /* Fills buf with cryptographically strong random bytes.
     * Returns 0 or VP_EIO.  Ownership: buf is borrowed.  Async: no.
     * Since 1.0. */
    int (*random_bytes)(void *buf, size_t len);

    /* The method a login request currently has; in login_begin that is
     * the default, "PUT", so a method that needs extra round trips first
     * can remember how its real login goes.  Returns it ("" when unset).
     * Ownership: borrowed until the request changes.  Async: no.
     * Since 1.0. */
    const char *(*login_method)(const vp_login_t *login);
    /* The path (below /v1/) a login request currently has; in login_begin
     * that is the default, "<mount_path>/login".  Returns it ("" when
     * unset).  Ownership: borrowed until the request changes.  Async: no.
     * Since 1.0. */
    const char *(*login_path)(const vp_login_t *login);

    /* ==== 1.2: timers ================================================= */

    /* Calls cb(inst, arg) on the loop after delay_ms, then every repeat_ms
     * when repeat_ms is not 0.  The daemon stops every timer of an
     * instance when it destroys it (after the ops' destroy returned).
     * Returns the timer, or NULL when out of memory or when no loop runs
     * (vaproxyd --check-config): start timers from hooks that run while
     * serving (login_begin, a timer, a fetch callback), not from create.
     * Ownership: the timer is the host's; a one-shot timer is released
     * after its callback returns, a repeating one by timer_stop.
     * Async: yes, cb runs later, never inside this call.  Since 1.2. */
    vp_timer_t *(*timer_start)(vp_instance_t *inst, uint64_t delay_ms,
                               uint64_t repeat_ms, vp_timer_cb cb, void *arg);
    /* Stops and releases a timer that has not fired yet (one-shot) or a
     * repeating one, also from inside its own callback; NULL is ignored.
     * Returns: nothing.  Ownership: takes the timer; it is invalid
     * afterwards.  Async: no.  Since 1.2. */
    void (*timer_stop)(vp_timer_t *timer);
    /* Asks auto-auth to log in again with this auth method soon (for
     * example because its credential file changed), even while it waits
     * out a backoff or after a permanent failure.  Returns 0, or
     * VP_ENOTSUP when inst is not the auth method auto-auth uses.
     * Ownership: nothing is kept.  Async: yes, the login starts on a later
     * loop iteration, never inside this call.  Since 1.2. */
    int (*reauth)(vp_instance_t *inst);

    /* ==== 1.2: fetch ================================================== */

    /* Starts an HTTP(S) request to any URL (instance metadata, an OIDC
     * discovery document, ...), driven on the loop by libcurl.  Proxies
     * come from the environment as curl reads them (http_proxy,
     * https_proxy, no_proxy).  An answer longer than max_answer fails
     * with status 0.  Returns the request, or NULL (bad arguments: no url,
     * or out of memory; set_error says why).  cb runs once, later, unless
     * fetch_cancel or the instance's destroy came first.
     * Ownership: req and everything it points to are copied; the handle
     * is the host's and is invalid once cb has returned.
     * Async: yes, never calls cb inside this call.  Since 1.2. */
    vp_fetch_t *(*fetch)(vp_instance_t *inst, const vp_fetch_request_t *req,
                         vp_fetch_cb cb, void *arg);
    /* Abandons a request whose callback has not run; cb will not run.
     * NULL is ignored.  Returns: nothing.  Ownership: takes the handle.
     * Async: no.  Since 1.2. */
    void (*fetch_cancel)(vp_fetch_t *fetch);

    /* ==== 1.2: JSON =================================================== */

    /* Parses a JSON document.  Returns 0, VP_EINVAL (not JSON) or
     * VP_ENOMEM.  Ownership: text is borrowed; *out is the caller's,
     * released with json_free.  Async: no.  Since 1.2. */
    int (*json_parse)(const char *text, size_t len, vp_json_t **out);
    /* Releases a document from json_parse or json_new (with everything
     * added to it); NULL is ignored.  Never pass a node found inside a
     * document, or a value already added to another.  Wipes the strings
     * it held.  Returns: nothing.  Ownership: takes doc.  Async: no.
     * Since 1.2. */
    void (*json_free)(vp_json_t *doc);
    /* The node at a dotted path below node ("auth.metadata.role"; NULL or
     * "" is node itself); an array element is a number in the path
     * ("keys.0.kid").  Returns it, or NULL when there is no such member.
     * Ownership: borrowed from the document, valid until it is freed.
     * Async: no.  Since 1.2. */
    const vp_json_t *(*json_get)(const vp_json_t *node, const char *path);
    /* The type of a node.  Returns it (VP_JSON_NULL for a NULL node).
     * Ownership: nothing.  Async: no.  Since 1.2. */
    vp_json_type_t (*json_type)(const vp_json_t *node);
    /* Typed getters at a dotted path (as json_get).  Returns 0 and the
     * value, VP_ENOENT (no such member) or VP_EINVAL (another type; an
     * integer getter also refuses a number with a fraction or out of
     * range).  Ownership: a string is borrowed from the document (the
     * caller secret_dups what it keeps); *len may be NULL.  Async: no.
     * Since 1.2. */
    int (*json_get_int)(const vp_json_t *node, const char *path, int64_t *out);
    /* Returns, Ownership, Async, Since: as json_get_int; any number. */
    int (*json_get_number)(const vp_json_t *node, const char *path,
                           double *out);
    /* Returns, Ownership, Async, Since: as json_get_int; *out is 0 or 1. */
    int (*json_get_bool)(const vp_json_t *node, const char *path, int *out);
    /* Returns, Ownership, Async, Since: as json_get_int. */
    int (*json_get_str)(const vp_json_t *node, const char *path,
                        const char **out, size_t *len);
    /* The length of the array at path.  Returns 0, VP_ENOENT or VP_EINVAL
     * (not an array).  Ownership: nothing.  Async: no.  Since 1.2. */
    int (*json_array_len)(const vp_json_t *node, const char *path, size_t *out);
    /* Element idx of an array node.  Returns it, or NULL (not an array,
     * or idx past its end).  Ownership: borrowed like json_get's.
     * Async: no.  Since 1.2. */
    const vp_json_t *(*json_array_at)(const vp_json_t *array, size_t idx);

    /* A new empty VP_JSON_OBJECT or VP_JSON_ARRAY to build on.  Returns
     * it, or NULL (another type, or out of memory).  Ownership: the
     * caller's (json_free), until it is added to another value.
     * Async: no.  Since 1.2. */
    vp_json_t *(*json_new)(vp_json_type_t type);
    /* Adds a value to an object (under key, replacing a member of that
     * name) or to the end of an array (key NULL).  Returns 0, VP_EINVAL
     * (container not an object or array, key missing for an object or
     * given for an array) or VP_ENOMEM.  Ownership: key and strings are
     * copied; json_add takes child (also on failure), which then belongs
     * to container.  Async: no.  Since 1.2. */
    int (*json_add_str)(vp_json_t *container, const char *key,
                        const char *value);
    /* Returns, Ownership, Async, Since: as json_add_str. */
    int (*json_add_int)(vp_json_t *container, const char *key, int64_t value);
    /* Returns, Ownership, Async, Since: as json_add_str. */
    int (*json_add_number)(vp_json_t *container, const char *key, double value);
    /* Returns, Ownership, Async, Since: as json_add_str; value 0 is false,
     * anything else true. */
    int (*json_add_bool)(vp_json_t *container, const char *key, int value);
    /* Returns, Ownership, Async, Since: as json_add_str; child is a value
     * from json_new (nested objects and arrays). */
    int (*json_add)(vp_json_t *container, const char *key, vp_json_t *child);
    /* The compact JSON text of a value.  Returns it, or NULL when out of
     * memory.  Ownership: node is borrowed; the text is a secret buffer,
     * the caller's (secret_free); *len (if not NULL) gets its length.
     * Async: no.  Since 1.2. */
    char *(*json_to_text)(const vp_json_t *node, size_t *len);
    /* ---- 1.2: file reading ------------------------------------------ */

    /* read_file with options (opts may be NULL: as read_file without
     * trim).  opts->flags: VP_READ_TRIM, VP_READ_NOFOLLOW (a symbolic
     * link is refused), VP_READ_REMOVE (the file is removed after a
     * successful read); opts->deny_mode: permission bits that make the
     * file refused (0077: it must be private to its owner).  Like
     * read_file, only a regular file is read, opened without blocking.
     * Returns 0, VP_ENOENT / VP_EIO (set_error already says why, when
     * inst is not NULL), VP_EINVAL (opts->size too small, or an unknown
     * flag) or VP_ENOMEM.
     * Ownership: path and opts are borrowed; *out is a secret buffer, the
     * caller's, released with secret_free; *out_len (if not NULL) gets its
     * length.  Async: no (a short read of a local file).  Since 1.2. */
    int (*read_file_opts)(const vp_instance_t *inst, const char *path,
                          const vp_read_opts_t *opts, char **out,
                          size_t *out_len);
};

/* True when the host table has `member` (it was added in a minor the host
 * knows) and it is set. */
#define VP_HOST_HAS(host, member)                                              \
    ((host)->size >=                                                           \
         offsetof(vp_host_api_t, member) + sizeof((host)->member) &&           \
     (host)->member != NULL)

VP_END_DECLS

#endif
