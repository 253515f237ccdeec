/* Fuzz target: the template language, end to end.  The input is a
 * template's source, then (after a NUL) JSON for its data, then the left
 * and right delimiters separated by a space; the template is compiled
 * and, when it compiles, rendered twice: as the discovery pass (no host)
 * and against a fake host that knows one secret and says "not yet" for
 * the rest.  Limits keep runaway templates (deep recursion, huge ranges,
 * doubling strings) finite, as the agent sets them. */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/tmpl.h"
#include "fuzz.h"

static int
fake_secret(void *arg, const char *path, const char *const *kv, size_t nkv,
            tmpl_value **out, char *err, size_t errlen)
{
    (void)arg;
    (void)kv;
    if (strcmp(path, "deny") == 0) {
        snprintf(err, errlen, "permission denied");
        return -1;
    }
    if (strcmp(path, "kv/data/app") != 0 || nkv > 0)
        return 1;
    static const char body[] =
        "{\"lease_duration\":3600,\"renewable\":true,\"data\":{\"data\":"
        "{\"password\":\"pw\",\"n\":[1,2.5,null,{\"x\":\"y\"}]}}}";
    *out = vpd_tmpl_from_vault_json(body, sizeof(body) - 1);
    return *out ? 0 : -1;
}

static int
fake_list(void *arg, const char *path, tmpl_value **out, char *err,
          size_t errlen)
{
    (void)arg;
    (void)path;
    char text[] = "[\"a\",\"b\"]";
    return vpd_tmpl_parse_json(text, strlen(text), false, out, err, errlen);
}

static int
fake_file(void *arg, const char *path, tmpl_value **out, char *err,
          size_t errlen)
{
    (void)arg;
    (void)err;
    (void)errlen;
    *out = vpd_tmpl_str(path);
    return *out ? 0 : -1;
}

static const char *
fake_getenv(void *arg, const char *name)
{
    (void)arg;
    return strcmp(name, "HOME") == 0 ? "/home/fuzz" : NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *f[3];
    size_t lens[3];
    if (fuzz_fields(data, size, f, lens, 3) != 0) {
        fuzz_fields_free(f, 3);
        return 0;
    }
    char *right = strchr(f[2], ' ');
    if (right)
        *right++ = '\0';
    tmpl_options o = {f[2], right, lens[1] % 2 == 1, 20000, 1 << 20, NULL};
    char err[512];
    tmpl_template *t =
        vpd_tmpl_compile("fuzz.tmpl", f[0], lens[0], &o, err, sizeof(err));
    if (!t) {
        if (!strstr(err, "fuzz.tmpl:"))
            abort(); /* every compile error names the file and position */
        fuzz_fields_free(f, 3);
        return 0;
    }
    tmpl_value *dot = NULL;
    if (lens[1] &&
        vpd_tmpl_parse_json(f[1], lens[1], true, &dot, err, sizeof(err)) != 0)
        dot = NULL;
    tmpl_env env = {NULL,        fake_secret, fake_list,
                    fake_secret, fake_file,   fake_getenv};
    tmpl_deps deps = {0};
    vpd_buf out = VPD_BUF_INIT;
    int rc = vpd_tmpl_render(t, NULL, dot, &out, &deps, err, sizeof(err));
    if (rc < -1 || rc > 1)
        abort();
    vpd_buf_free(&out);
    rc = vpd_tmpl_render(t, &env, dot, &out, &deps, err, sizeof(err));
    if (rc < -1 || rc > 1)
        abort();
    /* Rendering again gives the same text: templates keep no state. */
    if (rc == 0) {
        vpd_buf again = VPD_BUF_INIT;
        if (vpd_tmpl_render(t, &env, dot, &again, NULL, err, sizeof(err)) !=
                0 ||
            again.len != out.len ||
            (out.len && memcmp(again.data, out.data, out.len) != 0))
            abort();
        vpd_buf_free(&again);
    }
    vpd_buf_free(&out);
    vpd_tmpl_deps_free(&deps);
    vpd_tmpl_unref(dot);
    vpd_tmpl_free(t);
    fuzz_fields_free(f, 3);
    return 0;
}
