# contrib/bench/lib.sh: code shared by the loopback benchmarks (run.sh,
# cache.sh).  Source it with bash after `set -euo pipefail`; it defines
# functions and a few globals, and starts nothing by itself.
#
# The calling script sets, before calling these functions:
#   BENCH_NAME     prefix of the temp dir and of log lines ("bench")
#   DURATION, ROUNDS
# and may set SAVE_FILES (an array of "path-in-temp-dir:name-in-OUT_DIR").
# shellcheck shell=bash disable=SC2034  # globals set here are used by the callers

BENCH_NAME=${BENCH_NAME:-bench}
READY_SECS=${READY_SECS:-15}

die() { echo "$BENCH_NAME: error: $*" >&2; exit 1; }
log() { echo "$BENCH_NAME: $*" >&2; }

check_knobs() {
    [[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION must be a positive integer (got '$DURATION')"
    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# ---------------------------------------------------------------------------
# Temp dir and clean-up

PIDS=()
SAVE_FILES=()

# bench_tmp SUBDIR... : creates the temp dir T (with logs/ and wrk/) and
# installs the clean-up trap.
bench_tmp() {
    local d
    T=$(mktemp -d "/tmp/vaproxy-$BENCH_NAME.XXXXXX")
    # nginx workers drop to an unprivileged user when started as root; they
    # must be able to reach their temp paths.
    chmod 0755 "$T"
    mkdir -p "$T/logs" "$T/wrk"
    for d in "$@"; do mkdir -p "$T/$d"; done
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# stop_pid PID: SIGTERM, up to 5 s, then SIGKILL.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 5s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
    local rc=$? pid i f
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "pid $pid ignored SIGTERM for 5s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n ${OUT_DIR:-} && -n ${T:-} ]]; then
        mkdir -p "$OUT_DIR"
        cp -r "$T/logs" "$T/wrk" "$OUT_DIR/" 2>/dev/null || true
        for f in "${SAVE_FILES[@]}"; do
            cp "$T/${f%%:*}" "$OUT_DIR/${f#*:}" 2>/dev/null || true
        done
        cp "$T"/summary.txt "$OUT_DIR/" 2>/dev/null || true
    fi
    if [[ -n ${T:-} ]]; then
        if [[ ${KEEP_TMP:-0} == 1 ]]; then
            log "temp dir kept: $T"
        else
            rm -rf "$T"
        fi
    fi
    exit "$rc"
}

# ---------------------------------------------------------------------------
# Packages

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

BUILD_DEPS=(gcc make autoconf automake libtool pkg-config libuv1-dev libssl-dev
            libcurl4-openssl-dev libjson-c-dev libltdl-dev node-llhttp)

# ensure_packages PKG...: apt-get installs those not installed (plus the
# build dependencies unless VAPROXYD is given); sets NGINX.
ensure_packages() {
    local need=("$@") missing=() p
    [[ -z ${VAPROXYD:-} ]] && need+=("${BUILD_DEPS[@]}")
    for p in "${need[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        ((EUID == 0)) || die "missing packages (${missing[*]}); run as root to install them"
        log "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >"$T/logs/apt.log" 2>&1 || { tail -20 "$T/logs/apt.log" >&2; die "apt-get update failed"; }
        apt-get install -y -q "${missing[@]}" >>"$T/logs/apt.log" 2>&1 ||
            { tail -20 "$T/logs/apt.log" >&2; die "apt-get install failed"; }
    fi
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
    [[ -x $NGINX ]] || die "nginx not found"
    command -v wrk >/dev/null || die "wrk not found"
}

# ---------------------------------------------------------------------------
# vaproxyd: given, or built from a copy of the working tree.  Sets VPD_BIN
# and VPD_PLUGINS.

get_vaproxyd() {
    local src t0
    if [[ -n ${VAPROXYD:-} ]]; then
        [[ -x $VAPROXYD ]] || die "VAPROXYD=$VAPROXYD is not an executable"
        [[ -n ${VAPROXY_PLUGIN_DIR:-} ]] || die "VAPROXYD is set: set VAPROXY_PLUGIN_DIR too"
        [[ -d $VAPROXY_PLUGIN_DIR ]] || die "VAPROXY_PLUGIN_DIR=$VAPROXY_PLUGIN_DIR is not a directory"
        VPD_BIN=$VAPROXYD
        VPD_PLUGINS=$VAPROXY_PLUGIN_DIR
        return 0
    fi
    # The repo may be configured in place (then configure refuses a VPATH
    # build) and others may be building in it, so never run autotools there:
    # copy the sources (working-tree state, generated files left out), then
    # autoreconf in the copy and build in a separate build dir.
    src=$T/src
    mkdir -p "$src"
    if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$REPO" && git ls-files -z -c -o --exclude-standard |
            while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
            tar --null -T - -cf -) | tar -C "$src" -xf -
    else
        tar -C "$REPO" -cf - --exclude-vcs --exclude='*.o' --exclude='*.lo' \
            --exclude='*.la' --exclude=.libs --exclude=.deps --exclude=.dirstamp \
            --exclude=autom4te.cache --exclude=config.status --exclude=config.log \
            --exclude=Makefile --exclude=Makefile.in --exclude=stamp-h1 \
            --exclude=./libtool --exclude=./configure --exclude=./aclocal.m4 \
            --exclude=./autoconf.h --exclude=./build-aux --exclude='./_build*' \
            --exclude=./core/vaproxyd --exclude='./vaproxy-*' . | tar -C "$src" -xf -
    fi
    log "building vaproxyd (CFLAGS=\"-O2 -g\") in $T/build"
    t0=$SECONDS
    (cd "$src" && autoreconf -fi) >"$T/logs/build.log" 2>&1 ||
        { tail -30 "$T/logs/build.log" >&2; die "autoreconf failed"; }
    mkdir -p "$T/build"
    (cd "$T/build" && "$src/configure" CFLAGS="-O2 -g") >>"$T/logs/build.log" 2>&1 ||
        { tail -30 "$T/logs/build.log" >&2; die "configure failed"; }
    (cd "$T/build" && make -j"$(nproc)") >>"$T/logs/build.log" 2>&1 ||
        { grep -E 'error|Error' "$T/logs/build.log" | tail -30 >&2; die "make failed"; }
    log "built in $((SECONDS - t0))s"
    VPD_BIN=$T/build/core/vaproxyd
    VPD_PLUGINS=$T/build/plugins/.libs
}

# ---------------------------------------------------------------------------
# CPU pinning: wrk on the first allowed CPU, every server on the second.
# Sets WRK_PIN, SRV_PIN (command prefixes) and PIN_NOTE.

allowed_cpus() {
    local list part a b c out=() parts
    list=$(taskset -pc $$ 2>/dev/null | sed 's/.*: *//') || return 0
    IFS=, read -r -a parts <<<"$list"
    for part in "${parts[@]}"; do
        if [[ $part == *-* ]]; then
            a=${part%-*}; b=${part#*-}
            for ((c = a; c <= b; c++)); do out+=("$c"); done
        else
            out+=("$part")
        fi
    done
    echo "${out[@]}"
}

setup_pinning() {
    local cpus
    WRK_PIN=()
    SRV_PIN=()
    SRV_CPU=''
    read -r -a cpus <<<"$(allowed_cpus)"
    if (($(nproc) >= 2)) && ((${#cpus[@]} >= 2)) && command -v taskset >/dev/null; then
        WRK_PIN=(taskset -c "${cpus[0]}")
        SRV_PIN=(taskset -c "${cpus[1]}")
        SRV_CPU=${cpus[1]}
        PIN_NOTE="wrk on CPU ${cpus[0]}, servers on CPU ${cpus[1]}"
    else
        PIN_NOTE="unpinned (fewer than 2 CPUs)"
    fi
}

# ---------------------------------------------------------------------------
# Ports and servers

USED_PORTS=" "
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        # Below Linux's default ephemeral range (32768-60999): a port there
        # may be the local end of someone's outgoing connection, which a
        # connect test cannot see but which makes bind() fail.
        p=$((20000 + RANDOM % 12000))
        [[ $USED_PORTS == *" $p "* ]] && continue
        # A refused connect means nothing listens there.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            USED_PORTS+="$p "
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

# Extra curl arguments for wait_ready (e.g. a token header).
CURL_ARGS=()

# wait_ready NAME PID URL LOG WANT: poll until URL answers (WANT=200: with 200;
# WANT=any: with any HTTP status), for at most READY_SECS.
wait_ready() {
    local name=$1 pid=$2 url=$3 logf=$4 want=$5 code='' i
    for ((i = 0; i < READY_SECS * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -20 "$logf" >&2 || true
            die "$name exited during start-up (log above: $logf)"
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "${CURL_ARGS[@]}" "$url" || true)
        if [[ $want == any && $code != 000 && -n $code ]] || [[ $code == "$want" ]]; then
            return 0
        fi
        sleep 0.1
    done
    tail -20 "$logf" >&2 || true
    die "$name not ready after ${READY_SECS}s at $url (last status '$code')"
}

nginx_common() { # $1 = dir
    cat <<EOF
worker_processes 1;
master_process ${NGINX_MASTER:-on};
daemon off;
pid $1/nginx.pid;
error_log $T/logs/$(basename "$1")-error.log warn;
events { worker_connections 4096; }
EOF
}
nginx_temp_paths() { # $1 = dir
    cat <<EOF
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
EOF
}

nginx_check() { # $1 = dir, $2 = what
    "$NGINX" -t -q -p "$1/" -c "$1/nginx.conf" -e "$T/logs/$(basename "$1")-error.log" ||
        die "$2 nginx config rejected ($1/nginx.conf)"
}

start_nginx() { # $1 = dir, then an optional command prefix (e.g. valgrind); sets NGX_PID
    local d=$1
    shift
    "${SRV_PIN[@]}" "$@" "$NGINX" -p "$d/" -c "$d/nginx.conf" \
        -e "$T/logs/$(basename "$d")-error.log" >"$T/logs/$(basename "$d")-stdout.log" 2>&1 &
    NGX_PID=$!
    PIDS+=("$NGX_PID")
}

# ---------------------------------------------------------------------------
# Load.  The caller fills TARGET_PORT, TARGET_PID, TARGET_LOG (associative
# arrays keyed by scenario name), URL_PATH and WRK_ARGS (extra wrk
# arguments, e.g. a header); run_wrk appends to RESULTS.

declare -A TARGET_PORT=() TARGET_PID=() TARGET_LOG=()
declare -A RESULTS=() # "target c" -> lines "rps p50 p99 non2xx sockerr requests steal
#                        own_usr own_sys upstream server_cpu switches wakeups"
#                        (the last six: microseconds, or counts, per request)
# Optional, set by the script: the process whose CPU time is the target's
# own (nginx's worker, not its master) and the upstream's worker.  When set,
# run_wrk also reports what each request cost on the servers' CPU.
declare -A TARGET_WORKER=()
UPSTREAM_WORKER=''
WRK_ARGS=()

# "total steal" jiffies (user..steal; guest time is already inside user).
cpu_sample() { awk '/^cpu /{t=0; for(i=2;i<=9;i++) t+=$i; print t, $9; exit}' /proc/stat; }

# worker_of PID: nginx's worker (the master's only child), else PID itself.
worker_of() {
    local w
    w=$(pgrep -P "$1" | head -1 || true)
    echo "${w:-$1}"
}

# proc_cpu PID -> "utime stime switches" of the process, all its threads:
# clock ticks in user and kernel mode, and context switches (voluntary and
# not).  "0 0 0" when PID is empty or gone.
proc_cpu() {
    local pid=$1 f u s cs=0
    if [[ -z $pid || ! -r /proc/$pid/stat ]]; then
        echo 0 0 0
        return 0
    fi
    f=$(cat "/proc/$pid/stat" 2>/dev/null) || { echo 0 0 0; return 0; }
    f=${f##*) }
    read -r _ _ _ _ _ _ _ _ _ _ _ u s _ <<<"$f"
    cs=$(cat /proc/"$pid"/task/*/status 2>/dev/null |
        awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }')
    echo "$u $s $cs"
}

# server_cpu_sample -> "busy total" jiffies of the servers' CPU (all of
# user..steal but idle and iowait: softirq work done for loopback TCP is
# counted here even where the kernel charges it to no process).
server_cpu_sample() {
    awk -v cpu="cpu${SRV_CPU:-}" '$1 == cpu { t = 0; for (i = 2; i <= 9; i++) t += $i
        print t - $5 - $6, t; exit }' /proc/stat
}

# ipi_sample -> rescheduling and function-call interrupts so far, all CPUs:
# how one CPU wakes a task on another (here: wrk and the servers each other).
ipi_sample() {
    awk '$1 == "RES:" || $1 == "CAL:" { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i }
        END { print n + 0 }' /proc/interrupts
}

# cost_fields BEFORE AFTER REQUESTS -> "own_usr own_sys upstream server switches
# ipis": microseconds per request of the target's user and kernel time, of
# the upstream worker's time and of the servers' whole CPU, then the
# target's context switches and the machine's wake-up interrupts per
# request.  BEFORE and AFTER are "target upstream server ipis" samples
# (proc_cpu, proc_cpu, server_cpu_sample, ipi_sample).
cost_fields() {
    awk -v a="$1" -v b="$2" -v req="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        if (req <= 0) { print "0 0 0 0 0 0"; exit }
        us = 1e6 / hz / req
        printf "%.2f %.2f %.2f %.2f %.2f %.2f\n", (y[1] - x[1]) * us, (y[2] - x[2]) * us,
            ((y[4] + y[5]) - (x[4] + x[5])) * us, (y[7] - x[7]) * us, (y[3] - x[3]) / req,
            (y[9] - x[9]) / req }'
}

# parse_wrk FILE -> "rps p50_ms p99_ms non2xx sockerr requests"
parse_wrk() {
    awk '
    function ms(v,   n, u) {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") return n / 1000
        if (u == "ms") return n
        if (u == "s")  return n * 1000
        if (u == "m")  return n * 60000
        if (u == "h")  return n * 3600000
        return n
    }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    /requests in/ { req = $1 }
    /Non-2xx or 3xx responses:/ { n2 = $NF }
    /Socket errors:/ {
        for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { x = $i; sub(/,/, "", x); se += x }
    }
    END { printf "%.2f %.4f %.4f %d %d %d\n", rps, p50, p99, n2, se, req }' "$1"
}

run_wrk() { # target conns round
    local tg=$1 c=$2 r=$3 out s0 s1 rc=0 line steal rps p50 p99 n2 se
    local port=${TARGET_PORT[$tg]}
    out=$T/wrk/$tg-c$c-r$r.txt
    if ! kill -0 "${TARGET_PID[$tg]}" 2>/dev/null; then
        log "WARNING: $tg (pid ${TARGET_PID[$tg]}) is not running; skipping c$c round $r"
        return 0
    fi
    local worker=${TARGET_WORKER[$tg]:-} c0 c1
    s0=$(cpu_sample)
    c0="$(proc_cpu "$worker") $(proc_cpu "$UPSTREAM_WORKER") $(server_cpu_sample) $(ipi_sample)"
    timeout $((DURATION + 30)) "${WRK_PIN[@]}" wrk -t1 -c"$c" -d"${DURATION}s" --latency \
        "${WRK_ARGS[@]}" "http://127.0.0.1:$port$URL_PATH" >"$out" 2>&1 || rc=$?
    c1="$(proc_cpu "$worker") $(proc_cpu "$UPSTREAM_WORKER") $(server_cpu_sample) $(ipi_sample)"
    s1=$(cpu_sample)
    steal=$(awk -v a="$s0" -v b="$s1" 'BEGIN { split(a, x, " "); split(b, y, " ");
        dt = y[1] - x[1]; printf "%.1f", (dt > 0 ? 100 * (y[2] - x[2]) / dt : 0) }')
    if ((rc != 0)); then
        log "WARNING: wrk exited $rc for $tg c$c round $r (output: $out)"
    fi
    line="$(parse_wrk "$out") $steal"
    if [[ -n $worker ]]; then
        line+=" $(cost_fields "$c0" "$c1" "$(awk '{ print $6 }' <<<"$line")")"
    fi
    RESULTS["$tg $c"]+="$line"$'\n'
    read -r rps p50 p99 n2 se _ _ <<<"$line"
    printf '%s: round %d/%d  %-12s c%-3s %10s req/s  p50 %8s ms  p99 %8s ms  non2xx %s  sockerr %s  steal %s%%\n' \
        "$BENCH_NAME" "$r" "$ROUNDS" "$tg" "$c" "$rps" "$p50" "$p99" "$n2" "$se" "$steal" >&2
    if ! kill -0 "${TARGET_PID[$tg]}" 2>/dev/null; then
        log "WARNING: $tg died during the run; its log tail:"
        tail -20 "${TARGET_LOG[$tg]}" >&2 || true
    fi
}

# warm_wrk TARGET: one unmeasured second at c32 (opens connections, pools).
warm_wrk() {
    timeout 30 "${WRK_PIN[@]}" wrk -t1 -c32 -d1s "${WRK_ARGS[@]}" \
        "http://127.0.0.1:${TARGET_PORT[$1]}$URL_PATH" >"$T/wrk/warmup-$1.txt" 2>&1 || true
}

# ---------------------------------------------------------------------------
# Summary

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v k="$1" 'NF { print $k }'; }
sumcol() { awk -v k="$1" 'NF { s += $k } END { print s + 0 }'; }
maxcol() { awk -v k="$1" 'NF { if ($k > m) m = $k } END { printf "%.1f", m + 0 }'; }

declare -A MED_RPS=() MED_P50=() MED_P99=() MED_COST=()

table_header() {
    printf '%-13s %5s %4s %10s %9s %9s %8s %8s %7s  %s\n' \
        scenario conns runs 'req/s' 'p50 ms' 'p99 ms' non-2xx sock-err steal% 'req/s per run'
    printf '%s\n' "$(printf -- '-%.0s' {1..100})"
}

# table_row TARGET CONNS: one line of medians; fills MED_RPS/MED_P50/MED_P99
# (and MED_COST: "own_usr own_sys upstream server switches ipis" when measured).
table_row() {
    local tg=$1 c=$2 data n rps p50 p99
    data=${RESULTS["$tg $c"]:-}
    n=$(printf '%s' "$data" | awk 'NF' | wc -l)
    if ((n == 0)); then
        printf '%-13s %5s %4s %10s\n' "$tg" "$c" 0 '(no runs)'
        return 0
    fi
    rps=$(printf '%s' "$data" | col 1 | median)
    p50=$(printf '%s' "$data" | col 2 | median)
    p99=$(printf '%s' "$data" | col 3 | median)
    MED_RPS["$tg $c"]=$rps
    MED_P50["$tg $c"]=$p50
    MED_P99["$tg $c"]=$p99
    if printf '%s' "$data" | awk 'NF >= 13 { found = 1 } END { exit !found }'; then
        MED_COST["$tg $c"]="$(for k in 8 9 10 11 12 13; do printf '%s ' "$(printf '%s' "$data" | col $k | median)"; done)"
    fi
    printf '%-13s %5s %4s %10.0f %9.3f %9.3f %8s %8s %7s  %s\n' "$tg" "$c" "$n" \
        "$rps" "$p50" "$p99" \
        "$(printf '%s' "$data" | sumcol 4)" "$(printf '%s' "$data" | sumcol 5)" \
        "$(printf '%s' "$data" | maxcol 7)" \
        "$(printf '%s' "$data" | awk 'NF { printf "%s%.0f", s, $1; s = " " }')"
}

# cost_header / cost_row TARGET CONNS: what a request cost on the servers'
# CPU, medians over the rounds (run_wrk's accounting; only for targets with
# a TARGET_WORKER).  Ticks of the kernel's CPU accounting, so a few percent
# of resolution: read the differences of 10 % and more.
cost_header() {
    printf '%-13s %5s %9s %9s %9s %10s %11s %9s %7s\n' scenario conns 'own usr' 'own sys' \
        'own all' 'upstream' 'server CPU' switches wakeups
    printf '%-13s %5s %9s %9s %9s %10s %11s %9s %7s\n' '' '' 'us/req' 'us/req' 'us/req' \
        'us/req' 'us/req' '/req' '/req'
    printf '%s\n' "$(printf -- '-%.0s' {1..92})"
}
cost_row() {
    local m=${MED_COST["$1 $2"]:-}
    [[ -n $m ]] || return 0
    awk -v tg="$1" -v c="$2" -v m="$m" 'BEGIN { split(m, v, " ")
        printf "%-13s %5s %9.2f %9.2f %9.2f %10.2f %11.2f %9.2f %7.2f\n", tg, c, v[1], v[2],
            v[1] + v[2], v[3], v[4], v[5], v[6] }'
}

# tail_logs FILE...: the tail of each non-empty log in $T/logs.
tail_logs() {
    local f
    for f in "$@"; do
        if [[ -s $T/logs/$f ]]; then
            echo
            echo "--- $f ($(wc -l <"$T/logs/$f") lines), tail:"
            tail -15 "$T/logs/$f"
        fi
    done
}
