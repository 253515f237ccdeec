#!/usr/bin/env bash
# contrib/bench/run.sh: loopback pass-through benchmark of vaproxyd against an
# nginx reverse proxy, both in front of the same nginx "Vault" upstream.
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
#
# Set-up and method follow /work/shared/reference/build-and-clients.md section 3:
# wrk on one CPU, every server on another, scenarios interleaved, medians.
# Nothing outside the temp dir is written (no /etc/nginx, no /var/log).
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=(1 32)
URL_PATH=/v1/secret/data/foo
TOKEN_HDR='X-Vault-Token: t'
READY_SECS=15

die() { echo "bench: error: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "DURATION must be a positive integer (got '$DURATION')"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# ---------------------------------------------------------------------------
# Temp dir and clean-up

T=$(mktemp -d /tmp/vaproxy-bench.XXXXXX)
# nginx workers drop to an unprivileged user when started as root; they must
# be able to reach their temp paths.
chmod 0755 "$T"
mkdir -p "$T/logs" "$T/wrk" "$T/up" "$T/px" "$T/vp"
PIDS=()

cleanup() {
    local rc=$? pid i
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
    if [[ -n ${OUT_DIR:-} ]]; then
        mkdir -p "$OUT_DIR"
        cp -r "$T/logs" "$T/wrk" "$OUT_DIR/" 2>/dev/null || true
        cp "$T"/up/nginx.conf "$OUT_DIR/up-nginx.conf" 2>/dev/null || true
        cp "$T"/px/nginx.conf "$OUT_DIR/px-nginx.conf" 2>/dev/null || true
        cp "$T"/vp/config.hcl "$OUT_DIR/vaproxyd.hcl" 2>/dev/null || true
        cp "$T"/summary.txt "$OUT_DIR/" 2>/dev/null || true
    fi
    if [[ ${KEEP_TMP:-0} == 1 ]]; then
        log "temp dir kept: $T"
    else
        rm -rf "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# 1. Packages

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

need=(nginx wrk curl)
if [[ -z ${VAPROXYD:-} ]]; then
    need+=(gcc make autoconf automake libtool pkg-config libuv1-dev libssl-dev
           libcurl4-openssl-dev libjson-c-dev libltdl-dev node-llhttp)
fi
missing=()
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

# ---------------------------------------------------------------------------
# 2. vaproxyd: given, or built from a copy of the working tree

if [[ -n ${VAPROXYD:-} ]]; then
    [[ -x $VAPROXYD ]] || die "VAPROXYD=$VAPROXYD is not an executable"
    [[ -n ${VAPROXY_PLUGIN_DIR:-} ]] || die "VAPROXYD is set: set VAPROXY_PLUGIN_DIR too"
    [[ -d $VAPROXY_PLUGIN_DIR ]] || die "VAPROXY_PLUGIN_DIR=$VAPROXY_PLUGIN_DIR is not a directory"
    VPD_BIN=$VAPROXYD
    VPD_PLUGINS=$VAPROXY_PLUGIN_DIR
else
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
fi

# ---------------------------------------------------------------------------
# CPU pinning: wrk on the first allowed CPU, every server on the second.

allowed_cpus() {
    local list part a b c out=()
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
WRK_PIN=()
SRV_PIN=()
read -r -a CPUS <<<"$(allowed_cpus)"
if (($(nproc) >= 2)) && ((${#CPUS[@]} >= 2)) && command -v taskset >/dev/null; then
    WRK_PIN=(taskset -c "${CPUS[0]}")
    SRV_PIN=(taskset -c "${CPUS[1]}")
    PIN_NOTE="wrk on CPU ${CPUS[0]}, servers on CPU ${CPUS[1]}"
else
    PIN_NOTE="unpinned (fewer than 2 CPUs)"
fi

# ---------------------------------------------------------------------------
# Ports and servers

USED_PORTS=" "
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 40000))
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

# wait_ready NAME PID URL LOG WANT: poll until URL answers (WANT=200: with 200;
# WANT=any: with any HTTP status), for at most READY_SECS.
wait_ready() {
    local name=$1 pid=$2 url=$3 logf=$4 want=$5 code i
    for ((i = 0; i < READY_SECS * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -20 "$logf" >&2 || true
            die "$name exited during start-up (log above: $logf)"
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -H "$TOKEN_HDR" "$url" || true)
        if [[ $want == any && $code != 000 && -n $code ]] || [[ $code == "$want" ]]; then
            return 0
        fi
        sleep 0.1
    done
    tail -20 "$logf" >&2 || true
    die "$name not ready after ${READY_SECS}s at $url (last status '$code')"
}

# A KV v2 read response, shaped like Vault's (no single quotes, no '$').
BODY='{"request_id":"6f1c2a9e-3b7d-4c55-9a0e-2d8e5f4b1c77","lease_id":"","renewable":false,"lease_duration":0,"data":{"data":{"password":"s3cr3t","username":"app"},"metadata":{"created_time":"2024-01-01T00:00:00.000000000Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":3}},"wrap_info":null,"warnings":null,"auth":null,"mount_type":"kv"}'

nginx_common() { # $1 = dir
    cat <<EOF
worker_processes 1;
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

start_nginx() { # $1 = dir; sets NGX_PID
    local d=$1
    "${SRV_PIN[@]}" "$NGINX" -p "$d/" -c "$d/nginx.conf" \
        -e "$T/logs/$(basename "$d")-error.log" >"$T/logs/$(basename "$d")-stdout.log" 2>&1 &
    NGX_PID=$!
    PIDS+=("$NGX_PID")
}

UP_PORT=$(free_port)
PX_PORT=$(free_port)
VP_PORT=$(free_port)

{
    nginx_common "$T/up"
    cat <<EOF
http {
    access_log off;
    default_type application/json;
    keepalive_requests 1000000;
$(nginx_temp_paths "$T/up")
    server {
        listen 127.0.0.1:$UP_PORT;
        location /v1/ { return 200 '$BODY'; }
    }
}
EOF
} >"$T/up/nginx.conf"

{
    nginx_common "$T/px"
    cat <<EOF
http {
    access_log off;
    keepalive_requests 1000000;
$(nginx_temp_paths "$T/px")
    upstream vault_up {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$PX_PORT;
        location / {
            proxy_pass http://vault_up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
} >"$T/px/nginx.conf"

cat >"$T/vp/config.hcl" <<EOF
vault {
  address = "http://127.0.0.1:$UP_PORT"
  retry {
    num_retries = -1
  }
}

listener "tcp" {
  address     = "127.0.0.1:$VP_PORT"
  tls_disable = true
}
EOF

"$NGINX" -t -q -p "$T/up/" -c "$T/up/nginx.conf" -e "$T/logs/up-error.log" ||
    die "upstream nginx config rejected ($T/up/nginx.conf)"
"$NGINX" -t -q -p "$T/px/" -c "$T/px/nginx.conf" -e "$T/logs/px-error.log" ||
    die "proxy nginx config rejected ($T/px/nginx.conf)"

start_nginx "$T/up"
UP_PID=$NGX_PID
wait_ready "upstream nginx" "$UP_PID" "http://127.0.0.1:$UP_PORT$URL_PATH" "$T/logs/up-error.log" 200

start_nginx "$T/px"
PX_PID=$NGX_PID
wait_ready "nginx proxy" "$PX_PID" "http://127.0.0.1:$PX_PORT$URL_PATH" "$T/logs/px-error.log" 200

"${SRV_PIN[@]}" "$VPD_BIN" --config "$T/vp/config.hcl" --plugin-dir "$VPD_PLUGINS" \
    --log-level warn >"$T/logs/vaproxyd.log" 2>&1 &
VP_PID=$!
PIDS+=("$VP_PID")
wait_ready "vaproxyd" "$VP_PID" "http://127.0.0.1:$VP_PORT$URL_PATH" "$T/logs/vaproxyd.log" any

# One request each through both proxies: same status and body as direct?
for pair in "nginx-proxy:$PX_PORT" "vaproxyd:$VP_PORT"; do
    name=${pair%%:*}
    port=${pair#*:}
    code=$(curl -s -o "$T/body-$name" -w '%{http_code}' --max-time 5 -H "$TOKEN_HDR" \
        "http://127.0.0.1:$port$URL_PATH" || true)
    if [[ $code != 200 ]]; then
        log "WARNING: $name answered $code (not 200) to GET $URL_PATH"
    elif [[ $(cat "$T/body-$name") != "$BODY" ]]; then
        log "WARNING: $name returned a body different from the upstream's"
    fi
done

# ---------------------------------------------------------------------------
# 5. Load

declare -A TARGET_PORT=([direct]=$UP_PORT [nginx-proxy]=$PX_PORT [vaproxyd]=$VP_PORT)
declare -A TARGET_PID=([direct]=$UP_PID [nginx-proxy]=$PX_PID [vaproxyd]=$VP_PID)
declare -A TARGET_LOG=([direct]=$T/logs/up-error.log [nginx-proxy]=$T/logs/px-error.log
    [vaproxyd]=$T/logs/vaproxyd.log)
declare -A RESULTS=()   # "target c" -> lines "rps p50 p99 non2xx sockerr requests steal"

# "total steal" jiffies (user..steal; guest time is already inside user).
cpu_sample() { awk '/^cpu /{t=0; for(i=2;i<=9;i++) t+=$i; print t, $9; exit}' /proc/stat; }

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
    local tg=$1 c=$2 r=$3 out s0 s1 rc=0 line steal
    local port=${TARGET_PORT[$tg]}
    out=$T/wrk/$tg-c$c-r$r.txt
    if ! kill -0 "${TARGET_PID[$tg]}" 2>/dev/null; then
        log "WARNING: $tg (pid ${TARGET_PID[$tg]}) is not running; skipping c$c round $r"
        return 0
    fi
    s0=$(cpu_sample)
    timeout $((DURATION + 30)) "${WRK_PIN[@]}" wrk -t1 -c"$c" -d"${DURATION}s" --latency \
        -H "$TOKEN_HDR" "http://127.0.0.1:$port$URL_PATH" >"$out" 2>&1 || rc=$?
    s1=$(cpu_sample)
    steal=$(awk -v a="$s0" -v b="$s1" 'BEGIN { split(a, x, " "); split(b, y, " ");
        dt = y[1] - x[1]; printf "%.1f", (dt > 0 ? 100 * (y[2] - x[2]) / dt : 0) }')
    if ((rc != 0)); then
        log "WARNING: wrk exited $rc for $tg c$c round $r (output: $out)"
    fi
    line="$(parse_wrk "$out") $steal"
    RESULTS["$tg $c"]+="$line"$'\n'
    read -r rps p50 p99 n2 se _ _ <<<"$line"
    printf 'bench: round %d/%d  %-11s c%-3s %10s req/s  p50 %8s ms  p99 %8s ms  non2xx %s  sockerr %s  steal %s%%\n' \
        "$r" "$ROUNDS" "$tg" "$c" "$rps" "$p50" "$p99" "$n2" "$se" "$steal" >&2
    if ! kill -0 "${TARGET_PID[$tg]}" 2>/dev/null; then
        log "WARNING: $tg died during the run; its log tail:"
        tail -20 "${TARGET_LOG[$tg]}" >&2 || true
    fi
}

est=$(( (ROUNDS * 2 * ${#CONNS[@]} + ${#CONNS[@]}) * DURATION + 3 ))
log "pinning: $PIN_NOTE"
log "ports: upstream $UP_PORT, nginx-proxy $PX_PORT, vaproxyd $VP_PORT; load takes about ${est}s"

# Warm-up: open keep-alive connections and pools everywhere (not measured).
for tg in direct nginx-proxy vaproxyd; do
    timeout 30 "${WRK_PIN[@]}" wrk -t1 -c32 -d1s -H "$TOKEN_HDR" \
        "http://127.0.0.1:${TARGET_PORT[$tg]}$URL_PATH" >"$T/wrk/warmup-$tg.txt" 2>&1 || true
done

for ((r = 1; r <= ROUNDS; r++)); do
    # Alternate which proxy goes first so drift does not favour one of them.
    if ((r % 2)); then order=(nginx-proxy vaproxyd); else order=(vaproxyd nginx-proxy); fi
    for c in "${CONNS[@]}"; do
        ((r == 1)) && run_wrk direct "$c" "$r"
        for tg in "${order[@]}"; do
            run_wrk "$tg" "$c" "$r"
        done
    done
done

# ---------------------------------------------------------------------------
# Summary

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { awk -v k="$1" 'NF { print $k }'; }
sumcol() { awk -v k="$1" 'NF { s += $k } END { print s + 0 }'; }
maxcol() { awk -v k="$1" 'NF { if ($k > m) m = $k } END { printf "%.1f", m + 0 }'; }

declare -A MED_RPS=() MED_P50=()
{
    echo
    echo "vaproxy loopback benchmark: $(date -u '+%Y-%m-%d %H:%M:%SZ'), $(nproc) CPUs, $PIN_NOTE"
    echo "wrk -t1 -cN -d${DURATION}s --latency -H '$TOKEN_HDR' GET $URL_PATH; ${ROUNDS} round(s); medians over runs"
    echo "vaproxyd: $VPD_BIN ($("$VPD_BIN" --version 2>/dev/null | head -1 || echo '?'))"
    echo "nginx: $("$NGINX" -v 2>&1 | sed 's/.*version: //'), wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo
    printf '%-12s %5s %4s %10s %9s %9s %8s %8s %7s  %s\n' \
        scenario conns runs 'req/s' 'p50 ms' 'p99 ms' non-2xx sock-err steal% 'req/s per run'
    printf '%s\n' "$(printf -- '-%.0s' {1..100})"
    for c in "${CONNS[@]}"; do
        for tg in direct nginx-proxy vaproxyd; do
            data=${RESULTS["$tg $c"]:-}
            n=$(printf '%s' "$data" | awk 'NF' | wc -l)
            if ((n == 0)); then
                printf '%-12s %5s %4s %10s\n' "$tg" "$c" 0 '(no runs)'
                continue
            fi
            rps=$(printf '%s' "$data" | col 1 | median)
            p50=$(printf '%s' "$data" | col 2 | median)
            p99=$(printf '%s' "$data" | col 3 | median)
            MED_RPS["$tg $c"]=$rps
            MED_P50["$tg $c"]=$p50
            printf '%-12s %5s %4s %10.0f %9.3f %9.3f %8s %8s %7s  %s\n' "$tg" "$c" "$n" \
                "$rps" "$p50" "$p99" \
                "$(printf '%s' "$data" | sumcol 4)" "$(printf '%s' "$data" | sumcol 5)" \
                "$(printf '%s' "$data" | maxcol 7)" \
                "$(printf '%s' "$data" | awk 'NF { printf "%s%.0f", s, $1; s = " " }')"
        done
    done
    echo
    for c in "${CONNS[@]}"; do
        v=${MED_RPS["vaproxyd $c"]:-}
        x=${MED_RPS["nginx-proxy $c"]:-}
        vl=${MED_P50["vaproxyd $c"]:-}
        xl=${MED_P50["nginx-proxy $c"]:-}
        if [[ -n $v && -n $x ]]; then
            awk -v c="$c" -v v="$v" -v x="$x" -v vl="$vl" -v xl="$xl" 'BEGIN {
                printf "ratio vaproxyd/nginx at c%-3s req/s %.2f   p50 %.2f\n", c,
                    (x > 0 ? v / x : 0), (xl > 0 ? vl / xl : 0) }'
        fi
    done
    echo "(direct = the upstream without a proxy, round 1 only, for context; steal% = max over runs."
    echo " Differences under ~1.5x in req/s or ~5x in p99 are within this kind of machine's noise.)"
} | tee "$T/summary.txt"

# Anything the servers logged.
for f in vaproxyd.log up-error.log px-error.log; do
    if [[ -s $T/logs/$f ]]; then
        echo
        echo "--- $f ($(wc -l <"$T/logs/$f") lines), tail:"
        tail -15 "$T/logs/$f"
    fi
done | tee -a "$T/summary.txt"
