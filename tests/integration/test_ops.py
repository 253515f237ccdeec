#!/usr/bin/python3
"""TAP integration tests of the operator-facing edges: systemd's notify
protocol (READY=1 once serving and after the first auto-auth attempt,
RELOADING=1 / READY=1 around SIGHUP, STOPPING=1 at shutdown; path and
abstract sockets) and `--check-config -v` (the merged config as JSON,
secrets redacted; errors with file:line:key).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

from harness import PLAIN_CONFIG
from harness import (Proxy, Sim, TestFailure, check, contains, eq, free_port, request, run,
                     test, tmpdir, wait_until, write_atomic)

sim = Sim()

BINARY = os.environ.get("VAPROXYD", "")
PLUGIN_DIR = os.environ.get("VAPROXY_PLUGIN_DIR", "")

BASIC = PLAIN_CONFIG


class Notify:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"vaproxy-test-{os.getpid()}-{time.monotonic_ns()}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.env = os.path.join(tmpdir("notify-"), "notify.sock")
            self.sock.bind(self.env)
        self.messages = []

    def next(self, timeout=5.0):
        """The next datagram as a dict of its assignments."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096).decode()
        except socket.timeout:
            raise TestFailure(f"no notification within {timeout}s; got so far {self.messages}")
        msg = dict(line.split("=", 1) for line in data.split("\n") if "=" in line)
        self.messages.append(msg)
        return msg

    def wait_for(self, key, value="1", timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure(f"no {key}={value} within {timeout}s: {self.messages}")
            msg = self.next(left)
            if msg.get(key) == value:
                return msg

    def close(self):
        self.sock.close()


@test("sd_notify: READY=1 once a request succeeds; RELOADING=1 then READY=1 on SIGHUP; STOPPING=1")
def _():
    for abstract in (False, True):
        n = Notify(abstract)
        port = free_port()
        p = Proxy(BASIC, sim=sim.addr, port=port, env={"NOTIFY_SOCKET": n.env})
        msg = n.wait_for("READY")
        # READY means serving: a request succeeds right away, no retry.
        eq(request(port, "GET", "/v1/sim/echo/ready", timeout=2).status, 200,
           "a request succeeds once READY=1 arrived")
        check("STATUS" in msg, f"a STATUS line with READY: {msg}")
        p.send_signal(signal.SIGHUP)
        msg = n.next()
        eq(msg.get("RELOADING"), "1", f"RELOADING=1 first: {msg}")
        check(msg.get("MONOTONIC_USEC", "").isdigit(), f"MONOTONIC_USEC with it: {msg}")
        msg = n.next()
        eq(msg.get("READY"), "1", f"then READY=1: {msg}")
        p.send_signal(signal.SIGTERM)
        n.wait_for("STOPPING")
        eq(p.wait_exit(), 0, "clean exit")
        n.close()


@test("sd_notify with auto_auth: READY=1 only after the first login attempt ended")
def _():
    sim.reset()
    role = sim.approle(role_name="ready", bind_secret_id=False, ttl=600)
    d = tmpdir("notify-aa-")
    rid = os.path.join(d, "role_id")
    write_atomic(rid, role["role_id"])
    sim.delay(1500, path_prefix="/v1/auth/approle/login", count=1)
    n = Notify()
    port = free_port()
    t0 = time.monotonic()
    p = Proxy(BASIC + """
auto_auth {
  method "approle" { config = { role_id_file_path = "{rid}" } }
}
api_proxy { use_auto_auth_token = true }
""", sim=sim.addr, port=port, rid=rid, env={"NOTIFY_SOCKET": n.env})
    p.wait_ready()
    msg = n.wait_for("READY", timeout=10)
    check(time.monotonic() - t0 >= 1.4, "READY=1 waited for the delayed login")
    contains(msg.get("STATUS", ""), "authenticated", "STATUS says authenticated")
    eq(request(port, "GET", "/v1/auth/token/lookup-self").status, 200,
       "the auto-auth token is there at READY")
    p.stop()
    n.close()

    # A failing login still ends the wait: READY=1 with a STATUS that says so.
    sim.fail(count=-1, status=500, path_prefix="/v1/auth/approle/login")
    try:
        n = Notify()
        port = free_port()
        p = Proxy(BASIC + """
auto_auth {
  method "approle" {
    min_backoff = "2s"
    config = { role_id_file_path = "{rid}" }
  }
}
api_proxy { use_auto_auth_token = true }
""", sim=sim.addr, port=port, rid=rid, env={"NOTIFY_SOCKET": n.env})
        msg = n.wait_for("READY")
        contains(msg.get("STATUS", ""), "failing", "STATUS says auto-auth is failing")
        p.stop()
        n.close()
    finally:
        sim.reset()


@test("no NOTIFY_SOCKET, or one nobody listens on: the daemon runs the same")
def _():
    d = tmpdir("notify-gone-")
    for env in ({"NOTIFY_SOCKET": None}, {"NOTIFY_SOCKET": os.path.join(d, "nobody.sock")},
                {"NOTIFY_SOCKET": "not-a-socket-address"}):
        port = free_port()
        p = Proxy(BASIC, sim=sim.addr, port=port, env=env)
        p.wait_ready()
        p.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload: configuration applied" in p.log(), timeout=5,
                   msg="reloaded")
        eq(request(port, "GET", "/v1/sim/echo/x").status, 200, f"serving with {env}")
        eq(p.stop(), 0, "clean exit")


