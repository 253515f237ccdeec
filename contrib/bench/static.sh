#!/usr/bin/env bash
# contrib/bench/static.sh: loopback benchmark of vaproxyd's static secret
# cache.  KV hits against nginx answering the same KV JSON itself (`return
# 200`: the ceiling for any HTTP/1.1 server here), as a ratio in one run,
# and vaproxyd's memory with 100k static entries of a ~300-byte KV answer.
#
#   bash contrib/bench/static.sh          # from the repo root
#
# Knobs (environment):
#   DURATION=10        seconds per wrk run
#   ROUNDS=3           rounds; every round runs both servers at c1 and c32
#   ENTRIES=100000     distinct KV paths cached for the memory measurement
#   FILL_CONNS=16      wrk connections used to fill the cache
#   VAPROXYD=path      use this binary instead of building one (then also set
#   VAPROXY_PLUGIN_DIR=dir   the plugin directory it should load)
#   OUT_DIR=dir        keep wrk outputs, configs, logs and the table there
#   KEEP_TMP=1         do not delete the temp dir (its path is printed)
#   RSS_ONLY=1         skip the hit runs: fill ENTRIES entries, re-read them
#                      and report memory
#   CACHE_EXTRA=text   more lines for vaproxyd's cache block (e.g.
#                      "disable_caching_dynamic_secrets = true")
#
# Set-up and method as run.sh and cache.sh (shared code in lib.sh): wrk on
# one CPU, every server on another, scenarios interleaved, medians.  The
# "Vault" upstream is nginx answering every KV path with a fixed answer
# that carries "mount_type": "kv", so no mount lookup is needed; the
# static cache has no capability checks or re-reads during the run.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
ENTRIES=${ENTRIES:-100000}
FILL_CONNS=${FILL_CONNS:-16}
RSS_ONLY=${RSS_ONLY:-0}
CONNS=(1 32)
URL_PATH=/v1/secret/data/app
TOKEN=bench-token
BENCH_NAME=bench-static
RSS_TARGET_MIB=40
RATIO_TARGET=0.8
LOG_LEVEL=${LOG_LEVEL:-warn}

# shellcheck source=contrib/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

check_knobs
[[ $ENTRIES =~ ^[1-9][0-9]*$ ]] || die "ENTRIES must be a positive integer (got '$ENTRIES')"
[[ $RSS_ONLY =~ ^[01]$ ]] || die "RSS_ONLY must be 0 or 1 (got '$RSS_ONLY')"
[[ -r $HERE/static_fill.lua ]] || die "$HERE/static_fill.lua is missing"

bench_tmp up ng vp
SAVE_FILES=(up/nginx.conf:up-nginx.conf ng/nginx.conf:return200-nginx.conf
            vp/config.hcl:vaproxyd.hcl)

ensure_packages nginx wrk curl
get_vaproxyd
setup_pinning

UP_PORT=$(free_port)
NG_PORT=$(free_port)
VP_PORT=$(free_port)

LOOKUP_BODY='{"data":{"id":"'$TOKEN'","ttl":0,"renewable":false,"policies":["default"]}}'
# A ~300-byte KV v2 answer; nginx's $request_id (32 hex digits) stands for
# Vault's request id.
# shellcheck disable=SC2016
KV_BODY='{"request_id":"$request_id","lease_id":"","renewable":false,"lease_duration":0,"data":{"data":{"username":"app","password":"s3cr3t-p4ssw0rd-0123456789"},"metadata":{"created_time":"2026-01-01T00:00:00Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":1}},"wrap_info":null,"warnings":null,"auth":null,"mount_type":"kv"}'

nginx_kv_server() { # port
    cat <<EOF
    server {
        listen 127.0.0.1:$1;
        location = /v1/auth/token/lookup-self { return 200 '$LOOKUP_BODY'; }
        location /v1/secret/data/ {
            add_header Cache-Control no-store;
            return 200 '$KV_BODY';
        }
        location / { return 404 '{"errors":[]}'; }
    }
EOF
}

