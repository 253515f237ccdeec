#!/usr/bin/python3
"""TAP integration tests of log files (vaproxyd.hcl(5)): log_file with mode
0600 next to stderr, -log-file over the config, rotation by size and by
duration with max_files 0 / N / -1 and Vault's archive names, reopening
after an external rename on SIGHUP, a failing log file that must not stop
the daemon, JSON lines, and no token in any line at trace level.
"""

import json
import os
import re
import signal
import stat
import sys
import time

from harness import PLAIN_CONFIG
from harness import (Proxy, Sim, TestFailure, check, contains, diag, eq, free_port, request,
                     run, test, tmpdir, wait_until, write_atomic)

sim = Sim()

BASIC = PLAIN_CONFIG

ARCHIVE = re.compile(r"^proxy-(\d+)\.log$")


def archives(d):
    return sorted(n for n in os.listdir(d) if ARCHIVE.match(n))


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def served(port, path="/v1/sim/echo/x", headers=None):
    r = request(port, "GET", path, headers)
    eq(r.status, 200, f"request through the daemon (body {r.body[:200]!r})")
    return r


def start(extra, port=None, args=(), env=None):
    port = port or free_port()
    p = Proxy(extra + BASIC, sim=sim.addr, port=port, args=args, env=env)
    p.wait_ready()
    return p, port


@test("log_file: mode 0600, the same lines as stderr, a trailing '/' gets proxy.log, JSON lines")
def _():
    d = tmpdir("logs-")
    p, port = start(f'log_file = "{d}/"\nlog_level = "debug"\nlog_format = "json"\n')
    path = os.path.join(d, "proxy.log")
    served(port)
    wait_until(lambda: "response 200" in read(path), timeout=5,
               msg="the request's debug line in the log file")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    eq(oct(mode), oct(0o600), "log file mode")
    eq(p.stop(), 0, "clean exit")
    file_lines = [l for l in read(path).splitlines() if l.strip()]
    check(len(file_lines) >= 3, f"lines in the file: {file_lines!r}")
    for l in file_lines:
        try:
            obj = json.loads(l)
        except ValueError:
            raise TestFailure(f"not a JSON line in the log file: {l!r}")
        check("@message" in obj and "@level" in obj, f"JSON line shape: {l!r}")
    stderr_lines = [l for l in p.log().splitlines() if l.startswith("{")]
    eq(file_lines, stderr_lines, "the file holds exactly what went to stderr")
    contains(read(path), "shutting down", "lines up to the exit are in the file")


@test("-log-file and the rotation flags override the config's keys")
def _():
    d = tmpdir("logs-")
    cfg_path, flag_path = os.path.join(d, "config.log"), os.path.join(d, "flag.log")
    p, port = start(f'log_file = "{cfg_path}"\nlog_rotate_bytes = 100000\n',
                    args=["-log-file=" + flag_path, "-log-rotate-bytes", "300",
                          "-log-rotate-max-files", "-1", "-log-level=debug"])
    # With 300 bytes and -1 the start-up lines may already be rotated away.
    wait_until(lambda: read(flag_path), timeout=5, msg="lines in the flag's file")
    check(not os.path.exists(cfg_path), "the config's log_file is not created")
    # 300 bytes from the flag, not 100000 from the config: it rotates; -1 keeps no archive.
    sizes = []
    for _ in range(40):  # a few KiB of debug lines
        served(port)
        sizes.append(os.path.getsize(flag_path) if os.path.exists(flag_path) else 0)
    # Every line also went to stderr: far more than the file ever held, so
    # it rotated (sampled sizes need not shrink: a request's last line may
    # be the only one after each rotation).
    logged = len(p.log().encode())
    check(logged > 4000, f"enough logged to need rotations: {logged} bytes")
    check(max(sizes) < 300 + 1000, f"rotated near the flag's 300 bytes, not 100000: {sizes}")
    eq([n for n in os.listdir(d) if n.startswith("flag-")], [], "-1: no archive kept")
    p.stop()


