/* The template language: the golden files in tests/data/tmpl (every
 * NAME.tmpl rendered and compared with NAME.out, or its error with
 * NAME.err), the two-pass contract with the host (discovery, "not yet",
 * deduplicated dependencies), and the speed the agent needs (100
 * templates over 1,000 secrets well under a second). */
#include "autoconf.h"

#include "test.h"

#include <dirent.h>
#include <json-c/json.h>
#include <time.h>

#include "agent/tmpl.h"

#define TMPL_DIR VP_TEST_DATADIR "/tmpl"

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    vpd_buf b = VPD_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        vpd_buf_append(&b, chunk, n);
    fclose(f);
    if (len)
        *len = b.len;
    return b.data ? vpd_buf_steal(&b) : strdup("");
}

/* The fake Vault of the golden files: tests/data/tmpl/vault.json maps
 * "secret" paths (with "?k=v&..." for writes), "secrets" paths, "pki"
 * paths and "env" names to answers. */
typedef struct {
    struct json_object *fixture;
    int calls;
} fake_vault;

static int
fake_lookup(fake_vault *fv, const char *section, const char *path,
            const char *const *kv, size_t nkv, struct json_object **out,
            char *err, size_t errlen)
{
    vpd_buf key = VPD_BUF_INIT;
    vpd_buf_append_str(&key, path);
    for (size_t i = 0; i < nkv; i++)
        vpd_buf_printf(&key, "%c%s=%s", i ? '&' : '?', kv[2 * i],
                       kv[2 * i + 1]);
    struct json_object *sec = NULL;
    json_object_object_get_ex(fv->fixture, section, &sec);
    bool found = json_object_object_get_ex(sec, key.data, out);
    if (!found)
        snprintf(err, errlen, "no %s at %s", section, key.data);
    vpd_buf_free(&key);
    fv->calls++;
    return found ? 0 : -1;
}

static int
fake_secret(void *arg, const char *path, const char *const *kv, size_t nkv,
            tmpl_value **out, char *err, size_t errlen)
{
    struct json_object *j;
    if (fake_lookup(arg, "secret", path, kv, nkv, &j, err, errlen) != 0)
        return -1;
    const char *text = json_object_to_json_string(j);
    *out = vpd_tmpl_from_vault_json(text, strlen(text));
    return *out ? 0 : -1;
}

static int
fake_pki(void *arg, const char *path, const char *const *kv, size_t nkv,
         tmpl_value **out, char *err, size_t errlen)
{
    struct json_object *j;
    if (fake_lookup(arg, "pki", path, kv, nkv, &j, err, errlen) != 0)
        return -1;
    const char *text = json_object_to_json_string(j);
    return vpd_tmpl_parse_json(text, strlen(text), false, out, err, errlen);
}

static int
fake_secrets(void *arg, const char *path, tmpl_value **out, char *err,
             size_t errlen)
{
    struct json_object *j;
    if (fake_lookup(arg, "secrets", path, NULL, 0, &j, err, errlen) != 0)
        return -1;
    const char *text = json_object_to_json_string(j);
    return vpd_tmpl_parse_json(text, strlen(text), false, out, err, errlen);
}

static const char *
fake_getenv(void *arg, const char *name)
{
    fake_vault *fv = arg;
    struct json_object *env = NULL, *v = NULL;
    json_object_object_get_ex(fv->fixture, "env", &env);
    if (!json_object_object_get_ex(env, name, &v))
        return NULL;
    return json_object_get_string(v);
}

/* file reads below tests/data/tmpl, as sandbox_path would confine it. */
static int
fake_file(void *arg, const char *path, tmpl_value **out, char *err,
          size_t errlen)
{
    (void)arg;
    char full[512];
    snprintf(full, sizeof(full), "%s/%s", TMPL_DIR, path);
    size_t len;
    char *text = slurp(full, &len);
    if (!text) {
        snprintf(err, errlen, "no file %s", path);
        return -1;
    }
    *out = vpd_tmpl_strn(text, len);
    free(text);
    return *out ? 0 : -1;
}

static tmpl_env
fake_env(fake_vault *fv)
{
    tmpl_env env = {fv,       fake_secret, fake_secrets,
                    fake_pki, fake_file,   fake_getenv};
    return env;
}

