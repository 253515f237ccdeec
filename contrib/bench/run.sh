#!/usr/bin/env bash
# contrib/bench/run.sh: loopback pass-through benchmark of vaproxyd against
# nginx proxy_pass and haproxy, all in front of the same nginx "Vault"
# upstream, once over plain HTTP and once with a TLS upstream.
#
#   bash contrib/bench/run.sh            # from the repo root, as root on Debian 12
#
# Knobs (environment):
#   DURATION=10        seconds per wrk run
#   ROUNDS=3           rounds; every round runs every proxy scenario once
#   VAPROXYD=path      use this binary instead of building one (then also set
#   VAPROXY_PLUGIN_DIR=dir   the plugin directory it should load)
#   OUT_DIR=dir        keep wrk outputs, configs, logs and the table there
#   KEEP_TMP=1         do not delete the temp dir (its path is printed)
#   LOG_LEVEL=warn     vaproxyd's --log-level ("info" adds a request line
#                      per request, written to a file in the temp dir)
#   CANDIDATE=path     a second vaproxyd binary, run as the scenarios
#   CANDIDATE_PLUGIN_DIR=dir   candidate and candidate-tls in the same rounds
#                      (e.g. a branch's build against main's)
#
# Method: wrk on one CPU, every server on another, scenarios interleaved with
# the order rotating between rounds, medians (README.md says why).
# Nothing outside the temp dir is written (no /etc/nginx, no /var/log).
# Shared code (temp dir, packages, build, pinning, wrk, table) is in lib.sh;
# the servers' configs are in servers.sh.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
LOG_LEVEL=${LOG_LEVEL:-warn}
CONNS=(1 32)
BENCH_NAME=bench
LOAD_BEFORE=$(uptime | sed 's/.*load average: //')

# shellcheck source=contrib/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=contrib/bench/servers.sh
. "$(dirname "${BASH_SOURCE[0]}")/servers.sh"

check_knobs
if [[ -n ${CANDIDATE:-} ]]; then
    [[ -x $CANDIDATE ]] || die "CANDIDATE=$CANDIDATE is not an executable"
    [[ -d ${CANDIDATE_PLUGIN_DIR:-} ]] || die "CANDIDATE is set: set CANDIDATE_PLUGIN_DIR to its plugin dir"
fi
bench_tmp up px ha vp vpt
SAVE_FILES=(up/nginx.conf:up-nginx.conf px/nginx.conf:px-nginx.conf ha/haproxy.cfg:haproxy.cfg
    vp/config.hcl:vaproxyd.hcl vpt/config.hcl:vaproxyd-tls.hcl)
PLAIN=(relay nginx-proxy haproxy vaproxyd)
TLS=(nginx-tls haproxy-tls vaproxyd-tls)
if [[ -n ${CANDIDATE:-} ]]; then
    PLAIN+=(candidate)
    TLS+=(candidate-tls)
fi

# 1. Packages, 2. vaproxyd (given, or built from a copy of the working tree)
ensure_packages nginx haproxy wrk curl openssl gcc
get_vaproxyd
setup_pinning

# ---------------------------------------------------------------------------
# Servers (configs: servers.sh)

CURL_ARGS=(-H "$TOKEN_HDR")
WRK_ARGS=(-H "$TOKEN_HDR")

pick_ports
write_configs
check_configs

start_nginx "$T/up"
UP_PID=$NGX_PID
wait_ready "upstream nginx" "$UP_PID" "http://127.0.0.1:$UP_PORT$URL_PATH" "$T/logs/up-error.log" 200

start_nginx "$T/px"
PX_PID=$NGX_PID
wait_ready "nginx proxy" "$PX_PID" "http://127.0.0.1:$PX_PORT$URL_PATH" "$T/logs/px-error.log" 200

# No command prefix here (profile.sh passes valgrind).
# shellcheck disable=SC2119
start_haproxy
wait_ready "haproxy" "$HA_PID" "http://127.0.0.1:$HA_PORT$URL_PATH" "$T/logs/ha.log" 200

start_vaproxyd "$T/vp"
VP_PID=$VPD_PID
wait_ready "vaproxyd" "$VP_PID" "http://127.0.0.1:$VP_PORT$URL_PATH" "$T/logs/vp.log" any
start_vaproxyd "$T/vpt"
VPT_PID=$VPD_PID
wait_ready "vaproxyd (TLS upstream)" "$VPT_PID" "http://127.0.0.1:$VPT_PORT$URL_PATH" "$T/logs/vpt.log" any
CD_PID='' CDT_PID=''
if [[ -n ${CANDIDATE:-} ]]; then
    start_vaproxyd "$T/cd"
    CD_PID=$VPD_PID
    wait_ready "candidate" "$CD_PID" "http://127.0.0.1:$CD_PORT$URL_PATH" "$T/logs/cd.log" any
    start_vaproxyd "$T/cdt"
    CDT_PID=$VPD_PID
    wait_ready "candidate (TLS upstream)" "$CDT_PID" "http://127.0.0.1:$CDT_PORT$URL_PATH" "$T/logs/cdt.log" any