for d in up ng; do
    {
        nginx_common "$T/$d"
        cat <<EOF
http {
    access_log off;
    default_type application/json;
    keepalive_requests 1000000;
    log_format bench '\$request_method \$uri \$status';
$(nginx_temp_paths "$T/$d")
EOF
        if [[ $d == up ]]; then
            echo "    access_log $T/logs/up-access.log bench;"
            nginx_kv_server "$UP_PORT"
        else
            nginx_kv_server "$NG_PORT"
        fi
        echo "}"
    } >"$T/$d/nginx.conf"
done

printf '%s\n' "$TOKEN" >"$T/vp/token"
cat >"$T/vp/config.hcl" <<EOF
vault {
  address = "http://127.0.0.1:$UP_PORT"
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
  cache_static_secrets                            = true
  static_secret_events                            = "off"
  static_secret_refresh_interval                  = "0"
  static_secret_token_capability_refresh_interval = "0"
${CACHE_EXTRA:-}
}
listener "tcp" {
  address     = "127.0.0.1:$VP_PORT"
  tls_disable = true
}
EOF

nginx_check "$T/up" upstream
nginx_check "$T/ng" "return 200"
start_nginx "$T/up"
UP_PID=$NGX_PID
wait_ready "upstream nginx" "$UP_PID" "http://127.0.0.1:$UP_PORT/v1/sys/health" "$T/logs/up-error.log" any
start_nginx "$T/ng"
NG_PID=$NGX_PID
wait_ready "nginx return 200" "$NG_PID" "http://127.0.0.1:$NG_PORT/v1/sys/health" "$T/logs/ng-error.log" any

"${SRV_PIN[@]}" "$VPD_BIN" --config "$T/vp/config.hcl" --plugin-dir "$VPD_PLUGINS" \
    --log-level "$LOG_LEVEL" >"$T/logs/vaproxyd.log" 2>&1 &
VP_PID=$!
PIDS+=("$VP_PID")
wait_ready "vaproxyd" "$VP_PID" "http://127.0.0.1:$VP_PORT/v1/sys/health" "$T/logs/vaproxyd.log" any

rss_kb() { awk -v k="${2:-VmRSS}:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
up_count() { grep -c -- "$1" "$T/logs/up-access.log" 2>/dev/null || true; }
RSS_START=$(rss_kb "$VP_PID")

# The hit is checked before the load: a miss, then a hit.
fetch() { curl -s -D "$T/h-$1" -o "$T/b-$1" -w '%{http_code}' --max-time 5 \
    -H "X-Vault-Token: $TOKEN" "http://127.0.0.1:$2$3" || true; }
c1=$(fetch vp-1 "$VP_PORT" "$URL_PATH")
c2=$(fetch vp-2 "$VP_PORT" "$URL_PATH")
grep -qi '^X-Cache: HIT' "$T/h-vp-2" || die "vaproxyd: the second KV read was not a hit ($c1, $c2; $T/h-vp-2)"
HIT_BYTES=$(($(wc -c <"$T/h-vp-2") + $(wc -c <"$T/b-vp-2")))
log "vaproxyd KV hit: $HIT_BYTES bytes of headers and body"

TARGET_PORT=([nginx-200]=$NG_PORT [vaproxyd-kv]=$VP_PORT)
TARGET_PID=([nginx-200]=$NG_PID [vaproxyd-kv]=$VP_PID)
TARGET_LOG=([nginx-200]=$T/logs/ng-error.log [vaproxyd-kv]=$T/logs/vaproxyd.log)
WRK_ARGS=(-H "X-Vault-Token: $TOKEN")

((RSS_ONLY)) && ROUNDS=0
log "pinning: $PIN_NOTE; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((!RSS_ONLY)); then
    warm_wrk nginx-200
    warm_wrk vaproxyd-kv
fi
UP_GETS_0=$(up_count "^GET /v1/secret/data/")
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order=(nginx-200 vaproxyd-kv); else order=(vaproxyd-kv nginx-200); fi
    for c in "${CONNS[@]}"; do
        for tg in "${order[@]}"; do
            run_wrk "$tg" "$c" "$r"
        done
    done
done
UP_GETS_HIT=$(( $(up_count "^GET /v1/secret/data/") - UP_GETS_0 ))

# Memory with ENTRIES static entries.
RSS_BEFORE=$(rss_kb "$VP_PID")
fill_pass() { # name stop
    local name=$1 stop=$2 out=$T/$1.out pid i
    rm -f "$out" "$out.reached"
    FILL_N=$ENTRIES FILL_STOP=$stop FILL_OUT=$out FILL_TOKEN=$TOKEN "${WRK_PIN[@]}" \
        wrk -t1 -c"$FILL_CONNS" -d300s -s "$HERE/static_fill.lua" \
        "http://127.0.0.1:$VP_PORT" >"$T/wrk/$name.txt" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 3000; i++)); do
        [[ -e $out.reached ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    FP=$(cat "$out" 2>/dev/null || echo 0 0 0)
}
log "filling the static cache with $ENTRIES KV paths"
fill_pass fill "$ENTRIES"
read -r FILL_N FILL_BAD FILL_HITS <<<"$FP"
sleep 1
RSS_FILLED=$(rss_kb "$VP_PID")
metric() { curl -s "http://127.0.0.1:$VP_PORT/proxy/v1/metrics" |
    grep -o "\"Name\":\"vault.proxy.cache.static.$1\",\"Value\":[0-9.e+]*" | sed 's/.*://'; }
ENTRIES_NOW=$(metric entries)
BYTES_NOW=$(metric bytes)
fill_pass verify "$ENTRIES"
read -r VERIFY_N VERIFY_BAD VERIFY_HITS <<<"$FP"
RSS_VERIFY=$(rss_kb "$VP_PID")
HWM=$(rss_kb "$VP_PID" VmHWM)

{
    echo
    echo "vaproxy static-cache benchmark: $(date -u '+%Y-%m-%d %H:%M:%SZ'), $(nproc) CPUs, $PIN_NOTE"
    echo "wrk -t1 -cN -d${DURATION}s --latency GET $URL_PATH (X-Vault-Token); ${ROUNDS} round(s); medians"
    echo "vaproxyd: $VPD_BIN"
    echo
    table_header
    for c in "${CONNS[@]}"; do
        for tg in nginx-200 vaproxyd-kv; do
            table_row "$tg" "$c"
        done
    done
    echo
    for c in "${CONNS[@]}"; do
        v=${MED_RPS["vaproxyd-kv $c"]:-}
        x=${MED_RPS["nginx-200 $c"]:-}
        [[ -n $v && -n $x ]] && awk -v c="$c" -v v="$v" -v x="$x" -v t="$RATIO_TARGET" 'BEGIN {
            r = (x > 0 ? v / x : 0)
            printf "ratio vaproxyd KV hit / nginx return 200 at c%-3s req/s %.2f", c, r
            if (c == 32) printf " (goal >= %.2f: %s)", t, (r >= t ? "met" : "NOT met")
            printf "\n" }'
    done
    echo "upstream GETs during the hit runs: $UP_GETS_HIT (0 = every request was a hit)"
    echo
    echo "vaproxyd memory (VmRSS) with static entries of a $HIT_BYTES-byte KV hit:"
    printf '  %-40s %8s MiB\n' "at start" "$(mib "$RSS_START")"
    printf '  %-40s %8s MiB\n' "before the fill" "$(mib "$RSS_BEFORE")"
    printf '  %-40s %8s MiB   (%s entries, %s bytes as the cache counts them)\n' \
        "after caching $ENTRIES KV paths" "$(mib "$RSS_FILLED")" "${ENTRIES_NOW:-?}" "${BYTES_NOW:-?}"
    printf '  %-40s %8s MiB   (VmHWM %s MiB)\n' "after reading them all again" "$(mib "$RSS_VERIFY")" "$(mib "$HWM")"
    echo "  fill: $FILL_N answers ($FILL_BAD not 200); re-read: $VERIFY_HITS/$VERIFY_N hits"
    awk -v a="$RSS_VERIFY" -v b="$RSS_BEFORE" -v n="$ENTRIES" -v t="$RSS_TARGET_MIB" 'BEGIN {
        printf "  per entry: %.0f bytes of RSS; target RSS <= %d MiB at %d entries: %s\n",
            (a - b) * 1024 / n, t, n, (a <= t * 1024 ? "met" : "NOT met") }'
} | tee "$T/summary.txt"
