/* Unit tests of the auth method "example", without a daemon: the plugin's
 * source is compiled into this program and driven through the SDK's mock
 * host (mock_host.h), which plays the daemon's part.  No network: the
 * tests check the login request the plugin describes and the messages it
 * gives, which is all an auth plugin decides.
 *
 * Run by `make check`; exits 0 when every check passed. */

/* mkdtemp and unlink are POSIX, not C11: ask for them (a project that
 * chose its feature macros on the command line keeps its choice). */
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mock_host.h"

/* The plugin's descriptor, defined in src/auth_example.c. */
extern const vp_plugin_t auth_example_LTX_vaproxy_plugin;

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
static char password_path[600];

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
        printf("cannot write %s: %s\n", path, strerror(errno));
        exit(99); /* a hard error for automake, not a test failure */
    }
}

static const vp_provide_t *
provide(void)
{
    return &auth_example_LTX_vaproxy_plugin.provides[0];
}

static const vp_auth_ops_t *
ops(void)
{
    return provide()->ops;
}

/* An instance with the given configuration, as the daemon makes it:
 * schema check first, then create.  NULL with the message in err. */
static mock_instance *
make(const char *const *pairs, char *err, size_t err_len)
{
    int rc = 0;
    return mock_create(ops(), provide()->name, provide()->schema, pairs, &rc,
                       err, err_len);
}

static mock_instance *
make_alice(void)
{
    const char *pairs[] = {"username", "alice", "password_file_path",
                           password_path, NULL};
    char err[1024];
    mock_instance *mi = make(pairs, err, sizeof err);
    if (!mi) {
        printf("creating the instance failed: %s\n", err);
        exit(99);
    }
    return mi;
}

/* ---- tests ----------------------------------------------------------- */

static void
test_descriptor(void)
{
    const vp_plugin_t *d = &auth_example_LTX_vaproxy_plugin;
    CHECK_INT(d->magic, VP_PLUGIN_MAGIC);
    CHECK_INT(d->abi_major, VP_ABI_MAJOR);
    CHECK_STR(d->name, "auth_example");
    CHECK_INT(provide()->kind, VP_KIND_AUTH);
    CHECK_STR(provide()->name, "example");
    CHECK_INT(ops()->size, sizeof(vp_auth_ops_t));
}

/* The request the daemon will send: PUT <mount>/login/<user> with the
 * password from the file (trimmed), and nothing secret in the log. */
static void
test_login_request(void)
{
    write_file(password_path, "s3cret-pw\n");
    mock_instance *mi = make_alice();
    vp_login_t *login = mock_login_new();
    mock_login_default(login, "auth/userpass");
    mock_log_clear();

    CHECK_INT(ops()->login_begin(&mi->pub, login), VP_CONTINUE);
    CHECK_STR(login->method, "PUT");
    CHECK_STR(login->path, "auth/userpass/login/alice");
    CHECK_STR(login->body, "{\"password\":\"s3cret-pw\"}");
    CHECK_INT(login->token == NULL, 1);
    CHECK_LACKS(mock_log_text(), "s3cret-pw");

    /* Rotation: the file is read again at the next login. */
    write_file(password_path, "rotated-pw");
    mock_login_default(login, "auth/userpass");
    CHECK_INT(ops()->login_begin(&mi->pub, login), VP_CONTINUE);
    CHECK_STR(login->body, "{\"password\":\"rotated-pw\"}");

    mock_login_free(login);
    mock_destroy(ops(), mi);
    /* Everything the plugin took from the host went back, secrets wiped. */
    CHECK_INT(mock_live_secrets(), 0);
    CHECK_INT(mock_live_allocs(), 0);
}

/* A password that cannot be read yet: not a request, but a reason the
 * operator can act on, and a retry later (DECLINED). */
static void
test_password_missing(void)
{
    unlink(password_path);
    mock_instance *mi = make_alice();
    vp_login_t *login = mock_login_new();
    mock_login_default(login, "auth/userpass");
    CHECK_INT(ops()->login_begin(&mi->pub, login), VP_DECLINED);
    CHECK_CONTAINS(mi->error, password_path);

    write_file(password_path, "  \n");
    CHECK_INT(ops()->login_begin(&mi->pub, login), VP_DECLINED);
    CHECK_CONTAINS(mi->error, "is empty");
    mock_login_free(login);
    mock_destroy(ops(), mi);
    CHECK_INT(mock_live_secrets(), 0);
}

/* Bad configuration never makes an instance, and the message names the
 * key (schema errors come from the host, value errors from create). */
static void
test_bad_config(void)
{
    char err[1024];
    const char *no_user[] = {"password_file_path", password_path, NULL};
    CHECK_INT(make(no_user, err, sizeof err) == NULL, 1);
    CHECK_CONTAINS(err, "missing required key \"username\"");

    const char *typo[] = {"username", "alice", "password_file", "x", NULL};
    CHECK_INT(make(typo, err, sizeof err) == NULL, 1);
    CHECK_CONTAINS(err, "unknown key \"password_file\"");

    const char *slash[] = {"username", "../sys/seal", "password_file_path",
                           password_path, NULL};
    CHECK_INT(make(slash, err, sizeof err) == NULL, 1);
    CHECK_CONTAINS(err, "username must be");
    CHECK_CONTAINS(err, "\"../sys/seal\"");

    const char *empty_path[] = {"username", "alice", "password_file_path", "",
                                NULL};
    CHECK_INT(make(empty_path, err, sizeof err) == NULL, 1);
    CHECK_CONTAINS(err, "password_file_path must be");
    CHECK_INT(mock_live_allocs(), 0);
}

/* Every answer the daemon passes is final: an auth block, or a wrap_info
 * when the method is configured with wrap_ttl. */
static void
test_answers(void)
{
    write_file(password_path, "s3cret-pw");
    mock_instance *mi = make_alice();
    vp_login_t *next = mock_login_new();
    static const char auth[] = "{\"auth\":{\"client_token\":\"hvs.x\","
                               "\"metadata\":{\"username\":\"alice\"}}}";
    static const char wrapped[] = "{\"wrap_info\":{\"token\":\"hvs.w\"}}";
    vp_auth_answer_t a = {200, {auth, sizeof auth - 1}, sizeof a};
    mock_log_clear();
    CHECK_INT(ops()->login_step(&mi->pub, &a, next), VP_DONE);
    CHECK_CONTAINS(mock_log_text(), "logged in as alice");
    CHECK_LACKS(mock_log_text(), "hvs.x");
    vp_auth_answer_t w = {200, {wrapped, sizeof wrapped - 1}, sizeof w};
    CHECK_INT(ops()->login_step(&mi->pub, &w, next), VP_DONE);
    CHECK_INT(next->path == NULL, 1); /* nothing more to send */
    mock_login_free(next);
    mock_destroy(ops(), mi);
    CHECK_INT(mock_live_secrets(), 0);
}

int
main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/test-auth-example-XXXXXX",
             tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        printf("mkdtemp %s: %s\n", dir, strerror(errno));
        return 99;
    }
    snprintf(password_path, sizeof password_path, "%s/password", dir);

    test_descriptor();
    test_login_request();
    test_password_missing();
    test_bad_config();
    test_answers();

    unlink(password_path);
    rmdir(dir);
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
