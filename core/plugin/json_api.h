/* The host table's JSON members (ABI 1.2): parse a document, read typed
 * values at dotted paths, build nested objects and arrays, and print them
 * into secret buffers.  json-c does the work; a vp_json_t is a json-c
 * object.
 *
 * json_api.c depends on json-c and libc only, so the SDK's mock host
 * compiles the same file (it is installed beside mock_host.c as
 * plugin/json_api.c): plugins see identical JSON behaviour in their unit
 * tests and in the daemon.  The includer may define VPD_JSON_SECRET_DUP
 * (char *(const char *, size_t)) before including it; by default the
 * daemon's vpd_secret_dup is used.
 *
 * The 1.0 helpers (json_get_string, json_object_from_pairs) are here too,
 * for the same reason.
 *
 * Ownership: documents from vpd_json_parse and vpd_json_new are the
 * caller's until vpd_json_free or until added to another value; nodes
 * found in a document are borrowed from it; texts are secret buffers. */
#ifndef VPD_JSON_API_H
#define VPD_JSON_API_H

#include <vaproxy/vaproxy.h>

int vpd_json_parse(const char *text, size_t len, vp_json_t **out);
void vpd_json_free(vp_json_t *doc);
const vp_json_t *vpd_json_get(const vp_json_t *node, const char *path);
vp_json_type_t vpd_json_type(const vp_json_t *node);
int vpd_json_get_int(const vp_json_t *node, const char *path, int64_t *out);
int vpd_json_get_number(const vp_json_t *node, const char *path, double *out);
int vpd_json_get_bool(const vp_json_t *node, const char *path, int *out);
int vpd_json_get_str(const vp_json_t *node, const char *path, const char **out,
                     size_t *len);
int vpd_json_array_len(const vp_json_t *node, const char *path, size_t *out);
const vp_json_t *vpd_json_array_at(const vp_json_t *array, size_t idx);
vp_json_t *vpd_json_new(vp_json_type_t type);
int vpd_json_add_str(vp_json_t *container, const char *key, const char *value);
int vpd_json_add_int(vp_json_t *container, const char *key, int64_t value);
int vpd_json_add_number(vp_json_t *container, const char *key, double value);
int vpd_json_add_bool(vp_json_t *container, const char *key, int value);
int vpd_json_add(vp_json_t *container, const char *key, vp_json_t *child);
char *vpd_json_to_text(const vp_json_t *node, size_t *len);

/* The 1.0 members json_get_string and json_object_from_pairs (host.h). */
int vpd_json_get_string(const char *json, size_t len, const char *path,
                        char **out);
char *vpd_json_object_from_pairs(const char *const *pairs);

/* The designated initializers of every JSON member of vp_host_api_t, for
 * the daemon's host table and the mock host's alike. */
#define VPD_JSON_MEMBERS                                                       \
    .json_get_string = vpd_json_get_string,                                    \
    .json_object_from_pairs = vpd_json_object_from_pairs,                      \
    .json_parse = vpd_json_parse, .json_free = vpd_json_free,                  \
    .json_get = vpd_json_get, .json_type = vpd_json_type,                      \
    .json_get_int = vpd_json_get_int, .json_get_number = vpd_json_get_number,  \
    .json_get_bool = vpd_json_get_bool, .json_get_str = vpd_json_get_str,      \
    .json_array_len = vpd_json_array_len, .json_array_at = vpd_json_array_at,  \
    .json_new = vpd_json_new, .json_add_str = vpd_json_add_str,                \
    .json_add_int = vpd_json_add_int, .json_add_number = vpd_json_add_number,  \
    .json_add_bool = vpd_json_add_bool, .json_add = vpd_json_add,              \
    .json_to_text = vpd_json_to_text

#endif