static bool
has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void
read_opts(const char *base, tmpl_options *o, char *left, char *right)
{
    char path[600];
    if (snprintf(path, sizeof(path), "%s.opts", base) >= (int)sizeof(path))
        return;
    char *text = slurp(path, NULL);
    if (!text)
        return;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "left_delimiter=", 15) == 0) {
            snprintf(left, 16, "%s", line + 15);
            o->left_delimiter = left;
        } else if (strncmp(line, "right_delimiter=", 16) == 0) {
            snprintf(right, 16, "%s", line + 16);
            o->right_delimiter = right;
        } else if (strcmp(line, "error_on_missing_key=true") == 0) {
            o->error_on_missing_key = true;
        }
    }
    free(text);
}

/* Runs one golden case; returns a description of the mismatch or NULL. */
static char *
run_case(const char *name, fake_vault *fv)
{
    char base[512], path[600];
    snprintf(base, sizeof(base), "%s/%.*s", TMPL_DIR, (int)(strlen(name) - 5),
             name);
    size_t len;
    snprintf(path, sizeof(path), "%s.tmpl", base);
    char *src = slurp(path, &len);
    snprintf(path, sizeof(path), "%s.out", base);
    char *want_out = slurp(path, NULL);
    snprintf(path, sizeof(path), "%s.err", base);
    char *want_err = slurp(path, NULL);
    snprintf(path, sizeof(path), "%s.json", base);
    size_t dlen;
    char *data = slurp(path, &dlen);
    tmpl_options opts = {0};
    char left[16], right[16];
    read_opts(base, &opts, left, right);

    char err[1024] = "";
    vpd_buf out = VPD_BUF_INIT;
    tmpl_value *dot = NULL;
    char *problem = NULL;
    if (data &&
        vpd_tmpl_parse_json(data, dlen, true, &dot, err, sizeof(err)) != 0) {
        problem = strdup(err);
        goto done;
    }
    /* Golden files name themselves without the directory. */
    char short_name[256];
    snprintf(short_name, sizeof(short_name), "%.*s.tmpl",
             (int)(strlen(name) - 5), name);
    tmpl_template *t =
        vpd_tmpl_compile(short_name, src, len, &opts, err, sizeof(err));
    int rc = -1;
    if (t) {
        tmpl_env env = fake_env(fv);
        rc = vpd_tmpl_render(t, &env, dot, &out, NULL, err, sizeof(err));
        vpd_tmpl_free(t);
    }
    if (want_err) {
        size_t n = strlen(want_err);
        while (n && want_err[n - 1] == '\n')
            want_err[--n] = '\0';
        if (rc == 0 || strcmp(err, want_err) != 0) {
            vpd_buf m = VPD_BUF_INIT;
            vpd_buf_printf(&m, "%s: want error\n  %s\ngot (rc %d)\n  %s\n",
                           name, want_err, rc, rc == 0 ? out.data : err);
            problem = vpd_buf_steal(&m);
        }
    } else if (rc != 0) {
        vpd_buf m = VPD_BUF_INIT;
        vpd_buf_printf(&m, "%s: rc %d: %s\n", name, rc, err);
        problem = vpd_buf_steal(&m);
    } else if (!want_out || strcmp(out.data ? out.data : "", want_out) != 0) {
        vpd_buf m = VPD_BUF_INIT;
        vpd_buf_printf(&m, "%s: want\n[%s]\ngot\n[%s]\n", name,
                       want_out ? want_out : "(no .out file)",
                       out.data ? out.data : "");
        problem = vpd_buf_steal(&m);
    }
done:
    vpd_tmpl_unref(dot);
    vpd_buf_free(&out);
    free(src);
    free(want_out);
    free(want_err);
    free(data);
    return problem;
}

static struct json_object *
load_fixture(void)
{
    struct json_object *j = json_object_from_file(TMPL_DIR "/vault.json");
    ASSERT_NOT_NULL(j);
    return j;
}

TEST(golden_files)
{
    DIR *d = opendir(TMPL_DIR);
    ASSERT_NOT_NULL(d);
    fake_vault fv = {load_fixture(), 0};
    struct dirent *e;
    int cases = 0, failures = 0;
    const char *only = getenv("TMPL_ONLY");
    while ((e = readdir(d)) != NULL) {
        if (!has_suffix(e->d_name, ".tmpl"))
            continue;
        if (only && strncmp(e->d_name, only, strlen(only)) != 0)
            continue;
        cases++;
        char *problem = run_case(e->d_name, &fv);
        if (problem) {
            failures++;
            printf("# %s", problem);
            free(problem);
        }
    }
    closedir(d);
    json_object_put(fv.fixture);
    printf("# %d golden cases, %d failed\n", cases, failures);
    ASSERT(cases >= (only ? 1 : 40));
    ASSERT_INT_EQ(failures, 0);
}

