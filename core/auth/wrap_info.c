/* Vault encodes its WrapInfo struct, so the field order is fixed: token,
 * accessor, ttl, creation_time, creation_path, wrapped_accessor. */
#include "autoconf.h"

#include "auth/wrap_info.h"

#include <json.h>
#include <openssl/crypto.h>
#include <string.h>

#include "base/secmem.h"

char *
vpd_wrap_info_text(const char *answer, size_t len)
{
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    json_object *root =
        json_tokener_parse_ex(tok, answer ? answer : "", (int)len);
    json_tokener_free(tok);
    json_object *wi = NULL, *t = NULL;
    if (!root || !json_object_object_get_ex(root, "wrap_info", &wi) ||
        !json_object_is_type(wi, json_type_object) ||
        !json_object_object_get_ex(wi, "token", &t) ||
        !json_object_is_type(t, json_type_string) ||
        json_object_get_string_len(t) == 0) {
        json_object_put(root);
        return NULL;
    }
    static const char *const fields[] = {"token",         "accessor",
                                         "ttl",           "creation_time",
                                         "creation_path", "wrapped_accessor"};
    json_object *out = json_object_new_object();
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_object *v = NULL;
        if (json_object_object_get_ex(wi, fields[i], &v))
            json_object_object_add(out, fields[i], json_object_get(v));
        else
            json_object_object_add(out, fields[i],
                                   i == 2 ? json_object_new_int(0)
                                          : json_object_new_string(""));
    }
    size_t n = 0;
    const char *text =
        json_object_to_json_string_length(out, JSON_C_TO_STRING_PLAIN, &n);
    char *result = vpd_secret_dup(text, n + 1);
    if (result) {
        result[n] = '\n';
        result[n + 1] = '\0';
    }
    OPENSSL_cleanse((char *)text, n);
    json_object_put(out);
    json_object_put(root);
    return result;
}
