#!/usr/bin/env bash
# contrib/stress/clients.sh: hostile clients against vaproxyd: slowloris
# drippers next to a steady client, huge bodies, huge header counts,
# malformed request lines, deep pipelining, clients hanging up mid-request,
# a half-closed request, and plain HTTP to a TLS listener.
#
#   bash contrib/stress/clients.sh       # from the repo root, as root on Debian 12
#
# Knobs: DRIPPERS=5000, DRIP_SECS=30 (the slowloris run).
# Expected: the steady client never fails (0 failed) however many drippers;
# 413 for a body over max_request_size, 431 for too many header bytes, a
# 4xx and a close for each malformed request, all 1000 pipelined requests
# answered, the daemon alive with its descriptors back after the hang-ups,
# an answer to a half-closed request, and 400 for plain HTTP on TLS.
set -euo pipefail
BENCH_NAME=stress-clients
DRIPPERS=${DRIPPERS:-5000}
DRIP_SECS=${DRIP_SECS:-30}
# shellcheck source=contrib/stress/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck disable=SC2119  # no sub-directories to make
stress_init

start_badup up
VPD_PORT=$(free_port)
TLS_PORT=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$T/key.pem" -out "$T/cert.pem" \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1
# The listener keeps its defaults (max_connections 4096, http_read_timeout
# 30s): the figure is what an operator who set nothing would see.
plain_config "$T/vp.hcl" "http://127.0.0.1:$BAD_PORT" "$VPD_PORT" "
listener \"tcp\" {
  address       = \"127.0.0.1:$TLS_PORT\"
  tls_cert_file = \"$T/cert.pem\"
  tls_key_file  = \"$T/key.pem\"
}"
start_vpd vaproxyd "$T/vp.hcl"
FD0=$(fd_count "$VPD_PID")

# 1. Slowloris.
"$PY" "$CLIENT" slowloris --port "$VPD_PORT" --drippers "$DRIPPERS" --seconds "$DRIP_SECS" \
    >"$T/slow.json"
stress_row "slowloris-$DRIPPERS" "$(jget "$T/slow.json" requests)" "$(jget "$T/slow.json" failed)" \
    "drippers refused $(jget "$T/slow.json" refused), closed by server $(jget "$T/slow.json" closed_by_server)" \
    "$(verdict "(( $(jget "$T/slow.json" failed) == 0 ))" "0 failed")"

# 2. The abuse cases, one connection each.
"$PY" "$CLIENT" abuse --port "$VPD_PORT" >"$T/abuse.json"
a() { jget "$T/abuse.json" "$1"; }
stress_row huge-body 1 "$( [[ $(a huge_body) == 413 ]] && echo 0 || echo 1)" "40 MiB body: $(a huge_body)" \
    "$(verdict "[[ $(a huge_body) == 413 ]]" 413)"
stress_row header-count 1 "$( [[ $(a many_headers) == 431 ]] && echo 0 || echo 1)" "10000 headers: $(a many_headers)" \
    "$(verdict "[[ $(a many_headers) == 431 ]]" 431)"
stress_row malformed-lines "$(a malformed.requests)" "$(a malformed.failed)" "$(a malformed.statuses)" \
    "$(verdict "(( $(a malformed.failed) == 0 ))" "4xx and close")"
stress_row pipelining-1000 "$(a pipeline.requests)" "$(a pipeline.failed)" "answered $(a pipeline.answered)" \
    "$(verdict "(( $(a pipeline.failed) == 0 ))" "all answered 200")"
sleep 1
FD1=$(fd_count "$VPD_PID")
alive=yes
kill -0 "$VPD_PID" 2>/dev/null || alive=no
stress_row hang-ups "$(a hangups.requests)" "$( [[ $(a after) == 200 ]] && echo 0 || echo 1)" \
    "then: $(a after); alive $alive; fds $FD0->$FD1" \
    "$(verdict "[[ $(a after) == 200 && $alive == yes ]] && ((FD1 <= FD0 + 2))" "alive, 200, fds back")"
stress_row half-closed-request 1 "$( [[ $(a half_close) == 200 ]] && echo 0 || echo 1)" \
    "answer: $(a half_close)" "$(verdict "[[ $(a half_close) == 200 ]]" "200")"

# 3. Plain HTTP to the TLS listener.
"$PY" "$CLIENT" plain-on-tls --port "$TLS_PORT" >"$T/plain.json"
stress_row plain-HTTP-on-TLS 1 "$( [[ $(jget "$T/plain.json" status) == 400 ]] && echo 0 || echo 1)" \
    "answer: $(jget "$T/plain.json" status)" "$(verdict "[[ $(jget "$T/plain.json" status) == 400 ]]" 400)"
