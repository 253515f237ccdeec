#!/usr/bin/env bash
# contrib/fuzz/run.sh: builds the fuzz targets of tests/fuzz with clang's
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer, and runs each
# for a while on a copy of its corpus.
#
#   bash contrib/fuzz/run.sh                 # every target, 60 s each
#   bash contrib/fuzz/run.sh persist config  # only these
#   bash contrib/fuzz/run.sh --long [target...]  # 10 minutes each; a crash
#                                            # is minimized into the corpus
#
# Knobs (environment):
#   FUZZ_SECONDS=60    run time per target (0: build only; 600 with --long)
#   FUZZ_BUILD=dir     the separate build directory (default _build/fuzz)
#   FUZZ_JOBS=2        make -j for the build
#
# The core is configured once in FUZZ_BUILD (on a copy of the tree in
# FUZZ_BUILD/src, refreshed each run) with the sanitizers and
# coverage instrumentation; each target is linked against that build's
# core/libvpcore.la objects with libFuzzer's main instead of replay.c.
# New inputs go to FUZZ_BUILD/corpus/<target> (seeded from
# tests/fuzz/corpus/<target>, which stays untouched); crashes to
# FUZZ_BUILD/crashes/<target>/.  A crash found: fix it, then copy the
# reproducer into tests/fuzz/corpus/<target>/ so `make check` replays it.
#
# --long is the hardening run: each target FUZZ_SECONDS (default 600), and
# a crash, leak or timeout is minimized with libFuzzer's -minimize_crash
# into tests/fuzz/corpus/<target>/crash-<sha1> (a reproducer: the check
# program tests/fuzz/fuzz_<target> replays it from then on, and fails
# until the bug is fixed).  The script then names that regression test.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-$src/_build/fuzz}
long=0
if [[ ${1:-} == --long ]]; then
    long=1
    shift
fi
seconds=${FUZZ_SECONDS:-$((long ? 600 : 60))}
minimize_secs=${FUZZ_MINIMIZE_SECONDS:-120}
jobs=${FUZZ_JOBS:-2}
# Every target in tests/fuzz, so a new one is fuzzed without editing this.
all=$(cd "$src/tests/fuzz" &&
    for f in fuzz_*.c; do f=${f#fuzz_}; echo "${f%.c}"; done | tr '\n' ' ')
targets=${*:-$all}

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-O1 -g -fno-omit-frame-pointer $san -fsanitize=fuzzer-no-link"

# The build works on a copy of the tree (git's files plus untracked ones
# not ignored, with their times, so make rebuilds only what changed):
# a source tree configured in place refuses a second, separate build.
tree=$build/src
mkdir -p "$tree"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$src" && git ls-files -co --exclude-standard -z |
        tar --null -T - -cf -) | tar -C "$tree" -xf -
else
    # A release tarball: no build directories, and nothing of a build in
    # place (its config.status would refuse this configure, and VPATH
    # would find its objects).
    tar -C "$src" --exclude=./_build --exclude=./config.status \
        --exclude='*.o' --exclude='*.lo' --exclude='*.la' --exclude=.libs \
        -cf - . | tar -C "$tree" -xf -
fi
if [[ ! -f $build/Makefile ]]; then
    [[ -x $tree/configure ]] || (cd "$tree" && autoreconf -fi >/dev/null 2>&1)
    (cd "$build" && "$tree/configure" CC=clang CFLAGS="$cflags" \
        LDFLAGS="$san" >configure.log)
fi
make -C "$build" -s -j"$jobs" core/libvpcore.la

# A variable of the build's Makefile (the flags configure found).  The
# single quotes are meant: $($*) is make's syntax, for make to expand.
# shellcheck disable=SC2016
mkvar() {
    printf 'print-%%:\n\t@echo $($*)\n' |
        make -s -C "$build" -f Makefile -f - "print-$1"
}
cppflags="-I$build -I$tree/include -I$tree/core -I$tree/tests/fuzz \
    -I$tree/plugins/consistency_vault $(mkvar LLHTTP_CFLAGS) \
    $(mkvar UV_CFLAGS) $(mkvar CURL_CFLAGS) $(mkvar JSONC_CFLAGS) \
    $(mkvar OPENSSL_CFLAGS)"
# The convenience libraries' archives hold every core object.
libs="$build/core/.libs/libvpcore.a $build/core/.libs/libllhttp.a \
    $(mkvar UV_LIBS) $(mkvar CURL_LIBS) $(mkvar JSONC_LIBS) \
    $(mkvar OPENSSL_LIBS) $(mkvar ZLIB_LIBS) $(mkvar NGHTTP2_LIBS) \
    $(mkvar LTDL_LIBS) -lm -lpthread"

mkdir -p "$build/bin"
for t in $targets; do
    extra=
    [[ $t == index_state ]] && extra=$tree/plugins/consistency_vault/index_state.c
    [[ $t == h2 ]] && extra=$tree/tests/netfuzz/fuzz_server.c
    echo "== build fuzz_$t"
    # shellcheck disable=SC2086
    clang -std=gnu11 -O1 -g -fno-omit-frame-pointer $san -fsanitize=fuzzer \
        $cppflags -o "$build/bin/fuzz_$t" "$tree/tests/fuzz/fuzz_$t.c" \
        $extra $libs
done
(( seconds > 0 )) || exit 0

# Seeds kept elsewhere in the tree (replay.c reads the same ones).
seed_dirs() {
    local configs="$src/tests/data/config $src/contrib/examples"
    case $1 in
    cfgtree) echo "$configs" ;;
    config) echo "$src/tests/fuzz/corpus/cfgtree $configs" ;;
    esac
}

