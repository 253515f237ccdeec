#!/usr/bin/env bash
# Fuzzes what clients send to vaproxyd (tests/netfuzz/fuzz_http.c) with
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer:
#
#     bash contrib/netfuzz/run.sh [libFuzzer options...]
#
# FUZZ_SECONDS (default 60) bounds the run; FUZZ_BUILD (default
# _build/netfuzz) is where the sanitized build, the growing corpus and any
# crash-*/leak-*/timeout-* reproducers go.  The seeds in
# tests/netfuzz/corpus are read, never written: copy a reproducer there by
# hand once its bug is fixed, so `make check` replays it from then on.
# Needs clang and libclang-rt-14-dev (contrib/deps.sh installs them).
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD:-$src/_build/netfuzz}
seconds=${FUZZ_SECONDS:-60}
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
# "always", the lease cache on "memory"); see setup_chain in fuzz_http.c.
make -C "$build" -s -j"$(nproc)" core/libvpcore.la \
    plugins/consistency_vault.la plugins/cache_memory.la

pc="libuv libcurl json-c openssl zlib"
llhttp_cflags=$(sed -n 's/^LLHTTP_CFLAGS = //p' "$build/Makefile")
# shellcheck disable=SC2046,SC2086
"$CC" -O1 -g $san -fsanitize=fuzzer -std=gnu11 \
    -I"$build" -I"$src/include" -I"$src/core" \
    $(pkg-config --cflags $pc) $llhttp_cflags \
    "$src/tests/netfuzz/fuzz_http.c" \
    "$build/core/.libs/libvpcore.a" "$build/core/.libs/libllhttp.a" \
    $(pkg-config --libs $pc) -lltdl -lm -o "$build/fuzz_http"

mkdir -p "$build/corpus"
cd "$build"
NETFUZZ_PLUGIN_DIR=${NETFUZZ_PLUGIN_DIR:-$build/plugins} \
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    ./fuzz_http -max_total_time="$seconds" -timeout=10 -max_len=8192 \
    -rss_limit_mb=2048 -print_final_stats=1 "$@" \
    "$build/corpus" "$src/tests/netfuzz/corpus"