def rotate_until(port, d, done, what, timeout=20):
    """Requests (each logs a few debug lines) until done() holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        served(port)
    raise TestFailure(f"{what}: not reached within {timeout}s; files: {sorted(os.listdir(d))}")


@test("rotation by size: Vault's archive names, at least log_rotate_bytes each; max_files 0 keeps all")
def _():
    d = tmpdir("logs-")
    p, port = start(f'log_file = "{d}/proxy.log"\nlog_level = "debug"\n'
                    'log_rotate_bytes = 400\n')
    rotate_until(port, d, lambda: len(archives(d)) >= 5, "five archives")
    first = archives(d)[0]
    rotate_until(port, d, lambda: len(archives(d)) >= 8, "eight archives")
    check(first in archives(d), "max_files 0: the oldest archive is still there")
    for n in archives(d)[:-1]:
        size = os.path.getsize(os.path.join(d, n))
        check(size >= 400, f"archive {n} rotated at {size} bytes, before log_rotate_bytes")
        stamp = int(ARCHIVE.match(n).group(1))
        check(abs(stamp / 1e9 - time.time()) < 120, f"archive {n} is named with unix nanoseconds")
    eq(p.stop(), 0, "clean exit")


@test("rotation by size: max_files N keeps the newest N, -1 keeps none")
def _():
    d = tmpdir("logs-")
    p, port = start(f'log_file = "{d}/proxy.log"\nlog_level = "debug"\n'
                    'log_rotate_bytes = 400\nlog_rotate_max_files = 2\n')
    rotate_until(port, d, lambda: len(archives(d)) >= 2, "two archives")
    first = archives(d)[0]
    rotate_until(port, d, lambda: first not in archives(d), "the oldest archive pruned")
    for _ in range(20):
        served(port)
        # A rotation renames before it prunes: poll past that moment.
        wait_until(lambda: len(archives(d)) <= 2, timeout=2,
                   msg=f"at most 2 archives: {archives(d)}")
    eq(len(archives(d)), 2, "two archives kept")
    p.stop()

    d = tmpdir("logs-")
    # Archives left by an earlier run are pruned at start, as Vault does.
    for i in range(3):
        open(os.path.join(d, f"proxy-16000000000000000{i}.log"), "w").close()
    p, port = start(f'log_file = "{d}/proxy.log"\nlog_level = "debug"\n'
                    'log_rotate_bytes = 400\nlog_rotate_max_files = -1\n')
    eq(archives(d), [], "-1: old archives removed at start")
    path = os.path.join(d, "proxy.log")

    def size_now():
        # With -1 a rotation unlinks the file before the next line creates
        # it again: a moment without the file is a size of 0.
        try:
            return os.path.getsize(path)
        except FileNotFoundError:
            return 0
    sizes = [size_now()]

    def rotated_thrice():
        sizes.append(size_now())
        check(not archives(d), f"-1: an archive was kept: {archives(d)}")
        return sum(b < a for a, b in zip(sizes, sizes[1:])) >= 3
    rotate_until(port, d, rotated_thrice, "three rotations (the file shrank three times)")
    eq(archives(d), [], "-1: no archive kept")
    p.stop()


@test("rotation by duration (1s) while lines keep coming")
def _():
    d = tmpdir("logs-")
    p, port = start(f'log_file = "{d}/proxy.log"\nlog_level = "debug"\n'
                    'log_rotate_duration = "1s"\n')
    t0 = time.monotonic()
    deadline = t0 + 10
    while not archives(d) and time.monotonic() < deadline:
        served(port)
        time.sleep(0.1)
    check(archives(d), f"an archive within 10s of a 1s duration: {os.listdir(d)}")
    check(time.monotonic() - t0 >= 0.9, "not rotated before the duration passed")
    contains(read(os.path.join(d, archives(d)[0])), "started", "the first file was archived")
    p.stop()


@test("SIGHUP reopens the log file after an external rename (logrotate)")
def _():
    d = tmpdir("logs-")
    path = os.path.join(d, "proxy.log")
    p, port = start(f'log_file = "{path}"\nlog_level = "debug"\n')
    served(port, "/v1/sim/echo/before")
    wait_until(lambda: "started" in read(path), timeout=5, msg="first lines")
    os.rename(path, path + ".1")
    served(port, "/v1/sim/echo/between")
    p.send_signal(signal.SIGHUP)
    wait_until(lambda: os.path.exists(path), timeout=5, msg="a new log file after SIGHUP")
    eq(oct(stat.S_IMODE(os.stat(path).st_mode)), oct(0o600), "the new file's mode")
    deadline = time.monotonic() + 5
    while "/v1/sim/echo/after" not in read(path) and time.monotonic() < deadline:
        served(port, "/v1/sim/echo/after")
        time.sleep(0.05)
    contains(read(path), "reload", "the reload is logged in the new file")
    old = read(path + ".1")
    check("/v1/sim/echo/after" not in old, "the renamed file gets no new lines")
    contains(old, "started", "the renamed file kept what it had")
    p.stop()


@test("a failing log file (disk full) neither stops nor blocks the daemon; said once on stderr")
def _():
    if not os.path.exists("/dev/full"):
        from harness import skip
        skip("no /dev/full")
    d = tmpdir("logs-")
    link = os.path.join(d, "full.log")
    os.symlink("/dev/full", link)
    p, port = start(f'log_file = "{link}"\nlog_level = "debug"\nlog_rotate_bytes = 10\n'
                    'log_rotate_duration = "1s"\n')
    t0 = time.monotonic()
    for i in range(30):
        served(port, f"/v1/sim/echo/{i}")
    time.sleep(1.2)
    served(port, "/v1/sim/echo/after-the-duration")
    check(time.monotonic() - t0 < 10, "requests are not slowed down")
    log = p.log()
    contains(log, "/v1/sim/echo/after-the-duration", "lines still reach stderr")
    eq(log.count("write failed"), 1, "the failure is reported once")
    check(os.path.islink(link) and os.readlink(link) == "/dev/full",
          "a device is never renamed for rotation")
    eq(p.stop(), 0, "clean exit")


@test("no token in any log line (stderr and log file) at trace level: auto-auth, cache, tokens")
def _():
    sim.reset()
    role = sim.approle(role_name="logs", ttl=4, renewable=True)
    client = sim.make_token(ttl=600)["id"]
    d = tmpdir("secret-")
    rid, sid = os.path.join(d, "role_id"), os.path.join(d, "secret_id")
    write_atomic(rid, role["role_id"])
    write_atomic(sid, role["secret_id"])
    port = free_port()
    path = os.path.join(d, "proxy.log")
    p = Proxy("""
