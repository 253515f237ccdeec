# contrib/stress/lib.sh: code shared by the stress scenarios (soak.sh,
# upstream.sh, clients.sh, signals.sh, persist.sh, isolation.sh).  Source it
# with bash after `set -euo pipefail`.  It sources contrib/bench/lib.sh for
# the temp dir, packages, the build, free ports and readiness polling (that
# file is the bench's: never edit it from here), and adds what the stress
# scenarios need on top.  It starts nothing by itself.
#
# The calling script sets BENCH_NAME before sourcing.  Every scenario
# prints a table row with stress_row; with STRESS_TABLE set (run.sh does)
# the row is also appended to that file.
# shellcheck shell=bash disable=SC2034  # globals set here are used by the callers

STRESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The bench's lib checks these two; the stress scenarios do not use them.
DURATION=1
ROUNDS=1
# shellcheck source=contrib/bench/lib.sh
. "$STRESS_DIR/../bench/lib.sh"

TOOLS=$REPO/tests/tools
SIM=$REPO/tests/sim/vaultsim.py
CLIENT=$TOOLS/stressclient.py
BADUP=$TOOLS/badupstream.py
PY=${PYTHON:-python3}

# free_port: the bench's, plus a bind test.  The bench's only checks that
# nothing listens there, but a client socket of the busy loopback (the
# ephemeral range overlaps its range) holds a port as well.
eval "$(declare -f free_port | sed '1s/^free_port/bench_free_port/')"
free_port() {
    local p i
    for ((i = 0; i < 50; i++)); do
        p=$(bench_free_port)
        if "$PY" -c 'import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

# stress_init SUBDIR...: temp dir, packages, vaproxyd (built once by run.sh
# and handed down through VAPROXYD), a higher open-files limit.
stress_init() {
    bench_tmp "$@"
    ensure_packages nginx wrk curl python3 openssl
    get_vaproxyd
    export VAPROXYD=$VPD_BIN VAPROXY_PLUGIN_DIR=$VPD_PLUGINS
    # Thousands of client connections need as many descriptors, on both sides.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

# ---------------------------------------------------------------------------
# Table

ROW_FMT='%-24s %9s %7s  %-46s %s\n'
stress_header() {
    # shellcheck disable=SC2059
    printf "$ROW_FMT" scenario requests failed figures verdict
    printf '%s\n' "$(printf -- '-%.0s' {1..100})"
}

# stress_row NAME REQUESTS FAILED FIGURES VERDICT
stress_row() {
    local line
    # shellcheck disable=SC2059
    line=$(printf "$ROW_FMT" "$1" "$2" "$3" "$4" "$5")
    echo "$line"
    [[ -n ${STRESS_TABLE:-} ]] && echo "$line" >>"$STRESS_TABLE"
    return 0
}

# verdict COND EXPECTATION [todo]: "ok" or "FAIL (expected ...)"; with a
# third word, a defect still being fixed: "TODO (expected ...)".
verdict() {
    if eval "$1"; then
        echo ok
    elif [[ -n ${3:-} ]]; then
        echo "TODO (expected $2)"
    else
        echo "FAIL (expected $2)"
    fi
}

# jget FILE KEY[.KEY...]: a value from the JSON object in FILE.
jget() {
    "$PY" -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else v))' "$1" "$2"
}

# ---------------------------------------------------------------------------
# Processes

rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# forget_pid PID: stop tracking a process that was stopped by hand.
forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# start_vpd NAME CONFIG [VAR=value...]: vaproxyd on CONFIG with the given
# environment; sets VPD_PID.  Waits until its first listener answers when
# VPD_PORT is set (any status).
start_vpd() {
    local name=$1 cfg=$2
    shift 2
    env "$@" "$VPD_BIN" --config "$cfg" --plugin-dir "$VPD_PLUGINS" --log-level warn \
        >>"$T/logs/$name.log" 2>&1 &
    VPD_PID=$!
    PIDS+=("$VPD_PID")
    if [[ -n ${VPD_PORT:-} ]]; then
        wait_ready "$name" "$VPD_PID" "http://127.0.0.1:$VPD_PORT/proxy/v1/quit" "$T/logs/$name.log" any
    fi
}

