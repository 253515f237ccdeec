/* The shipped auth method plugins (approle, kubernetes, cert), loaded from
 * the build tree with dlopen and driven through the mock host
 * (tests/host/mock_host.c): no daemon, no network.  Each test plays the
 * core's part: the default request before login_begin, then one
 * login_step per answer. */
#include "autoconf.h"

#include "test.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "mock_host.h"

/* ---- loading the built plugins --------------------------------------- */

typedef struct {
    const vp_plugin_t *desc;
    const vp_provide_t *prov;
    const vp_auth_ops_t *ops;
} plugin;

static plugin
load(const char *module, const char *impl)
{
    char path[1024], sym[256];
    snprintf(path, sizeof path, "%s/.libs/%s.so", VP_BUILD_PLUGINDIR, module);
    snprintf(sym, sizeof sym, "%s_LTX_vaproxy_plugin", module);
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        TEST_FAIL_("dlopen %s: %s", path, dlerror());
    plugin p = {0};
    p.desc = dlsym(dl, sym);
    if (!p.desc)
        TEST_FAIL_("%s has no %s", path, sym);
    for (const vp_provide_t *pr = p.desc->provides; pr && pr->name; pr++) {
        if (pr->kind == VP_KIND_AUTH && strcmp(pr->name, impl) == 0)
            p.prov = pr;
    }
    if (!p.prov)
        TEST_FAIL_("%s does not provide auth \"%s\"", module, impl);
    p.ops = p.prov->ops;
    return p; /* never dlclosed: the process ends with the test */
}

static mock_instance *
make(const plugin *p, const char *const *pairs)
{
    int rc = 0;
    char err[1024];
    mock_instance *mi = mock_create(p->ops, p->prov->name, p->prov->schema,
                                    pairs, &rc, err, sizeof err);
    if (!mi)
        TEST_FAIL_("create failed (%d): %s", rc, err);
    return mi;
}

/* create must fail; returns the message (static). */
static const char *
make_fails(const plugin *p, const char *const *pairs)
{
    static char err[1024];
    int rc = 0;
    mock_instance *mi = mock_create(p->ops, p->prov->name, p->prov->schema,
                                    pairs, &rc, err, sizeof err);
    if (mi)
        TEST_FAIL_("create unexpectedly succeeded");
    if (rc == 0)
        TEST_FAIL_("create failed without a code");
    return err;
}

static void
check_schema_keys(const vp_conf_field_t *schema, const char *const *want)
{
    size_t n = 0;
    for (const vp_conf_field_t *f = schema; f && f->key; f++) {
        int found = 0;
        for (size_t i = 0; want[i]; i++)
            found |= strcmp(want[i], f->key) == 0;
        if (!found)
            TEST_FAIL_("schema has an undocumented key \"%s\"", f->key);
        n++;
    }
    size_t m = 0;
    while (want[m])
        m++;
    ASSERT_INT_EQ(n, m);
}

static void
check_descriptor(const plugin *p, const char *module)
{
    ASSERT_INT_EQ(p->desc->magic, VP_PLUGIN_MAGIC);
    ASSERT_INT_EQ(p->desc->abi_major, VP_ABI_MAJOR);
    ASSERT(p->desc->abi_minor <= VP_ABI_MINOR);
    ASSERT_STR_EQ(p->desc->name, module);
    ASSERT_INT_EQ(p->ops->size, sizeof(vp_auth_ops_t));
    ASSERT_NOT_NULL(p->ops->create);
    ASSERT_NOT_NULL(p->ops->login_begin);
}

/* ---- files ------------------------------------------------------------- */

static char tmp[256];

static const char *
tmpdir(void)
{
    if (!tmp[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/vp-auth-XXXXXX",
                 base && base[0] ? base : "/tmp");
        if (!mkdtemp(tmp))
            TEST_FAIL_("mkdtemp: %s", strerror(errno));
    }
    return tmp;
}

/* A path in the test's directory (static buffers, 8 in rotation). */
static const char *
file(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir(), name);
    return b;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        TEST_FAIL_("cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static int
exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static void
cleanup_dir(void)
{
    if (!tmp[0])
        return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmp);
}

/* ---- playing the core -------------------------------------------------- */

/* login_begin after the core's default request (PUT <mount>/login, {}). */
static vp_status_t
begin(const plugin *p, mock_instance *mi, vp_login_t *login, const char *mount)
{
    mock_login_default(login, mount);
    mi->error[0] = '\0';
    return p->ops->login_begin(&mi->pub, login);
}

