#!/usr/bin/env bash
# contrib/bench/profile.sh: what one proxied request costs vaproxyd, nginx
# proxy_pass and haproxy in work rather than time, which repeats far better
# than req/s on a shared machine; plus vaproxyd's idle memory and how soon it
# serves its first request.  Same servers as run.sh (servers.sh).
#
#   bash contrib/bench/profile.sh        # from the repo root, as root on Debian 12
#
# For each proxy, with the plain and the TLS upstream, at c1 and c32:
#   - instructions per request: `perf stat -e instructions -p PID` over a
#     wrk run, or, where the kernel offers no hardware counters (VMs,
#     sandboxes), callgrind: the proxy runs under valgrind, its counters are
#     zeroed after a warm-up and dumped after a CG_SECS wrk run;
#   - syscalls per request: `strace -c -f -p PID` over a SECS wrk run;
# each divided by the number of answers wrk counted in that run (wrk 4.1
# cannot stop after a fixed count; the count is exact, the run is timed).
#   - VmRSS once started and listening (no request served yet).
# For vaproxyd only, STARTS times each: ms from exec to the listener
# accepting, then ms from there to the first answer (which includes opening
# the first upstream connection, and the TLS handshake for -tls).
#
# Knobs (environment):
#   SECS=3             seconds of load per strace (and perf) measurement
#   CG_SECS=5          seconds of load per callgrind measurement
#   WARM=1             seconds of unmeasured load before each measurement
#   STARTS=5           vaproxyd starts for the first-request timing
#   METHOD=auto        auto | perf | callgrind (instruction counting)
#   PROXIES="..."      the scenarios measured (default: all six; the
#                      start-up figures are taken when vaproxyd is one)
#   VAPROXYD, VAPROXY_PLUGIN_DIR, OUT_DIR, KEEP_TMP, LOG_LEVEL: as for run.sh
#
# nginx runs with master_process off here: one process to attach to, doing
# what the worker does in run.sh.
set -euo pipefail

SECS=${SECS:-3}
CG_SECS=${CG_SECS:-5}
WARM=${WARM:-1}
STARTS=${STARTS:-5}
METHOD=${METHOD:-auto}
LOG_LEVEL=${LOG_LEVEL:-warn}
DURATION=1 # unused here; lib.sh's check_knobs wants it
ROUNDS=1
BENCH_NAME=profile
NGINX_MASTER=off
read -r -a PROXIES <<<"${PROXIES:-nginx-proxy haproxy vaproxyd nginx-tls haproxy-tls vaproxyd-tls}"
CONNS=(1 32)
LOAD_BEFORE=$(uptime | sed 's/.*load average: //')
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# shellcheck source=contrib/bench/lib.sh
. "$HERE/lib.sh"
# shellcheck source=contrib/bench/servers.sh
. "$HERE/servers.sh"

for k in SECS CG_SECS WARM STARTS; do
    [[ ${!k} =~ ^[1-9][0-9]*$ ]] || die "$k must be a positive integer (got '${!k}')"
done
[[ $METHOD =~ ^(auto|perf|callgrind)$ ]] || die "METHOD must be auto, perf or callgrind"

bench_tmp up px ha vp vpt cg
SAVE_FILES=(up/nginx.conf:up-nginx.conf px/nginx.conf:px-nginx.conf ha/haproxy.cfg:haproxy.cfg
    vp/config.hcl:vaproxyd.hcl vpt/config.hcl:vaproxyd-tls.hcl)

ensure_packages nginx haproxy wrk curl openssl strace valgrind python3
get_vaproxyd
setup_pinning

# Hardware counters: perf must count something for a trivial command.
perf_works() {
    command -v perf >/dev/null &&
        perf stat -x, -e instructions -- true 2>&1 >/dev/null | grep -Eq '^[0-9]+,'
}
if [[ $METHOD == auto ]]; then
    if perf_works; then METHOD=perf; else METHOD=callgrind; fi
