#!/usr/bin/env bash
# contrib/stress/signals.sh: signals an operator sends while clients are
# busy: ten SIGHUPs under load, SIGTERM with requests in flight, and kill -9
# of a daemon that persists its cache.
#
#   bash contrib/stress/signals.sh       # from the repo root, as root on Debian 12
#
# Knobs: SIG_REQUESTS=200000 (the SIGHUP run), SIG_CONNS=64, PERSIST_LEASES=200.
# Expected: 0 failed requests across the reloads; every in-flight request
# answered 200 before a SIGTERM exit with status 0; after kill -9 and a
# restart, every lease cached before the kill is a cache hit.
set -euo pipefail
BENCH_NAME=stress-signals
SIG_REQUESTS=${SIG_REQUESTS:-200000}
SIG_CONNS=${SIG_CONNS:-64}
PERSIST_LEASES=${PERSIST_LEASES:-200}
# shellcheck source=contrib/stress/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stress_init up pcache

# 1. Ten SIGHUPs under load.
UP_PORT=$(free_port)
nginx_upstream "$T/up" "$UP_PORT"
VPD_PORT=$(free_port)
plain_config "$T/hup.hcl" "http://127.0.0.1:$UP_PORT" "$VPD_PORT"
start_vpd vaproxyd-hup "$T/hup.hcl"
wrk_count "$VPD_PORT" /v1/secret/data/x "$SIG_REQUESTS" "$SIG_CONNS" "$T/hup-load" \
    -H 'X-Vault-Token: stress-token' &
LOAD=$!
PIDS+=("$LOAD")
sleep 0.5
hups=0
for ((i = 0; i < 10; i++)); do
    kill -HUP "$VPD_PID" 2>/dev/null && hups=$((hups + 1))
    sleep 0.3
done
wait "$LOAD" || true
forget_pid "$LOAD"
read -r req bad secs <"$T/hup-load"
alive=yes
kill -0 "$VPD_PID" 2>/dev/null || alive=no
stress_row "sighup-x10-under-load" "$req" "$bad" "${secs}s, $hups SIGHUPs sent, alive $alive" \
    "$(verdict "((bad == 0)) && [[ $alive == yes ]]" "0 failed")"
stop_pid "$VPD_PID"
forget_pid "$VPD_PID"

# 2. SIGTERM with 20 slow requests in flight.
start_sim sim
plain_config "$T/term.hcl" "http://127.0.0.1:$SIM_PORT" "$VPD_PORT"
start_vpd vaproxyd-term "$T/term.hcl"
CURLS=()
for ((i = 0; i < 20; i++)); do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 \
        "http://127.0.0.1:$VPD_PORT/v1/sim/slow/1500" >"$T/term-$i.code" &
    CURLS+=($!)
done
sleep 0.5
t0=$(date +%s.%N)
kill -TERM "$VPD_PID"
rc=0
wait "$VPD_PID" || rc=$?
forget_pid "$VPD_PID"
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
for p in "${CURLS[@]}"; do wait "$p" || true; done
ok=$(cat "$T"/term-*.code | grep -c '^200$' || true)
stress_row sigterm-drain 20 $((20 - ok)) "exit $rc after ${secs}s; $ok answered 200" \
    "$(verdict "((ok == 20 && rc == 0))" "all 20 answered, exit 0")"

# 3. kill -9 with persist, then a restart.
printf '%s\n' "$(sim_token "$SIM_PORT")" >"$T/token"
new_key "$T/key"
persist_config "$T/persist.hcl" "$SIM_PORT" "$VPD_PORT" "$T/token" "$T/pcache" "$T/key"
start_vpd vaproxyd-persist "$T/persist.hcl"
wait_auth "$VPD_PID" "$VPD_PORT" "$T/logs/vaproxyd-persist.log"
leases "$VPD_PORT" "$PERSIST_LEASES" k9 "$T/k9-1.json"
# What was answered is on disk within this second (the store writes as it goes).
sleep 1
kill -KILL "$VPD_PID"
wait "$VPD_PID" 2>/dev/null || true
forget_pid "$VPD_PID"
start_vpd vaproxyd-persist "$T/persist.hcl"
wait_auth "$VPD_PID" "$VPD_PORT" "$T/logs/vaproxyd-persist.log"
leases "$VPD_PORT" "$PERSIST_LEASES" k9 "$T/k9-2.json"
hits=$(jget "$T/k9-2.json" hits)
stress_row kill-9-with-persist $((2 * PERSIST_LEASES)) \
    "$(($(jget "$T/k9-1.json" failed) + $(jget "$T/k9-2.json" failed)))" \
    "restored as hits: $hits/$PERSIST_LEASES" \
    "$(verdict "((hits == PERSIST_LEASES))" "all restored")"