/* login_step with an answer; `next` is reset first, as the core's is. */
static vp_status_t
step(const plugin *p, mock_instance *mi, const char *body, vp_login_t *next)
{
    vp_auth_answer_t ans = {.status = 200, .body = {body, strlen(body)}};
    mock_login_reset(next);
    mi->error[0] = '\0';
    if (!p->ops->login_step)
        return VP_DONE;
    return p->ops->login_step(&mi->pub, &ans, next);
}

static const char login_answer[] =
    "{\"auth\":{\"client_token\":\"hvs.tok\",\"lease_duration\":60,"
    "\"renewable\":true}}";

static void
assert_not_logged(const char *secret)
{
    if (strstr(mock_log_text(), secret))
        TEST_FAIL_("the log shows a secret: %s", mock_log_text());
}

static void
assert_all_released(void)
{
    ASSERT_INT_EQ(mock_live_secrets(), 0);
    ASSERT_INT_EQ(mock_live_allocs(), 0);
}

/* ======================================================================
 * approle
 * ====================================================================== */

#define APPROLE() load("auth_approle", "approle")

TEST(approle_descriptor_and_schema)
{
    plugin p = APPROLE();
    check_descriptor(&p, "auth_approle");
    static const char *const keys[] = {
        "role_id_file_path", "secret_id_file_path",
        "remove_secret_id_file_after_reading",
        "secret_id_response_wrapping_path", NULL};
    check_schema_keys(p.prov->schema, keys);
    ASSERT_NOT_NULL(p.ops->login_step);
    char err[256];
    const char *bad[] = {"role_id_file_path", "/r", "secret_id_path", "/s",
                         NULL};
    ASSERT_INT_EQ(mock_check_schema(p.prov->schema, bad, err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "unknown key \"secret_id_path\"");
    const char *none[] = {"secret_id_file_path", "/s", NULL};
    ASSERT_INT_EQ(mock_check_schema(p.prov->schema, none, err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "missing required key \"role_id_file_path\"");
    const char *notbool[] = {"role_id_file_path", "/r",
                             "remove_secret_id_file_after_reading", "maybe",
                             NULL};
    ASSERT_INT_EQ(mock_check_schema(p.prov->schema, notbool, err, sizeof err),
                  -1);
}

TEST(approle_create_validation)
{
    plugin p = APPROLE();
    const char *empty[] = {"role_id_file_path", "", NULL};
    ASSERT_STR_CONTAINS(make_fails(&p, empty), "role_id_file_path");
    const char *wrap_empty[] = {"role_id_file_path",
                                "/r",
                                "secret_id_file_path",
                                "/s",
                                "secret_id_response_wrapping_path",
                                "",
                                NULL};
    ASSERT_STR_CONTAINS(make_fails(&p, wrap_empty),
                        "secret_id_response_wrapping_path");
    /* Without a secret-id file the two keys about it are ignored. */
    const char *ignored[] = {"role_id_file_path",
                             "/r",
                             "secret_id_file_path",
                             "",
                             "secret_id_response_wrapping_path",
                             "",
                             "remove_secret_id_file_after_reading",
                             "false",
                             NULL};
    mock_instance *mi = make(&p, ignored);
    mock_destroy(p.ops, mi);
    assert_all_released();
}

TEST(approle_login_body_and_secret_file_removed)
{
    plugin p = APPROLE();
    const char *role = file("role-id"), *secret = file("secret-id");
    write_file(role, "  my-role-id\n");
    write_file(secret, "\tmy-secret-id \n\n");
    const char *conf[] = {"role_id_file_path", role, "secret_id_file_path",
                          secret, NULL};
    mock_instance *mi = make(&p, conf);
    vp_login_t *l = mock_login_new();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
    ASSERT_STR_EQ(l->method, "PUT");
    ASSERT_STR_EQ(l->path, "auth/approle/login");
    ASSERT_STR_EQ(
        l->body, "{\"role_id\":\"my-role-id\",\"secret_id\":\"my-secret-id\"}");
    ASSERT_NULL(l->token);
    ASSERT_NULL(l->client_cert);
    ASSERT_INT_EQ(l->result, VP_LOGIN_RESULT_AUTH);
    /* Deleted right after reading, before the answer; role id kept. */
    ASSERT(!exists(secret));
    ASSERT(exists(role));
    vp_login_t *next = mock_login_new();
    ASSERT_INT_EQ(step(&p, mi, login_answer, next), VP_DONE);
    assert_not_logged("my-secret-id");
    assert_not_logged("my-role-id");
    mock_login_free(l);
    mock_login_free(next);
    mock_destroy(p.ops, mi);
    assert_all_released();
    cleanup_dir();
}

TEST(approle_custom_mount_path_kept)
{
    plugin p = APPROLE();
    const char *role = file("role-id"), *secret = file("secret-id");
    write_file(role, "r");
    write_file(secret, "s");
    const char *conf[] = {"role_id_file_path", role, "secret_id_file_path",
                          secret, NULL};
    mock_instance *mi = make(&p, conf);
    vp_login_t *l = mock_login_new();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/team-approle"), VP_CONTINUE);
    ASSERT_STR_EQ(l->path, "auth/team-approle/login");
    mock_login_free(l);
    mock_destroy(p.ops, mi);
    cleanup_dir();
}

TEST(approle_role_id_only)
{
    plugin p = APPROLE();
    const char *role = file("role-id");
    write_file(role, "lonely-role\n");
    const char *absent[] = {"role_id_file_path", role, NULL};
    const char *empty[] = {"role_id_file_path", role, "secret_id_file_path", "",
                           NULL};
    const char *const *confs[] = {absent, empty};
    for (size_t i = 0; i < 2; i++) {
        mock_instance *mi = make(&p, confs[i]);
        vp_login_t *l = mock_login_new();
        ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
        ASSERT_STR_EQ(l->body, "{\"role_id\":\"lonely-role\"}");
        ASSERT_STR_EQ(l->path, "auth/approle/login");
        mock_login_free(l);
        mock_destroy(p.ops, mi);
    }
    assert_all_released();
    cleanup_dir();
}

TEST(approle_secret_file_kept_when_told)
{
    plugin p = APPROLE();
    const char *role = file("role-id"), *secret = file("secret-id");
    write_file(role, "r");
    const char *values[] = {"false", "0", "False"};
    for (size_t i = 0; i < 3; i++) {
        write_file(secret, "s");
        const char *conf[] = {"role_id_file_path",
                              role,
                              "secret_id_file_path",
                              secret,
                              "remove_secret_id_file_after_reading",
                              values[i],
                              NULL};
        mock_instance *mi = make(&p, conf);
        vp_login_t *l = mock_login_new();
        ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
        ASSERT_STR_EQ(l->body, "{\"role_id\":\"r\",\"secret_id\":\"s\"}");
        ASSERT(exists(secret));
        mock_login_free(l);
        mock_destroy(p.ops, mi);
    }
    /* "true" as a string removes, like the default. */
    const char *conf[] = {"role_id_file_path",
                          role,
                          "secret_id_file_path",
                          secret,
                          "remove_secret_id_file_after_reading",
                          "true",
                          NULL};
    mock_instance *mi = make(&p, conf);
    vp_login_t *l = mock_login_new();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
    ASSERT(!exists(secret));
    mock_login_free(l);
    mock_destroy(p.ops, mi);
    cleanup_dir();
}

TEST(approle_last_good_values)
{
    plugin p = APPROLE();
    const char *role = file("role-id"), *secret = file("secret-id");
    write_file(role, "role-1");
    write_file(secret, "secret-1");
    const char *conf[] = {"role_id_file_path", role, "secret_id_file_path",
                          secret, NULL};
    mock_instance *mi = make(&p, conf);
    vp_login_t *l = mock_login_new();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
    ASSERT_STR_EQ(l->body,
                  "{\"role_id\":\"role-1\",\"secret_id\":\"secret-1\"}");

    /* Both gone (the secret id was consumed): the last values, quietly,
     * since that is what removing the secret-id file leads to. */
    unlink(role);
    mock_log_clear();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
    ASSERT_STR_EQ(l->body,
                  "{\"role_id\":\"role-1\",\"secret_id\":\"secret-1\"}");
    ASSERT_STR_CONTAINS(mock_log_text(), "DEBUG");
    ASSERT_STR_CONTAINS(mock_log_text(), "using the role ID read before");
    ASSERT_STR_CONTAINS(mock_log_text(), "using the secret ID read before");
    ASSERT(!strstr(mock_log_text(), "WARN"));

    /* Empty files count as unreadable: the last values, with warnings. */
    write_file(role, " \n");
    write_file(secret, "\n");
    mock_log_clear();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
    ASSERT_STR_EQ(l->body,
                  "{\"role_id\":\"role-1\",\"secret_id\":\"secret-1\"}");
    ASSERT_STR_CONTAINS(mock_log_text(), "WARN approle: ");
    ASSERT_STR_CONTAINS(mock_log_text(), "is empty: using the role ID");
    ASSERT_STR_CONTAINS(mock_log_text(), "is empty: using the secret ID");

    /* An unreadable file (a directory in its place) as well. */
    unlink(secret);
    ASSERT_INT_EQ(mkdir(secret, 0700), 0);
    mock_log_clear();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
    ASSERT_STR_EQ(l->body,
                  "{\"role_id\":\"role-1\",\"secret_id\":\"secret-1\"}");
    ASSERT_STR_CONTAINS(mock_log_text(), "WARN");
    ASSERT_STR_CONTAINS(mock_log_text(), "cannot read");
    ASSERT_INT_EQ(rmdir(secret), 0);

    /* New files: new values (a new identity after re-login). */
    write_file(role, "role-2\n");
    write_file(secret, "secret-2\n");
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
    ASSERT_STR_EQ(l->body,
                  "{\"role_id\":\"role-2\",\"secret_id\":\"secret-2\"}");
    ASSERT(!exists(secret));
    assert_not_logged("secret-1");
    assert_not_logged("secret-2");
    mock_login_free(l);
    mock_destroy(p.ops, mi);
    assert_all_released();
    cleanup_dir();
}

TEST(approle_missing_files_fail)
{
    plugin p = APPROLE();
    const char *role = file("role-id"), *secret = file("secret-id");
    const char *conf[] = {"role_id_file_path", role, "secret_id_file_path",
                          secret, NULL};
    mock_instance *mi = make(&p, conf);
    vp_login_t *l = mock_login_new();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_ERROR);
    ASSERT_STR_CONTAINS(mi->error, "no known role ID");
    ASSERT_STR_CONTAINS(mi->error, role);
    write_file(role, "");
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_ERROR);
    ASSERT_STR_CONTAINS(mi->error, "no known role ID");
    write_file(role, "r");
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_ERROR);
    ASSERT_STR_CONTAINS(mi->error, "no known secret ID");
    ASSERT_STR_CONTAINS(mi->error, secret);
    write_file(secret, "  ");
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_ERROR);
    ASSERT_STR_CONTAINS(mi->error, "no known secret ID");
    ASSERT(exists(secret)); /* an empty file is not "read": kept */
    mock_login_free(l);
    mock_destroy(p.ops, mi);
    assert_all_released();
    cleanup_dir();
}