# wait_port_file FILE PID NAME: the port a child wrote to FILE.
wait_port_file() {
    local i
    for ((i = 0; i < READY_SECS * 10; i++)); do
        [[ -s $1 ]] && { cat "$1"; return 0; }
        kill -0 "$2" 2>/dev/null || die "$3 exited during start-up (logs in $T/logs)"
        sleep 0.1
    done
    die "$3 wrote no port within ${READY_SECS}s"
}

# start_sim NAME [ARGS...]: the Vault simulator; sets SIM_PID, SIM_PORT.
start_sim() {
    local name=$1
    shift
    rm -f "$T/$name.port"
    "$PY" "$SIM" --port 0 --port-file "$T/$name.port" "$@" >"$T/logs/$name.log" 2>&1 &
    SIM_PID=$!
    PIDS+=("$SIM_PID")
    SIM_PORT=$(wait_port_file "$T/$name.port" "$SIM_PID" "$name")
}

# start_badup NAME [ARGS...]: tests/tools/badupstream.py; sets BAD_PID, BAD_PORT.
start_badup() {
    local name=$1
    shift
    rm -f "$T/$name.port"
    "$PY" "$BADUP" --port-file "$T/$name.port" "$@" >"$T/logs/$name.log" 2>&1 &
    BAD_PID=$!
    PIDS+=("$BAD_PID")
    BAD_PORT=$(wait_port_file "$T/$name.port" "$BAD_PID" "$name")
}

# nginx_upstream DIR PORT: a canned Vault on nginx (as the bench's): a KV
# read everywhere, a lookup-self for token_file auto-auth, renewals, and a
# fresh renewable lease on database/creds/.  Sets NGX_PID.
nginx_upstream() {
    local d=$1 port=$2
    mkdir -p "$d"
    # shellcheck disable=SC2016  # nginx expands $request_id
    {
        nginx_common "$d"
        cat <<EOF
http {
    access_log off;
    default_type application/json;
    keepalive_requests 1000000;
    log_format stress '\$request_method \$uri \$status';
$(nginx_temp_paths "$d")
    server {
        listen 127.0.0.1:$port;
        access_log $d/access.log stress;
        location = /v1/auth/token/lookup-self { return 200 '{"data":{"id":"stress-token","ttl":0,"renewable":false,"policies":["default"]}}'; }
        location = /v1/sys/leases/renew { return 200 '{"lease_id":"x","renewable":true,"lease_duration":3600}'; }
        location /v1/database/creds/ { return 200 '{"request_id":"\$request_id","lease_id":"database/creds/app/\$request_id","renewable":true,"lease_duration":3600,"data":{"username":"u","password":"p"},"wrap_info":null,"warnings":null,"auth":null}'; }
        location /v1/ { return 200 '{"request_id":"6f1c2a9e-3b7d-4c55-9a0e-2d8e5f4b1c77","lease_id":"","renewable":false,"lease_duration":0,"data":{"data":{"password":"s3cr3t"}},"wrap_info":null,"warnings":null,"auth":null}'; }
    }
}
EOF
    } >"$d/nginx.conf"
    nginx_check "$d" upstream
    SRV_PIN=()
    start_nginx "$d"
    wait_ready "upstream nginx" "$NGX_PID" "http://127.0.0.1:$port/v1/sys/health" \
        "$T/logs/$(basename "$d")-error.log" 200
}

# plain_config FILE VAULT_ADDR PORT [EXTRA]: a pass-through vaproxyd config.
plain_config() {
    cat >"$1" <<EOF
vault {
  address = "$2"
  retry {
    num_retries = -1
  }
}
listener "tcp" {
  address     = "127.0.0.1:$3"
  tls_disable = true
}
${4:-}
EOF
}