@test("-combine-logs: log lines on stdout, nothing on stderr")
def _():
    d = tmpdir("combine-")
    path = os.path.join(d, "c.hcl")
    write_atomic(path, BASIC.replace("{sim}", sim.addr).replace("{port}", str(free_port())))
    base = [BINARY, "--config", path, "--plugin-dir", PLUGIN_DIR, "--log-level", "debug",
            "--dump-chain"]
    for combine in (False, True):
        r = subprocess.run(base + (["-combine-logs"] if combine else []), capture_output=True,
                           text=True, timeout=15, stdin=subprocess.DEVNULL)
        eq(r.returncode, 0, f"exit status; stderr {r.stderr!r}")
        logs, other = (r.stdout, r.stderr) if combine else (r.stderr, r.stdout)
        contains(logs, "[debug] proxy.plugins: loaded", f"log lines (combine={combine})")
        check("[debug]" not in other, f"no log line on the other stream (combine={combine})")


def check_config(*paths, verbose=True):
    argv = [BINARY, "--check-config", "--plugin-dir", PLUGIN_DIR]
    for path in paths:
        argv += ["--config", path]
    if verbose:
        argv.append("-v")
    return subprocess.run(argv, capture_output=True, text=True, timeout=15,
                          stdin=subprocess.DEVNULL)


