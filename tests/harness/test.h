/* A tiny unit-test harness that speaks TAP.
 *
 * Each test runs in a forked child with an alarm, so a crash or a hang in
 * one test is reported as that test's failure and the others still run.
 * Assertions print both sides.  Usage:
 *
 *     TEST(parses_numbers) { ASSERT_INT_EQ(parse("1"), 1); }
 *     int main(void) { return RUN_TESTS(T(parses_numbers), T(other)); }
 */
#ifndef VP_TEST_H
#define VP_TEST_H

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*vp_test_fn)(void);

#define TEST(name) static void name(void)

#define TEST_FAIL_(...)                                                        \
    do {                                                                       \
        fprintf(stdout, "# %s:%d: ", __FILE__, __LINE__);                      \
        fprintf(stdout, __VA_ARGS__);                                          \
        fprintf(stdout, "\n");                                                 \
        fflush(stdout);                                                        \
        _exit(1);                                                              \
    } while (0)

#define ASSERT(cond)                                                           \
    do {                                                                       \
        if (!(cond))                                                           \
            TEST_FAIL_("assertion failed: %s", #cond);                         \
    } while (0)

#define ASSERT_INT_EQ(a, b)                                                    \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_)                                                          \
            TEST_FAIL_("%s == %s: got %lld, expected %lld", #a, #b, a_, b_);   \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                    \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                 \
            TEST_FAIL_("%s == %s: got \"%s\", expected \"%s\"", #a, #b,        \
                       a_ ? a_ : "(null)", b_ ? b_ : "(null)");                \
    } while (0)

#define ASSERT_STR_CONTAINS(hay, needle)                                       \
    do {                                                                       \
        const char *h_ = (hay), *n_ = (needle);                                \
        if (!h_ || !strstr(h_, n_))                                            \
            TEST_FAIL_("%s contains \"%s\": got \"%s\"", #hay, n_,             \
                       h_ ? h_ : "(null)");                                    \
    } while (0)

#define ASSERT_NULL(p) ASSERT((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT((p) != NULL)

typedef struct {
    const char *name;
    vp_test_fn fn;
} vp_test_case;

/* One entry of the test table: T(parses_numbers). */
#define T(fn)                                                                  \
    {                                                                          \
#fn, fn                                                                \
    }

static inline int
vp_test_run_all(const vp_test_case *cases, size_t n)
{
    unsigned timeout = 20;
    const char *t = getenv("VP_TEST_TIMEOUT");
    if (t && atoi(t) > 0)
        timeout = (unsigned)atoi(t);
    const char *only = getenv("VP_TEST_ONLY");
    printf("1..%zu\n", n);
    fflush(stdout);
    for (size_t i = 0; i < n; i++) {
        if (only && strcmp(only, cases[i].name) != 0) {
            printf("ok %zu - %s # SKIP not selected\n", i + 1, cases[i].name);
            continue;
        }
        pid_t pid = fork();
        if (pid == 0) {
            alarm(timeout);
            cases[i].fn();
            fflush(stdout);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            printf("ok %zu - %s\n", i + 1, cases[i].name);
        } else {
            if (WIFSIGNALED(status))
                printf("# killed by signal %d%s\n", WTERMSIG(status),
                       WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
            else if (WIFEXITED(status) && WEXITSTATUS(status) != 1)
                printf("# exited with status %d\n", WEXITSTATUS(status));
            printf("not ok %zu - %s\n", i + 1, cases[i].name);
        }
        fflush(stdout);
    }
    return 0; /* TAP carries the verdict; the driver reads it. */
}

/* int main(void) { return RUN_TESTS(T(a), T(b)); } */
#define RUN_TESTS(...)                                                         \
    vp_test_run_all((const vp_test_case[]){__VA_ARGS__},                       \
                    sizeof((const vp_test_case[]){__VA_ARGS__}) /              \
                        sizeof(vp_test_case))

#endif