/* The host's side of the two passes: a cache that answers what it has
 * and says "not yet" otherwise. */
typedef struct {
    const char *have[8];
    int nhave;
} cache_env;

static int
cache_secret(void *arg, const char *path, const char *const *kv, size_t nkv,
             tmpl_value **out, char *err, size_t errlen)
{
    (void)kv;
    (void)nkv;
    (void)err;
    (void)errlen;
    cache_env *ce = arg;
    for (int i = 0; i < ce->nhave; i++)
        if (strcmp(ce->have[i], path) == 0) {
            char body[256];
            snprintf(body, sizeof(body),
                     "{\"data\":{\"password\":\"pw-%s\",\"next\":\"b\"}}",
                     path);
            *out = vpd_tmpl_from_vault_json(body, strlen(body));
            return 0;
        }
    return 1;
}

TEST(discovery_then_render)
{
    const char *src =
        "{{ with secret \"a\" }}{{ .Data.password }}{{ end }}"
        "{{ (secret \"a\").Data.password }}"
        "{{ secret \"pki/issue/x\" \"common_name=h\" \"ttl=1h\" }}"
        "{{ with secret \"a\" }}{{ with secret .Data.next }}"
        "{{ .Data.password }}{{ end }}{{ end }}";
    char err[512];
    tmpl_options o = {.error_on_missing_key = true};
    tmpl_template *t =
        vpd_tmpl_compile("d.tmpl", src, strlen(src), &o, err, sizeof(err));
    ASSERT_NOT_NULL(t);
    /* Pass 1, no env at all: everything static is discovered, once. */
    tmpl_deps deps = {0};
    vpd_buf out = VPD_BUF_INIT;
    ASSERT_INT_EQ(vpd_tmpl_render(t, NULL, NULL, &out, &deps, err, sizeof(err)),
                  1);
    ASSERT_INT_EQ(deps.len, 2);
    ASSERT_STR_EQ(deps.items[0].key, "secret:a");
    ASSERT_STR_EQ(deps.items[1].key, "secret:pki/issue/x?common_name=h&ttl=1h");
    ASSERT_INT_EQ(deps.items[1].nkv, 2);
    ASSERT_STR_EQ(deps.items[1].kv[0], "common_name");
    ASSERT_STR_EQ(deps.items[1].kv[3], "1h");
    ASSERT(!deps.items[0].answered);
    vpd_tmpl_deps_free(&deps);
    vpd_buf_free(&out);
    /* Pass 2 with "a" fetched: a path read from a's answer appears. */
    cache_env ce = {{"a", "pki/issue/x"}, 2};
    tmpl_env env = {&ce, cache_secret, NULL, NULL, NULL, NULL};
    ASSERT_INT_EQ(vpd_tmpl_render(t, &env, NULL, &out, &deps, err, sizeof(err)),
                  1);
    ASSERT_INT_EQ(deps.len, 3);
    ASSERT_STR_EQ(deps.items[2].key, "secret:b");
    ASSERT(deps.items[0].answered && !deps.items[2].answered);
    vpd_tmpl_deps_free(&deps);
    vpd_buf_free(&out);
    /* Pass 3: complete. */
    ce.have[ce.nhave++] = "b";
    ASSERT_INT_EQ(vpd_tmpl_render(t, &env, NULL, &out, &deps, err, sizeof(err)),
                  0);
    ASSERT_STR_CONTAINS(out.data, "pw-apw-a");
    ASSERT_STR_CONTAINS(out.data, "pw-b");
    vpd_tmpl_deps_free(&deps);
    vpd_buf_free(&out);
    vpd_tmpl_free(t);
}

static int
fail_secret(void *arg, const char *path, const char *const *kv, size_t nkv,
            tmpl_value **out, char *err, size_t errlen)
{
    (void)arg;
    (void)kv;
    (void)nkv;
    (void)out;
    snprintf(err, errlen, "permission denied reading %s", path);
    return -1;
}

