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

/* How the core finds the token in the answer to the last login request. */
typedef enum vp_login_result {
    VP_LOGIN_RESULT_AUTH = 0,  /* auth.client_token (every login method) */
    VP_LOGIN_RESULT_LOOKUP = 1 /* data.id of a token lookup (token_file) */
} vp_login_result_t;

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
     * shows it with the instance's name.  Returns: nothing.
     * Ownership: borrowed.  Async: no.  Since 1.0. */
    void (*set_error)(const vp_instance_t *inst, const char *fmt, ...)
        VP_PRINTF(2, 3);

    /* ---- Memory ----------------------------------------------------- */

    /* malloc/calloc/free of the daemon.  Returns NULL when out of memory.
     * Ownership: the caller frees with `free`.  Async: no.  Since 1.0. */
    void *(*alloc)(size_t size);
    void *(*calloc)(size_t n, size_t size);
    void (*free)(void *ptr);
    char *(*strdup)(const char *s);

    /* Copies len bytes (plus a NUL) into a buffer that secret_free wipes.
     * Returns the copy, or NULL when out of memory.
     * Ownership: the caller releases it with secret_free.  Async: no.
     * Since 1.0. */
    char *(*secret_dup)(const char *s, size_t len);
    void (*secret_free)(char *secret);

    /* ---- Configuration of an instance (checked against its schema) ---- */

    /* Each getter returns 0 and the value, VP_ENOENT when the key is
     * absent and has no default, VP_EINVAL on a type mismatch.
     * Ownership: a string stays valid until the instance is destroyed,
     * or until a reconfigure of it that returned 0 has returned (see
     * vp_cache_ops_t.reconfigure).  Async: no.  Since 1.0. */
    int (*conf_string)(const vp_instance_t *inst, const char *key,
                       const char **out);
    int (*conf_int)(const vp_instance_t *inst, const char *key, int64_t *out);
    int (*conf_bool)(const vp_instance_t *inst, const char *key, int *out);
    int (*conf_duration_ms)(const vp_instance_t *inst, const char *key,
                            uint64_t *out);

    /* ---- Files ------------------------------------------------------ */

    /* Reads a small local file (at most 1 MiB), trimming surrounding
     * white space when `trim` is non-zero.
     * Returns 0, or VP_ENOENT / VP_EIO (set_error already says why).
     * Ownership: *out is a secret buffer; release with secret_free.
     * Async: no (a short blocking read).  Since 1.0. */
    int (*read_file)(const vp_instance_t *inst, const char *path, int trim,
                     char **out, size_t *out_len);

    /* ---- JSON ------------------------------------------------------- */

    /* Looks up a dotted path ("data.secret_id") in a JSON document.
     * Returns 0, VP_ENOENT (no such member or not a string), VP_EINVAL
     * (not JSON).  Ownership: *out is a secret buffer (secret_free).
     * Async: no.  Since 1.0. */
    int (*json_get_string)(const char *json, size_t len, const char *path,
                           char **out);

    /* Builds a JSON object from key, value pairs of strings ended by a NULL
     * key: {"k1","v1","k2","v2",NULL}.  A pair whose value is NULL is left
     * out (so {"k1",v1,"k2",NULL,NULL} gives {"k1":v1}).
     * Returns the text, or NULL when out of memory.
     * Ownership: a secret buffer (secret_free).  Async: no.  Since 1.0. */
    char *(*json_object_from_pairs)(const char *const *pairs);

    /* ---- Login requests (auth methods) ------------------------------ */

    /* Sets the HTTP method and the path below /v1/ ("auth/approle/login").
     * Returns 0 or VP_ENOMEM.  Ownership: copied.  Since 1.0. */
    int (*login_set_request)(vp_login_t *login, const char *method,
                             const char *path);
    /* Sets the JSON body.  Ownership: copied into a wiped buffer.  */
    int (*login_set_body)(vp_login_t *login, const char *json);
    /* Sends X-Vault-Token with this request (token lookup, unwrap).
     * Ownership: copied into a wiped buffer.  Since 1.0. */
    int (*login_set_token)(vp_login_t *login, const char *token);
    /* Adds a request header.  Ownership: copied.  Since 1.0. */
    int (*login_add_header)(vp_login_t *login, const char *name,
                            const char *value);
    /* Uses this TLS client identity (and CA) for this request only; any
     * argument may be NULL.  Ownership: copied.  Since 1.0. */
    int (*login_set_tls)(vp_login_t *login, const char *client_cert,
                         const char *client_key, const char *ca_cert);
    /* Says where the token is in the answer (default AUTH). Since 1.0. */
    int (*login_set_result)(vp_login_t *login, vp_login_result_t where);

    /* ---- Proxied requests (consistency and cache hooks) ------------- */

    /* Method, path ("/v1/...", raw) and the token the request will carry
     * upstream ("" when none).  Ownership: borrowed for the hook call.
     * Since 1.0. */
    const char *(*req_method)(const vp_req_t *req);
    const char *(*req_path)(const vp_req_t *req);
    const char *(*req_token)(const vp_req_t *req);

    /* The idx-th value of a request header as it will go upstream
     * (case-insensitive name), or NULL.  Ownership: borrowed until the
     * header list changes.  Since 1.0. */
    const char *(*req_header)(const vp_req_t *req, const char *name,
                              size_t idx);
    size_t (*req_header_count)(const vp_req_t *req, const char *name);
    /* Adds / removes upstream request headers.  Returns 0 or VP_ENOMEM.
     * Ownership: copied.  Since 1.0. */
    int (*req_header_add)(vp_req_t *req, const char *name, const char *value);
    size_t (*req_header_remove)(vp_req_t *req, const char *name);

    /* The upstream answer, in response hooks: status (0 if none arrived),
     * headers, body.  Ownership: borrowed for the hook call.  Since 1.0. */
    int (*resp_status)(const vp_req_t *req);
    const char *(*resp_header)(const vp_req_t *req, const char *name,
                               size_t idx);
    size_t (*resp_header_count)(const vp_req_t *req, const char *name);
    vp_str_t (*resp_body)(const vp_req_t *req);
    /* Adds a header to the answer the client will get.  Since 1.0. */
    int (*resp_header_add)(vp_req_t *req, const char *name, const char *value);

    /* Answers the client now (a request hook then returns VP_DONE): status,
     * Content-Type (NULL for none) and body.  Returns 0 or VP_ENOMEM.
     * Ownership: copied.  Since 1.0. */
    int (*req_respond)(vp_req_t *req, int status, const char *content_type,
                       const char *body, size_t body_len);

    /* How many times the request has been sent upstream so far. */
    int (*req_attempts)(const vp_req_t *req);

    /* Per-request state of one instance; cleanup (may be NULL) runs when
     * the request ends.  Returns 0 or VP_ENOMEM.  Ownership: the core
     * keeps ptr and calls cleanup(ptr) once.  Since 1.0. */
    int (*req_ctx_set)(vp_req_t *req, const vp_instance_t *inst, void *ptr,
                       void (*cleanup)(void *ptr));
    void *(*req_ctx_get)(const vp_req_t *req, const vp_instance_t *inst);

    /* ---- Time and randomness ---------------------------------------- */

    /* Milliseconds of a monotonic clock.  Since 1.0. */
    uint64_t (*now_ms)(void);
    /* Fills buf with cryptographically strong random bytes.
     * Returns 0 or VP_EIO.  Since 1.0. */
    int (*random_bytes)(void *buf, size_t len);

    /* The method and path (below /v1/) a login request currently has; in
     * login_begin that is the default, "PUT" and "<mount_path>/login", so
     * a method that needs extra round trips first can remember where its
     * real login goes.  Ownership: borrowed until the request changes.
     * Since 1.0. */
    const char *(*login_method)(const vp_login_t *login);
    const char *(*login_path)(const vp_login_t *login);
};

/* True when the host table has `member` (it was added in a minor the host
 * knows) and it is set. */
#define VP_HOST_HAS(host, member)                                              \
    ((host)->size >=                                                           \
         offsetof(vp_host_api_t, member) + sizeof((host)->member) &&           \
     (host)->member != NULL)

VP_END_DECLS

#endif
