#!/usr/bin/env bash
# contrib/stress/run.sh: the whole stress campaign, one scenario family
# after the other, with one table at the end (about 15 minutes at the
# default sizes, plus the build).
#
#   bash contrib/stress/run.sh                     # from the repo root, as root on Debian 12
#   bash contrib/stress/run.sh clients signals     # only these families
#
# It builds vaproxyd once from a copy of the working tree (unless VAPROXYD
# and VAPROXY_PLUGIN_DIR name one) and hands it to every family.  Each
# family's knobs (SOAK_REQUESTS, DRIPPERS, ...) are listed at the top of
# its script and pass through.  OUT_DIR=dir keeps the table there; the
# exit status is 1 when a verdict says FAIL (TODO verdicts are defects
# still being fixed and do not count).
set -euo pipefail
BENCH_NAME=stress
# shellcheck source=contrib/stress/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FAMILIES=(soak upstream clients signals persist isolation)
(($#)) && FAMILIES=("$@")
for f in "${FAMILIES[@]}"; do
    [[ -r $STRESS_DIR/$f.sh ]] || die "no scenario family '$f' (one of: soak upstream clients signals persist isolation)"
done
# shellcheck disable=SC2119  # no sub-directories to make
stress_init

export STRESS_TABLE=$T/table.txt
: >"$STRESS_TABLE"
t0=$SECONDS
status=0
for f in "${FAMILIES[@]}"; do
    log "== $f"
    # Each family has its own temp dir and clean-up; a failing one does
    # not stop the others.
    bash "$STRESS_DIR/$f.sh" || { status=1; log "$f exited non-zero (its output is above)"; }
done

{
    echo
    echo "vaproxy stress campaign: $(date -u '+%Y-%m-%d %H:%M:%SZ'), $(nproc) CPUs, $((SECONDS - t0)) s"
    echo "commit: $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')"
    echo "uptime: $(uptime)"
    echo
    stress_header
    cat "$STRESS_TABLE"
} | tee "$T/summary.txt"
grep -q 'FAIL' "$STRESS_TABLE" && status=1
if [[ -n ${OUT_DIR:-} ]]; then
    mkdir -p "$OUT_DIR"
    cp "$T/summary.txt" "$OUT_DIR/"
fi
exit $status
