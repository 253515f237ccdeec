#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (run as root):
#
#     bash contrib/check.sh
#
# 1. installs the build dependencies with apt-get;
# 2. checks that every tracked .c and .h is clang-formatted (one test);
# 3. builds with warnings as errors and runs `make check` (unit and
#    integration tests);
# 4. builds again with AddressSanitizer + UndefinedBehaviorSanitizer
#    (clang, warnings as errors) and runs the same suite;
# 5. clones the committed tree into a dot-directory (as in ~/.cache) and
#    runs `make distcheck` from a build directory inside it: the tarball
#    builds (-O0, warnings as errors), passes `make check`, installs under
#    the dot-directory, uninstalls cleanly, and the SDK example plugin
#    builds against the installed headers -- and, since the whole suite
#    runs there, nothing depends on where the tree lives (glob's "**"
#    skips dot-directories, for one);
# 6. builds the Debian packages from that tarball, lints, installs, uses
#    and purges them (contrib/debian/test.sh; the package build does not
#    run the suite again).
# The suites mostly wait, so the sanitizer build (4) runs behind the plain
# suite (3) and the clone's set-up (5) behind the sanitizer suite, at a low
# priority.  It ends with one line "N passed, N failed" over every test
# run, and says how long each step took.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
# shellcheck source=contrib/deps.sh
. contrib/deps.sh
vp_install_deps clang libclang-rt-14-dev clang-format git

passed=0
failed=0
status=0
started=$SECONDS
tmp=$(mktemp -d)
# A failed distcheck leaves its tree read-only.
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

# One test that is not a test-suite.log: counts it and says how it went.
one() {
    local what=$1
    shift
    if "$@"; then
        echo "$what: ok"
        passed=$((passed + 1))
    else
        echo "$what: FAILED"
        failed=$((failed + 1))
        status=1
    fi
}

took() {
    echo "   ($(( SECONDS - $1 ))s)"
}

# Adds one test-suite.log's counts (or a make output's summary) to the
# totals and shows its failures; the failing tests' own logs are looked
# for in LOGDIR (default: the directory of LOG).
tally() {
    local log=$1 what=$2 logdir=${3:-$(dirname "$1")} p f e
    p=$(sed -n 's/^# PASS: *//p' "$log" | head -n1)
    f=$(sed -n 's/^# FAIL: *//p' "$log" | head -n1)
    e=$(sed -n 's/^# ERROR: *//p' "$log" | head -n1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0} + ${e:-0}))
    echo "$what: ${p:-0} passed, $(( ${f:-0} + ${e:-0} )) failed"
    if (( ${f:-0} + ${e:-0} > 0 )); then
        grep -E '^(FAIL|ERROR):' "$log" || true
        # Show the failing tests' own logs (the automake harness hides them).
        for t in $(grep -E '^(FAIL|ERROR):' "$log" | awk '{print $2}' | sort -u); do
            local tl
            tl="$logdir/${t%.py}.log"
            [[ -f $tl ]] && { echo "---- $tl"; grep -v '^ok ' "$tl" | tail -n 60; }
        done
    fi
}

# The suite mostly waits (TTLs, timeouts, back-offs, a daemon's start):
# on a 2-core box `make -j2 check` kept the CPUs 30% busy (164 s of wall
# time for 50 s of CPU), `make -j4 check` took 90 s.  So tests run two
# per core.
test_jobs=$(( $(nproc) * 2 ))

# shellcheck disable=SC2317  # called through the $meanwhile functions
# Runs a command in the background at a low priority, its output in LOG:
# the next step's build, while a suite leaves the CPUs mostly idle.  The
# tests keep their priority, so they are not slowed.  Sets behind_pid.
behind() {
    local log=$1
    shift
    ( renice -n 10 -p "$BASHPID" >/dev/null 2>&1; "$@" ) >"$log" 2>&1 &
    behind_pid=$!
}

# Builds, then runs `make check`; the function named by $meanwhile (if
# any) is called between the two, to start something behind the suite.
run_suite() {
    local build=$1 what=$2 t0=$SECONDS
    shift 2
    echo "== $what"
    vp_build "$build" "$@" || status=1
    if [[ -n ${meanwhile:-} ]]; then
        "$meanwhile"
        meanwhile=
    fi
    make -C "$build" -j"$test_jobs" -s check >/dev/null 2>&1 || status=1
    took "$t0"
    if [[ -f $build/test-suite.log ]]; then
        tally "$build/test-suite.log" "$what"
    else
        echo "$what: no test-suite.log (build failed)"
        failed=$((failed + 1))
        status=1
    fi
}

# The committed tree, cloned as CI clones it, under a dot-directory (as in
# ~/.cache), autoreconf'd and configured in a build directory in there.
# configure refuses a working directory with a space in it, so the path
# has none.
dot="$tmp/.cache/vaproxy"
dcbuild="$dot/build"
# shellcheck disable=SC2317  # called through behind()
prepare_dot() {
    git -C "$src" rev-parse --git-dir >/dev/null 2>&1 &&
        git clone -q "$src" "$dot/src" &&
        (cd "$dot/src" && autoreconf -fi) &&
        mkdir -p "$dcbuild" &&
        (cd "$dcbuild" && "$dot/src/configure" -q)
}