# minimize TARGET CRASH_DIR: each new artifact of this run, minimized into
# the target's corpus as a reproducer (bounded by FUZZ_MINIMIZE_SECONDS).
minimize() {
    local t=$1 dir=$2 a out
    for a in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
        # The markers and logs this function leaves beside an artifact
        # match the same patterns: they are not crashes.
        case $a in *.minimized | *.minimize.log) continue ;; esac
        [[ -f $a && ! -e $a.minimized ]] || continue
        out=$src/tests/fuzz/corpus/$t/crash-$(sha1sum "$a" | cut -c1-40)
        echo "   minimizing $a"
        ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
            "$build/bin/fuzz_$t" -minimize_crash=1 -max_total_time="$minimize_secs" \
            -exact_artifact_path="$out" "$a" >"$a.minimize.log" 2>&1 || true
        # Nothing smaller reproduced: keep the original.
        [[ -s $out ]] || cp "$a" "$out"
        touch "$a.minimized"
        echo "   reproducer: ${out#"$src"/}"
        echo "   regression test: tests/fuzz/fuzz_$t replays it in make check; it fails until"
        echo "   the bug is fixed (make check TESTS=tests/fuzz/fuzz_$t).  Commit the reproducer"
        echo "   with the fix, and add a unit test in tests/unit/ for the function at fault."
    done
}

status=0
for t in $targets; do
    corpus=$build/corpus/$t crashes=$build/crashes/$t
    mkdir -p "$corpus" "$crashes"
    echo "== run fuzz_$t for ${seconds}s"
    # A crash, leak or UB stops the run with a non-zero status; keep going
    # with the other targets and report at the end.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/bin/fuzz_$t" -max_total_time="$seconds" -max_len=65536 \
        -rss_limit_mb=2048 -artifact_prefix="$crashes/" -print_final_stats=1 \
        "$corpus" "$src/tests/fuzz/corpus/$t" $(seed_dirs "$t") \
        >"$build/fuzz_$t.log" 2>&1 || { status=1; echo "   FAILED: see $build/fuzz_$t.log and $crashes/"; }
    grep -E '^stat::(number_of_executed_units|new_units_added)' \
        "$build/fuzz_$t.log" | sed 's/^/   /' || true
    ((long)) && minimize "$t" "$crashes"
done
exit $status