elif [[ $METHOD == perf ]] && ! perf_works; then
    die "METHOD=perf but perf cannot count instructions here"
fi
log "instruction counts by $METHOD; $PIN_NOTE"

CURL_ARGS=(-H "$TOKEN_HDR")
pick_ports
write_configs
check_configs

start_nginx "$T/up"
UP_PID=$NGX_PID
wait_ready "upstream nginx" "$UP_PID" "http://127.0.0.1:$UP_PORT$URL_PATH" "$T/logs/up-error.log" 200

declare -A PORT_OF=([nginx-proxy]=$PX_PORT [nginx-tls]=$PXT_PORT [haproxy]=$HA_PORT
    [haproxy-tls]=$HAT_PORT [vaproxyd]=$VP_PORT [vaproxyd-tls]=$VPT_PORT)
declare -A LOG_OF=([nginx-proxy]=px-error.log [nginx-tls]=px-error.log [haproxy]=ha.log
    [haproxy-tls]=ha.log [vaproxyd]=vp.log [vaproxyd-tls]=vpt.log)

# forget_pid PID: stops PID and drops it from the clean-up list.
forget_pid() {
    local pid=$1 i
    stop_pid "$pid"
    for i in "${!PIDS[@]}"; do
        [[ ${PIDS[$i]} == "$pid" ]] && unset 'PIDS[i]'
    done
    PIDS=("${PIDS[@]}")
}

# launch NAME [PREFIX...]: starts the process serving scenario NAME (under
# PREFIX, e.g. valgrind) and waits until it answers; sets SRV.
launch() {
    local name=$1
    shift
    case $name in
        nginx-*)
            start_nginx "$T/px" "$@"
            SRV=$NGX_PID
            ;;
        haproxy*)
            start_haproxy "$@"
            SRV=$HA_PID
            ;;
        vaproxyd) start_vaproxyd "$T/vp" "$@" && SRV=$VPD_PID ;;
        vaproxyd-tls) start_vaproxyd "$T/vpt" "$@" && SRV=$VPD_PID ;;
    esac
    wait_ready "$name" "$SRV" "http://127.0.0.1:${PORT_OF[$name]}$URL_PATH" \
        "$T/logs/${LOG_OF[$name]}" 200
}

# load NAME CONNS SECS OUT: wrk at CONNS connections for SECS seconds;
# prints the number of answers wrk counted.
load() {
    local name=$1 c=$2 secs=$3 out=$4
    timeout $((secs + 30)) "${WRK_PIN[@]}" wrk -t1 -c"$c" -d"${secs}s" \
        -H "$TOKEN_HDR" "http://127.0.0.1:${PORT_OF[$name]}$URL_PATH" >"$out" 2>&1 ||
        log "WARNING: wrk failed for $name c$c (output: $out)"
    if grep -q 'Non-2xx' "$out"; then
        log "WARNING: $name answered non-2xx during a measurement ($out)"
    fi
    awk '/requests in/ { print $1; found = 1 } END { if (!found) print 0 }' "$out"
}

# wait_file_has FILE REGEX SECS: bounded wait for a line in FILE.
wait_file_has() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -Eq "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

declare -A INSN=() SYSC=() RSS=() TOP=()

