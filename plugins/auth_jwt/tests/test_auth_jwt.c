/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the auth method "jwt" on the SDK's mock host: the login
 * request, the file taken and removed (or left), the JWT kept for later
 * logins, the watch timer on the mock's fake clock asking for a new login
 * when a new JWT appears, login_failed telling a refused JWT (permanent,
 * dropped) from an outage (transient), reconfigure keeping the JWT, and
 * everything released on destroy.
 *
 * Run by `make check` (here and in vaproxy's tree); exits 0 when every
 * check passed. */
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mock_host.h"

extern const vp_plugin_t auth_jwt_LTX_vaproxy_plugin;

/* ---- a few checks that print both sides ------------------------------ */

static int checks, failures;

static void
check_str(const char *file, int line, const char *what, const char *got,
          const char *want)
{
    checks++;
    if (got && want && strcmp(got, want) == 0)
        return;
    failures++;
    printf("FAIL %s:%d: %s\n  expected: \"%s\"\n       got: \"%s\"\n", file,
           line, what, want ? want : "(null)", got ? got : "(null)");
}

static void
check_int(const char *file, int line, const char *what, long long got,
          long long want)
{
    checks++;
    if (got == want)
        return;
    failures++;
    printf("FAIL %s:%d: %s\n  expected: %lld\n       got: %lld\n", file, line,
           what, want, got);
}

static void
check_contains(const char *file, int line, const char *what, const char *hay,
               const char *needle, int want)
{
    checks++;
    if ((hay && strstr(hay, needle) != NULL) == want)
        return;
    failures++;
    printf("FAIL %s:%d: %s\n  expected %s \"%s\" in: \"%s\"\n", file, line,
           what, want ? "to find" : "not to find", needle,
           hay ? hay : "(null)");
}

#define CHECK_STR(got, want) check_str(__FILE__, __LINE__, #got, got, want)
#define CHECK_INT(got, want)                                                   \
    check_int(__FILE__, __LINE__, #got, (long long)(got), (long long)(want))
#define CHECK_CONTAINS(hay, needle)                                            \
    check_contains(__FILE__, __LINE__, #hay, hay, needle, 1)
#define CHECK_LACKS(hay, needle)                                               \
    check_contains(__FILE__, __LINE__, #hay, hay, needle, 0)

/* ---- fixtures -------------------------------------------------------- */

static char dir[512];
static char jwt_path[600];

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
        printf("cannot write %s: %s\n", path, strerror(errno));
        exit(99);
    }
}

static int
exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static const vp_provide_t *
provide(void)
{
    return &auth_jwt_LTX_vaproxy_plugin.provides[0];
}

static const vp_auth_ops_t *
ops(void)
{
    return provide()->ops;
}

static mock_instance *
make(const char *const *pairs, char *err, size_t err_len)
{
    int rc = 0;
    return mock_create(ops(), provide()->name, provide()->schema, pairs, &rc,
                       err, err_len);
}

static mock_instance *
make_dev(const char *remove)
{
    const char *pairs[] = {
        "path", jwt_path, "role", "dev", "remove_jwt_after_reading",
        remove, NULL};
    char err[1024];
    mock_instance *mi = make(pairs, err, sizeof err);
    if (!mi) {
        printf("creating the instance failed: %s\n", err);
        exit(99);
    }
    return mi;
}

static vp_status_t
begin(mock_instance *mi, vp_login_t *login)
{
    mock_login_reset(login);
    mock_login_default(login, "auth/jwt");
    return ops()->login_begin(&mi->pub, login);
}

/* ---- tests ----------------------------------------------------------- */

static void
test_bad_config(void)
{
    char err[1024];
    const char *no_role[] = {"path", jwt_path, NULL};
    CHECK_INT(make(no_role, err, sizeof err) == NULL, 1);
    CHECK_CONTAINS(err, "\"role\"");
    const char *empty[] = {"path", "", "role", "dev", NULL};
    CHECK_INT(make(empty, err, sizeof err) == NULL, 1);
    CHECK_CONTAINS(err, "must not be empty");
    CHECK_INT(mock_live_allocs(), 0);
}

/* The file is read at the first login, not in create (which also runs
 * for --check-config), then removed; the JWT it held serves again. */
static void
test_login_takes_and_removes_the_file(void)
{
    write_file(jwt_path, "eyJ.first.sig\n");
    mock_instance *mi = make_dev("true");
    CHECK_INT(exists(jwt_path), 1);
    vp_login_t *login = mock_login_new();
    CHECK_INT(begin(mi, login), VP_CONTINUE);
    CHECK_STR(login->method, "PUT");
    CHECK_STR(login->path, "auth/jwt/login");
    CHECK_STR(login->body, "{\"role\":\"dev\",\"jwt\":\"eyJ.first.sig\"}");
    CHECK_INT(exists(jwt_path), 0);
    CHECK_INT(begin(mi, login), VP_CONTINUE);
    CHECK_CONTAINS(login->body, "eyJ.first.sig");
    CHECK_LACKS(mock_log_text(), "eyJ");
    mock_login_free(login);
    mock_destroy(ops(), mi);
    CHECK_INT(mock_live_secrets(), 0);
    CHECK_INT(mock_live_allocs(), 0);
    CHECK_INT(mock_timers_live(NULL), 0);
}

static void
test_no_jwt_yet_is_declined(void)
{
    unlink(jwt_path);
    mock_instance *mi = make_dev("true");
    vp_login_t *login = mock_login_new();
    CHECK_INT(begin(mi, login), VP_DECLINED);
    CHECK_CONTAINS(mi->error, jwt_path);
    mock_login_free(login);
    mock_destroy(ops(), mi);
}

/* remove_jwt_after_reading = false: the file stays, and the watch asks
 * for a new login only when its content changes. */
static void
test_watch_asks_for_a_login_when_the_file_changes(void)
{
    write_file(jwt_path, "eyJ.one.sig");
    mock_instance *mi = make_dev("false");
    vp_login_t *login = mock_login_new();
    CHECK_INT(begin(mi, login), VP_CONTINUE);
    CHECK_INT(exists(jwt_path), 1);
    CHECK_INT(mock_timers_live(mi), 1);
    long before = mock_reauth_count();
    mock_clock_advance(2000);
    CHECK_INT(mock_reauth_count(), before); /* unchanged file */
    write_file(jwt_path, "eyJ.two.longer.sig");
    mock_clock_advance(500);
    CHECK_INT(mock_reauth_count(), before + 1);
    CHECK_INT(begin(mi, login), VP_CONTINUE);
    CHECK_CONTAINS(login->body, "eyJ.two.longer.sig");
    mock_clock_advance(2000);
    CHECK_INT(mock_reauth_count(), before + 1);
    mock_login_free(login);
    mock_destroy(ops(), mi);
    CHECK_INT(mock_timers_live(NULL), 0);
    CHECK_INT(mock_live_secrets(), 0);
}

/* With removal, any file appearing is a new JWT. */
static void
test_watch_takes_a_new_file(void)
{
    write_file(jwt_path, "eyJ.a.sig");
    mock_instance *mi = make_dev("true");
    vp_login_t *login = mock_login_new();
    CHECK_INT(begin(mi, login), VP_CONTINUE);
    long before = mock_reauth_count();
    write_file(jwt_path, "eyJ.b.sig");
    mock_clock_advance(600);
    CHECK_INT(mock_reauth_count(), before + 1);
    CHECK_INT(exists(jwt_path), 0);
    CHECK_INT(begin(mi, login), VP_CONTINUE);
    CHECK_CONTAINS(login->body, "eyJ.b.sig");
    mock_login_free(login);
    mock_destroy(ops(), mi);
}

static void
test_refused_jwt_is_permanent_and_dropped(void)
{
    write_file(jwt_path, "eyJ.bad.sig");
    mock_instance *mi = make_dev("true");
    vp_login_t *login = mock_login_new();
    CHECK_INT(begin(mi, login), VP_CONTINUE);
    const char body[] = "{\"errors\":[\"error validating token\"]}";
    vp_auth_answer_t outage = {503, {body, sizeof body - 1}, sizeof outage};
    CHECK_INT(ops()->login_failed(&mi->pub, &outage), VP_AUTH_FAIL_TRANSIENT);
    CHECK_INT(begin(mi, login), VP_CONTINUE); /* still has it */
    vp_auth_answer_t none = {0, {"connection refused", 18}, sizeof none};
    CHECK_INT(ops()->login_failed(&mi->pub, &none), VP_AUTH_FAIL_TRANSIENT);
    vp_auth_answer_t refused = {400, {body, sizeof body - 1}, sizeof refused};
    CHECK_INT(ops()->login_failed(&mi->pub, &refused), VP_AUTH_FAIL_PERMANENT);
    CHECK_CONTAINS(mi->error, "waiting for a new JWT");
    CHECK_CONTAINS(mi->error, jwt_path);
    CHECK_INT(begin(mi, login), VP_DECLINED);
    mock_login_free(login);
    mock_destroy(ops(), mi);
    CHECK_INT(mock_live_secrets(), 0);
}

/* SIGHUP with a new role: the JWT read (and removed) before is kept. */
static void
test_reconfigure_keeps_the_jwt(void)
{
    write_file(jwt_path, "eyJ.kept.sig");
    mock_instance *mi = make_dev("true");
    vp_login_t *login = mock_login_new();
    CHECK_INT(begin(mi, login), VP_CONTINUE);
    CHECK_INT(exists(jwt_path), 0);
    const char *pairs[] = {"path", jwt_path, "role", "ops", NULL};
    char err[1024];
    mock_instance *next = make(pairs, err, sizeof err);
    CHECK_INT(next != NULL, 1);
    CHECK_INT(ops()->reconfigure(&mi->pub, &next->pub), 0);
    CHECK_INT(begin(mi, login), VP_CONTINUE);
    CHECK_STR(login->body, "{\"role\":\"ops\",\"jwt\":\"eyJ.kept.sig\"}");
    /* Another file is another source: its JWT must come from there. */
    char other[700];
    snprintf(other, sizeof other, "%s/other", dir);
    const char *moved[] = {"path", other, "role", "ops", NULL};
    mock_instance *third = make(moved, err, sizeof err);
    CHECK_INT(ops()->reconfigure(&mi->pub, &third->pub), 0);
    CHECK_INT(begin(mi, login), VP_DECLINED);
    mock_login_free(login);
    mock_destroy(ops(), mi);
    mock_destroy(ops(), next);
    mock_destroy(ops(), third);
    CHECK_INT(mock_live_secrets(), 0);
    CHECK_INT(mock_live_allocs(), 0);
}

int
main(void)
{
    snprintf(dir, sizeof dir, "%s/auth-jwt-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        printf("mkdtemp: %s\n", strerror(errno));
        return 99;
    }
    snprintf(jwt_path, sizeof jwt_path, "%s/jwt", dir);
    test_bad_config();
    test_login_takes_and_removes_the_file();
    test_no_jwt_yet_is_declined();
    test_watch_asks_for_a_login_when_the_file_changes();
    test_watch_takes_a_new_file();
    test_refused_jwt_is_permanent_and_dropped();
    test_reconfigure_keeps_the_jwt();
    unlink(jwt_path);
    rmdir(dir);
    /* One TAP line, so vaproxy's own test driver reads it too. */
    printf("1..1\n%s 1 - %d checks, %d failed\n", failures ? "not ok" : "ok",
           checks, failures);
    return failures ? 1 : 0;
}
