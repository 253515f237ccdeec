#!/usr/bin/env bash
# The demo, from a fresh Debian 12 machine (run as root):
#
#     bash contrib/demo/run.sh
#
# Installs the build dependencies, builds vaproxyd, starts the project's
# Vault API simulator and vaproxyd in front of it (auto-auth from a token
# file, use_auto_auth_token = true), writes a secret, then reads it back
# through the proxy with curl -- with no token: the proxy adds its own.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=contrib/deps.sh
. "$src/contrib/deps.sh"
vp_install_deps

build="$src/_build/demo"
echo "== building vaproxyd in $build"
vp_build "$build" CFLAGS="-O2 -g"

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Polls until the command succeeds, at most $1 tenths of a second.
wait_for() {
    local tries=$1
    shift
    for ((i = 0; i < tries; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "error: timed out waiting for: $*" >&2
    return 1
}

echo "== starting the Vault API simulator"
/usr/bin/python3 "$src/tests/sim/vaultsim.py" --port 0 \
    --port-file "$work/sim.port" --root-token demo-root-token \
    >"$work/sim.log" 2>&1 &
pids+=($!)
wait_for 100 test -s "$work/sim.port"
sim_port=$(cat "$work/sim.port")
sim="http://127.0.0.1:$sim_port"
wait_for 100 curl -sf "$sim/v1/sys/health"

echo "== writing secret/demo into the simulator (KV v2)"
curl -sf -H 'X-Vault-Token: demo-root-token' -X POST \
    -d '{"data":{"username":"app","password":"s3cr3t-from-vault"}}' \
    "$sim/v1/secret/data/demo" >/dev/null

proxy_port=$(free_port)
printf '%s\n' demo-root-token >"$work/token"
cat >"$work/proxy.hcl" <<HCL
vault {
  address = "$sim"
}

auto_auth {
  method "token_file" {
    config = {
      token_file_path = "$work/token"
    }
  }
}

api_proxy {
  use_auto_auth_token = true
}

listener "tcp" {
  address     = "127.0.0.1:$proxy_port"
  tls_disable = true
}
HCL
echo "== starting vaproxyd on 127.0.0.1:$proxy_port"
cat "$work/proxy.hcl"
"$build/core/vaproxyd" --config "$work/proxy.hcl" \
    --plugin-dir "$build/plugins" >"$work/vaproxyd.log" 2>&1 &
pids+=($!)
wait_for 100 curl -s -o /dev/null "http://127.0.0.1:$proxy_port/proxy/v1/cache-clear"
# Auto-auth logs in right after start; wait until the proxy has a token.
wait_for 100 grep -q "authenticated with token_file" "$work/vaproxyd.log"

echo
echo "== curl http://127.0.0.1:$proxy_port/v1/secret/data/demo   (no token sent)"
curl -s -i "http://127.0.0.1:$proxy_port/v1/secret/data/demo"
echo
echo
echo "== the secret itself:"
curl -s "http://127.0.0.1:$proxy_port/v1/secret/data/demo" |
    /usr/bin/python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["data"]["data"], indent=2))'
echo
echo "== LIST through the proxy (the method hvac and node-vault send):"
curl -s -X LIST "http://127.0.0.1:$proxy_port/v1/secret/metadata/"
echo
echo
echo "== vaproxyd log"
cat "$work/vaproxyd.log"
