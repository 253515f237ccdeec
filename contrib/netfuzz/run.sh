#!/usr/bin/env bash
# Fuzzes what clients send to vaproxyd (tests/netfuzz/fuzz_http.c) with
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer:
#
#     bash contrib/netfuzz/run.sh [--long] [libFuzzer options...]
#
# FUZZ_SECONDS (default 60) bounds the run; FUZZ_BUILD (default
# _build/netfuzz) is where the sanitized build, the growing corpus and any
# crash-*/leak-*/timeout-* reproducers go.  The seeds in
# tests/netfuzz/corpus are read, never written: copy a reproducer there by
# hand once its bug is fixed, so `make check` replays it from then on.
# Needs clang and libclang-rt-14-dev (contrib/deps.sh installs them).
#
# --long is the hardening run: FUZZ_SECONDS defaults to 600, and each
# crash-*/leak-*/timeout-* of the run is minimized with libFuzzer's
# -minimize_crash into tests/netfuzz/corpus/crash-<sha1>, a reproducer that
# the check program tests/netfuzz/replay runs from then on (and fails on
# until the bug is fixed); the script names that regression test.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-$src/_build/netfuzz}
long=0
if [[ ${1:-} == --long ]]; then
    long=1
    shift
fi
seconds=${FUZZ_SECONDS:-$((long ? 600 : 60))}
minimize_secs=${FUZZ_MINIMIZE_SECONDS:-120}
CC=${CC:-clang}

# The library is built with coverage hooks (fuzzer-no-link); only the
# final link pulls in libFuzzer's main().
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
if [[ -f $src/config.status ]]; then
    echo "run.sh builds out of tree: run 'make distclean' in $src first" >&2
    exit 1
fi
mkdir -p "$build"
if [[ ! -f $build/Makefile ]]; then
    [[ -x $src/configure ]] || (cd "$src" && autoreconf -fi)
    (cd "$build" && "$src/configure" -q CC="$CC" \
        CFLAGS="-O1 -g $san -fsanitize=fuzzer-no-link" LDFLAGS="$san")
fi
# The two plugins give the fuzzed router the daemon's chain (consistency
# "always", the lease cache on "memory"); see setup_chain in fuzz_server.c.
make -C "$build" -s -j"$(nproc)" core/libvpcore.la \
    plugins/consistency_vault.la plugins/cache_memory.la

pc="libuv libcurl json-c openssl zlib libnghttp2"
llhttp_cflags=$(sed -n 's/^LLHTTP_CFLAGS = //p' "$build/Makefile")
# shellcheck disable=SC2046,SC2086
"$CC" -O1 -g $san -fsanitize=fuzzer -std=gnu11 \
    -I"$build" -I"$src/include" -I"$src/core" \
    $(pkg-config --cflags $pc) $llhttp_cflags \
    "$src/tests/netfuzz/fuzz_http.c" "$src/tests/netfuzz/fuzz_server.c" \
    "$build/core/.libs/libvpcore.a" "$build/core/.libs/libllhttp.a" \
    $(pkg-config --libs $pc) -lltdl -lm -o "$build/fuzz_http"

mkdir -p "$build/corpus"
cd "$build"
export NETFUZZ_PLUGIN_DIR=${NETFUZZ_PLUGIN_DIR:-$build/plugins}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Artifacts from earlier runs are not this run's findings.
touch "$build/.run-start"
status=0
./fuzz_http -max_total_time="$seconds" -timeout=10 -max_len=8192 \
    -rss_limit_mb=2048 -print_final_stats=1 "$@" \
    "$build/corpus" "$src/tests/netfuzz/corpus" || status=$?
((long)) || exit $status

for a in crash-* leak-* timeout-* oom-*; do
    [[ -f $a && $a -nt $build/.run-start ]] || continue
    out=$src/tests/netfuzz/corpus/crash-$(sha1sum "$a" | cut -c1-40)
    echo "minimizing $build/$a"
    ./fuzz_http -minimize_crash=1 -max_total_time="$minimize_secs" -timeout=10 \
        -exact_artifact_path="$out" "$a" >"$a.minimize.log" 2>&1 || true
    # Nothing smaller reproduced: keep the original.
    [[ -s $out ]] || cp "$a" "$out"
    echo "reproducer: ${out#"$src"/}"
    echo "regression test: tests/netfuzz/replay replays it in make check; it fails until the"
    echo "bug is fixed (make check TESTS=tests/netfuzz/replay).  Commit the reproducer with"
    echo "the fix, and add a case to tests/integration/test_garbage.py if a client can send it."
done
exit $status
