#!/usr/bin/env bash
# contrib/bench/cache.sh: loopback cache-hit benchmark of vaproxyd's lease
# cache against nginx proxy_cache hits, both in front of the same nginx
# "Vault" upstream, and against nginx answering the same lease JSON itself
# (`return 200`: the ceiling for any HTTP/1.1 server here, as in static.sh),
# plus vaproxyd's memory use with 100k cached leases.
#
#   bash contrib/bench/cache.sh          # from the repo root, as root on Debian 12
#
# Knobs (environment):
#   DURATION=10        seconds per wrk run
#   ROUNDS=3           rounds; every round runs both caches at c1 and c32
#   LEASES=100000      distinct leases cached for the memory measurement
#   FILL_CONNS=16      wrk connections used to fill the cache
#   VAPROXYD=path      use this binary instead of building one (then also set
#   VAPROXY_PLUGIN_DIR=dir   the plugin directory it should load)
#   OUT_DIR=dir        keep wrk outputs, configs, logs and the table there
#   KEEP_TMP=1         do not delete the temp dir (its path is printed)
#   LOG_LEVEL=warn     vaproxyd's --log-level ("info" adds a request line
#                      per request, as nginx's access_log would; off here
#                      as nginx's is)
#   RSS_ONLY=1         skip the hit runs: only fill LEASES leases, re-read
#                      them and report memory (about 30 s with a build)
#   CALLGRIND=1        instead of all that: vaproxyd runs under callgrind
#                      and the instructions per lease hit at c32 over
#                      CG_SECS=5 seconds of wrk are reported
#
# Set-up and method as run.sh: wrk on one CPU, every server on another,
# scenarios interleaved, medians.  README.md gives the nginx cache settings.
# Shared code is in lib.sh.
# Nothing outside the temp dir is written (no /etc/nginx, no /var/log).
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
LEASES=${LEASES:-100000}
FILL_CONNS=${FILL_CONNS:-16}
RSS_ONLY=${RSS_ONLY:-0}
CALLGRIND=${CALLGRIND:-0}
CG_SECS=${CG_SECS:-5}
CONNS=(1 32)
URL_PATH=/v1/database/creds/app
TOKEN=bench-token
BENCH_NAME=bench-cache
RSS_TARGET_MIB=40
RATIO_TARGET=0.8
LOG_LEVEL=${LOG_LEVEL:-warn}

# shellcheck source=contrib/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

check_knobs
[[ $LEASES =~ ^[1-9][0-9]*$ ]] || die "LEASES must be a positive integer (got '$LEASES')"
[[ $FILL_CONNS =~ ^[1-9][0-9]*$ ]] || die "FILL_CONNS must be a positive integer (got '$FILL_CONNS')"
[[ $RSS_ONLY =~ ^[01]$ ]] || die "RSS_ONLY must be 0 or 1 (got '$RSS_ONLY')"
[[ $CALLGRIND =~ ^[01]$ ]] || die "CALLGRIND must be 0 or 1 (got '$CALLGRIND')"
[[ $CG_SECS =~ ^[1-9][0-9]*$ ]] || die "CG_SECS must be a positive integer (got '$CG_SECS')"
[[ -r $HERE/fill.lua ]] || die "$HERE/fill.lua is missing"

bench_tmp up px ng vp
SAVE_FILES=(up/nginx.conf:up-nginx.conf px/nginx.conf:px-cache-nginx.conf
            ng/nginx.conf:return200-nginx.conf vp/config.hcl:vaproxyd.hcl)

ensure_packages nginx wrk curl
if ((CALLGRIND)); then ensure_packages valgrind; fi
get_vaproxyd
setup_pinning

# ---------------------------------------------------------------------------
# Servers
#
# vaproxyd keeps only renewable answers with a lease_id obtained with a
# managed token (core/cache/lease_cache.c), so: token_file auto-auth, whose login
# is a lookup-self (ttl 0: never renewed), use_auto_auth_token = true and
# clients that send no token.  Each cached lease gets a renewal watcher whose
# first renewal goes out at once: the upstream answers sys/leases/renew.

UP_PORT=$(free_port)
PX_PORT=$(free_port)
NG_PORT=$(free_port)
VP_PORT=$(free_port)

