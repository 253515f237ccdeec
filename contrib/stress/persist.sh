#!/usr/bin/env bash
# contrib/stress/persist.sh: the persistent cache when its disk misbehaves:
# the file system fills up (ENOSPC) and frees again, the file is damaged,
# and the key is not the one the file was written with.
#
#   bash contrib/stress/persist.sh       # from the repo root, as root on Debian 12
#
# Knob: PERSIST_LEASES=100 per phase.  The ENOSPC case mounts a 1 MiB
# tmpfs inside the temp dir (root only; skipped otherwise).
# Expected: after ENOSPC and free space again, a restart restores every
# lease that was answered (before, during and after the full disk); a
# damaged file restores a prefix and the daemon serves; a wrong key with
# exit_on_err = true exits non-zero naming the problem, with false it
# serves from an empty cache.
set -euo pipefail
BENCH_NAME=stress-persist
PERSIST_LEASES=${PERSIST_LEASES:-100}
# shellcheck source=contrib/stress/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stress_init full damaged
MNT=$T/full
# The tmpfs must go before the bench's clean-up removes the temp dir.
trap 'rc=$?; umount -l "$MNT" 2>/dev/null; (exit $rc); bench_cleanup' EXIT

start_sim sim
VPD_PORT=$(free_port)
printf '%s\n' "$(sim_token "$SIM_PORT")" >"$T/token"
new_key "$T/key"
N=$PERSIST_LEASES

# restart NAME CONFIG: SIGTERM the daemon, start it again, wait for its login.
restart() {
    stop_pid "$VPD_PID"
    forget_pid "$VPD_PID"
    start_vpd "$1" "$2"
    wait_auth "$VPD_PID" "$VPD_PORT" "$T/logs/$1.log"
}

# 1. ENOSPC, then space again.
if ((EUID == 0)) && mount -t tmpfs -o size=1m,mode=0700 tmpfs "$MNT" 2>/dev/null; then
    persist_config "$T/full.hcl" "$SIM_PORT" "$VPD_PORT" "$T/token" "$MNT" "$T/key"
    start_vpd vaproxyd-full "$T/full.hcl"
    wait_auth "$VPD_PID" "$VPD_PORT" "$T/logs/vaproxyd-full.log"
    leases "$VPD_PORT" "$N" before "$T/f1.json"
    dd if=/dev/zero of="$MNT/filler" bs=4k >/dev/null 2>&1 || true
    leases "$VPD_PORT" "$N" during "$T/f2.json"
    rm -f "$MNT/filler"
    leases "$VPD_PORT" "$N" after "$T/f3.json"
    sleep 1
    restart vaproxyd-full "$T/full.hcl"
    for ph in before during after; do leases "$VPD_PORT" "$N" "$ph" "$T/r-$ph.json"; done
    answered=$((3 * N - $(jget "$T/f1.json" failed) - $(jget "$T/f2.json" failed) - $(jget "$T/f3.json" failed)))
    hits=$(($(jget "$T/r-before.json" hits) + $(jget "$T/r-during.json" hits) + $(jget "$T/r-after.json" hits)))
    stress_row persist-ENOSPC $((6 * N)) \
        "$(($(jget "$T/f2.json" failed) + $(jget "$T/r-during.json" failed)))" \
        "restored $hits/$answered (before $(jget "$T/r-before.json" hits), during $(jget "$T/r-during.json" hits), after $(jget "$T/r-after.json" hits))" \
        "$(verdict "((hits == answered))" "everything restored")"
    stop_pid "$VPD_PID"
    forget_pid "$VPD_PID"
else
    stress_row persist-ENOSPC 0 0 "skipped: cannot mount a tmpfs (not root?)" skipped
fi

# 2. A damaged file: 64 random bytes in its middle.
persist_config "$T/dmg.hcl" "$SIM_PORT" "$VPD_PORT" "$T/token" "$T/damaged" "$T/key" false
start_vpd vaproxyd-damaged "$T/dmg.hcl"
wait_auth "$VPD_PID" "$VPD_PORT" "$T/logs/vaproxyd-damaged.log"
leases "$VPD_PORT" "$N" d "$T/d1.json"
stop_pid "$VPD_PID"
forget_pid "$VPD_PID"
DB=$T/damaged/vaproxy-cache.db
size=$(stat -c %s "$DB")
dd if=/dev/urandom of="$DB" bs=1 count=64 seek=$((size / 2)) conv=notrunc >/dev/null 2>&1
start_vpd vaproxyd-damaged "$T/dmg.hcl"
wait_auth "$VPD_PID" "$VPD_PORT" "$T/logs/vaproxyd-damaged.log"
leases "$VPD_PORT" "$N" d "$T/d2.json"
stress_row persist-damaged-file $((2 * N)) "$(jget "$T/d2.json" failed)" \
    "restored $(jget "$T/d2.json" hits)/$N (a prefix), then served" \
    "$(verdict "(( $(jget "$T/d2.json" failed) == 0 && $(jget "$T/d2.json" hits) < N ))" \
        "a prefix restored, all answered")"

# 3. The wrong key: exit_on_err = true, then false.
stop_pid "$VPD_PID"
forget_pid "$VPD_PID"
new_key "$T/key2"
persist_config "$T/bad.hcl" "$SIM_PORT" "$VPD_PORT" "$T/token" "$T/damaged" "$T/key2" true
VPD_PORT_SAVED=$VPD_PORT
VPD_PORT='' start_vpd vaproxyd-badkey "$T/bad.hcl"
rc=0
for ((i = 0; i < 100; i++)); do kill -0 "$VPD_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$VPD_PID" 2>/dev/null; then
    rc=running
    stop_pid "$VPD_PID"
else
    wait "$VPD_PID" || rc=$?
fi
forget_pid "$VPD_PID"
named=no
grep -q 'wrong key' "$T/logs/vaproxyd-badkey.log" && named=yes
VPD_PORT=$VPD_PORT_SAVED
persist_config "$T/bad2.hcl" "$SIM_PORT" "$VPD_PORT" "$T/token" "$T/damaged" "$T/key2" false
start_vpd vaproxyd-badkey2 "$T/bad2.hcl"
wait_auth "$VPD_PID" "$VPD_PORT" "$T/logs/vaproxyd-badkey2.log"
leases "$VPD_PORT" "$N" d "$T/k2.json"
stress_row persist-wrong-key "$N" "$(jget "$T/k2.json" failed)" \
    "exit_on_err=true: exit $rc, names it: $named; false: served, $(jget "$T/k2.json" hits) hits" \
    "$(verdict "[[ $rc != 0 && $rc != running && $named == yes ]] && (( $(jget "$T/k2.json" failed) == 0 && $(jget "$T/k2.json" hits) == 0 ))" \
        "non-zero exit naming the key; served empty")"