TEST(host_errors_fail_the_render)
{
    const char *src = "x{{ secret \"kv/a\" }}";
    char err[512];
    tmpl_template *t =
        vpd_tmpl_compile("e.tmpl", src, strlen(src), NULL, err, sizeof(err));
    ASSERT_NOT_NULL(t);
    tmpl_env env = {NULL, fail_secret, NULL, NULL, NULL, NULL};
    vpd_buf out = VPD_BUF_INIT;
    ASSERT_INT_EQ(vpd_tmpl_render(t, &env, NULL, &out, NULL, err, sizeof(err)),
                  -1);
    ASSERT_STR_EQ(err, "e.tmpl:1:5: executing \"e.tmpl\" at <secret \"kv/a\">: "
                       "error calling secret: permission denied reading kv/a");
    vpd_buf_free(&out);
    vpd_tmpl_free(t);
}

/* A denied function fails the compile where it is called, whether called
 * directly or in a pipeline; functions not on the list still compile. */
TEST(function_denylist_refuses_denied_calls)
{
    static const char *const denied[] = {"secret", "env", NULL};
    tmpl_options o = {.function_denylist = denied};
    char err[512];
    const char *src = "a\n  {{ with secret \"kv/a\" }}{{ end }}";
    tmpl_template *t =
        vpd_tmpl_compile("d.tmpl", src, strlen(src), &o, err, sizeof(err));
    ASSERT_NULL(t);
    ASSERT_STR_EQ(err, "d.tmpl:2:11: function \"secret\" is denied by "
                       "function_denylist");
    src = "{{ \"HOME\" | env }}";
    t = vpd_tmpl_compile("d.tmpl", src, strlen(src), &o, err, sizeof(err));
    ASSERT_NULL(t);
    ASSERT_STR_EQ(err, "d.tmpl:1:13: function \"env\" is denied by "
                       "function_denylist");
    src = "{{ file \"/x\" }}{{ toUpper \"a\" }}";
    t = vpd_tmpl_compile("d.tmpl", src, strlen(src), &o, err, sizeof(err));
    ASSERT_NOT_NULL(t);
    vpd_tmpl_free(t);
    /* Without a denylist the same template compiles. */
    src = "{{ env \"HOME\" }}";
    t = vpd_tmpl_compile("d.tmpl", src, strlen(src), NULL, err, sizeof(err));
    ASSERT_NOT_NULL(t);
    vpd_tmpl_free(t);
}

TEST(file_and_env_without_host_callbacks)
{
    const char *src =
        "{{ file \"" TMPL_DIR "/file_input.txt\" }}"
        "{{ env \"TMPL_TEST_VAR\" }}|{{ file \"/nonexistent/x\" }}";
    setenv("TMPL_TEST_VAR", "from-env", 1);
    char err[512];
    tmpl_template *t =
        vpd_tmpl_compile("f.tmpl", src, strlen(src), NULL, err, sizeof(err));
    ASSERT_NOT_NULL(t);
    tmpl_env env = {0};
    tmpl_deps deps = {0};
    vpd_buf out = VPD_BUF_INIT;
    ASSERT_INT_EQ(vpd_tmpl_render(t, &env, NULL, &out, &deps, err, sizeof(err)),
                  -1);
    ASSERT_STR_EQ(out.data, "first line\nsecond line\nfrom-env|");
    ASSERT_STR_CONTAINS(err, "error calling file: open /nonexistent/x: No "
                             "such file or directory");
    ASSERT_INT_EQ(deps.len, 1);
    ASSERT_STR_EQ(deps.items[0].key, "file:" TMPL_DIR "/file_input.txt");
    vpd_tmpl_deps_free(&deps);
    vpd_buf_free(&out);
    vpd_tmpl_free(t);
}

TEST(step_limit_stops_runaway_templates)
{
    const char *src = "{{ define \"a\" }}{{ template \"a\" }}{{ end }}"
                      "{{ template \"a\" }}";
    char err[512];
    tmpl_template *t =
        vpd_tmpl_compile("r.tmpl", src, strlen(src), NULL, err, sizeof(err));
    ASSERT_NOT_NULL(t);
    vpd_buf out = VPD_BUF_INIT;
    ASSERT_INT_EQ(vpd_tmpl_render(t, NULL, NULL, &out, NULL, err, sizeof(err)),
                  -1);
    ASSERT_STR_CONTAINS(err, "exceeded maximum template depth (1000)");
    vpd_tmpl_free(t);
    src = "{{ range 100000000 }}x{{ end }}";
    tmpl_options o = {.max_steps = 10000};
    t = vpd_tmpl_compile("r.tmpl", src, strlen(src), &o, err, sizeof(err));
    ASSERT_NOT_NULL(t);
    ASSERT_INT_EQ(vpd_tmpl_render(t, NULL, NULL, &out, NULL, err, sizeof(err)),
                  -1);
    ASSERT_STR_CONTAINS(err, "step limit");
    vpd_buf_free(&out);
    vpd_tmpl_free(t);
}

