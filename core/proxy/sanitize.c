/* The paths that reveal a token, with or without a namespace prefix
 * between /v1/ and auth/ (Vault accepts both). */
#include "autoconf.h"

#include "proxy/sanitize.h"

#include <json.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* True when path is /v1/[namespace/]<suffix>. */
static bool
path_is(const char *path, const char *suffix)
{
    if (strncmp(path, "/v1/", 4) != 0)
        return false;
    size_t pl = strlen(path), sl = strlen(suffix);
    while (pl > 4 && path[pl - 1] == '/')
        pl--; /* a trailing slash names the same endpoint */
    if (pl < 4 + sl || memcmp(path + pl - sl, suffix, sl) != 0)
        return false;
    return pl == 4 + sl || path[pl - sl - 1] == '/';
}

/* The request body's "token": 1 and *token set, 0 when absent or not a
 * string, -1 when the body is not JSON. */
static int
body_token(const char *body, size_t len, json_object **root, const char **token)
{
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return -1;
    *root = json_tokener_parse_ex(tok, body ? body : "", (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!*root || e != json_tokener_success)
        return len == 0 ? 0 : -1;
    json_object *t = NULL;
    if (!json_object_is_type(*root, json_type_object) ||
        !json_object_object_get_ex(*root, "token", &t) ||
        !json_object_is_type(t, json_type_string))
        return 0;
    *token = json_object_get_string(t);
    return 1;
}

static bool
concerns_auto_token(const char *path, const char *req_token,
                    const char *req_body, size_t req_body_len,
                    const char *auto_token, int *error)
{
    if (path_is(path, "auth/token/lookup-self") ||
        path_is(path, "auth/token/renew-self"))
        return req_token && strcmp(req_token, auto_token) == 0;
    if (!path_is(path, "auth/token/lookup") &&
        !path_is(path, "auth/token/renew"))
        return false;
    json_object *root = NULL;
    const char *token = NULL;
    int rc = body_token(req_body, req_body_len, &root, &token);
    /* An empty "token" means the caller's own: the auto-auth token when
     * the proxy added it. */
    bool hit = rc == 1 && (token[0] == '\0' || strcmp(token, auto_token) == 0);
    if (rc < 0)
        *error = 1;
    json_object_put(root);
    return hit;
}

static void
blank(json_object *obj, const char *key, bool remove)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v))
        return;
    if (remove)
        json_object_object_del(obj, key);
    else
        json_object_object_add(obj, key, json_object_new_string(""));
}

vpd_sanitize_result
vpd_sanitize_token_answer(const char *path, const char *req_token,
                          const char *req_body, size_t req_body_len,
                          const char *auto_token, const char *resp_body,
                          size_t resp_len, char **out, size_t *out_len)
{
    if (!auto_token || !auto_token[0])
        return VPD_SANITIZE_UNTOUCHED;
    int error = 0;
    if (!concerns_auto_token(path, req_token, req_body, req_body_len,
                             auto_token, &error))
        return error ? VPD_SANITIZE_ERROR : VPD_SANITIZE_UNTOUCHED;

    json_tokener *tok = json_tokener_new();
    if (!tok)
        return VPD_SANITIZE_ERROR;
    json_object *root = json_tokener_parse_ex(tok, resp_body, (int)resp_len);
    bool ok = root && json_tokener_get_error(tok) == json_tokener_success &&
              json_object_is_type(root, json_type_object);
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(root);
        return VPD_SANITIZE_ERROR;
    }
    json_object *data = NULL, *auth = NULL;
    if (json_object_object_get_ex(root, "data", &data) &&
        json_object_is_type(data, json_type_object)) {
        blank(data, "id", true);
        blank(data, "accessor", true);
    } else if (json_object_object_get_ex(root, "auth", &auth) &&
               json_object_is_type(auth, json_type_object)) {
        blank(auth, "client_token", false);
        blank(auth, "accessor", false);
    }
    size_t len = 0;
    const char *text =
        json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN, &len);
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, text, len + 1);
        *out = copy;
        *out_len = len;
    }
    /* The serialisation buffer held the rest of the answer: wipe it. */
    OPENSSL_cleanse((char *)text, len);
    json_object_put(root);
    return copy ? VPD_SANITIZED : VPD_SANITIZE_ERROR;
}
