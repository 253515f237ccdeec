#!/usr/bin/env bash
# contrib/bench/h2.sh: loopback HTTP/2 benchmark of vaproxyd's TLS listener
# (ALPN h2) against nginx with "http2" on its TLS listener, both in front of
# the same plain nginx "Vault" upstream, for two paths:
#   pass    a KV read with a client token: forwarded every time
#   hit     a lease read answered from the cache (vaproxyd's lease cache,
#           nginx proxy_cache)
# each with h2load at 1 and 32 connections and STREAMS concurrent streams
# per connection.  Prints a table of medians and the ratio vaproxyd/nginx.
# One reference more, nginx only:
#   static  the same lease answer as a "return 200" of nginx's h2 listener:
#           no proxy, no cache, the least work an h2 server can do for it.
#           How it compares with nginx's own cache hits says what the
#           machine rewards (see "Room" in the summary).
#
#   bash contrib/bench/h2.sh            # from the repo root, as root on Debian 12
#
# Knobs (environment):
#   DURATION=10        seconds per h2load run
#   ROUNDS=3           rounds; each runs every scenario, order alternating
#   STREAMS=10         h2load -m: concurrent streams per connection
#   CONNS="1 32"       h2load -c values to run (CONNS=1 for the c1 rows only)
#   VAPROXYD=path      use this binary instead of building one (then also set
#   VAPROXY_PLUGIN_DIR=dir   the plugin directory it should load)
#   OUT_DIR=dir        keep the h2load outputs, configs, logs and the table
#   KEEP_TMP=1         do not delete the temp dir
#   PROFILE=1          after the rounds, per server and path one bounded
#                      h2load run at c1 (PROFILE_REQS requests, default
#                      20000) under strace -c, and one under perf stat:
#                      syscalls, writes and reads per request, and CPU
#                      microseconds per request, the server's and h2load's
#                      own (with how busy h2load kept its CPU: near 100 %,
#                      the client sets the pace).  Unlike req/s, the counts
#                      hold on a machine busy with other work.
#
# h2load runs on one CPU, every server on another (lib.sh's pinning), both
# servers with one worker.  Nothing outside the temp dir is written.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
STREAMS=${STREAMS:-10}
read -r -a CONNS <<<"${CONNS:-1 32}"
PASS_PATH=/v1/secret/data/foo
HIT_PATH=/v1/database/creds/app
STATIC_PATH=/static
TOKEN=bench-token
BENCH_NAME=bench-h2
GOAL=1.2

