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
# 5. clones the committed tree into a dot-directory, installs into another
#    and runs a plain -O0 `make check` there: nothing may depend on where
#    the tree lives (glob's "**" skips dot-directories, for one);
# 6. runs `make distcheck` (tarball builds, installs, the SDK example
#    plugin builds against the installed headers);
# 7. builds the Debian packages from that tarball, lints, installs, uses
#    and purges them (contrib/debian/test.sh).
# It ends with one line "N passed, N failed" over every test run, and says
# how long each step took.
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
trap 'rm -rf "$tmp"' EXIT

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

# Adds one test-suite.log's counts to the totals and shows its failures.
tally() {
    local log=$1 what=$2 p f e
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
            tl="$(dirname "$log")/${t%.py}.log"
            [[ -f $tl ]] && { echo "---- $tl"; grep -v '^ok ' "$tl" | tail -n 60; }
        done
    fi
}

run_suite() {
    local build=$1 what=$2 t0=$SECONDS
    shift 2
    echo "== $what"
    vp_build "$build" "$@" || status=1
    make -C "$build" -j"$(nproc)" -s check >/dev/null 2>&1 || status=1
    took "$t0"
    if [[ -f $build/test-suite.log ]]; then
        tally "$build/test-suite.log" "$what"
    else
        echo "$what: no test-suite.log (build failed)"
        failed=$((failed + 1))
        status=1
    fi
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

run_suite "$src/_build/check" "make check" CFLAGS="-O2 -g" --enable-werror

san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
# Sanitized code runs a few times slower: each unit test gets 60 s instead
# of the harness's 20 before it counts as hung.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 VP_TEST_TIMEOUT=60 \
    run_suite "$src/_build/asan" "make check (ASan+UBSan)" \
    CC=clang CFLAGS="-O1 -g $san" LDFLAGS="$san" --enable-werror

# The committed tree, cloned as CI clones it, under a dot-directory (as in
# ~/.cache) and installing under another (as in ~/.local).  configure
# refuses a working directory with a space in it, so the path has none.
dot="$tmp/.cache/vaproxy"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1 &&
    git clone -q "$src" "$dot/src"; then
    VP_SRC="$dot/src" run_suite "$dot/build" "make check in a dot-directory" \
        CFLAGS="-O0 -g" --enable-werror --prefix="$tmp/.local"
else
    echo "== make check in a dot-directory"
    echo "make check in a dot-directory: no git checkout to clone"
    failed=$((failed + 1))
    status=1
fi

echo "== make distcheck"
t0=$SECONDS
if make -C "$src/_build/check" -s distcheck >"$src/_build/distcheck.log" 2>&1; then
    echo "make distcheck: ok"
    passed=$((passed + 1))
else
    echo "make distcheck: FAILED (tail of _build/distcheck.log follows)"
    tail -n 40 "$src/_build/distcheck.log"
    failed=$((failed + 1))
    status=1
fi
took "$t0"

# The Debian packages, built from the tarball distcheck just made: built,
# inspected, linted, installed, used and purged (contrib/debian/test.sh).
echo "== Debian packages"
t0=$SECONDS
tarball=$(ls "$src"/_build/check/vaproxy-*.tar.gz 2>/dev/null | head -n1 || true)
if [[ -n $tarball ]]; then
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