fi

start_relay
wait_ready "relay" "$RL_PID" "http://127.0.0.1:$RL_PORT$URL_PATH" "$T/logs/relay.log" 200

# One request through each proxy: same status and body as direct?
for pair in "nginx-proxy:$PX_PORT" "haproxy:$HA_PORT" "vaproxyd:$VP_PORT" \
    "nginx-tls:$PXT_PORT" "haproxy-tls:$HAT_PORT" "vaproxyd-tls:$VPT_PORT" \
    ${CANDIDATE:+"candidate:$CD_PORT" "candidate-tls:$CDT_PORT"}; do
    check_same_answer "${pair%%:*}" "${pair#*:}"
done

# ---------------------------------------------------------------------------
# Load

TARGET_PORT=([direct]=$UP_PORT [relay]=$RL_PORT [nginx-proxy]=$PX_PORT [haproxy]=$HA_PORT [vaproxyd]=$VP_PORT
    [nginx-tls]=$PXT_PORT [haproxy-tls]=$HAT_PORT [vaproxyd-tls]=$VPT_PORT
    [candidate]=$CD_PORT [candidate-tls]=$CDT_PORT)
TARGET_PID=([direct]=$UP_PID [relay]=$RL_PID [nginx-proxy]=$PX_PID [haproxy]=$HA_PID [vaproxyd]=$VP_PID
    [nginx-tls]=$PX_PID [haproxy-tls]=$HA_PID [vaproxyd-tls]=$VPT_PID
    [candidate]=$CD_PID [candidate-tls]=$CDT_PID)
# Whose CPU time is each scenario's own: nginx's worker, not its master.
TARGET_WORKER=([relay]=$RL_PID [nginx-proxy]=$(worker_of "$PX_PID") [haproxy]=$HA_PID [vaproxyd]=$VP_PID
    [nginx-tls]=$(worker_of "$PX_PID") [haproxy-tls]=$HA_PID [vaproxyd-tls]=$VPT_PID
    [candidate]=$CD_PID [candidate-tls]=$CDT_PID)
UPSTREAM_WORKER=$(worker_of "$UP_PID")
TARGET_LOG=([direct]=$T/logs/up-error.log [relay]=$T/logs/relay.log [nginx-proxy]=$T/logs/px-error.log
    [haproxy]=$T/logs/ha.log [vaproxyd]=$T/logs/vp.log [nginx-tls]=$T/logs/px-error.log
    [haproxy-tls]=$T/logs/ha.log [vaproxyd-tls]=$T/logs/vpt.log
    [candidate]=$T/logs/cd.log [candidate-tls]=$T/logs/cdt.log)