# shellcheck source=contrib/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check_knobs
[[ $STREAMS =~ ^[1-9][0-9]*$ ]] || die "STREAMS must be a positive integer (got '$STREAMS')"
((${#CONNS[@]})) || die "CONNS must name at least one connection count"
for c in "${CONNS[@]}"; do
    [[ $c =~ ^[1-9][0-9]*$ ]] || die "CONNS must be positive integers (got '$c')"
done

bench_tmp up ng vp tls
SAVE_FILES=(up/nginx.conf:up-nginx.conf ng/nginx.conf:ng-h2-nginx.conf
            vp/config.hcl:vaproxyd.hcl)

# lib.sh's build dependencies predate HTTP/2: name libnghttp2-dev here.
PROFILE=${PROFILE:-0}
PROFILE_REQS=${PROFILE_REQS:-20000}
[[ $PROFILE =~ ^[01]$ ]] || die "PROFILE must be 0 or 1 (got '$PROFILE')"
[[ $PROFILE_REQS =~ ^[1-9][0-9]*$ ]] || die "PROFILE_REQS must be a positive integer (got '$PROFILE_REQS')"
PROFILE_PKGS=()
((PROFILE)) && PROFILE_PKGS=(strace)
ensure_packages nginx wrk curl nghttp2-client openssl libnghttp2-dev "${PROFILE_PKGS[@]}"
command -v h2load >/dev/null || die "h2load not found (nghttp2-client)"
get_vaproxyd
setup_pinning

UP_PORT=$(free_port)
NG_PORT=$(free_port)
VP_PORT=$(free_port)

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" >"$T/logs/openssl.log" 2>&1 ||
    die "openssl failed (see $T/logs/openssl.log)"

KV_BODY='{"request_id":"6f1c2a9e-3b7d-4c55-9a0e-2d8e5f4b1c77","lease_id":"","renewable":false,"lease_duration":0,"data":{"data":{"password":"s3cr3t","username":"app"},"metadata":{"created_time":"2024-01-01T00:00:00.000000000Z","custom_metadata":null,"deletion_time":"","destroyed":false,"version":3}},"wrap_info":null,"warnings":null,"auth":null,"mount_type":"kv"}'
LOOKUP_BODY='{"data":{"id":"'$TOKEN'","ttl":0,"renewable":false,"policies":["default"]}}'
RENEW_BODY='{"lease_id":"x","renewable":true,"lease_duration":3600}'
# shellcheck disable=SC2016  # nginx expands $request_id
LEASE_BODY='{"request_id":"$request_id","lease_id":"database/creds/app/$request_id","renewable":true,"lease_duration":3600,"data":{"username":"u","password":"p"},"wrap_info":null,"warnings":null,"auth":null}'

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
        location = /v1/auth/token/lookup-self { return 200 '$LOOKUP_BODY'; }
        location = /v1/sys/leases/renew { return 200 '$RENEW_BODY'; }
        location /v1/database/creds/ { return 200 '$LEASE_BODY'; }
        location /v1/secret/ { return 200 '$KV_BODY'; }
        location / { return 404 '{"errors":[]}'; }
    }
}
EOF
} >"$T/up/nginx.conf"

