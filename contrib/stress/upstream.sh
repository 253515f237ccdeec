#!/usr/bin/env bash
# contrib/stress/upstream.sh: vaproxyd in front of an upstream that fails:
# down at start, killed mid-load, hanging, cutting the body off, answering
# garbage, sending a 1 MiB header, closing at once, and one whose TLS
# certificate the configured CA does not sign.
#
#   bash contrib/stress/upstream.sh      # from the repo root, as root on Debian 12
#
# Knobs: UPFAULT_REQUESTS=200000 (the killed-mid-load run), UPFAULT_CONNS=64.
# Expected: every failure answered with Vault's {"errors":[...]} JSON (502,
# or 504 after VAULT_CLIENT_TIMEOUT for a hang), the daemon alive, normal
# requests served again as soon as the upstream is back, and a 1 MiB
# upstream header reported as "upstream answer header too large".
set -euo pipefail
BENCH_NAME=stress-upstream
UPFAULT_REQUESTS=${UPFAULT_REQUESTS:-200000}
UPFAULT_CONNS=${UPFAULT_CONNS:-64}
# shellcheck source=contrib/stress/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stress_init up

# probe PORT PATH COUNT OUT: tests/tools/stressclient.py probe.
probe() { "$PY" "$CLIENT" probe --port "$1" --path "$2" --count "$3" >"$4"; }

# all_json_errors FILE CODE: every answer was CODE with Vault's error JSON.
all_json_errors() {
    [[ $(jget "$1" json_errors) == "$(jget "$1" requests)" &&
        $(jget "$1" "statuses.$2") == "$(jget "$1" requests)" ]]
}

# 1. Down at start, then started.
DOWN_PORT=$(free_port)
VPD_PORT=$(free_port)
plain_config "$T/down.hcl" "http://127.0.0.1:$DOWN_PORT" "$VPD_PORT"
start_vpd vaproxyd-down "$T/down.hcl"
probe "$VPD_PORT" /v1/secret/data/x 20 "$T/down-1.json"
start_badup up-late --port "$DOWN_PORT"
probe "$VPD_PORT" /v1/secret/data/x 20 "$T/down-2.json"
stress_row upstream-down-at-start 40 "$(($(jget "$T/down-1.json" failed) + $(jget "$T/down-2.json" failed)))" \
    "down: $(jget "$T/down-1.json" statuses), up: $(jget "$T/down-2.json" statuses)" \
    "$(verdict "all_json_errors $T/down-1.json 502 && (( $(jget "$T/down-2.json" failed) == 0 ))" \
        "502 JSON while down, 200 once up")"
stop_pid "$BAD_PID"
forget_pid "$BAD_PID"

# 2. Killed mid-load (kill -9), restarted a second later.
UP_PORT=$(free_port)
nginx_upstream "$T/up" "$UP_PORT"
UP_PID=$NGX_PID
plain_config "$T/kill.hcl" "http://127.0.0.1:$UP_PORT" "$VPD_PORT"
stop_pid "$VPD_PID"
forget_pid "$VPD_PID"
start_vpd vaproxyd-kill "$T/kill.hcl"
wrk_count "$VPD_PORT" /v1/secret/data/x "$UPFAULT_REQUESTS" "$UPFAULT_CONNS" "$T/kill-load" \
    -H 'X-Vault-Token: stress-token' &
LOAD=$!
PIDS+=("$LOAD")
sleep 1
# The master and its worker: a killed master alone leaves the worker serving.
# shellcheck disable=SC2046  # one pid a word
kill -KILL "$UP_PID" $(pgrep -P "$UP_PID") 2>/dev/null || true
wait "$UP_PID" 2>/dev/null || true
forget_pid "$UP_PID"
sleep 1
start_nginx "$T/up"
wait "$LOAD" || true
forget_pid "$LOAD"
read -r kreq kbad ksecs <"$T/kill-load"
wrk_count "$VPD_PORT" /v1/secret/data/x $((UPFAULT_REQUESTS / 10)) "$UPFAULT_CONNS" "$T/kill-after" \
    -H 'X-Vault-Token: stress-token'
