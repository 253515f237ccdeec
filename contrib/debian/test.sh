#!/bin/bash
# Builds the Debian packages, inspects them, runs lintian, installs them,
# uses them, purges them and checks nothing is left.  Run as root on a
# Debian 12 machine (it installs packages with apt-get):
#
#   bash contrib/debian/test.sh [--tarball vaproxy-X.Y.Z.tar.gz] [--keep DIR]
#
# systemd need not be running (the postinst must work without it).  Prints
# one "ok"/"FAIL" line per check and ends with "N passed, N failed" and the
# time taken; exits non-zero when a check failed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
start=$(date +%s)
build_args=()
keep=

while [ $# -gt 0 ]; do
    case $1 in
    --tarball) build_args+=(--tarball "$2"); shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { # check "what" command...
    local what=$1; shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi
}
finish() {
    local t=$(( $(date +%s) - start ))
    echo "$pass passed, $fail failed (${t}s)"
    [ "$fail" -eq 0 ]
    exit $?
}
die() { bad "$*"; finish; }

[ "$(id -u)" -eq 0 ] || { echo "test.sh: run as root (apt-get, dpkg)" >&2; exit 2; }
export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends)

work=$(mktemp -d "${TMPDIR:-/tmp}/vaproxy-debtest.XXXXXX")
cleanup() {
    # Never leave the packages installed behind a failed run.
    dpkg -s vaproxyd >/dev/null 2>&1 && "${apt[@]}" purge vaproxyd >/dev/null 2>&1
    dpkg -s libvaproxy-sdk-dev >/dev/null 2>&1 && "${apt[@]}" purge libvaproxy-sdk-dev >/dev/null 2>&1
    if [ -n "$keep" ]; then mkdir -p "$keep" && cp "$work"/debs/* "$keep"/ 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT

if dpkg -s vaproxyd >/dev/null 2>&1 || dpkg -s libvaproxy-sdk-dev >/dev/null 2>&1; then
    die "vaproxyd or libvaproxy-sdk-dev is already installed: purge it first"
fi

# ---- build dependencies and tools ------------------------------------------
missing=$(dpkg-checkbuilddeps "$here/control" 2>&1 | sed -n 's/.*Unmet build dependencies: //p' |
          sed -e 's/([^)]*)//g' -e 's/|[^ ]*//g')
tools=()
for t in lintian:lintian fakeroot:fakeroot make:make pkg-config:pkg-config gcc:gcc; do
    command -v "${t%%:*}" >/dev/null || tools+=("${t#*:}")
done
if [ -n "$missing" ] || [ ${#tools[@]} -gt 0 ]; then
    # shellcheck disable=SC2086
    "${apt[@]}" install $missing "${tools[@]}" >"$work/apt-deps.log" 2>&1 ||
        die "installing build dependencies ($missing ${tools[*]}): see $work/apt-deps.log"
fi

# ---- build -----------------------------------------------------------------
t0=$(date +%s)
if bash "$here/build.sh" "${build_args[@]}" "$work/debs" >"$work/build.log" 2>&1; then
    ok "packages built in $(( $(date +%s) - t0 ))s"
else
    tail -30 "$work/build.log"
    die "build.sh failed"
fi
deb=$(ls "$work"/debs/vaproxyd_*.deb)
dev=$(ls "$work"/debs/libvaproxy-sdk-dev_*.deb)
changes=$(ls "$work"/debs/*.changes)
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

# ---- contents: path and mode ------------------------------------------------
dpkg-deb -c "$deb" | awk '{print $1, $6}' > "$work/deb.list"
dpkg-deb -c "$dev" | awk '{print $1, $6}' > "$work/dev.list"
has() { # has LIST MODE PATH
    grep -qxF -e "$2 ./$3" "$work/$1.list"
}
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)
unitdir=${unitdir#/}
check "vaproxyd: /usr/sbin/vaproxyd 0755" has deb -rwxr-xr-x usr/sbin/vaproxyd
for p in auth_approle auth_kubernetes auth_cert auth_token_file cache_memory consistency_vault; do
    check "vaproxyd: plugin $p.so 0644" has deb -rw-r--r-- "usr/lib/$arch/vaproxy/plugins/$p.so"
done
check "vaproxyd: no libtool .la files" bash -c "! grep -q '\\.la\$' '$work/deb.list' '$work/dev.list'"
check "vaproxyd: the systemd unit in /$unitdir" has deb -rw-r--r-- "$unitdir/vaproxyd.service"
check "vaproxyd: /etc/vaproxy/proxy.hcl 0644" has deb -rw-r--r-- etc/vaproxy/proxy.hcl
check "vaproxyd: vaproxyd(8)" has deb -rw-r--r-- usr/share/man/man8/vaproxyd.8.gz
check "vaproxyd: vaproxyd.hcl(5)" has deb -rw-r--r-- usr/share/man/man5/vaproxyd.hcl.5.gz
for e in "$top"/contrib/examples/*; do
    check "vaproxyd: example $(basename "$e")" has deb -rw-r--r-- \
        "usr/share/doc/vaproxyd/examples/$(basename "$e")"
done
check "vaproxyd: copyright" has deb -rw-r--r-- usr/share/doc/vaproxyd/copyright
check "vaproxyd: no headers" bash -c "! grep -q 'usr/include' '$work/deb.list'"
for h in "$top"/include/vaproxy/*.h; do
    check "libvaproxy-sdk-dev: vaproxy/$(basename "$h")" has dev -rw-r--r-- \
        "usr/include/vaproxy/$(basename "$h")"
done
check "libvaproxy-sdk-dev: vaproxy-sdk.pc" has dev -rw-r--r-- "usr/lib/$arch/pkgconfig/vaproxy-sdk.pc"
check "libvaproxy-sdk-dev: vaproxy-plugin(3)" has dev -rw-r--r-- usr/share/man/man3/vaproxy-plugin.3.gz
check "libvaproxy-sdk-dev: /usr/share/aclocal/vaproxy-sdk.m4" has dev -rw-r--r-- \
    usr/share/aclocal/vaproxy-sdk.m4
check "libvaproxy-sdk-dev: the mock host" has dev -rw-r--r-- usr/share/vaproxy-sdk/mock_host.c
check "libvaproxy-sdk-dev: the template project" has dev -rw-r--r-- \
    usr/share/vaproxy-sdk/template/configure.ac
check "libvaproxy-sdk-dev: the plugin guide" has dev -rw-r--r-- \
    usr/share/doc/libvaproxy-sdk-dev/GUIDE.md.gz
check "libvaproxy-sdk-dev: no daemon" bash -c "! grep -q 'sbin/vaproxyd' '$work/dev.list'"

# ---- control data ----------------------------------------------------------
check "vaproxyd: proxy.hcl is a conffile" \
    bash -c "dpkg-deb -I '$deb' conffiles | grep -qxF /etc/vaproxy/proxy.hcl"
depends=$(dpkg-deb -f "$deb" Depends)
for d in adduser libc6 libuv1 libcurl4 libjson-c5 libssl3 libltdl7; do
    check "vaproxyd: Depends on $d" grep -qE "(^|, )$d( |,|$)" <<<"$depends"
done
check "vaproxyd: postinst creates the user with adduser" \
    bash -c "dpkg-deb -I '$deb' postinst | grep -q 'adduser .*--system'"
check "vaproxyd: postinst enables the unit" \
    bash -c "dpkg-deb -I '$deb' postinst | grep -q \"deb-systemd-helper enable 'vaproxyd.service'\""
check "libvaproxy-sdk-dev: Multi-Arch: same" \
    bash -c "[ \"\$(dpkg-deb -f '$dev' Multi-Arch)\" = same ]"

# ---- lintian ---------------------------------------------------------------
lintian --info --pedantic "$changes" >"$work/lintian.log" 2>&1
echo "lintian: $(grep -c '^E:' "$work/lintian.log") E, $(grep -c '^W:' "$work/lintian.log") W," \
     "$(grep -c '^I:' "$work/lintian.log") I, $(grep -c '^P:' "$work/lintian.log") P"
grep -E '^[EW]:' "$work/lintian.log" | sed 's/^/  /'
check "lintian: no errors" bash -c "! grep -q '^E:' '$work/lintian.log'"

# ---- install (no systemd as PID 1 here: the postinst must cope) -----------
if "${apt[@]}" install "$deb" "$dev" >"$work/install.log" 2>&1; then
    ok "apt-get install of both packages"
else
    tail -20 "$work/install.log"
    die "apt-get install failed"
fi
dpkg -L vaproxyd libvaproxy-sdk-dev | sort -u > "$work/installed.list"
check "vaproxyd --version" bash -c "vaproxyd --version | grep -q '^vaproxyd '"
check "user vaproxy exists (system uid)" \
    bash -c "u=\$(id -u vaproxy) && [ \"\$u\" -lt 1000 ]"
check "group vaproxy exists" getent group vaproxy
check "/etc/vaproxy is root:vaproxy 0750" \
    bash -c "[ \"\$(stat -c '%U:%G %a' /etc/vaproxy)\" = 'root:vaproxy 750' ]"
check "the unit is enabled" test -L /etc/systemd/system/multi-user.target.wants/vaproxyd.service
# As the service runs it: the vaproxy user must be able to read its config.
check "--check-config on the installed default, as vaproxy" \
    setpriv --reuid=vaproxy --regid=vaproxy --init-groups \
        vaproxyd --check-config -config /etc/vaproxy/proxy.hcl
check "the installed examples pass --check-config" bash -c \
    'for f in /usr/share/doc/vaproxyd/examples/*; do vaproxyd --check-config -config "$f" || exit 1; done'
if command -v systemd-analyze >/dev/null; then
    # Parses the installed unit as systemd would (directives, paths, the
    # binary and its man pages exist); works without systemd as PID 1.
    if systemd-analyze verify "/$unitdir/vaproxyd.service" >"$work/verify.log" 2>&1; then
        ok "systemd-analyze verify vaproxyd.service"
    else
        cat "$work/verify.log"
        bad "systemd-analyze verify vaproxyd.service"
    fi
fi
check "man finds vaproxyd(8), vaproxyd.hcl(5), vaproxy-plugin(3)" \
    bash -c "man -w 8 vaproxyd && man -w 5 vaproxyd.hcl && man -w 3 vaproxy-plugin"
check "pkg-config knows vaproxy-sdk" pkg-config --exists vaproxy-sdk
check "pkg-config plugindir is the daemon's" bash -c \
    "[ \"\$(pkg-config --variable=plugindir vaproxy-sdk)\" = /usr/lib/$arch/vaproxy/plugins ]"

# ---- a plugin built against the installed SDK, loaded by the installed daemon
cp -a "$top/sdk/example" "$work/example"
if env -u PKG_CONFIG_PATH make -C "$work/example" >"$work/example.log" 2>&1; then
    ok "sdk/example builds with pkg-config vaproxy-sdk"
    cat > "$work/example.hcl" <<'EOF'
listener "tcp" {
  address     = "127.0.0.1:8100"
  tls_disable = true
}
plugin "consistency" "hello" {
  config = { greeting = "from the package test" }
}
EOF
    check "the installed daemon loads it (--dump-chain)" bash -c \
        "vaproxyd --dump-chain --config '$work/example.hcl' \
            --plugin-dir /usr/lib/$arch/vaproxy/plugins --plugin-dir '$work/example' |
         grep -q 'hello'"
else
    cat "$work/example.log"
    bad "sdk/example builds with pkg-config vaproxy-sdk"
fi

# ---- the template project, from the installed kit, with the aclocal macro
cp -a /usr/share/vaproxy-sdk/template "$work/template"
if (cd "$work/template" && env -u PKG_CONFIG_PATH -u ACLOCAL_PATH sh -c \
        'autoreconf -fi && ./configure && make && make check') >"$work/template.log" 2>&1; then
    ok "the installed template builds and passes its tests (VAPROXY_CHECK_SDK)"
else
    tail -n 30 "$work/template.log"
    bad "the installed template builds and passes its tests (VAPROXY_CHECK_SDK)"
fi

# ---- purge -----------------------------------------------------------------
if "${apt[@]}" purge vaproxyd libvaproxy-sdk-dev >"$work/purge.log" 2>&1; then
    ok "apt-get purge of both packages"
else
    tail -20 "$work/purge.log"
    bad "apt-get purge failed"
fi
left=()
while read -r p; do
    # Directories other packages share (/usr, /lib, /usr/share/man/man8,
    # ...) stay; the package's own ones are checked below.
    [ -d "$p" ] && continue
    [ -e "$p" ] || [ -L "$p" ] && left+=("$p")
done < "$work/installed.list"
if [ ${#left[@]} -eq 0 ]; then ok "no file of the packages is left"; else bad "left behind: ${left[*]}"; fi
for d in /etc/vaproxy /var/lib/vaproxy /var/log/vaproxy /usr/lib/"$arch"/vaproxy /usr/include/vaproxy \
         /usr/share/doc/vaproxyd /usr/share/doc/libvaproxy-sdk-dev; do
    check "$d is gone" test ! -e "$d"
done
check "user vaproxy is gone" bash -c "! getent passwd vaproxy"
check "group vaproxy is gone" bash -c "! getent group vaproxy"
check "no enablement symlink is left" \
    test ! -e /etc/systemd/system/multi-user.target.wants/vaproxyd.service

finish
