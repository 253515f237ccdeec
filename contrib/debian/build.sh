#!/bin/bash
# Builds the Debian packages vaproxyd and libvaproxy-sdk-dev.
#
#   bash contrib/debian/build.sh [--tarball vaproxy-X.Y.Z.tar.gz] [OUTDIR]
#
# dpkg-buildpackage wants debian/ at the top of the source, so the source is
# unpacked in a temporary directory and contrib/debian is copied there as
# debian/.  The source is, in this order: the tarball given (`make dist`
# output), else the committed tree (git archive HEAD: uncommitted changes
# are left out, on purpose), else this directory as it is (an unpacked
# release tarball).  The .deb, .buildinfo and .changes files land in OUTDIR
# (default: ./debs).  Build dependencies must be installed; the script says
# which are missing (contrib/debian/test.sh installs them).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
tarball=
outdir=

while [ $# -gt 0 ]; do
    case $1 in
    --tarball) tarball=$(readlink -f "$2"); shift 2 ;;
    --tarball=*) tarball=$(readlink -f "${1#*=}"); shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
    *) outdir=$1; shift ;;
    esac
done
outdir=${outdir:-$PWD/debs}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

if ! deps=$(dpkg-checkbuilddeps "$here/control" 2>&1); then
    echo "build.sh: $deps" >&2
    echo "build.sh: install them with apt-get (see contrib/debian/test.sh)" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vaproxy-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT

version=$(sed -n 's/^AC_INIT(\[vaproxy\], \[\([^]]*\)\].*/\1/p' "$top/configure.ac")
src=$work/vaproxy-$version
if [ -n "$tarball" ]; then
    mkdir "$src"
    tar -xf "$tarball" -C "$src" --strip-components=1
elif git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    mkdir "$src"
    git -C "$top" archive --format=tar HEAD | tar -x -C "$src"
else
    cp -a "$top" "$src"
fi
# The packaging of the source being built, not of the checkout around it.
rm -rf "$src/debian"
cp -a "$src/contrib/debian" "$src/debian"
rm -f "$src/debian/build.sh" "$src/debian/test.sh"

# A snapshot whose version is not the changelog's gets an entry of its own,
# so the packages say what they contain.
version=$(sed -n 's/^AC_INIT(\[vaproxy\], \[\([^]]*\)\].*/\1/p' "$src/configure.ac")
logged=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
if [ "${logged%-*}" != "$version" ]; then
    {
        echo "vaproxy ($version-0~snapshot1) UNRELEASED; urgency=medium"
        echo
        echo "  * Snapshot build of $version."
        echo
        echo " -- $(dpkg-parsechangelog -l "$src/debian/changelog" -S Maintainer)  $(date -R)"
        echo
        cat "$src/debian/changelog"
    } > "$work/changelog"
    mv "$work/changelog" "$src/debian/changelog"
fi

# The test suite runs elsewhere (contrib/check.sh); -b: binary packages only.
export DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}"
(cd "$src" && dpkg-buildpackage -us -uc -b)

shopt -s nullglob
files=("$work"/*.deb "$work"/*.buildinfo "$work"/*.changes)
[ ${#files[@]} -gt 0 ] || { echo "build.sh: no packages were built" >&2; exit 1; }
cp "${files[@]}" "$outdir/"
for f in "${files[@]}"; do echo "$outdir/$(basename "$f")"; done
