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
#   LOG_LEVEL=warn     vaproxyd's --log-level ("info" adds a request line
#                      per request, written to a file in the temp dir)
#
# Set-up and method follow /work/shared/reference/build-and-clients.md section 3:
# wrk on one CPU, every server on another, scenarios interleaved, medians.
# Nothing outside the temp dir is written (no /etc/nginx, no /var/log).
# Shared code (temp dir, packages, build, pinning, wrk, table) is in lib.sh.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
LOG_LEVEL=${LOG_LEVEL:-warn}
CONNS=(1 32)
URL_PATH=/v1/secret/data/foo
TOKEN_HDR='X-Vault-Token: t'
BENCH_NAME=bench

# shellcheck source=contrib/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check_knobs
bench_tmp up px vp
SAVE_FILES=(up/nginx.conf:up-nginx.conf px/nginx.conf:px-nginx.conf vp/config.hcl:vaproxyd.hcl)

# 1. Packages, 2. vaproxyd (given, or built from a copy of the working tree)
ensure_packages nginx wrk curl
get_vaproxyd
setup_pinning

# ---------------------------------------------------------------------------
# Servers

CURL_ARGS=(-H "$TOKEN_HDR")
WRK_ARGS=(-H "$TOKEN_HDR")

# A KV v2 read response, shaped like Vault's (no single quotes, no '$').
BODY='{"request_id":"6f1c2a9e-3b7d-4c55-9a0e-2d8e5f4b1c77","lease_id":"","renewable":false,"lease_duration":0,"data":{"data":{"password":"s3cr3t","username":"app"},"metadata":{"created_time":"2024-01-01T00:00:00.000000000Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":3}},"wrap_info":null,"warnings":null,"auth":null,"mount_type":"kv"}'

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

nginx_check "$T/up" upstream
nginx_check "$T/px" proxy

start_nginx "$T/up"
UP_PID=$NGX_PID
wait_ready "upstream nginx" "$UP_PID" "http://127.0.0.1:$UP_PORT$URL_PATH" "$T/logs/up-error.log" 200

start_nginx "$T/px"
PX_PID=$NGX_PID
wait_ready "nginx proxy" "$PX_PID" "http://127.0.0.1:$PX_PORT$URL_PATH" "$T/logs/px-error.log" 200

"${SRV_PIN[@]}" "$VPD_BIN" --config "$T/vp/config.hcl" --plugin-dir "$VPD_PLUGINS" \
    --log-level "$LOG_LEVEL" >"$T/logs/vaproxyd.log" 2>&1 &
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
# Load

TARGET_PORT=([direct]=$UP_PORT [nginx-proxy]=$PX_PORT [vaproxyd]=$VP_PORT)
TARGET_PID=([direct]=$UP_PID [nginx-proxy]=$PX_PID [vaproxyd]=$VP_PID)
TARGET_LOG=([direct]=$T/logs/up-error.log [nginx-proxy]=$T/logs/px-error.log
    [vaproxyd]=$T/logs/vaproxyd.log)

est=$(( (ROUNDS * 2 * ${#CONNS[@]} + ${#CONNS[@]}) * DURATION + 3 ))
log "pinning: $PIN_NOTE"
log "ports: upstream $UP_PORT, nginx-proxy $PX_PORT, vaproxyd $VP_PORT; load takes about ${est}s"

# Warm-up: open keep-alive connections and pools everywhere (not measured).
for tg in direct nginx-proxy vaproxyd; do
    warm_wrk "$tg"
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

{
    echo
    echo "vaproxy loopback benchmark: $(date -u '+%Y-%m-%d %H:%M:%SZ'), $(nproc) CPUs, $PIN_NOTE"
    echo "wrk -t1 -cN -d${DURATION}s --latency -H '$TOKEN_HDR' GET $URL_PATH; ${ROUNDS} round(s); medians over runs"
    echo "vaproxyd log level: $LOG_LEVEL"
    echo "vaproxyd: $VPD_BIN ($("$VPD_BIN" --version 2>/dev/null | head -1 || echo '?'))"
    echo "nginx: $("$NGINX" -v 2>&1 | sed 's/.*version: //'), wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo
    table_header
    for c in "${CONNS[@]}"; do
        for tg in direct nginx-proxy vaproxyd; do
            table_row "$tg" "$c"
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
tail_logs vaproxyd.log up-error.log px-error.log | tee -a "$T/summary.txt"
