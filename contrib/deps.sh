#!/usr/bin/env bash
# Installs what building and testing vaproxy needs, from Debian 12's
# archive only.  Sourced by the demo, the test run and the benchmark.
set -euo pipefail

VP_BUILD_DEPS=(autoconf automake libtool pkg-config make gcc
    libuv1-dev libssl-dev libcurl4-openssl-dev libjson-c-dev libltdl-dev zlib1g-dev
    libnghttp2-dev node-llhttp python3 openssl curl ca-certificates nghttp2-client)

vp_install_deps() {
    local missing=()
    for p in "${VP_BUILD_DEPS[@]}" "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if ((${#missing[@]})); then
        echo "Installing: ${missing[*]}"
        if [[ $(id -u) -ne 0 ]]; then
            echo "error: run as root to install packages (apt-get)" >&2
            return 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# Configures and builds vaproxy, the tree this file is in, in BUILD_DIR
# (out of tree) with extra configure arguments.
vp_build() {
    local src build
    src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    build=$1
    shift
    if [[ ! -x "$src/configure" ]]; then
        (cd "$src" && autoreconf -fi >/dev/null 2>&1) || (cd "$src" && autoreconf -fi)
    fi
    mkdir -p "$build"
    if [[ ! -f "$build/Makefile" ]]; then
        (cd "$build" && "$src/configure" -q "$@" 2>&1 | grep -v "^rm: cannot remove 'core'" || true)
        [[ -f "$build/Makefile" ]] || { echo "error: configure failed" >&2; return 1; }
    fi
    make -C "$build" -j"$(nproc)" -s >/dev/null
}