read -r areq abad _ <"$T/kill-after"
alive=yes
kill -0 "$VPD_PID" 2>/dev/null || alive=no
stress_row upstream-killed-mid-load $((kreq + areq)) $((kbad + abad)) \
    "${ksecs}s; failed while down $kbad; after restart $abad/$areq; alive $alive" \
    "$(verdict "((abad == 0)) && [[ $alive == yes ]]" "0 failed after the restart, daemon alive")"
stop_pid "$VPD_PID"
forget_pid "$VPD_PID"

# 3. The faults of tests/tools/badupstream.py, with a 2 s client timeout.
start_badup bad
plain_config "$T/bad.hcl" "http://127.0.0.1:$BAD_PORT" "$VPD_PORT"
start_vpd vaproxyd-bad "$T/bad.hcl" VAULT_CLIENT_TIMEOUT=2s

# A hang holds only its own requests: normal ones go on meanwhile.
probe "$VPD_PORT" /v1/stress/hang 3 "$T/hang.json" &
HANG=$!
sleep 0.2
probe "$VPD_PORT" /v1/secret/data/x 50 "$T/hang-ok.json"
wait "$HANG" || true
stress_row upstream-hang 53 "$(($(jget "$T/hang.json" failed) + $(jget "$T/hang-ok.json" failed)))" \
    "hang: $(jget "$T/hang.json" statuses) in <= $(jget "$T/hang.json" slowest)s; others: $(jget "$T/hang-ok.json" statuses)" \
    "$(verdict "all_json_errors $T/hang.json 504 && (( $(jget "$T/hang-ok.json" failed) == 0 ))" \
        "504 JSON after the client timeout, others 200")"

for fault in cutoff garbage reset; do
    probe "$VPD_PORT" "/v1/stress/$fault" 20 "$T/$fault.json"
    stress_row "upstream-$fault" 20 "$(jget "$T/$fault.json" failed)" \
        "$(jget "$T/$fault.json" statuses) \"$(jget "$T/$fault.json" error | cut -c1-30)\"" \
        "$(verdict "all_json_errors $T/$fault.json 502" "502 JSON")"
done

probe "$VPD_PORT" /v1/stress/bigheader 5 "$T/big.json"
big_err=$(jget "$T/big.json" error)
stress_row upstream-1MiB-header 5 "$(jget "$T/big.json" failed)" \
    "$(jget "$T/big.json" statuses) \"${big_err:0:38}\"" \
    "$(verdict "all_json_errors $T/big.json 502" "502 JSON"); message $(verdict \
        "[[ '$big_err' == *'upstream answer header too large'* ]]" \
        "'upstream answer header too large'")"
alive=yes
kill -0 "$VPD_PID" 2>/dev/null || alive=no
probe "$VPD_PORT" /v1/secret/data/x 10 "$T/bad-after.json"
stress_row upstream-faults-after 10 "$(jget "$T/bad-after.json" failed)" "alive $alive" \
    "$(verdict "[[ $alive == yes ]] && (( $(jget "$T/bad-after.json" failed) == 0 ))" "alive, 200")"
stop_pid "$VPD_PID"
forget_pid "$VPD_PID"
stop_pid "$BAD_PID"
forget_pid "$BAD_PID"

# 4. TLS upstream whose certificate another CA signed.
for n in server other; do
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$T/$n.key" -out "$T/$n.pem" \
        -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1
done
start_badup tls --tls-cert "$T/server.pem" --tls-key "$T/server.key"
cat >"$T/ca.hcl" <<EOF
vault {
  address = "https://127.0.0.1:$BAD_PORT"
  ca_cert = "$T/other.pem"
  retry {
    num_retries = -1
  }
}
listener "tcp" {
  address     = "127.0.0.1:$VPD_PORT"
  tls_disable = true
}
EOF
start_vpd vaproxyd-ca "$T/ca.hcl"
probe "$VPD_PORT" /v1/secret/data/x 20 "$T/ca.json"
stress_row upstream-wrong-CA 20 "$(jget "$T/ca.json" failed)" \
    "$(jget "$T/ca.json" statuses) \"$(jget "$T/ca.json" error | cut -c1-30)\"" \
    "$(verdict "all_json_errors $T/ca.json 502" "502 JSON")"