# --- syscalls and RSS (native processes) -----------------------------------
for name in "${PROXIES[@]}"; do
    launch "$name"
    sleep 1
    RSS[$name]=$(rss_kib "$SRV")
    for c in "${CONNS[@]}"; do
        load "$name" "$c" "$WARM" "$T/wrk/warm-$name-c$c.txt" >/dev/null
        st=$T/logs/strace-$name-c$c.txt
        strace -c -f -p "$SRV" -o "$st" 2>"$st.err" &
        spid=$!
        PIDS+=("$spid")
        wait_file_has "$st.err" 'attached' 10 || log "WARNING: strace did not attach to $name"
        sleep 0.2
        n=$(load "$name" "$c" "$SECS" "$T/wrk/strace-$name-c$c.txt")
        kill -INT "$spid" 2>/dev/null || true
        wait "$spid" 2>/dev/null || true
        forget_pid "$spid"
        calls=$(awk '$NF == "total" { print ($4 ~ /^[0-9]+$/ ? $4 : $3) }' "$st")
        SYSC["$name $c"]=$(awk -v a="${calls:-0}" -v n="$n" 'BEGIN { printf "%.2f", n ? a / n : 0 }')
        TOP["$name $c"]=$(awk -v n="$n" 'NR > 2 && $NF != "total" && $0 !~ /^-/ && NF >= 5 {
            calls = ($4 ~ /^[0-9]+$/ ? $4 : $3); printf "%s %.2f\n", $NF, calls / n }' "$st" |
            sort -k2 -gr | head -4 | awk '{ printf "%s%s %s", s, $1, $2; s = ", " }')
        log "$name c$c: $n requests, ${SYSC["$name $c"]} syscalls each (${TOP["$name $c"]})"
    done
    forget_pid "$SRV"
done

# --- instructions -------------------------------------------------------------
for name in "${PROXIES[@]}"; do
    if [[ $METHOD == callgrind ]]; then
        out=$T/cg/$name.cg
        READY_SECS=120 launch "$name" valgrind --tool=callgrind --callgrind-out-file="$out" \
            --dump-instr=no --collect-jumps=no
    else
        launch "$name"
    fi
    for c in "${CONNS[@]}"; do
        load "$name" "$c" "$WARM" "$T/wrk/cgwarm-$name-c$c.txt" >/dev/null
        if [[ $METHOD == callgrind ]]; then
            timeout 30 callgrind_control -z "$SRV" >>"$T/logs/callgrind_control.log" 2>&1 ||
                log "WARNING: callgrind_control -z failed for $name"
            n=$(load "$name" "$c" "$CG_SECS" "$T/wrk/cg-$name-c$c.txt")
            rm -f "$out".*
            timeout 30 callgrind_control -d "$SRV" >>"$T/logs/callgrind_control.log" 2>&1 ||
                log "WARNING: callgrind_control -d failed for $name"
            # The dump is written asynchronously: wait (bounded) for its totals.
            ir=''
            for ((i = 0; i < 300; i++)); do
                ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$out".* 2>/dev/null || true)
                [[ -n $ir ]] && break
                sleep 0.1
            done
        else
            pf=$T/logs/perf-$name-c$c.txt
            perf stat -x, -e instructions -p "$SRV" -o "$pf" &
            ppid=$!
            PIDS+=("$ppid")
            sleep 0.5
            n=$(load "$name" "$c" "$SECS" "$T/wrk/perf-$name-c$c.txt")
            kill -INT "$ppid" 2>/dev/null || true
            wait "$ppid" 2>/dev/null || true
            forget_pid "$ppid"
            ir=$(awk -F, '$3 ~ /instructions/ { print $1; exit }' "$pf")
        fi
        INSN["$name $c"]=$(awk -v a="${ir:-0}" -v n="$n" 'BEGIN { printf "%.0f", n ? a / n : 0 }')
        log "$name c$c: $n requests, ${INSN["$name $c"]} instructions each"
    done
    forget_pid "$SRV"
done

# --- vaproxyd: first request after the listener is up ---------------------------
# first_request PORT T0_NS: prints "ms_to_listen ms_to_first_answer status".
# The wait for the listener is a bash loop, so that the interpreter's own
# start (about 100 ms here) is not counted as the daemon's; the first
# answer is timed by python from just before it connects.
first_request() {
    local port=$1 t0=$2 up deadline=$((SECONDS + 15))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        ((SECONDS < deadline)) || { echo "nan nan 000"; return 0; }
    done
    up=$(date +%s%N)
    python3 - "$port" "$URL_PATH" "$(((up - t0) / 1000))" <<'EOF'
import http.client, sys, time
port, path, listen_us = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
t = time.monotonic()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.request("GET", path, headers={"X-Vault-Token": "t"})
r = c.getresponse()
r.read()
done = time.monotonic()
print(f"{listen_us / 1000:.1f} {(done - t) * 1000:.1f} {r.status}")
EOF
}

