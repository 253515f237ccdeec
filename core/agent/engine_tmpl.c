/* The adapter of engine_tmpl.h. */
#include "autoconf.h"

#include "agent/engine_tmpl.h"

#include <errno.h>
#include <json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tmpl.h"

static void *
compile(const char *text, size_t len, const char *name,
        const vpd_agent_tmpl_options *opt, char *err, size_t err_len)
{
    tmpl_options o = {
        .left_delimiter = opt->left_delimiter,
        .right_delimiter = opt->right_delimiter,
        .error_on_missing_key = opt->error_on_missing_key,
        .function_denylist = opt->function_denylist,
    };
    return vpd_tmpl_compile(name, text, len, &o, err, err_len);
}

/* The library's key, value pairs as the runner's "key=value" strings. */
static char **
joined_pairs(const char *const *kv, size_t nkv)
{
    char **out = calloc(nkv + 1, sizeof *out);
    for (size_t i = 0; out && i < nkv; i++) {
        size_t len = strlen(kv[2 * i]) + strlen(kv[2 * i + 1]) + 2;
        if (!(out[i] = malloc(len)))
            return out; /* the caller frees; the lookup then fails */
        snprintf(out[i], len, "%s=%s", kv[2 * i], kv[2 * i + 1]);
    }
    return out;
}

static void
free_pairs(char **p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        free(p[i]);
    free(p);
}

static const char *
lookup(const vpd_agent_source *src, vpd_agent_op op, const char *path,
       const char *const *kv, size_t nkv)
{
    char **pairs = nkv ? joined_pairs(kv, nkv) : NULL;
    bool ok = !nkv || (pairs && pairs[nkv - 1]);
    const char *answer =
        ok ? src->lookup(src->ctx, op, path, (const char *const *)pairs, nkv)
           : NULL;
    free_pairs(pairs, nkv);
    return answer;
}

static int
env_secret(void *arg, const char *path, const char *const *kv, size_t nkv,
           tmpl_value **out, char *err, size_t errlen)
{
    const char *json =
        lookup(arg, nkv ? VPD_AGENT_WRITE : VPD_AGENT_READ, path, kv, nkv);
    if (!json)
        return 1;
    if (!(*out = vpd_tmpl_from_vault_json(json, strlen(json)))) {
        snprintf(err, errlen, "secret %s: the answer is not valid JSON", path);
        return -1;
    }
    return 0;
}

/* A json-c value as a template value (strings, numbers, bools, lists
 * and maps; what certificates and key lists hold). */
static tmpl_value *
from_json(json_object *j)
{
    switch (json_object_get_type(j)) {
    case json_type_boolean:
        return vpd_tmpl_bool(json_object_get_boolean(j));
    case json_type_int:
        return vpd_tmpl_int(json_object_get_int64(j));
    case json_type_double:
        return vpd_tmpl_float(json_object_get_double(j));
    case json_type_string:
        return vpd_tmpl_strn(json_object_get_string(j),
                             (size_t)json_object_get_string_len(j));
    case json_type_array: {
        tmpl_value *l = vpd_tmpl_list();
        for (size_t i = 0; l && i < json_object_array_length(j); i++)
            vpd_tmpl_list_push(l, from_json(json_object_array_get_idx(j, i)));
        return l;
    }
    case json_type_object: {
        tmpl_value *m = vpd_tmpl_map();
        json_object_object_foreach(j, k, v)
        {
            if (m)
                vpd_tmpl_map_set(m, k, from_json(v));
        }
        return m;
    }
    default:
        return NULL;
    }
}

static json_object *
data_member(json_object *root, const char *key)
{
    json_object *data, *v;
    if (root && json_object_object_get_ex(root, "data", &data) &&
        json_object_object_get_ex(data, key, &v))
        return v;
    return NULL;
}

static int
env_secrets(void *arg, const char *path, tmpl_value **out, char *err,
            size_t errlen)
{
    const char *json = lookup(arg, VPD_AGENT_LIST, path, NULL, 0);
    if (!json)
        return 1;
    json_object *root = json_tokener_parse(json);
    json_object *keys = data_member(root, "keys");
    tmpl_value *l = vpd_tmpl_list();
    for (size_t i = 0;
         l && keys && json_object_is_type(keys, json_type_array) &&
         i < json_object_array_length(keys);
         i++)
        vpd_tmpl_list_push(l, from_json(json_object_array_get_idx(keys, i)));
    json_object_put(root);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = l;
    return 0;
}

/* pkiCert: the certificate, key, issuing CA and chain. */
static int
env_pki_cert(void *arg, const char *path, const char *const *kv, size_t nkv,
             tmpl_value **out, char *err, size_t errlen)
{
    const char *json = lookup(arg, VPD_AGENT_WRITE, path, kv, nkv);
    if (!json)
        return 1;
    static const struct {
        const char *name, *field;
    } parts[] = {{"Cert", "certificate"},
                 {"Key", "private_key"},
                 {"CA", "issuing_ca"},
                 {"CAChain", "ca_chain"}};
    json_object *root = json_tokener_parse(json);
    tmpl_value *m = vpd_tmpl_map();
    for (size_t i = 0; m && i < sizeof parts / sizeof parts[0]; i++) {
        json_object *v = data_member(root, parts[i].field);
        tmpl_value *tv = v ? from_json(v)
                         : strcmp(parts[i].name, "CAChain") == 0
                             ? vpd_tmpl_list()
                             : vpd_tmpl_str("");
        vpd_tmpl_map_set(m, parts[i].name, tv);
    }
    json_object_put(root);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = m;
    return 0;
}

/* file: the contents; with a sandbox_path, only below it. */
static int
env_file(void *arg, const char *path, tmpl_value **out, char *err,
         size_t errlen)
{
    const vpd_agent_source *src = arg;
    if (src->sandbox_path) {
        char real[PATH_MAX], box[PATH_MAX];
        size_t n = realpath(src->sandbox_path, box) ? strlen(box) : 0;
        if (!realpath(path, real) || n == 0 || strncmp(real, box, n) != 0 ||
            (real[n] != '/' && real[n] != '\0')) {
            snprintf(err, errlen, "file %s: outside sandbox_path %s", path,
                     src->sandbox_path);
            return -1;
        }
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "file %s: %s", path, strerror(errno));
        return -1;
    }
    vpd_buf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        vpd_buf_append(&b, chunk, n);
    fclose(f);
    *out = vpd_tmpl_strn(b.data ? (const char *)b.data : "", b.len);
    vpd_buf_free(&b);
    if (!*out) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int
render(void *tmpl, const vpd_agent_source *src, vpd_buf *out, char *err,
       size_t err_len)
{
    tmpl_env env = {
        .arg = (void *)src,
        .secret = env_secret,
        .secrets = env_secrets,
        .pki_cert = env_pki_cert,
        .file = env_file,
    };
    int rc = vpd_tmpl_render(tmpl, &env, NULL, out, NULL, err, err_len);
    /* Incomplete (1): the runner saw the lookups that returned NULL and
     * renders again once they are answered. */
    return rc < 0 ? -1 : 0;
}

static void
free_tmpl(void *tmpl)
{
    vpd_tmpl_free(tmpl);
}

const vpd_agent_engine vpd_agent_tmpl_engine = {compile, render, free_tmpl};