# The tree is fully formatted (.clang-format); a change that is not fails here.
# shellcheck disable=SC2317  # called through one()
formatted() {
    git -C "$src" ls-files -z -- '*.c' '*.h' |
        (cd "$src" && xargs -0 clang-format --dry-run -Werror)
}
echo "== clang-format"
t0=$SECONDS
one "clang-format" formatted
took "$t0"

san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
asan_args=(CC=clang CFLAGS="-O1 -g $san" LDFLAGS="$san" --enable-werror)
# shellcheck disable=SC2317  # called through $meanwhile
build_asan_behind() {
    behind "$src/_build/asan-build.log" vp_build "$src/_build/asan" "${asan_args[@]}"
    asan_pid=$behind_pid
}
meanwhile=build_asan_behind run_suite "$src/_build/check" "make check" \
    CFLAGS="-O2 -g" --enable-werror

# The sanitizer build started behind the plain suite; run_suite's own
# build then only finishes it (or shows why it failed).
wait "$asan_pid" || true
# Sanitized code runs a few times slower: each unit test gets 60 s instead
# of the harness's 20 before it counts as hung.
# shellcheck disable=SC2317  # called through $meanwhile
prepare_dot_behind() {
    behind "$src/_build/dot-prepare.log" prepare_dot
    dot_pid=$behind_pid
}
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 VP_TEST_TIMEOUT=60 \
    meanwhile=prepare_dot_behind run_suite "$src/_build/asan" "make check (ASan+UBSan)" \
    "${asan_args[@]}"

# `make distcheck` from the build directory inside the dot-directory
# clone: the tarball is unpacked, built, tested, installed and uninstalled
# below the dot-directory, so this one suite run proves both that the
# tarball is whole and that nothing depends on where the tree lives.  -O0
# here, -O2 and -O1 (sanitizers) above: each optimisation level warns
# differently.
# The clone is made and configured behind the sanitizer suite.
echo "== make distcheck in a dot-directory"
t0=$SECONDS
tarball=
if wait "$dot_pid"; then
    # The distcheck's own `make check` writes its summary into this log
    # (the unpacked tree is removed when distcheck succeeds).
    if make -C "$dcbuild" -j"$test_jobs" -s distcheck \
        DISTCHECK_CONFIGURE_FLAGS="CFLAGS='-O0 -g' --enable-werror" \
        >"$src/_build/distcheck.log" 2>&1; then
        echo "make distcheck: ok"
        passed=$((passed + 1))
    else
        echo "make distcheck: FAILED (tail of _build/distcheck.log follows)"
        tail -n 40 "$src/_build/distcheck.log"
        failed=$((failed + 1))
        status=1
    fi
    took "$t0"
    if grep -q '^# PASS:' "$src/_build/distcheck.log"; then
        # A failed distcheck leaves its tree, with the tests' logs.
        tally "$src/_build/distcheck.log" "make check (distcheck, dot-directory)" \
            "$(ls -d "$dcbuild"/vaproxy-*/_build/sub 2>/dev/null | head -n1)"
    else
        echo "make check (distcheck, dot-directory): no test summary"
        failed=$((failed + 1))
        status=1
    fi
    tarball=$(ls "$dcbuild"/vaproxy-*.tar.gz 2>/dev/null | head -n1 || true)
else
    echo "make distcheck: no git checkout to clone, or it did not configure"
    tail -n 20 "$src/_build/dot-prepare.log"
    failed=$((failed + 1))
    status=1
fi

# The Debian packages, built from the tarball distcheck just made: built,
# inspected, linted, installed, used and purged (contrib/debian/test.sh).
echo "== Debian packages"
t0=$SECONDS
if [[ -n $tarball ]]; then
    # The package build runs no tests (nocheck, contrib/debian/rules); it
    # may use every core.
    DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
        bash contrib/debian/test.sh --tarball "$tarball" >"$src/_build/debian.log" 2>&1 || status=1
    dp=$(grep -c '^ok ' "$src/_build/debian.log" || true)
    df=$(grep -c '^FAIL ' "$src/_build/debian.log" || true)
    tail -n1 "$src/_build/debian.log"
    grep '^FAIL ' "$src/_build/debian.log" || true
    if (( dp == 0 && df == 0 )); then
        tail -n 30 "$src/_build/debian.log"
        df=1
    fi
    passed=$((passed + dp))
    failed=$((failed + df))
else
    echo "Debian packages: no tarball (distcheck failed)"
    failed=$((failed + 1))
    status=1
fi
took "$t0"

echo "all steps: $(( (SECONDS - started) / 60 ))m$(( (SECONDS - started) % 60 ))s"
echo "$passed passed, $failed failed"
exit $status