declare -A FIRST=()
for name in vaproxyd vaproxyd-tls; do
    [[ " ${PROXIES[*]} " == *" $name "* ]] || continue
    lines=()
    for ((i = 1; i <= STARTS; i++)); do
        t0=$(date +%s%N)
        if [[ $name == vaproxyd ]]; then start_vaproxyd "$T/vp"; else start_vaproxyd "$T/vpt"; fi
        lines+=("$(first_request "${PORT_OF[$name]}" "$t0")")
        forget_pid "$VPD_PID"
    done
    FIRST[$name]=$(printf '%s\n' "${lines[@]}")
    log "$name starts (ms to listen, ms to first answer, status): $(printf '%s; ' "${lines[@]}")"
done

# --- summary ----------------------------------------------------------------------
{
    echo
    echo "vaproxy profile: $(date -u '+%Y-%m-%d %H:%M:%SZ'), $(nproc) CPUs, $PIN_NOTE"
    echo "load before: $LOAD_BEFORE; after: $(uptime | sed 's/.*load average: //')"
    echo "vaproxyd: $VPD_BIN ($("$VPD_BIN" --version 2>/dev/null | head -1 || echo '?'))"
    echo "nginx: $("$NGINX" -v 2>&1 | sed 's/.*version: //'), haproxy: $(haproxy -v | awk 'NR == 1 { print $3 }')"
    echo "instructions: $METHOD over $([[ $METHOD == callgrind ]] && echo "$CG_SECS" || echo "$SECS") s of wrk" \
        "after ${WARM} s; syscalls: strace -c -f over $SECS s after ${WARM} s; GET $URL_PATH; per answer counted by wrk"
    echo
    printf '%-13s %12s %12s %10s %10s %9s  %s\n' scenario 'insn/req c1' 'insn/req c32' \
        'sys/req c1' 'sys/req c32' 'RSS KiB' 'most frequent syscalls per request at c1'
    printf '%s\n' "$(printf -- '-%.0s' {1..110})"
    for name in "${PROXIES[@]}"; do
        printf '%-13s %12s %12s %10s %10s %9s  %s\n' "$name" "${INSN["$name 1"]:-?}" \
            "${INSN["$name 32"]:-?}" "${SYSC["$name 1"]:-?}" "${SYSC["$name 32"]:-?}" \
            "${RSS[$name]:-?}" "${TOP["$name 1"]:-}"
    done
    echo
    echo "vaproxyd start-up, $STARTS starts each (median; all runs):"
    for name in vaproxyd vaproxyd-tls; do
        [[ -n ${FIRST[$name]:-} ]] || continue
        printf '%s\n' "${FIRST[$name]}" | awk -v n="$name" '
            { a[NR] = $1; b[NR] = $2; s = s sprintf("%s%s/%s(%s)", (NR > 1 ? " " : ""), $1, $2, $3) }
            function med(x, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
                if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
                return k % 2 ? x[(k + 1) / 2] : (x[k / 2] + x[k / 2 + 1]) / 2 }
            END { printf "  %-13s exec->listening %.1f ms, listening->first answer %.1f ms (goal <= 20: %s)\n    runs: %s\n",
                n, med(a, NR), med(b, NR), (med(b, NR) <= 20 ? "met" : "NOT met"), s }'
    done
    for name in vaproxyd vaproxyd-tls; do
        [[ -n ${RSS[$name]:-} ]] || continue
        awk -v n="$name" -v k="${RSS[$name]:-0}" 'BEGIN {
            printf "  %-13s idle VmRSS %.1f MiB (goal <= 8 MiB: %s)\n", n, k / 1024, (k <= 8192 ? "met" : "NOT met") }'
    done
} | tee "$T/summary.txt"