#define WRAP_PATH "auth/approle/role/web/secret-id"

static const char lookup_ok[] =
    "{\"data\":{\"creation_path\":\"" WRAP_PATH "\",\"creation_ttl\":300,"
    "\"creation_time\":\"2026-01-01T00:00:00Z\"}}";
static const char unwrap_ok[] = "{\"data\":{\"secret_id\":\"unwrapped-secret\","
                                "\"secret_id_accessor\":\"acc\"}}";

static mock_instance *
wrapped_instance(const plugin *p, const char *remove)
{
    write_file(file("role-id"), "web-role\n");
    write_file(file("secret-id"), "hvs.wrapping-token\n");
    const char *conf[] = {"role_id_file_path",
                          file("role-id"),
                          "secret_id_file_path",
                          file("secret-id"),
                          "secret_id_response_wrapping_path",
                          WRAP_PATH,
                          "remove_secret_id_file_after_reading",
                          remove,
                          NULL};
    return make(p, conf);
}

TEST(approle_wrapped_secret_id_three_rounds)
{
    plugin p = APPROLE();
    mock_instance *mi = wrapped_instance(&p, "true");
    vp_login_t *l = mock_login_new(), *next = mock_login_new();

    /* Round 1: look the wrapping token up. */
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/my-approle"), VP_CONTINUE);
    ASSERT_STR_EQ(l->method, "GET");
    ASSERT_STR_EQ(l->path, "sys/wrapping/lookup");
    ASSERT_STR_EQ(l->token, "hvs.wrapping-token");
    ASSERT_NULL(l->body);
    ASSERT(exists(file("secret-id"))); /* not unwrapped yet */

    /* Round 2: unwrap with the same token, body null. */
    ASSERT_INT_EQ(step(&p, mi, lookup_ok, next), VP_CONTINUE);
    ASSERT_STR_EQ(next->method, "PUT");
    ASSERT_STR_EQ(next->path, "sys/wrapping/unwrap");
    ASSERT_STR_EQ(next->token, "hvs.wrapping-token");
    ASSERT_STR_EQ(next->body, "null");

    /* Round 3: the real login at the mount login_begin was given. */
    ASSERT_INT_EQ(step(&p, mi, unwrap_ok, next), VP_CONTINUE);
    ASSERT_STR_EQ(next->method, "PUT");
    ASSERT_STR_EQ(next->path, "auth/my-approle/login");
    ASSERT_STR_EQ(next->body, "{\"role_id\":\"web-role\","
                              "\"secret_id\":\"unwrapped-secret\"}");
    ASSERT_NULL(next->token);
    ASSERT(!exists(file("secret-id")));
    ASSERT_INT_EQ(step(&p, mi, login_answer, next), VP_DONE);

    /* Next login, the file gone: the unwrapped secret id, no unwrap. */
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/my-approle"), VP_CONTINUE);
    ASSERT_STR_EQ(l->path, "auth/my-approle/login");
    ASSERT_STR_EQ(l->body, "{\"role_id\":\"web-role\","
                           "\"secret_id\":\"unwrapped-secret\"}");
    ASSERT_INT_EQ(step(&p, mi, login_answer, next), VP_DONE);

    /* A new wrapping token in the file: unwrapped again. */
    write_file(file("secret-id"), "hvs.wrapping-token-2");
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/my-approle"), VP_CONTINUE);
    ASSERT_STR_EQ(l->path, "sys/wrapping/lookup");
    ASSERT_STR_EQ(l->token, "hvs.wrapping-token-2");

    assert_not_logged("wrapping-token");
    assert_not_logged("unwrapped-secret");
    mock_login_free(l);
    mock_login_free(next);
    mock_destroy(p.ops, mi);
    assert_all_released();
    cleanup_dir();
}