/* 1,000 secrets answered from memory, as the agent's cache would. */
static int
bench_secret(void *arg, const char *path, const char *const *kv, size_t nkv,
             tmpl_value **out, char *err, size_t errlen)
{
    (void)kv;
    (void)nkv;
    (void)err;
    (void)errlen;
    tmpl_value **secrets = arg;
    int i = atoi(path + strlen("kv/data/app"));
    *out = vpd_tmpl_ref(secrets[i % 1000]);
    return 0;
}

TEST(benchmark_100_templates_over_1000_secrets)
{
    tmpl_value *secrets[1000];
    for (int i = 0; i < 1000; i++) {
        char body[512];
        snprintf(
            body, sizeof(body),
            "{\"request_id\":\"r%d\",\"lease_id\":\"\",\"lease_duration\":0,"
            "\"renewable\":false,\"data\":{\"data\":{\"username\":\"u%d\","
            "\"password\":\"p%d\",\"port\":%d},\"metadata\":{\"version\":3}}}",
            i, i, i, 5000 + i);
        secrets[i] = vpd_tmpl_from_vault_json(body, strlen(body));
        ASSERT_NOT_NULL(secrets[i]);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t total = 0;
    for (int k = 0; k < 100; k++) {
        /* Each template reads 10 secrets and ranges over their data. */
        vpd_buf src = VPD_BUF_INIT;
        vpd_buf_printf(&src, "# template %d\n", k);
        for (int j = 0; j < 10; j++)
            vpd_buf_printf(&src,
                           "{{- with secret \"kv/data/app%d\" }}\n"
                           "[app%d]\n"
                           "{{- range $k, $v := .Data.data }}\n"
                           "{{ $k }} = {{ $v | printf \"%%v\" }}\n"
                           "{{- end }}\n"
                           "url = {{ printf \"postgres://%%s:%%s@db:%%d\" "
                           ".Data.data.username "
                           ".Data.data.password .Data.data.port | toLower }}\n"
                           "{{ if gt .Data.metadata.version 2 }}new{{ else "
                           "}}old{{ end }}\n"
                           "{{ end }}",
                           k * 10 + j, k * 10 + j);
        char err[512];
        tmpl_template *t = vpd_tmpl_compile("bench.tmpl", src.data, src.len,
                                            NULL, err, sizeof(err));
        if (!t)
            printf("# %s\n", err);
        ASSERT_NOT_NULL(t);
        tmpl_env env = {secrets, bench_secret, NULL, NULL, NULL, NULL};
        vpd_buf out = VPD_BUF_INIT;
        int rc = vpd_tmpl_render(t, &env, NULL, &out, NULL, err, sizeof(err));
        if (rc != 0)
            printf("# %s\n", err);
        ASSERT_INT_EQ(rc, 0);
        if (k == 0)
            ASSERT_STR_CONTAINS(out.data, "[app3]\npassword = p3\nport = 5003\n"
                                          "username = u3\nurl = "
                                          "postgres://u3:p3@db:5003\nnew\n");
        total += out.len;
        vpd_buf_free(&out);
        vpd_buf_free(&src);
        vpd_tmpl_free(t);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("# benchmark: compile + render of 100 templates over 1000 "
           "secrets: %.1f ms, %zu bytes\n",
           ms, total);
    for (int i = 0; i < 1000; i++)
        vpd_tmpl_unref(secrets[i]);
    /* Generous for sanitizer builds on a busy machine; the plain build
     * takes a small fraction of it (see the printed time). */
    ASSERT(ms < 5000);
}

int
main(void)
{
    return RUN_TESTS(T(golden_files), T(discovery_then_render),
                     T(host_errors_fail_the_render),
                     T(function_denylist_refuses_denied_calls),
                     T(file_and_env_without_host_callbacks),
                     T(step_limit_stops_runaway_templates),
                     T(benchmark_100_templates_over_1000_secrets));
}