# auth_cache_config FILE VAULT_ADDR PORT TOKEN_FILE [CACHE_EXTRA]: token_file
# auto-auth, use_auto_auth_token and a lease cache.
auth_cache_config() {
    cat >"$1" <<EOF
vault {
  address = "$2"
  retry {
    num_retries = -1
  }
}
auto_auth {
  method "token_file" {
    min_backoff = "200ms"
    config = { token_file_path = "$4" }
  }
}
api_proxy {
  use_auto_auth_token = true
}
cache {
${5:-}
}
listener "tcp" {
  address     = "127.0.0.1:$3"
  tls_disable = true
}
EOF
}

# wait_auth PID PORT LOG: until auto-auth has a token (the metrics say so).
wait_auth() {
    local i
    for ((i = 0; i < READY_SECS * 10; i++)); do
        curl -s "http://127.0.0.1:$2/proxy/v1/metrics" |
            grep -q '"Name":"vault.agent.auth.success","Count":[1-9]' && return 0
        kill -0 "$1" 2>/dev/null || { tail -20 "$3" >&2; die "vaproxyd exited"; }
        sleep 0.1
    done
    tail -20 "$3" >&2
    die "vaproxyd did not authenticate within ${READY_SECS}s"
}

# ---------------------------------------------------------------------------
# Load

# wrk_count PORT PATH N CONNS OUT [wrk args...]: N answers with wrk (count.lua
# stops it), bounded by STRESS_MAX_SECS; writes "requests failed secs" to OUT
# (failed = non-2xx answers plus wrk's socket errors).
wrk_count() {
    local port=$1 path=$2 n=$3 c=$4 out=$5 pid i t0 got bad se
    shift 5
    rm -f "$out.lua" "$out.lua.reached"
    t0=$(date +%s.%N)
    COUNT_STOP=$n COUNT_OUT=$out.lua wrk -t1 -c"$c" -d"${STRESS_MAX_SECS:-900}s" \
        -s "$STRESS_DIR/count.lua" "$@" "http://127.0.0.1:$port$path" >"$out.wrk" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < ${STRESS_MAX_SECS:-900} * 10; i++)); do
        [[ -e $out.lua.reached ]] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    # wrk sleeps out its -d before it reports; SIGINT ends that sleep.
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
    read -r got bad <"$out.lua" 2>/dev/null || { got=0; bad=0; }
    se=$(awk '/Socket errors:/ { for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { x = $i; sub(/,/, "", x); s += x } }
        END { print s + 0 }' "$out.wrk")
    echo "$got $((bad + se)) $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" >"$out"
}

# ---------------------------------------------------------------------------
# The simulator and the persistent cache

# sim_token PORT: a fresh renewable token made in the simulator.
sim_token() {
    curl -s -X POST -d '{"ttl":3600,"renewable":true}' "http://127.0.0.1:$1/_sim/token" |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}

# persist_config FILE SIM_PORT PORT TOKEN_FILE DIR KEY_FILE [EXIT_ON_ERR]:
# auto-auth with a lease cache persisted (keep_after_import = true).
persist_config() {
    auth_cache_config "$1" "http://127.0.0.1:$2" "$3" "$4" "  persist \"file\" {
    path              = \"$5\"
    key_file          = \"$6\"
    keep_after_import = true
    exit_on_err       = ${7:-true}
  }"
}

# new_key FILE: 32 random bytes as hex, as an operator would make them.
new_key() { openssl rand -hex 32 >"$1"; chmod 0400 "$1"; }

# leases PORT COUNT PREFIX OUT: tests/tools/stressclient.py leases.
leases() { "$PY" "$CLIENT" leases --port "$1" --count "$2" --prefix "$3" >"$4"; }
