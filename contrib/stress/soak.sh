#!/usr/bin/env bash
# contrib/stress/soak.sh: long runs through vaproxyd in front of a canned
# nginx "Vault": pass-through (the client's token, no cache) and cache hits
# (token_file auto-auth, one cached lease read over and over).
#
#   bash contrib/stress/soak.sh          # from the repo root, as root on Debian 12
#
# Knobs: SOAK_REQUESTS=1000000 per soak, SOAK_CONNS=64, STRESS_MAX_SECS=900
# (bound of one wrk run), SOAK_SAMPLE_SECS=2 (how often VmRSS is sampled:
# the curve is printed after each soak and kept in the temp dir as
# NAME-rss.tsv: seconds since the start, VmRSS, RssAnon and RssFile in kB).  Figures: failed answers (non-2xx and socket
# errors), RSS growth from the end of a warm-up (a tenth of the requests) to
# the end, open descriptors before and after.  Expected: 0 failed, RSS
# growth under 1 %, as many descriptors after as before (counted after the
# warm-up, which opens the upstream connection pool; the figure shows
# at-start/after-warm-up->after).
set -euo pipefail
BENCH_NAME=stress-soak
SOAK_REQUESTS=${SOAK_REQUESTS:-1000000}
SOAK_CONNS=${SOAK_CONNS:-64}
SOAK_SAMPLE_SECS=${SOAK_SAMPLE_SECS:-2}
# shellcheck source=contrib/stress/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $SOAK_REQUESTS =~ ^[1-9][0-9]*$ ]] || die "SOAK_REQUESTS must be a positive integer"
stress_init up

UP_PORT=$(free_port)
nginx_upstream "$T/up" "$UP_PORT"

# rss_sampler PID FILE: VmRSS every SOAK_SAMPLE_SECS, one line "seconds
# VmRSS RssAnon RssFile" (kB) each, until PID exits or the sampler is
# stopped; sets SAMPLER_PID.  RssFile is apart because it is the pages of
# the executable and libraries, which grow as code runs for the first time
# and are no memory the daemon allocated.
rss_sampler() {
    local pid=$1 out=$2
    (
        t0=$SECONDS
        while kill -0 "$pid" 2>/dev/null; do
            awk -v t=$((SECONDS - t0)) '$1 ~ /^(VmRSS|RssAnon|RssFile):$/ { v[$1] = $2 }
                END { print t, v["VmRSS:"] + 0, v["RssAnon:"] + 0, v["RssFile:"] + 0 }' \
                "/proc/$pid/status" 2>/dev/null || true
            sleep "$SOAK_SAMPLE_SECS"
        done
    ) >"$out" &
    SAMPLER_PID=$!
    PIDS+=("$SAMPLER_PID")
}

# rss_curve FILE: the samples, at most 12 of them evenly spread (the first
# and the last always), as "s:VmRSS/RssAnon" (kB) on one line.
rss_curve() {
    awk '{ t[NR] = $1; v[NR] = $2; a[NR] = $3 }
        END { step = NR > 12 ? (NR - 1) / 11 : 1
              for (i = 1; i <= NR; i += step) { k = int(i + 0.5); printf "%s%d:%d/%d", (i > 1 ? " " : ""), t[k], v[k], a[k] }
              if (k != NR) printf " %d:%d/%d", t[NR], v[NR], a[NR]
              print "" }' "$1"
}

# soak NAME PORT PID PATH [wrk args]: warm-up, measure, soak, measure.
soak() {
    local name=$1 port=$2 pid=$3 path=$4 fds fd0 fd1 rss0 rss1 req bad secs wreq wbad growth
    shift 4
    fds=$(fd_count "$pid")
    rss_sampler "$pid" "$T/$name-rss.tsv"
    wrk_count "$port" "$path" $((SOAK_REQUESTS / 10)) "$SOAK_CONNS" "$T/$name-warm" "$@"
    read -r wreq wbad _ <"$T/$name-warm"
    rss0=$(rss_kb "$pid")
    # The warm-up filled the upstream connection pool: count from here.
    sleep 1
    fd0=$(fd_count "$pid")
    wrk_count "$port" "$path" "$SOAK_REQUESTS" "$SOAK_CONNS" "$T/$name" "$@"
    read -r req bad secs <"$T/$name"
    rss1=$(rss_kb "$pid")
    stop_pid "$SAMPLER_PID"
    forget_pid "$SAMPLER_PID"
    log "$name: RSS over time (s:VmRSS/RssAnon kB; the warm-up ended at ${rss0} kB): $(rss_curve "$T/$name-rss.tsv")"
    # Closed client connections are released as the loop notices them.
    sleep 1
    fd1=$(fd_count "$pid")
    growth=$(awk -v a="$rss0" -v b="$rss1" 'BEGIN { printf "%.2f", (a > 0 ? 100 * (b - a) / a : 0) }')
    kill -0 "$pid" 2>/dev/null || bad="$bad (daemon died)"
    SOAK_FIG="${secs}s, RSS ${rss0}->${rss1} kB (${growth}%), fds $fds/$fd0->$fd1"
    SOAK_REQ=$((req + wreq))
    SOAK_BAD=$((${bad%% *} + wbad))
    SOAK_GROWTH=$growth
    SOAK_FD0=$fd0
    # shellcheck disable=SC2034  # read by the verdicts (eval)
    SOAK_FD1=$fd1
}

# 1. Pass-through: the client's token, no cache.
VPD_PORT=$(free_port)
plain_config "$T/pass.hcl" "http://127.0.0.1:$UP_PORT" "$VPD_PORT"
start_vpd vaproxyd-pass "$T/pass.hcl"
soak pass "$VPD_PORT" "$VPD_PID" /v1/secret/data/stress -H 'X-Vault-Token: stress-token'
stress_row soak-pass-through "$SOAK_REQ" "$SOAK_BAD" "$SOAK_FIG" \
    "$(verdict "((SOAK_BAD == 0))" "0 failed"); RSS $(verdict \
    "awk -v g=$SOAK_GROWTH 'BEGIN { exit !(g < 1) }'" "growth < 1 %"); fds $(verdict \
    "((SOAK_FD1 <= SOAK_FD0 + 2))" "back to $SOAK_FD0")"
stop_pid "$VPD_PID"
forget_pid "$VPD_PID"

# 2. Cache hits: auto-auth, the same lease read again and again.
VPD_PORT=$(free_port)
printf 'stress-token\n' >"$T/token"
auth_cache_config "$T/cache.hcl" "http://127.0.0.1:$UP_PORT" "$VPD_PORT" "$T/token"
start_vpd vaproxyd-cache "$T/cache.hcl"
wait_auth "$VPD_PID" "$VPD_PORT" "$T/logs/vaproxyd-cache.log"
# The cache key covers the request headers: send what wrk sends.
curl -s -o /dev/null -H 'User-Agent:' -H 'Accept:' "http://127.0.0.1:$VPD_PORT/v1/database/creds/app"
gets0=$(grep -c '^GET /v1/database/creds/' "$T/up/access.log" || true)
soak cache "$VPD_PORT" "$VPD_PID" /v1/database/creds/app
misses=$(($(grep -c '^GET /v1/database/creds/' "$T/up/access.log" || true) - gets0))
stress_row soak-cache-hit "$SOAK_REQ" "$SOAK_BAD" "$SOAK_FIG, misses $misses" \
    "$(verdict "((SOAK_BAD == 0 && misses == 0))" "0 failed, 0 misses"); fds $(verdict \
    "((SOAK_FD1 <= SOAK_FD0 + 2))" "back to $SOAK_FD0")"