est=$(( (ROUNDS * (${#PLAIN[@]} + ${#TLS[@]}) * ${#CONNS[@]} + ${#CONNS[@]}) * DURATION + 8 ))
log "pinning: $PIN_NOTE"
log "ports: upstream $UP_PORT (TLS $UPT_PORT), nginx-proxy $PX_PORT/$PXT_PORT," \
    "haproxy $HA_PORT/$HAT_PORT, vaproxyd $VP_PORT/$VPT_PORT; load takes about ${est}s"

# Warm-up: open keep-alive connections, pools and TLS sessions everywhere
# (not measured).
for tg in direct "${PLAIN[@]}" "${TLS[@]}"; do
    warm_wrk "$tg"
done

# rotate N WORD...: the words rotated left by N, so that across rounds each
# proxy runs first, in the middle and last (drift favours none of them).
rotate() {
    local n=$1
    shift
    local a=("$@") i
    for ((i = 0; i < ${#a[@]}; i++)); do
        printf '%s ' "${a[(i + n) % ${#a[@]}]}"
    done
}

for ((r = 1; r <= ROUNDS; r++)); do
    for c in "${CONNS[@]}"; do
        ((r == 1)) && run_wrk direct "$c" "$r"
        read -r -a order <<<"$(rotate $((r - 1)) "${PLAIN[@]}") $(rotate $((r - 1)) "${TLS[@]}")"
        for tg in "${order[@]}"; do
            run_wrk "$tg" "$c" "$r"
        done
    done
done

# ---------------------------------------------------------------------------
# Summary

# ratio_line C VP NGINX HAPROXY GOAL: vaproxyd against the better of nginx and
# haproxy (by median req/s): req/s ratio (goal: at least GOAL), p50 ratio,
# and p99 against the lower p99 of the two (goal: not above it).
ratio_line() {
    local c=$1 vp=$2 ng=$3 ha=$4 goal=$5 best other
    [[ -n ${MED_RPS["$vp $c"]:-} && -n ${MED_RPS["$ng $c"]:-} && -n ${MED_RPS["$ha $c"]:-} ]] || return 0
    best=$ng
    other=$ha
    if awk -v a="${MED_RPS["$ha $c"]}" -v b="${MED_RPS["$ng $c"]}" 'BEGIN { exit !(a > b) }'; then
        best=$ha
        other=$ng
    fi
    awk -v c="$c" -v vp="$vp" -v best="$best" -v goal="$goal" \
        -v v="${MED_RPS["$vp $c"]}" -v x="${MED_RPS["$best $c"]}" \
        -v vl="${MED_P50["$vp $c"]}" -v xl="${MED_P50["$best $c"]}" \
        -v v99="${MED_P99["$vp $c"]}" -v a99="${MED_P99["$best $c"]}" -v b99="${MED_P99["$other $c"]}" 'BEGIN {
        r = (x > 0 ? v / x : 0); m99 = (a99 < b99 ? a99 : b99)
        printf "%-12s c%-3s vs %-11s req/s %.2f (goal >= %.1f: %s)   p50 %.2f   p99 %.3f vs %.3f ms (%s)\n",
            vp, c, best, r, goal, (r >= goal ? "met" : "NOT met"), (xl > 0 ? vl / xl : 0),
            v99, m99, (v99 <= m99 ? "met" : "NOT met") }'
}

# room_lines: how far ahead of nginx and haproxy any proxy could be here,
# from the cost table.  At c32 the servers' CPU is saturated, so req/s is
# the inverse of the CPU a request takes on it; what a relay spends there
# beyond its own user time (kernel, loopback TCP, the upstream) is what
# every proxy spends, and a proxy that also parses HTTP adds its own user
# time on top.  At c1 the CPU mostly waits: a request takes 1/req/s, of
# which the proxy's user time is all a faster proxy could save.
room_lines() {
    local ng=${MED_COST["nginx-proxy 32"]:-} ha=${MED_COST["haproxy 32"]:-}
    local rl=${MED_COST["relay 32"]:-} vp=${MED_COST["vaproxyd 32"]:-}
    [[ -n $ng && -n $ha && -n $rl && -n $vp ]] || return 0
    echo "Room on this machine (plain upstream):"
    awk -v ng="$ng" -v ha="$ha" -v rl="$rl" -v vp="$vp" 'BEGIN {
        split(ng, n, " "); split(ha, h, " "); split(rl, r, " "); split(vp, v, " ")
        best = (n[4] < h[4] ? n[4] : h[4]); floor = r[4] - r[1]
        printf "  c32: best of nginx/haproxy %.2f us of server CPU a request, vaproxyd %.2f (%.2f of them its user time);\n", best, v[4], v[1]
        printf "       what no proxy avoids (relay without its user time) %.2f: a proxy with no user time at all could\n", floor
        printf "       reach %.2fx, one with vaproxyd'"'"'s user time %.2fx, and vaproxyd measures %.2fx by CPU\n",
            best / floor, best / (floor + v[1]), best / v[4] }'
    local c1b c1
    for c1 in nginx-proxy haproxy; do
        [[ -n ${MED_COST["$c1 1"]:-} && -n ${MED_RPS["$c1 1"]:-} ]] || return 0
    done
    c1b=nginx-proxy
    awk -v a="${MED_RPS["haproxy 1"]}" -v b="${MED_RPS["nginx-proxy 1"]}" 'BEGIN { exit !(a > b) }' && c1b=haproxy
    awk -v tg="$c1b" -v rps="${MED_RPS["$c1b 1"]}" -v m="${MED_COST["$c1b 1"]}" 'BEGIN {
        split(m, x, " "); t = 1e6 / rps
        printf "  c1:  a request through %s takes %.1f us, %.2f of them its user time: a proxy that did the\n", tg, t, x[1]
        printf "       same hop with no user time at all would reach %.2fx\n", t / (t - x[1]) }'
    [[ -n ${MED_RPS["direct 1"]:-} ]] || return 0
    awk -v tg="$c1b" -v d="${MED_RPS["direct 1"]}" -v b="${MED_RPS["$c1b 1"]}" 'BEGIN {
        printf "       and wrk straight to the upstream, no proxy at all, reaches %.2fx of %s\n", d / b, tg }'
}

{
    echo
    echo "vaproxy loopback benchmark: $(date -u '+%Y-%m-%d %H:%M:%SZ'), $(nproc) CPUs, $PIN_NOTE"
    echo "load before the run: $LOAD_BEFORE; after: $(uptime | sed 's/.*load average: //')"
    echo "wrk -t1 -cN -d${DURATION}s --latency -H '$TOKEN_HDR' GET $URL_PATH; ${ROUNDS} round(s); medians over runs"
    echo "vaproxyd log level: $LOG_LEVEL"
    echo "vaproxyd: $VPD_BIN ($("$VPD_BIN" --version 2>/dev/null | head -1 || echo '?'))"
    [[ -n ${CANDIDATE:-} ]] && echo "candidate: $CANDIDATE ($("$CANDIDATE" --version 2>/dev/null | head -1 || echo '?'))"
    echo "nginx: $("$NGINX" -v 2>&1 | sed 's/.*version: //'), haproxy: $(haproxy -v | awk 'NR == 1 { print $3 }')," \
        "wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo
    table_header
    for c in "${CONNS[@]}"; do
        for tg in direct "${PLAIN[@]}" "${TLS[@]}"; do
            table_row "$tg" "$c"
        done
    done
    echo
    echo "vaproxyd / the better of nginx and haproxy (goals: req/s >= 1.1 at c1, >= 1.2 at c32; p99 not above theirs):"
    for c in "${CONNS[@]}"; do
        goal=1.2
        ((c == 1)) && goal=1.1
        ratio_line "$c" vaproxyd nginx-proxy haproxy "$goal"
        ratio_line "$c" vaproxyd-tls nginx-tls haproxy-tls "$goal"
        if [[ -n ${CANDIDATE:-} ]]; then
            ratio_line "$c" candidate nginx-proxy haproxy "$goal"
            ratio_line "$c" candidate-tls nginx-tls haproxy-tls "$goal"
        fi
    done
    echo "the ceiling here: relay (bytes copied, no HTTP: the least a proxy hop costs) / the better of nginx and haproxy:"
    for c in "${CONNS[@]}"; do
        ratio_line "$c" relay nginx-proxy haproxy "$( ((c == 1)) && echo 1.1 || echo 1.2)"
    done
    if [[ -n ${CANDIDATE:-} ]]; then
        echo "candidate / vaproxyd (req/s; p50 and p99: lower is better):"
        for c in "${CONNS[@]}"; do
            for sfx in "" -tls; do
                awk -v c="$c" -v n="candidate$sfx" -v v="${MED_RPS["candidate$sfx $c"]:-0}" \
                    -v x="${MED_RPS["vaproxyd$sfx $c"]:-0}" -v vl="${MED_P50["candidate$sfx $c"]:-0}" \
                    -v xl="${MED_P50["vaproxyd$sfx $c"]:-0}" -v v9="${MED_P99["candidate$sfx $c"]:-0}" \
                    -v x9="${MED_P99["vaproxyd$sfx $c"]:-0}" 'BEGIN {
                    printf "%-13s c%-3s req/s %.2f   p50 %.2f   p99 %.2f\n", n, c, (x > 0 ? v / x : 0),
                        (xl > 0 ? vl / xl : 0), (x9 > 0 ? v9 / x9 : 0) }'
            done
        done
    fi
    if ((${#MED_COST[@]} > 0)); then
        echo
        echo "What one request cost on the servers' CPU (CPU time of the proxy's worker, of the upstream's"
        echo "worker, and of the whole CPU, idle excluded, divided by the requests wrk counted; the proxy's"
        echo "context switches; wake-ups: interrupts by which one CPU woke a task on the other):"
        cost_header
        for c in "${CONNS[@]}"; do
            for tg in "${PLAIN[@]}" "${TLS[@]}"; do
                cost_row "$tg" "$c"
            done
        done
        room_lines
    fi
    echo "(direct = the upstream without a proxy, round 1 only, for context; relay = contrib/bench/relay.c,"
    echo " which copies bytes without reading them: no real proxy can beat it; -tls = the proxy talks TLS"
    echo " to the upstream; steal% = max over runs.  Differences under ~1.5x in req/s or ~5x in p99"
    echo " are within this kind of machine's noise.)"
} | tee "$T/summary.txt"

# Anything the servers logged.
tail_logs vp.log vpt.log cd.log cdt.log up-error.log px-error.log ha.log | tee -a "$T/summary.txt"