TEST(approle_wrapped_kept_file_is_not_unwrapped_twice)
{
    plugin p = APPROLE();
    mock_instance *mi = wrapped_instance(&p, "false");
    vp_login_t *l = mock_login_new(), *next = mock_login_new();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
    ASSERT_INT_EQ(step(&p, mi, lookup_ok, next), VP_CONTINUE);
    ASSERT_INT_EQ(step(&p, mi, unwrap_ok, next), VP_CONTINUE);
    ASSERT_STR_EQ(next->path, "auth/approle/login");
    ASSERT(exists(file("secret-id")));
    /* Same (spent) wrapping token still in the file: straight to login. */
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
    ASSERT_STR_EQ(l->path, "auth/approle/login");
    ASSERT_STR_EQ(l->body, "{\"role_id\":\"web-role\","
                           "\"secret_id\":\"unwrapped-secret\"}");
    mock_login_free(l);
    mock_login_free(next);
    mock_destroy(p.ops, mi);
    assert_all_released();
    cleanup_dir();
}

TEST(approle_wrapped_creation_path_mismatch_refused)
{
    plugin p = APPROLE();
    mock_instance *mi = wrapped_instance(&p, "true");
    vp_login_t *l = mock_login_new(), *next = mock_login_new();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
    mock_log_clear();
    ASSERT_INT_EQ(step(&p, mi,
                       "{\"data\":{\"creation_path\":"
                       "\"auth/approle/role/other/secret-id\"}}",
                       next),
                  VP_ERROR);
    ASSERT_STR_CONTAINS(mi->error, "SECURITY");
    ASSERT_STR_CONTAINS(mi->error, "auth/approle/role/other/secret-id");
    ASSERT_STR_CONTAINS(mock_log_text(), "ERROR");
    ASSERT_STR_CONTAINS(mock_log_text(), "SECURITY");
    ASSERT_NULL(next->path); /* nothing more is sent */
    ASSERT(exists(file("secret-id")));
    /* A prefix of the configured path is not the configured path. */
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
    ASSERT_INT_EQ(step(&p, mi,
                       "{\"data\":{\"creation_path\":"
                       "\"auth/approle/role/web\"}}",
                       next),
                  VP_ERROR);
    /* Nothing was ever unwrapped: no secret id to fall back on. */
    unlink(file("secret-id"));
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_ERROR);
    ASSERT_STR_CONTAINS(mi->error, "no known secret ID");
    assert_not_logged("wrapping-token");
    mock_login_free(l);
    mock_login_free(next);
    mock_destroy(p.ops, mi);
    assert_all_released();
    cleanup_dir();
}

