#!/usr/bin/env bash
# contrib/stress/isolation.sh: cross-token isolation of the lease cache.
# ISO_TOKENS tokens made through vaproxyd (so they are managed and their
# leases cached) read random database/creds/<role> paths, ISO_REQUESTS
# times from 8 threads, against the simulator; every lease answered must
# belong, per the simulator, to the token that asked.
#
#   bash contrib/stress/isolation.sh     # from the repo root, as root on Debian 12
#
# Knobs: ISO_TOKENS=100, ISO_REQUESTS=10000.  Expected: 0 cross-token answers.
set -euo pipefail
BENCH_NAME=stress-isolation
ISO_TOKENS=${ISO_TOKENS:-100}
ISO_REQUESTS=${ISO_REQUESTS:-10000}
# shellcheck source=contrib/stress/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC2119  # no sub-directories to make
stress_init

start_sim sim
VPD_PORT=$(free_port)
printf '%s\n' "$(sim_token "$SIM_PORT")" >"$T/token"
auth_cache_config "$T/iso.hcl" "http://127.0.0.1:$SIM_PORT" "$VPD_PORT" "$T/token"
start_vpd vaproxyd "$T/iso.hcl"
wait_auth "$VPD_PID" "$VPD_PORT" "$T/logs/vaproxyd.log"
"$PY" "$CLIENT" isolation --port "$VPD_PORT" --sim "http://127.0.0.1:$SIM_PORT" \
    --tokens "$ISO_TOKENS" --requests "$ISO_REQUESTS" >"$T/iso.json"
[[ -z $(jget "$T/iso.json" error) ]] || die "isolation: $(jget "$T/iso.json" error)"
cross=$(jget "$T/iso.json" cross)
stress_row cross-token "$(jget "$T/iso.json" requests)" "$(jget "$T/iso.json" failed)" \
    "$ISO_TOKENS tokens, $(jget "$T/iso.json" hits) hits, cross-token $cross" \
    "$(verdict "((cross == 0 && $(jget "$T/iso.json" failed) == 0))" "0 cross-token, 0 failed")"