LOOKUP_BODY='{"data":{"id":"'$TOKEN'","ttl":0,"renewable":false,"policies":["default"]}}'
RENEW_BODY='{"lease_id":"x","renewable":true,"lease_duration":3600}'
# nginx expands $request_id (32 hex digits, new for every request).
# shellcheck disable=SC2016
LEASE_BODY='{"request_id":"$request_id","lease_id":"database/creds/app/$request_id","renewable":true,"lease_duration":3600,"data":{"username":"u","password":"p"},"wrap_info":null,"warnings":null,"auth":null}'

{
    nginx_common "$T/up"
    cat <<EOF
http {
    access_log off;
    default_type application/json;
    keepalive_requests 1000000;
    log_format bench '\$request_method \$uri \$status';
$(nginx_temp_paths "$T/up")
    server {
        listen 127.0.0.1:$UP_PORT;
        # One line per request that reached the upstream: cache misses,
        # renewals, logins.
        access_log $T/logs/up-access.log bench;
        location = /v1/auth/token/lookup-self { return 200 '$LOOKUP_BODY'; }
        location = /v1/sys/leases/renew { return 200 '$RENEW_BODY'; }
        location /v1/database/creds/ { return 200 '$LEASE_BODY'; }
        location / { return 404 '{"errors":[]}'; }
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
    proxy_cache_path $T/px/cache keys_zone=vcache:10m;
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
            proxy_cache vcache;
            proxy_cache_key "\$request_method\$request_uri\$http_x_vault_token";
            proxy_cache_valid 200 10m;
            proxy_cache_lock on;
            add_header X-Cache-Status \$upstream_cache_status;
        }
    }
}
EOF
} >"$T/px/nginx.conf"

# The ceiling: nginx answering the lease JSON itself (the upstream's
# answer, the same text).
{
    nginx_common "$T/ng"
    cat <<EOF
http {
    access_log off;
    default_type application/json;
    keepalive_requests 1000000;
$(nginx_temp_paths "$T/ng")
    server {
        listen 127.0.0.1:$NG_PORT;
        location /v1/database/creds/ { return 200 '$LEASE_BODY'; }
        location / { return 404 '{"errors":[]}'; }
    }
}
EOF
} >"$T/ng/nginx.conf"

printf '%s\n' "$TOKEN" >"$T/vp/token"
cat >"$T/vp/config.hcl" <<EOF
vault {
  address = "http://127.0.0.1:$UP_PORT"
  retry {
    num_retries = -1
  }
}

auto_auth {
  method "token_file" {
    config = { token_file_path = "$T/vp/token" }
  }
}

api_proxy {
  use_auto_auth_token = true
}

cache {
  max_entries = 200000
}

listener "tcp" {
  address     = "127.0.0.1:$VP_PORT"
  tls_disable = true
}
EOF

nginx_check "$T/up" upstream
nginx_check "$T/px" "proxy_cache"
nginx_check "$T/ng" "return 200"

start_nginx "$T/up"
UP_PID=$NGX_PID
wait_ready "upstream nginx" "$UP_PID" "http://127.0.0.1:$UP_PORT/v1/sys/health" "$T/logs/up-error.log" any

start_nginx "$T/px"
PX_PID=$NGX_PID
wait_ready "nginx proxy_cache" "$PX_PID" "http://127.0.0.1:$PX_PORT/v1/sys/health" "$T/logs/px-error.log" any

start_nginx "$T/ng"
NG_PID=$NGX_PID
wait_ready "nginx return 200" "$NG_PID" "http://127.0.0.1:$NG_PORT/v1/sys/health" "$T/logs/ng-error.log" any

VP_WRAP=()
if ((CALLGRIND)); then
    VP_WRAP=(valgrind --tool=callgrind --callgrind-out-file="$T/vp/cg.out"
        --dump-instr=no --collect-jumps=no)
    READY_SECS=120
fi
"${SRV_PIN[@]}" "${VP_WRAP[@]}" "$VPD_BIN" --config "$T/vp/config.hcl" --plugin-dir "$VPD_PLUGINS" \
    --log-level "$LOG_LEVEL" >"$T/logs/vaproxyd.log" 2>&1 &
VP_PID=$!
PIDS+=("$VP_PID")
wait_ready "vaproxyd" "$VP_PID" "http://127.0.0.1:$VP_PORT/v1/sys/health" "$T/logs/vaproxyd.log" any