@test("--check-config -v: merged config as JSON with defaults, secrets redacted, exit 0")
def _():
    d = tmpdir("dump-")
    conf = os.path.join(d, "conf.d")
    os.makedirs(conf)
    write_atomic(os.path.join(conf, "10-base.hcl"), """
vault {
  address = "https://vault.example:8200"
  ca_cert = "/etc/ssl/vault-ca.pem"
}
log_file = "/var/log/vaproxy/"
log_rotate_max_files = 3
auto_auth {
  method "token_file" {
    config = { token_file_path = "/run/token" }
  }
  sink "file" { config = { path = "/run/sink" } }
}
listener "tcp" {
  address = "127.0.0.1:8100"
  tls_disable = true
}
telemetry {
  circonus_api_token = "s3cr3t-circonus"
  prometheus_retention_time = "30s"
}
""")
    write_atomic(os.path.join(conf, "20-more.json"), json.dumps({
        "log_level": "debug",
        "listener": [{"unix": {"address": "/run/vaproxy.sock", "tls_disable": True}}],
        "cache": {"persist": {"type": "kubernetes", "path": "/var/cache/vaproxy",
                              "service_account_token_file": "/var/run/sa-token"}},
        "api_proxy": {"use_auto_auth_token": "force"},
    }))
    r = check_config(conf)
    eq(r.returncode, 0, f"exit status; stderr {r.stderr!r}")
    contains(r.stderr, "configuration is valid", "the verdict on stderr")
    try:
        cfg = json.loads(r.stdout)
    except ValueError:
        raise TestFailure(f"stdout is not JSON: {r.stdout[:500]!r}")
    eq(cfg["vault"]["address"], "https://vault.example:8200", "vault.address")
    eq(cfg["vault"]["retry"]["num_retries"], 12, "the default retry count")
    eq(cfg["log_level"], "debug", "the later file's log_level")
    eq(cfg["log_file"], "/var/log/vaproxy/proxy.log", "the directory got proxy.log")
    eq(cfg["log_rotate_duration"], "24h0m0s", "rotation duration default")
    eq(cfg["log_rotate_max_files"], 3, "max files")
    eq([l["address"] for l in cfg["listener"]], ["127.0.0.1:8100", "/run/vaproxy.sock"],
       "listeners of both files, appended")
    eq(cfg["api_proxy"]["use_auto_auth_token"], "force", "api_proxy from the JSON file")
    eq(cfg["auto_auth"]["method"]["mount_path"], "auth/token_file", "default mount path")
    eq(cfg["auto_auth"]["method"]["min_backoff"], "1s", "default min_backoff")
    eq(cfg["auto_auth"]["method"]["config"]["token_file_path"], "/run/token", "paths shown")
    eq(cfg["telemetry"]["circonus_api_token"], "<redacted>", "a token in telemetry")
    eq(cfg["telemetry"]["prometheus_retention_time"], "30s", "other telemetry keys")
    eq(cfg["cache"]["persist"]["service_account_token_file"], "/var/run/sa-token",
       "a *_file path is shown")
    check("s3cr3t" not in r.stdout + r.stderr, "the secret value never printed")


@test("--check-config -v redacts authenticating values (telemetry token, sink aad), shows paths")
def _():
    d = tmpdir("dump-secrets-")
    path = os.path.join(d, "c.hcl")
    # Only Vault's own telemetry keys, so a stricter telemetry parser keeps
    # this valid; the rule itself is unit-tested (tests/unit/test_ops.c).
    secrets = ["tok-123456", "aad-111"]
    write_atomic(path, BASIC.replace("{sim}", "http://127.0.0.1:1").replace("{port}", "8101") + """
auto_auth {
  method "approle" {
    config = { role_id_file_path = "/r", secret_id_file_path = "/s" }
  }
  sink "file" {
    dh_type = "curve25519"
    dh_path = "/dh"
    aad = "aad-111"
    config = { path = "/sink" }
  }
}
telemetry {
  circonus_api_token = "tok-123456"
}
""")
    r = check_config(path)
    eq(r.returncode, 0, f"exit status; stderr {r.stderr!r}")
    for s in secrets:
        check(s not in r.stdout, f"{s} printed:\n{r.stdout}")
    cfg = json.loads(r.stdout)
    eq(cfg["telemetry"]["circonus_api_token"], "<redacted>", "telemetry token")
    eq(cfg["auto_auth"]["sinks"][0]["aad"], "<redacted>", "sink aad")
    eq(cfg["auto_auth"]["method"]["config"]["secret_id_file_path"], "/s", "the path is shown")


@test("--check-config -v on a bad config: non-zero exit, one line with file:line:key, no JSON")
def _():
    d = tmpdir("dump-bad-")
    path = os.path.join(d, "bad.hcl")
    write_atomic(path, BASIC.replace("{sim}", "http://127.0.0.1:1").replace("{port}", "8102")
                 + 'log_rotate_max_files = -2\n')
    r = check_config(path)
    check(r.returncode != 0, f"non-zero exit: {r.returncode}")
    eq(r.stdout, "", "nothing on stdout")
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    eq(len(lines), 1, f"one line: {r.stderr!r}")
    line_no = open(path).read().splitlines().index("log_rotate_max_files = -2") + 1
    contains(lines[0], f"{path}:{line_no}", "file and line")
    contains(lines[0], "log_rotate_max_files", "the key")


if __name__ == "__main__":
    sys.exit(run())
