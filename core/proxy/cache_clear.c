/* Parsing and answering cache-clear requests; the exact messages are the
 * ones Vault Proxy gives, which clients and the integration tests match. */
#include "autoconf.h"

#include "proxy/cache_clear.h"

#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

static const struct {
    const char *name;
    vpd_lc_clear_type type;
    const char *what;
} types[] = {
    {"all", VPD_LC_CLEAR_ALL, "all"},
    {"request_path", VPD_LC_CLEAR_REQUEST_PATH, "request path"},
    {"token", VPD_LC_CLEAR_TOKEN, "token"},
    {"token_accessor", VPD_LC_CLEAR_TOKEN_ACCESSOR, "token accessor"},
    {"lease", VPD_LC_CLEAR_LEASE, "lease"},
};

/* Parses the body as one JSON object; NULL when it is anything else. */
static json_object *
parse_object(const char *body, size_t len)
{
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return NULL;
    json_object *in = json_tokener_parse_ex(tok, body, (int)len);
    bool ok = in && json_tokener_get_error(tok) == json_tokener_success &&
              json_object_is_type(in, json_type_object);
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(in);
        return NULL;
    }
    return in;
}

int
vpd_cache_clear_parse(const char *body, size_t len,
                      vpd_cache_clear_request *out, const char **msg)
{
    memset(out, 0, sizeof *out);
    if (len == 0) {
        *msg = "failed to parse JSON input: empty JSON provided";
        return -1;
    }
    json_object *in = parse_object(body, len);
    if (!in) {
        *msg = "failed to parse JSON input: invalid JSON";
        return -1;
    }
    static const char *const fields[] = {"type", "value", "namespace"};
    const char *val[3] = {NULL, NULL, NULL};
    for (size_t i = 0; i < 3; i++) {
        json_object *v = NULL;
        if (!json_object_object_get_ex(in, fields[i], &v) || !v)
            continue;
        if (!json_object_is_type(v, json_type_string)) {
            json_object_put(in);
            *msg = "failed to parse JSON input: a field has the wrong type";
            return -1;
        }
        val[i] = json_object_get_string(v);
    }
    if (!val[0] || !val[0][0]) {
        json_object_put(in);
        *msg = "failed to parse clear input: no type provided";
        return -1;
    }
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(val[0], types[i].name) != 0)
            continue;
        out->sel.type = types[i].type;
        out->sel.value = val[1];
        out->sel.namespace_ = val[2];
        out->what = types[i].what;
        out->json = in;
        return 0;
    }
    json_object_put(in);
    *msg = "failed to clear cache: invalid type provided";
    return -1;
}

void
vpd_cache_clear_request_free(vpd_cache_clear_request *req)
{
    json_object_put(req->json);
    memset(req, 0, sizeof *req);
}

/* The static cache's part: request_path and all clear its entries. */
static int
clear_static(vpd_static_cache *statics, const vpd_lc_selector *sel)
{
    if (!statics)
        return 0;
    if (sel->type == VPD_LC_CLEAR_ALL)
        return vpd_sc_clear(statics, NULL, NULL);
    if (sel->type == VPD_LC_CLEAR_REQUEST_PATH && sel->value && sel->value[0])
        return vpd_sc_clear(statics, sel->namespace_, sel->value);
    return 0;
}

void
vpd_cache_clear_answer(vpd_lease_cache *cache, vpd_static_cache *statics,
                       const char *method, const char *body, size_t len,
                       int *status, char **out)
{
    *status = 200;
    *out = NULL;
    if ((!cache && !statics) ||
        (strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0))
        return;
    vpd_cache_clear_request req;
    const char *msg = NULL;
    if (vpd_cache_clear_parse(body, len, &req, &msg) != 0) {
        *status = 400;
        *out = vpd_http_error_json(msg, NULL);
        return;
    }
    int n = cache ? vpd_lc_clear(cache, &req.sel)
                  : (req.sel.type != VPD_LC_CLEAR_ALL &&
                             (!req.sel.value || !req.sel.value[0])
                         ? VPD_LC_CLEAR_NO_VALUE
                         : 0);
    if (n >= 0)
        n += clear_static(statics, &req.sel);
    if (n < 0) {
        /* Vault Proxy answers a missing value as a server-side failure. */
        char text[96];
        snprintf(text, sizeof text, "failed to clear cache: %s not provided",
                 req.what);
        *status = 500;
        *out = vpd_http_error_json(text, NULL);
    } else {
        char text[64];
        snprintf(text, sizeof text, "{\"data\":{\"cleared\":%d}}\n", n);
        *out = strdup(text);
    }
    vpd_cache_clear_request_free(&req);
}