TEST(approle_wrapped_bad_answers)
{
    plugin p = APPROLE();
    mock_instance *mi = wrapped_instance(&p, "true");
    vp_login_t *l = mock_login_new(), *next = mock_login_new();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
    ASSERT_INT_EQ(step(&p, mi, "{\"data\":{}}", next), VP_ERROR);
    ASSERT_STR_CONTAINS(mi->error, "creation_path");
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
    ASSERT_INT_EQ(step(&p, mi, "not json", next), VP_ERROR);
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/approle"), VP_CONTINUE);
    ASSERT_INT_EQ(step(&p, mi, lookup_ok, next), VP_CONTINUE);
    ASSERT_INT_EQ(step(&p, mi, "{\"data\":{\"other\":1}}", next), VP_ERROR);
    ASSERT_STR_CONTAINS(mi->error, "secret_id");
    mock_login_free(l);
    mock_login_free(next);
    mock_destroy(p.ops, mi);
    assert_all_released();
    cleanup_dir();
}

/* ======================================================================
 * kubernetes
 * ====================================================================== */

#define KUBERNETES() load("auth_kubernetes", "kubernetes")
#define K8S_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount/token"

TEST(kubernetes_descriptor_and_schema)
{
    plugin p = KUBERNETES();
    check_descriptor(&p, "auth_kubernetes");
    static const char *const keys[] = {"role", "token_path", NULL};
    check_schema_keys(p.prov->schema, keys);
    for (const vp_conf_field_t *f = p.prov->schema; f->key; f++) {
        if (strcmp(f->key, "token_path") == 0)
            ASSERT_STR_EQ(f->default_value, K8S_DEFAULT);
        if (strcmp(f->key, "role") == 0)
            ASSERT(f->flags & VP_CONF_REQUIRED);
    }
    char err[256];
    const char *bad[] = {"role", "r", "jwt_path", "/x", NULL};
    ASSERT_INT_EQ(mock_check_schema(p.prov->schema, bad, err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "unknown key \"jwt_path\"");
    const char *empty[] = {"role", "", NULL};
    ASSERT_STR_CONTAINS(make_fails(&p, empty), "role");
    const char *none[] = {"token_path", "/x", NULL};
    ASSERT_STR_CONTAINS(make_fails(&p, none), "missing required key");
}

TEST(kubernetes_login_body_custom_path)
{
    plugin p = KUBERNETES();
    const char *jwt = file("jwt");
    write_file(jwt, "eyJhbGciOi.jwt-one.sig\n");
    const char *conf[] = {"role", "dev-role", "token_path", jwt, NULL};
    mock_instance *mi = make(&p, conf);
    vp_login_t *l = mock_login_new(), *next = mock_login_new();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/kubernetes"), VP_CONTINUE);
    ASSERT_STR_EQ(l->method, "PUT");
    ASSERT_STR_EQ(l->path, "auth/kubernetes/login");
    ASSERT_STR_EQ(l->body,
                  "{\"role\":\"dev-role\",\"jwt\":\"eyJhbGciOi.jwt-one.sig\"}");
    ASSERT_NULL(l->token);
    ASSERT_INT_EQ(step(&p, mi, login_answer, next), VP_DONE);
    ASSERT(exists(jwt)); /* never deleted */
    assert_not_logged("jwt-one");
    mock_login_free(l);
    mock_login_free(next);
    mock_destroy(p.ops, mi);
    assert_all_released();
    cleanup_dir();
}

TEST(kubernetes_default_token_path)
{
    plugin p = KUBERNETES();
    const char *conf[] = {"role", "dev", NULL};
    mock_instance *mi = make(&p, conf);
    const char *path = NULL;
    ASSERT_INT_EQ(mock_host()->conf_string(&mi->pub, "token_path", &path), 0);
    ASSERT_STR_EQ(path, K8S_DEFAULT);
    vp_login_t *l = mock_login_new();
    vp_status_t rc = begin(&p, mi, l, "auth/kubernetes");
    if (access(K8S_DEFAULT, R_OK) == 0) {
        /* Running in a pod: the real token is used. */
        ASSERT_INT_EQ(rc, VP_CONTINUE);
        ASSERT_STR_CONTAINS(l->body, "\"role\":\"dev\"");
    } else {
        ASSERT_INT_EQ(rc, VP_ERROR);
        ASSERT_STR_CONTAINS(mi->error,
                            "error reading JWT with Kubernetes Auth: ");
        ASSERT_STR_CONTAINS(mi->error, K8S_DEFAULT);
    }
    mock_login_free(l);
    mock_destroy(p.ops, mi);
    assert_all_released();
}

TEST(kubernetes_rotated_token_reread)
{
    plugin p = KUBERNETES();
    const char *jwt = file("token");
    write_file(jwt, "jwt-one");
    const char *conf[] = {"role", "r", "token_path", jwt, NULL};
    mock_instance *mi = make(&p, conf);
    vp_login_t *l = mock_login_new();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/k8s"), VP_CONTINUE);
    ASSERT_STR_EQ(l->path, "auth/k8s/login");
    ASSERT_STR_EQ(l->body, "{\"role\":\"r\",\"jwt\":\"jwt-one\"}");
    /* The kubelet swaps the file (a rename, as with projected tokens). */
    const char *fresh = file("token.new");
    write_file(fresh, "  jwt-two\n");
    ASSERT_INT_EQ(rename(fresh, jwt), 0);
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/k8s"), VP_CONTINUE);
    ASSERT_STR_EQ(l->body, "{\"role\":\"r\",\"jwt\":\"jwt-two\"}");
    mock_login_free(l);
    mock_destroy(p.ops, mi);
    assert_all_released();
    cleanup_dir();
}

TEST(kubernetes_missing_token_names_the_path)
{
    plugin p = KUBERNETES();
    const char *jwt = file("absent-token");
    const char *conf[] = {"role", "r", "token_path", jwt, NULL};
    mock_instance *mi = make(&p, conf);
    vp_login_t *l = mock_login_new();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/kubernetes"), VP_ERROR);
    ASSERT_STR_CONTAINS(mi->error, "error reading JWT with Kubernetes Auth: ");
    ASSERT_STR_CONTAINS(mi->error, jwt);
    /* A token read before is not used again: it may be expired. */
    write_file(jwt, "jwt-one");
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/kubernetes"), VP_CONTINUE);
    unlink(jwt);
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/kubernetes"), VP_ERROR);
    ASSERT_STR_CONTAINS(mi->error, jwt);
    write_file(jwt, "\n");
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/kubernetes"), VP_ERROR);
    ASSERT_STR_CONTAINS(mi->error, "empty");
    mock_login_free(l);
    mock_destroy(p.ops, mi);
    assert_all_released();
    cleanup_dir();
}

/* ======================================================================
 * cert
 * ====================================================================== */

#define CERT() load("auth_cert", "cert")

TEST(cert_descriptor_and_schema)
{
    plugin p = CERT();
    check_descriptor(&p, "auth_cert");
    static const char *const keys[] = {"name",       "ca_cert", "client_cert",
                                       "client_key", "reload",  NULL};
    check_schema_keys(p.prov->schema, keys);
    for (const vp_conf_field_t *f = p.prov->schema; f->key; f++)
        ASSERT(!(f->flags & VP_CONF_REQUIRED));
    char err[256];
    const char *bad[] = {"name", "x", "client_certificate", "/c", NULL};
    ASSERT_INT_EQ(mock_check_schema(p.prov->schema, bad, err, sizeof err), -1);
    ASSERT_STR_CONTAINS(err, "unknown key \"client_certificate\"");
    const char *notbool[] = {"reload", "sometimes", NULL};
    ASSERT_INT_EQ(mock_check_schema(p.prov->schema, notbool, err, sizeof err),
                  -1);
}

TEST(cert_body_without_and_with_name)
{
    plugin p = CERT();
    const char *none[] = {NULL};
    mock_instance *mi = make(&p, none);
    vp_login_t *l = mock_login_new(), *next = mock_login_new();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/cert"), VP_CONTINUE);
    ASSERT_STR_EQ(l->method, "PUT");
    ASSERT_STR_EQ(l->path, "auth/cert/login");
    ASSERT_STR_EQ(l->body, "{}");
    /* No identity of its own: the vault block's client certificate. */
    ASSERT_NULL(l->client_cert);
    ASSERT_NULL(l->client_key);
    ASSERT_NULL(l->ca_cert);
    ASSERT_INT_EQ(step(&p, mi, login_answer, next), VP_DONE);
    mock_destroy(p.ops, mi);

    const char *empty_name[] = {"name", "", NULL};
    mi = make(&p, empty_name);
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/cert"), VP_CONTINUE);
    ASSERT_STR_EQ(l->body, "{}");
    mock_destroy(p.ops, mi);

    const char *named[] = {"name", "web", NULL};
    mi = make(&p, named);
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/certs"), VP_CONTINUE);
    ASSERT_STR_EQ(l->body, "{\"name\":\"web\"}");
    ASSERT_STR_EQ(l->path, "auth/certs/login");
    mock_login_free(l);
    mock_login_free(next);
    mock_destroy(p.ops, mi);
    assert_all_released();
}

TEST(cert_tls_identity_passed)
{
    plugin p = CERT();
    const char *crt = file("client.pem"), *key = file("client-key.pem"),
               *ca = file("ca.pem");
    write_file(crt, "-----BEGIN CERTIFICATE-----\n");
    write_file(key, "-----BEGIN PRIVATE KEY-----\nsecret-key-bytes\n");
    write_file(ca, "-----BEGIN CERTIFICATE-----\n");
    const char *conf[] = {"name",       "web",  "client_cert", crt,
                          "client_key", key,    "ca_cert",     ca,
                          "reload",     "true", NULL};
    mock_instance *mi = make(&p, conf);
    vp_login_t *l = mock_login_new();
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/cert"), VP_CONTINUE);
    ASSERT_STR_EQ(l->client_cert, crt);
    ASSERT_STR_EQ(l->client_key, key);
    ASSERT_STR_EQ(l->ca_cert, ca);
    ASSERT_STR_EQ(l->body, "{\"name\":\"web\"}");
    assert_not_logged("secret-key-bytes");
    mock_destroy(p.ops, mi);

    /* Only a CA: a dedicated connection verifying the server with it. */
    const char *ca_only[] = {"ca_cert", ca, NULL};
    mi = make(&p, ca_only);
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/cert"), VP_CONTINUE);
    ASSERT_NULL(l->client_cert);
    ASSERT_NULL(l->client_key);
    ASSERT_STR_EQ(l->ca_cert, ca);
    mock_destroy(p.ops, mi);

    /* Certificate and key without a CA. */
    const char *pair[] = {"client_cert", crt, "client_key", key, NULL};
    mi = make(&p, pair);
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/cert"), VP_CONTINUE);
    ASSERT_STR_EQ(l->client_cert, crt);
    ASSERT_STR_EQ(l->client_key, key);
    ASSERT_NULL(l->ca_cert);

    /* A file gone at login time fails the login, naming it. */
    unlink(key);
    ASSERT_INT_EQ(begin(&p, mi, l, "auth/cert"), VP_ERROR);
    ASSERT_STR_CONTAINS(mi->error, "client_key");
    ASSERT_STR_CONTAINS(mi->error, key);
    mock_login_free(l);
    mock_destroy(p.ops, mi);
    assert_all_released();
    cleanup_dir();
}

TEST(cert_cert_and_key_both_or_neither)
{
    plugin p = CERT();
    const char *cert_only[] = {"client_cert", "/c.pem", NULL};
    ASSERT_STR_CONTAINS(make_fails(&p, cert_only),
                        "client_cert and client_key must be set together");
    const char *key_only[] = {"client_key", "/k.pem", "ca_cert", "/ca.pem",
                              NULL};
    ASSERT_STR_CONTAINS(make_fails(&p, key_only),
                        "client_cert and client_key must be set together");
    const char *empty_key[] = {"client_cert", "/c.pem", "client_key", "", NULL};
    ASSERT_STR_CONTAINS(make_fails(&p, empty_key), "client_key");
    assert_all_released();
}

int
main(void)
{
    return RUN_TESTS(
        T(approle_descriptor_and_schema), T(approle_create_validation),
        T(approle_login_body_and_secret_file_removed),
        T(approle_custom_mount_path_kept), T(approle_role_id_only),
        T(approle_secret_file_kept_when_told), T(approle_last_good_values),
        T(approle_missing_files_fail),
        T(approle_wrapped_secret_id_three_rounds),
        T(approle_wrapped_kept_file_is_not_unwrapped_twice),
        T(approle_wrapped_creation_path_mismatch_refused),
        T(approle_wrapped_bad_answers), T(kubernetes_descriptor_and_schema),
        T(kubernetes_login_body_custom_path), T(kubernetes_default_token_path),
        T(kubernetes_rotated_token_reread),
        T(kubernetes_missing_token_names_the_path),
        T(cert_descriptor_and_schema), T(cert_body_without_and_with_name),
        T(cert_tls_identity_passed), T(cert_cert_and_key_both_or_neither));
}