{
    nginx_common "$T/ng"
    cat <<EOF
http {
    access_log off;
    keepalive_requests 1000000;
    http2_max_concurrent_streams 250;
$(nginx_temp_paths "$T/ng")
    proxy_cache_path $T/ng/cache keys_zone=vcache:10m;
    upstream vault_up {
        server 127.0.0.1:$UP_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NG_PORT ssl http2;
        ssl_certificate $T/tls/cert.pem;
        ssl_certificate_key $T/tls/key.pem;
        location = $STATIC_PATH {
            default_type application/json;
            return 200 '$LEASE_BODY';
        }
        location / {
            proxy_pass http://vault_up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /v1/database/creds/ {
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

cache {}

listener "tcp" {
  address       = "127.0.0.1:$VP_PORT"
  tls_cert_file = "$T/tls/cert.pem"
  tls_key_file  = "$T/tls/key.pem"
}
EOF

nginx_check "$T/up" upstream
nginx_check "$T/ng" "h2"

start_nginx "$T/up"
UP_PID=$NGX_PID
wait_ready "upstream nginx" "$UP_PID" "http://127.0.0.1:$UP_PORT/v1/sys/health" "$T/logs/up-error.log" any
start_nginx "$T/ng"
NG_PID=$NGX_PID
CURL_ARGS=(-k)
wait_ready "nginx h2" "$NG_PID" "https://127.0.0.1:$NG_PORT/v1/sys/health" "$T/logs/ng-error.log" any

"${SRV_PIN[@]}" "$VPD_BIN" --config "$T/vp/config.hcl" --plugin-dir "$VPD_PLUGINS" \
    --log-level warn >"$T/logs/vaproxyd.log" 2>&1 &
VP_PID=$!
PIDS+=("$VP_PID")
wait_ready "vaproxyd" "$VP_PID" "https://127.0.0.1:$VP_PORT/v1/sys/health" "$T/logs/vaproxyd.log" any
for ((i = 0; ; i++)); do
    curl -sk "https://127.0.0.1:$VP_PORT/proxy/v1/metrics" |
        grep -q '"Name":"vault.agent.auth.success","Count":[1-9]' && break
    kill -0 "$VP_PID" 2>/dev/null || { tail -20 "$T/logs/vaproxyd.log" >&2; die "vaproxyd exited"; }
    ((i < READY_SECS * 10)) || die "vaproxyd did not authenticate within ${READY_SECS}s"
    sleep 0.1
done

# Both must speak h2 and both caches must hit before anything is measured.
for port in "$NG_PORT" "$VP_PORT"; do
    v=$(curl -sk --http2 -o /dev/null -w '%{http_version}' "https://127.0.0.1:$port$PASS_PATH" \
        -H "X-Vault-Token: $TOKEN")
    [[ $v == 2 ]] || die "port $port does not speak HTTP/2 (curl says '$v')"
    curl -sk --http2 -o /dev/null "https://127.0.0.1:$port$HIT_PATH"
    h=$(curl -sk --http2 -D - -o /dev/null "https://127.0.0.1:$port$HIT_PATH")
    grep -qiE '^(x-cache: hit|x-cache-status: hit)' <<<"$h" ||
        die "port $port: second $HIT_PATH is not a cache hit: $h"
done

# ---------------------------------------------------------------------------
# Load

declare -A H2_RESULTS=()

# med "SERVER PATH CONNS": the median req/s of those runs (nan: none)
med() { printf '%s' "${H2_RESULTS["$1"]:-}" | awk 'NF' | median; }

# run_h2load SERVER PORT SCENARIO CONNS ROUND
run_h2load() {
    local srv=$1 port=$2 sc=$3 c=$4 r=$5 out path args=() rps failed
    out=$T/wrk/$srv-$sc-c$c-r$r.txt
    if [[ $sc == pass ]]; then
        path=$PASS_PATH
        args=(-H "x-vault-token: $TOKEN")
    elif [[ $sc == static ]]; then
        path=$STATIC_PATH
    else
        path=$HIT_PATH
    fi
    timeout $((DURATION + 30)) "${WRK_PIN[@]}" h2load -t1 -c"$c" -m"$STREAMS" -D"$DURATION" \
        "${args[@]}" "https://127.0.0.1:$port$path" >"$out" 2>&1 || true
    rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$out")
    failed=$(awk '/^requests:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^failed/) print $i }' "$out")
    if ! grep -q '^status codes: [1-9][0-9]* 2xx, 0 3xx, 0 4xx, 0 5xx' "$out"; then
        log "WARNING: $srv $sc c$c round $r had non-2xx answers or none: $(grep '^status codes' "$out")"
    fi
    H2_RESULTS["$srv $sc $c"]+="${rps:-0}"$'\n'
    printf '%s: round %d/%d  %-8s %-4s c%-3s %10s req/s  failed %s\n' \
        "$BENCH_NAME" "$r" "$ROUNDS" "$srv" "$sc" "$c" "${rps:-?}" "${failed:-?}" >&2
}

log "ports: upstream $UP_PORT, nginx $NG_PORT, vaproxyd $VP_PORT; $PIN_NOTE"
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2)); then order=(nginx vaproxyd); else order=(vaproxyd nginx); fi
    for sc in pass hit static; do
        for c in "${CONNS[@]}"; do
            for srv in "${order[@]}"; do
                [[ $sc == static && $srv != nginx ]] && continue
                if [[ $srv == nginx ]]; then port=$NG_PORT; else port=$VP_PORT; fi
                run_h2load "$srv" "$port" "$sc" "$c" "$r"
            done
        done
    done
done

# ---------------------------------------------------------------------------
# Profile (PROFILE=1): per request, what each server asks of the kernel and
# how much CPU it spends.  nginx is measured in its worker process.

# profile_h2load SCENARIO PORT [PREFIX...]: one bounded h2load run at c1,
# PREFIX (perf stat, for the client's own CPU) before the command
profile_h2load() {
    local args=() sc=$1 port=$2
    shift 2
    if [[ $sc == pass ]]; then args=(-H "x-vault-token: $TOKEN" "https://127.0.0.1:$port$PASS_PATH")
    elif [[ $sc == static ]]; then args=("https://127.0.0.1:$port$STATIC_PATH")
    else args=("https://127.0.0.1:$port$HIT_PATH"); fi
    "${WRK_PIN[@]}" "$@" h2load -t1 -c1 -m"$STREAMS" -n"$PROFILE_REQS" "${args[@]}"
}

# sleeps PID: how often the process has gone to sleep waiting so far
sleeps() { awk '/^voluntary_ctxt_switches/ { print $2 }' "/proc/$1/status"; }

# profile_run PID PORT SCENARIO -> "syscalls writes reads cpu_us busy%
# sleeps up_us client_us client_busy%": per request the server's syscalls
# and CPU, how busy that kept its CPU and how often it went to sleep, the
# upstream's CPU (it shares the server's CPU), then the same for h2load (a
# side near 100 % sets the pace of the run)
profile_run() {
    local pid=$1 port=$2 sc=$3 st=$T/wrk/strace-$1-$3.txt ps=$T/wrk/perf-$1-$3.txt sp up i s0
    local cpu=nan client=nan busy=nan sbusy=nan upcpu=nan slept=nan
    strace -c -f -p "$pid" -o "$st" 2>"$st.err" &
    sp=$!
    # strace says on stderr when it is attached.
    for ((i = 0; i < 50; i++)); do
        grep -q attached "$st.err" 2>/dev/null && break
        sleep 0.1
    done
    profile_h2load "$sc" "$port" >"$T/wrk/h2load-strace-$pid-$sc.txt" 2>&1 || true
    kill -INT "$sp" 2>/dev/null || true
    wait "$sp" 2>/dev/null || true
    # perf is optional (linux-perf); without it the CPU column says nan.
    if command -v perf >/dev/null; then
        perf stat -e task-clock -x, -o "$ps" -p "$pid" 2>/dev/null &
        sp=$!
        perf stat -e task-clock -x, -o "$ps.up" -p "$UP_WORKER" 2>/dev/null &
        up=$!
        sleep 0.3 # perf prints nothing when it is attached
        s0=$(sleeps "$pid")
        profile_h2load "$sc" "$port" perf stat -e task-clock -x, -o "$ps.client" -- \
            >"$T/wrk/h2load-perf-$pid-$sc.txt" 2>&1 || true
        slept=$(awk -v a="$s0" -v b="$(sleeps "$pid")" -v n="$PROFILE_REQS" 'BEGIN { printf "%.3f", (b - a) / n }')
        kill -INT "$sp" "$up" 2>/dev/null || true
        wait "$sp" "$up" 2>/dev/null || true
        cpu=$(awk -F, -v n="$PROFILE_REQS" '$3 == "task-clock" { printf "%.1f", $1 * 1000 / n }' "$ps")
        upcpu=$(awk -F, -v n="$PROFILE_REQS" '$3 == "task-clock" { printf "%.1f", $1 * 1000 / n }' "$ps.up")
        client=$(awk -F, -v n="$PROFILE_REQS" '$3 == "task-clock" { printf "%.1f", $1 * 1000 / n }' "$ps.client")
        # perf's own "CPUs utilized" over h2load's life, as a percentage;
        # the server's: its CPU per request times the run's req/s.
        busy=$(awk -F, '$3 == "task-clock" && $7 == "CPUs utilized" { printf "%.0f", $6 * 100 }' \
            "$ps.client")
        sbusy=$(awk -v cpu="$cpu" '/^finished in/ { gsub(",", "", $4); printf "%.0f", cpu * $4 / 1e4 }' \
            "$T/wrk/h2load-perf-$pid-$sc.txt")
    fi
    awk -v n="$PROFILE_REQS" -v cpu="${cpu:-nan}" -v client="${client:-nan}" -v busy="${busy:-nan}" \
        -v sbusy="${sbusy:-nan}" -v up="${upcpu:-nan}" -v slept="${slept:-nan}" '
        $NF ~ /^(write|writev|sendmsg|sendto)$/ { w += $4 }
        $NF ~ /^(read|readv|recvfrom|recvmsg)$/ { r += $4 }
        $NF == "total" { t = $4 }
        END { printf "%.2f %.2f %.2f %s %s %s %s %s %s\n", t / n, w / n, r / n, cpu, sbusy, slept, up, client, busy }' "$st"
}

PROFILE_TABLE=""
if ((PROFILE)); then
    NG_WORKER=$(pgrep -P "$NG_PID" -f 'worker process' | head -1 || true)
    [[ -n $NG_WORKER ]] || die "no nginx worker process under pid $NG_PID"
    UP_WORKER=$(pgrep -P "$UP_PID" -f 'worker process' | head -1 || true)
    [[ -n $UP_WORKER ]] || die "no nginx worker process under pid $UP_PID"
    for sc in pass hit static; do
        for srv in nginx vaproxyd; do
            [[ $sc == static && $srv != nginx ]] && continue
            if [[ $srv == nginx ]]; then pid=$NG_WORKER port=$NG_PORT; else pid=$VP_PID port=$VP_PORT; fi
            log "profile: $srv $sc c1, $PROFILE_REQS requests"
            PROFILE_TABLE+=$(printf '%-6s %-9s %s' "$sc" "$srv" "$(profile_run "$pid" "$port" "$sc")")$'\n'
        done
    done
fi

# ---------------------------------------------------------------------------
# Summary

{
    echo "h2load -t1 -cN -m$STREAMS -D${DURATION}s over TLS (ALPN h2); ${ROUNDS} round(s); medians"
    echo "vaproxyd: $VPD_BIN; nginx: $("$NGINX" -v 2>&1 | sed 's/.*version: //'); $PIN_NOTE"
    printf '%-6s %5s %12s %12s %8s\n' scenario conns 'nginx req/s' 'vaproxyd' ratio
    for sc in pass hit; do
        for c in "${CONNS[@]}"; do
            n=$(med "nginx $sc $c")
            v=$(med "vaproxyd $sc $c")
            awk -v s="$sc" -v c="$c" -v n="$n" -v v="$v" -v g="$GOAL" 'BEGIN {
                r = (n > 0 ? v / n : 0)
                printf "%-6s %5s %12.0f %12.0f %8.2f  (goal >= %.1f: %s)\n", s, c, n, v, r, g,
                    (r >= g ? "met" : "not met") }'
        done
    done
    echo
    echo "Room on this machine: nginx's \"return 200\" of the same answer (static), against nginx's"
    echo "own cache hits and vaproxyd's.  Where static is not well ahead of nginx's hits, how fast"
    echo "a server answers is not what sets the pace: client and server wait for each other."
    for c in "${CONNS[@]}"; do
        s=$(med "nginx static $c")
        n=$(med "nginx hit $c")
        v=$(med "vaproxyd hit $c")
        awk -v c="$c" -v s="$s" -v n="$n" -v v="$v" -v g="$GOAL" 'BEGIN {
            if (s == "nan" || n == "nan" || !(s + 0 > 0 && n + 0 > 0)) exit
            printf "  c%-3s static %.0f req/s: %.2fx nginx'"'"'s hits (the goal asks vaproxyd for %.1fx), vaproxyd'"'"'s hits %.2fx static\n",
                c, s, s / n, g, v / s }'
    done
    if [[ -n $PROFILE_TABLE ]]; then
        echo
        echo "per request at c1 (-m$STREAMS, $PROFILE_REQS requests; writes and reads count both client and upstream sockets):"
        echo "(cpu us and busy: the server's CPU per request, and the share of the run it kept its CPU"
        echo " busy; sleeps: how often per request it waited with nothing to do; up us: the upstream's"
        echo " CPU per request, on the server's CPU; client: the same for h2load. A side near 100 %"
        echo " sets the pace; neither: they wait for each other)"
        printf '%-6s %-9s %9s %7s %7s %7s %5s %7s %6s %10s %7s\n' scenario server syscalls writes reads \
            'cpu us' busy sleeps 'up us' 'client us' busy
        printf '%s' "$PROFILE_TABLE" | while read -r a b c d e f g z u h i; do
            printf '%-6s %-9s %9s %7s %7s %7s %4s%% %7s %6s %10s %6s%%\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g" \
                "$z" "$u" "$h" "$i"
        done
    fi
    echo "load: $(uptime | sed 's/.*load average: //') (1, 5, 15 min)"
} | tee "$T/summary.txt"