vault {
  address = "{sim}"
  retry { num_retries = 1 }
}
log_level = "trace"
log_file = "{path}"
auto_auth {
  method "approle" {
    min_backoff = "100ms"
    max_backoff = "300ms"
    config = { role_id_file_path = "{rid}", secret_id_file_path = "{sid}",
               remove_secret_id_file_after_reading = false }
  }
  sink "file" { config = { path = "{sink}" } }
}
api_proxy { use_auto_auth_token = true }
cache {}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
""", sim=sim.addr, port=port, rid=rid, sid=sid, path=path, sink=os.path.join(d, "sink"),
              env={"VAPROXY_RETRY_WAIT_MS": "20,30"})
    p.wait_ready()
    wait_until(lambda: os.path.exists(os.path.join(d, "sink")), timeout=5, msg="auto-auth token")
    eq(request(port, "GET", "/v1/auth/token/lookup-self").status, 200, "auto-auth token used")
    for _ in range(2):  # the second is a cache hit
        r = request(port, "POST", "/v1/auth/token/create", {"X-Vault-Token": client},
                    {"ttl": "60s"})
        eq(r.status, 200, "token created through the proxy (cached)")
    child = r.json()["auth"]["client_token"]
    request(port, "POST", "/v1/auth/token/lookup", {"X-Vault-Token": client}, {"token": child})
    request(port, "GET", "/v1/sim/echo/bearer", {"Authorization": f"Bearer {client}"})
    request(port, "GET", "/v1/sim/status/403", {"X-Vault-Token": child})
    # Short TTL: renewals, then a re-login after the max TTL.
    wait_until(lambda: len(sim.requests("/v1/auth/token/renew-self")) >= 1, timeout=8,
               msg="an auto-auth renewal")
    p.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload" in read(path), timeout=5, msg="a reload logged")
    eq(p.stop(), 0, "clean exit")
    logs = {"stderr": p.log(), "log file": read(path)}
    check(logs["log file"].count("[trace]") + logs["log file"].count("[debug]") >= 10,
          f"the log file is at trace level:\n{logs['log file'][-1500:]}")
    tokens = [t["id"] for t in sim.state()["tokens"]]
    secrets = tokens + [client, child, role["secret_id"]]
    diag(f"{len(secrets)} secrets checked against "
         f"{sum(len(v.splitlines()) for v in logs.values())} lines")
    check(len(tokens) >= 3, f"the scenario issued tokens: {len(tokens)}")
    for where, text in logs.items():
        for s in secrets:
            bare = s[4:] if s.startswith(("hvs.", "hvb.", "s.")) else s
            for form in {s, bare}:
                check(form not in text, f"secret {s[:6]}... in the {where}:\n" +
                      "\n".join(l for l in text.splitlines() if form in l)[:1500])


if __name__ == "__main__":
    sys.exit(run())