# Auto-auth must have its token before the first lease, or that lease is
# relayed uncached (it was not obtained with a managed token).
for ((i = 0; ; i++)); do
    # The metrics endpoint tells, whatever the log level.
    curl -s "http://127.0.0.1:$VP_PORT/proxy/v1/metrics" |
        grep -q '"Name":"vault.agent.auth.success","Count":[1-9]' && break
    kill -0 "$VP_PID" 2>/dev/null || { tail -20 "$T/logs/vaproxyd.log" >&2; die "vaproxyd exited"; }
    ((i < READY_SECS * 10)) || { tail -20 "$T/logs/vaproxyd.log" >&2; die "vaproxyd did not authenticate within ${READY_SECS}s"; }
    sleep 0.1
done

rss_kb() { awk -v k="${2:-VmRSS}:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# Requests that reached the upstream, by pattern (nginx writes its access
# log without buffering).
up_count() { grep -c -- "$1" "$T/logs/up-access.log" 2>/dev/null || true; }

((CALLGRIND)) || [[ $(cat "/proc/$VP_PID/comm" 2>/dev/null) == vaproxyd* ]] ||
    log "WARNING: pid $VP_PID is $(cat "/proc/$VP_PID/comm" 2>/dev/null), not vaproxyd: RSS figures are wrong"
RSS_START=$(rss_kb "$VP_PID")

# ---------------------------------------------------------------------------
# Warm each cache with one request and check the second one is a hit.

# fetch NAME PORT PATH: GET without a token; headers to $T/h-NAME, body to
# $T/b-NAME, prints the status.  vaproxyd's cache key covers the request
# headers (as Vault's does), so send only Host, as wrk does: then the entry
# checked here is the one the load hits.
fetch() {
    curl -s -D "$T/h-$1" -o "$T/b-$1" -w '%{http_code}' --max-time 5 \
        -H 'User-Agent:' -H 'Accept:' \
        "http://127.0.0.1:$2$3" || true
}
# header NAME FIELD: the value of a response header (last one wins).
header() { tr -d '\r' <"$T/h-$1" | awk -v f="$2" 'BEGIN { f = tolower(f) ":" }
    tolower($1) == f { $1 = ""; sub(/^ /, ""); v = $0 } END { print v }'; }

check_hit() { # name port field
    local name=$1 port=$2 field=$3 c1 c2 v1 v2
    c1=$(fetch "$name-1" "$port" "$URL_PATH")
    v1=$(header "$name-1" "$field")
    c2=$(fetch "$name-2" "$port" "$URL_PATH")
    v2=$(header "$name-2" "$field")
    log "$name: GET $URL_PATH -> $c1 $field: ${v1:-(none)}, again -> $c2 $field: ${v2:-(none)}"
    [[ $c1 == 200 && $c2 == 200 ]] || die "$name did not answer 200 (logs: $T/logs)"
    [[ $v2 == HIT ]] || die "$name: the second request was not a cache hit ($field: '${v2:-}')"
    cmp -s "$T/b-$name-1" "$T/b-$name-2" || log "WARNING: $name: the hit's body differs from the first answer"
    grep -q '"lease_id":"database/creds/app/' "$T/b-$name-2" || log "WARNING: $name: the hit's body is not the lease answer"
}
check_hit vaproxyd "$VP_PORT" X-Cache
check_hit nginx-cache "$PX_PORT" X-Cache-Status
HIT_BYTES=$(($(wc -c <"$T/h-vaproxyd-2") + $(wc -c <"$T/b-vaproxyd-2")))
c=$(fetch nginx-200 "$NG_PORT" "$URL_PATH")
[[ $c == 200 ]] || die "nginx return 200 answered $c (logs: $T/logs)"
NG_BYTES=$(($(wc -c <"$T/h-nginx-200") + $(wc -c <"$T/b-nginx-200")))
log "answer sizes (headers and body): vaproxyd hit $HIT_BYTES bytes, nginx return 200 $NG_BYTES bytes"

# ---------------------------------------------------------------------------
# CALLGRIND=1: instructions per hit, then stop.  Counting starts after a
# warm-up (connections open, pools filled); the count of answers is wrk's.
if ((CALLGRIND)); then
    timeout 120 "${WRK_PIN[@]}" wrk -t1 -c32 -d1s "http://127.0.0.1:$VP_PORT$URL_PATH" \
        >"$T/wrk/cg-warm.txt" 2>&1 || true
    timeout 30 callgrind_control -z "$VP_PID" >/dev/null 2>&1 || die "callgrind_control -z failed"
    timeout $((CG_SECS + 60)) "${WRK_PIN[@]}" wrk -t1 -c32 -d"${CG_SECS}s" \
        "http://127.0.0.1:$VP_PORT$URL_PATH" >"$T/wrk/cg.txt" 2>&1 || true
    rm -f "$T/vp/cg.out".*
    timeout 30 callgrind_control -d "$VP_PID" >/dev/null 2>&1 || die "callgrind_control -d failed"
    ir=''
    for ((i = 0; i < 300; i++)); do # the dump is written asynchronously
        ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$T/vp/cg.out".* 2>/dev/null || true)
        [[ -n $ir ]] && break
        sleep 0.1
    done
    read -r _ _ _ n2 _ n <<<"$(parse_wrk "$T/wrk/cg.txt")"
    UP_GETS=$(up_count "^GET $URL_PATH")
    awk -v a="${ir:-0}" -v n="$n" -v u="$UP_GETS" 'BEGIN {
        printf "callgrind: %d hits at c32 in the measured run, %.0f instructions per hit (upstream GETs of the path: %d)\n",
            n, (n ? a / n : 0), u }' | tee "$T/summary.txt"
    if [[ -n ${OUT_DIR:-} ]]; then mkdir -p "$OUT_DIR" && cp "$T/vp/cg.out".* "$OUT_DIR/"; fi
    exit 0
fi

# ---------------------------------------------------------------------------
# Hit load

TARGET_PORT=([nginx-200]=$NG_PORT [nginx-cache]=$PX_PORT [vaproxyd]=$VP_PORT
    [vaproxyd@full]=$VP_PORT)
TARGET_PID=([nginx-200]=$NG_PID [nginx-cache]=$PX_PID [vaproxyd]=$VP_PID
    [vaproxyd@full]=$VP_PID)
TARGET_LOG=([nginx-200]=$T/logs/ng-error.log [nginx-cache]=$T/logs/px-error.log
    [vaproxyd]=$T/logs/vaproxyd.log [vaproxyd@full]=$T/logs/vaproxyd.log)
WRK_ARGS=()

# RSS_ONLY: no hit runs (the table below stays empty).
((RSS_ONLY)) && ROUNDS=0
est=$(( (ROUNDS * 3 * ${#CONNS[@]} + 1) * DURATION + 30 ))
log "pinning: $PIN_NOTE; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
log "ports: upstream $UP_PORT, nginx-cache $PX_PORT, nginx-200 $NG_PORT, vaproxyd $VP_PORT; load takes about ${est}s"

if ((!RSS_ONLY)); then
    warm_wrk nginx-200
    warm_wrk nginx-cache
    warm_wrk vaproxyd
fi
UP_GETS_0=$(up_count "^GET /v1/database/creds/")

for ((r = 1; r <= ROUNDS; r++)); do
    # Alternate which cache goes first so drift does not favour one of them.
    if ((r % 2)); then order=(nginx-200 nginx-cache vaproxyd); else order=(vaproxyd nginx-cache nginx-200); fi
    for c in "${CONNS[@]}"; do
        for tg in "${order[@]}"; do
            run_wrk "$tg" "$c" "$r"
        done
    done
done
# Every request of the hit runs should have been a hit: none reached the upstream.
UP_GETS_HIT=$(( $(up_count "^GET /v1/database/creds/") - UP_GETS_0 ))
((UP_GETS_HIT == 0)) || log "WARNING: $UP_GETS_HIT GETs reached the upstream during the hit runs (misses)"

# ---------------------------------------------------------------------------
# Memory with LEASES cached leases

RSS_BEFORE=$(rss_kb "$VP_PID")
GETS_0=$(up_count "^GET /v1/database/creds/app-")
RENEW_0=$(up_count "^PUT /v1/sys/leases/renew")

# fill_pass NAME: wrk walks app-1 .. app-LEASES (fill.lua).  NAME=fill runs
# until the upstream has seen LEASES lease GETs (so each was a miss and is now
# cached); NAME=verify until LEASES answers.  Sets FP to
# "secs answers non200 hits".
fill_pass() {
    local name=$1 out=$T/$1.out pid t0 t1 i keep=() p stop=0 reached=0
    [[ $name == verify ]] && stop=$LEASES
    rm -f "$out" "$out.reached"
    t0=$(date +%s.%N)
    FILL_N=$LEASES FILL_STOP=$stop FILL_OUT=$out "${WRK_PIN[@]}" wrk -t1 -c"$FILL_CONNS" \
        -d120s --latency -s "$HERE/fill.lua" "http://127.0.0.1:$VP_PORT" >"$T/wrk/$name.txt" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 1200; i++)); do
        if [[ $name == verify ]]; then
            [[ -e $out.reached ]] && reached=1
        else
            (( $(up_count "^GET /v1/database/creds/app-") - GETS_0 >= LEASES )) && reached=1
        fi
        ((reached)) && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    t1=$(date +%s.%N)
    # wrk sleeps its whole -d before it reports; SIGINT ends that sleep.
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    ((reached)) || log "WARNING: $name did not finish within 120 s (wrk output: $T/wrk/$name.txt)"
    FP="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') $(cat "$out" 2>/dev/null || echo 0 0 0)"
}

log "filling vaproxyd's cache with $LEASES leases (wrk -c$FILL_CONNS, one GET per lease path)"
fill_pass fill
read -r FILL_SECS FILL_N FILL_BAD FILL_HITS <<<"$FP"
log "fill: $FILL_N answers ($FILL_BAD not 200, $FILL_HITS hits) in ${FILL_SECS}s"
RSS_FILLED=$(rss_kb "$VP_PID")

# Let the renewals (one PUT per stored lease, sent at once) and any request
# still in flight finish: wait until the upstream's counts stop moving.
prev=-1
for ((i = 0; i < 60; i++)); do
    now="$(up_count "^GET /v1/database/creds/app-") $(up_count "^PUT /v1/sys/leases/renew")"
    [[ $now == "$prev" ]] && break
    prev=$now
    sleep 1
done
FILL_GETS=$(( $(up_count "^GET /v1/database/creds/app-") - GETS_0 ))
FILL_RENEWS=$(( $(up_count "^PUT /v1/sys/leases/renew") - RENEW_0 ))
RSS_AFTER=$(rss_kb "$VP_PID")
HWM_AFTER=$(rss_kb "$VP_PID" VmHWM)
log "upstream saw $FILL_GETS lease GETs and $FILL_RENEWS renewals; RSS $(mib "$RSS_AFTER") MiB"

# Read every lease again: all should be hits now.
GETS_1=$(up_count "^GET /v1/database/creds/app-")
fill_pass verify
read -r VERIFY_SECS VERIFY_N VERIFY_BAD VERIFY_HITS <<<"$FP"
VERIFY_MISSES=$(( $(up_count "^GET /v1/database/creds/app-") - GETS_1 ))
log "re-read: $VERIFY_HITS of $VERIFY_N answers were hits ($VERIFY_BAD not 200) in ${VERIFY_SECS}s; $VERIFY_MISSES reached the upstream"
RSS_VERIFY=$(rss_kb "$VP_PID")

# One more hit run on the first path, with the cache full.
((RSS_ONLY)) || run_wrk vaproxyd@full 32 1

# ---------------------------------------------------------------------------
# Summary

{
    echo
    echo "vaproxy cache-hit benchmark: $(date -u '+%Y-%m-%d %H:%M:%SZ'), $(nproc) CPUs, $PIN_NOTE"
    echo "uptime: $(uptime)"
    echo "wrk -t1 -cN -d${DURATION}s --latency GET $URL_PATH (no token); ${ROUNDS} round(s); medians over runs"
    echo "vaproxyd: $VPD_BIN ($("$VPD_BIN" --version 2>/dev/null | head -1 || echo '?'))"
    echo "nginx: $("$NGINX" -v 2>&1 | sed 's/.*version: //'), wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo
    table_header
    for c in "${CONNS[@]}"; do
        for tg in nginx-200 nginx-cache vaproxyd; do
            table_row "$tg" "$c"
        done
    done
    table_row vaproxyd@full 32
    echo
    for c in "${CONNS[@]}"; do
        v=${MED_RPS["vaproxyd $c"]:-}
        x=${MED_RPS["nginx-cache $c"]:-}
        if [[ -n $v && -n $x ]]; then
            awk -v c="$c" -v v="$v" -v x="$x" -v vl="${MED_P50["vaproxyd $c"]}" \
                -v xl="${MED_P50["nginx-cache $c"]}" -v vt="${MED_P99["vaproxyd $c"]}" \
                -v xt="${MED_P99["nginx-cache $c"]}" 'BEGIN {
                r = (x > 0 ? v / x : 0)
                printf "ratio vaproxyd-hit/nginx-hit at c%-3s req/s %.2f   p50 %.2f   p99 %.2f   (target req/s >= 1.00: %s)\n",
                    c, r, (xl > 0 ? vl / xl : 0), (xt > 0 ? vt / xt : 0), (r >= 1 ? "met" : "NOT met") }'
        fi
    done
    for c in "${CONNS[@]}"; do
        v=${MED_RPS["vaproxyd $c"]:-}
        x=${MED_RPS["nginx-200 $c"]:-}
        [[ -n $v && -n $x ]] && awk -v c="$c" -v v="$v" -v x="$x" -v t="$RATIO_TARGET" 'BEGIN {
            r = (x > 0 ? v / x : 0)
            printf "ratio vaproxyd lease hit / nginx return 200 at c%-3s req/s %.2f", c, r
            if (c == 32) printf " (goal >= %.2f: %s)", t, (r >= t ? "met" : "NOT met")
            printf "\n" }'
    done
    echo "(vaproxyd@full = one run at c32 on the same path after the $LEASES leases were cached."
    echo " Upstream GETs during the hit runs: $UP_GETS_HIT (0 = every request was a hit). steal% = max over runs."
    echo " Differences under ~1.5x in req/s or ~5x in p99 are within this kind of machine's noise.)"
    echo
    echo "vaproxyd memory (VmRSS), cache { max_entries = 200000 }:"
    printf '  %-44s %8s MiB\n' "at start (logged in, cache empty)" "$(mib "$RSS_START")"
    printf '  %-44s %8s MiB\n' "after the hit runs (1 lease cached)" "$(mib "$RSS_BEFORE")"
    printf '  %-44s %8s MiB\n' "right after caching $LEASES leases" "$(mib "$RSS_FILLED")"
    printf '  %-44s %8s MiB   (VmHWM %s MiB)\n' "after their renewals ($FILL_RENEWS PUTs)" "$(mib "$RSS_AFTER")" "$(mib "$HWM_AFTER")"
    printf '  %-44s %8s MiB\n' "after reading them all again" "$(mib "$RSS_VERIFY")"
    awk -v a="$RSS_AFTER" -v b="$RSS_BEFORE" -v n="$LEASES" -v hb="$HIT_BYTES" -v t="$RSS_TARGET_MIB" 'BEGIN {
        printf "  per lease: %.0f bytes of RSS (a cached answer is %d bytes of headers and body)\n",
            (a - b) * 1024 / n, hb
        printf "  target RSS <= %d MiB at %d entries: %s\n", t, n, (a <= t * 1024 ? "met" : "NOT met") }'
    echo "  fill: $LEASES distinct paths in ${FILL_SECS}s = $(awk -v n="$LEASES" -v s="$FILL_SECS" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }') misses/s at c$FILL_CONNS" \
        "(upstream saw $FILL_GETS lease GETs; $FILL_N answers, $FILL_BAD not 200, $FILL_HITS hits)"
    echo "  re-read: $VERIFY_HITS/$VERIFY_N hits ($VERIFY_BAD not 200, $VERIFY_MISSES reached the upstream) in ${VERIFY_SECS}s" \
        "= $(awk -v n="$VERIFY_N" -v s="$VERIFY_SECS" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }') req/s at c$FILL_CONNS"
} | tee "$T/summary.txt"

# vaproxyd's shutdown with a full cache (every watcher is stopped).
t0=$(date +%s.%N)
kill -TERM "$VP_PID" 2>/dev/null || true
for ((i = 0; i < 100; i++)); do
    kill -0 "$VP_PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$VP_PID" 2>/dev/null; then
    echo "vaproxyd still running 10 s after SIGTERM (the clean-up will SIGKILL it)" | tee -a "$T/summary.txt"
else
    rc=0
    wait "$VP_PID" 2>/dev/null || rc=$?
    echo "vaproxyd exited $rc, $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after SIGTERM" |
        tee -a "$T/summary.txt"
fi

# What vaproxyd logged above info, and the servers' error logs.
{
    n=$(grep -ciEv '\[(info|debug|trace)\]|"level":"(info|debug|trace)"' "$T/logs/vaproxyd.log" || true)
    echo "vaproxyd log ($LOG_LEVEL): $(wc -l <"$T/logs/vaproxyd.log") lines, ${n:-0} above info"
    tail_logs vaproxyd.log up-error.log px-error.log ng-error.log
} | tee -a "$T/summary.txt"
