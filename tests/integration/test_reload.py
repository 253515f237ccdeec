#!/usr/bin/python3
"""TAP integration tests of SIGHUP reloads beyond Vault's (log level and
listener certificates): the whole config is re-read and validated, a bad
one is refused with one line naming file, line and key while the running
config stays; log settings, listener and upstream TLS files and the auth
method's block apply live; what needs a restart is warned about and left
alone.  A client loop runs through every reload and must see no failure.
"""

import hashlib
import os
import re
import shutil
import signal
import ssl
import socket
import sys
import threading
import time

from harness import (Client, Proxy, Sim, TestFailure, check, contains, diag, eq, free_port,
                     insecure_ctx, make_cert, request, run, test, tmpdir, wait_until,
                     write_atomic)

CERTS = tmpdir("reload-certs-")
SIM_CERT = make_cert(os.path.join(CERTS, "sim") if os.makedirs(os.path.join(CERTS, "sim"))
                     is None else None)
sim = Sim(tls=SIM_CERT)

CONFIG = """
vault {
  address = "{sim}"
  ca_cert = "{ca_cert}"
  retry { num_retries = 1 }
}
log_level = "{level}"
auto_auth {
  method "approle" {
    min_backoff = "100ms"
    max_backoff = "300ms"
    config = { role_id_file_path = "{role_file}" }
  }
}
api_proxy { use_auto_auth_token = true }
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_cert_file = "{cert}"
  tls_key_file = "{key}"
  {listener_extra}
}
{extra}
"""


def new_cert(name):
    d = os.path.join(CERTS, name)
    os.makedirs(d, exist_ok=True)
    return make_cert(d)


def fingerprint_file(cert):
    with open(cert) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def served_fingerprint(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with insecure_ctx().wrap_socket(raw) as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


class Setup:
    """A running proxy and the knobs of its config file."""

    def __init__(self, **overrides):
        self.dir = tmpdir("reload-")
        self.port = free_port()
        cert, key = new_cert("listener-a")
        self.role_a = sim.approle(role_name="role-a", bind_secret_id=False, ttl=600,
                                  policies=["policy-a"])
        self.role_file = os.path.join(self.dir, "role_a")
        write_atomic(self.role_file, self.role_a["role_id"])
        self.values = dict(sim=sim.addr, ca_cert=SIM_CERT[0], level="info",
                           role_file=self.role_file, port=self.port, cert=cert, key=key,
                           listener_extra="", extra="")
        self.values.update(overrides)
        self.proxy = Proxy(CONFIG, **self.values)
        self.url = f"https://127.0.0.1:{self.port}"
        self.proxy.wait_ready(self.url)
        wait_until(lambda: self.lookup_self().status == 200, timeout=5,
                   msg="auto-auth token in use")

    def lookup_self(self):
        return request(self.url, "GET", "/v1/auth/token/lookup-self", tls_ctx=insecure_ctx())

    def rewrite(self, **changes):
        self.values.update(changes)
        text = CONFIG
        for k, v in self.values.items():
            text = text.replace("{" + k + "}", str(v))
        write_atomic(self.proxy.config_path, text)

    def hup(self, expect, what, timeout=5):
        """SIGHUP and wait for the log line ending this reload."""
        n = self.proxy.log().count(expect)
        self.proxy.send_signal(signal.SIGHUP)
        wait_until(lambda: self.proxy.log().count(expect) > n, timeout=timeout,
                   msg=f"{what}: '{expect}' logged")
        return self.proxy.log()


class Loop:
    """Clients requesting through the proxy until stopped: one with a new
    connection per request, one on a kept-alive connection."""

    def __init__(self, url):
        self.url, self.ok, self.failures, self.stop = url, 0, [], threading.Event()
        self.threads = [threading.Thread(target=self.fresh, daemon=True),
                        threading.Thread(target=self.kept, daemon=True)]
        for t in self.threads:
            t.start()

    def record(self, r):
        if r.status == 200:
            self.ok += 1
        else:
            self.failures.append(f"{r.status} {r.body[:200]!r}")

    def fresh(self):
        while not self.stop.is_set():
            try:
                self.record(request(self.url, "GET", "/v1/auth/token/lookup-self",
                                    tls_ctx=insecure_ctx(), timeout=5))
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.failures.append(repr(e))
            time.sleep(0.01)

    def kept(self):
        c = Client(self.url, tls_ctx=insecure_ctx(), timeout=5)
        while not self.stop.is_set():
            try:
                self.record(c.request("GET", "/v1/sim/echo/kept"))
            except Exception as e:  # noqa: BLE001
                self.failures.append("kept-alive: " + repr(e))
                c.close()
                c = Client(self.url, tls_ctx=insecure_ctx(), timeout=5)
            time.sleep(0.01)
        c.close()

    def progress(self, what):
        n = self.ok
        wait_until(lambda: self.ok >= n + 5, timeout=5, msg=f"requests flowing after {what}")

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(10)


@test("ten SIGHUPs under a steady request loop: zero failures, each change applied or refused",
      timeout=120)
def _():
    sim.reset()
    s = Setup()
    loop = Loop(s.url)
    try:
        loop.progress("start")

        # 1: nothing changed.
        s.hup("reload: configuration applied", "1 unchanged")
        loop.progress("1")

        # 2: log level info -> debug: debug lines appear.
        check("[debug]" not in s.proxy.log(), "no debug line at info level")
        s.rewrite(level="debug")
        s.hup("reload: configuration applied", "2 log level")
        wait_until(lambda: "[debug]" in s.proxy.log(), timeout=5, msg="debug lines after reload")
        loop.progress("2")

        # 3: a broken config is refused with file:line:key; the old one stays.
        good = open(s.proxy.config_path).read()
        bad = good.replace("log_level", "log_levle", 1)
        write_atomic(s.proxy.config_path, bad)
        line_no = bad.splitlines().index(next(l for l in bad.splitlines()
                                              if l.startswith("log_levle"))) + 1
        log = s.hup("reload refused", "3 broken config")
        refusal = [l for l in log.splitlines() if "reload refused" in l]
        eq(len(refusal), 1, "one refusal line")
        contains(refusal[0], f"{s.proxy.config_path}:{line_no}", "file and line")
        contains(refusal[0], "log_levle", "the key")
        mark = len(s.proxy.log())
        loop.progress("3")
        wait_until(lambda: "[debug]" in s.proxy.log()[mark:], timeout=5,
                   msg="the running log level (debug) still in force")
        write_atomic(s.proxy.config_path, good)

        # 4: listener certificate swapped: the new one is served.
        old_fp = served_fingerprint(s.port)
        eq(old_fp, fingerprint_file(s.values["cert"]), "the first certificate is served")
        cert, key = new_cert("listener-b")
        s.rewrite(cert=cert, key=key)
        s.hup("reload: configuration applied", "4 listener cert")
        eq(served_fingerprint(s.port), fingerprint_file(cert), "the new certificate is served")
        loop.progress("4")

        # 5: upstream ca_cert moved to another file (same CA): new connections use it.
        ca_copy = os.path.join(s.dir, "sim-ca-copy.pem")
        shutil.copy(SIM_CERT[0], ca_copy)
        s.rewrite(ca_cert=ca_copy)
        s.hup("reload: configuration applied", "5 upstream ca_cert")
        loop.progress("5")

        # 6: the auth method's role_id file changes: the next login is role-b's.
        role_b = sim.approle(role_name="role-b", bind_secret_id=False, ttl=600,
                             policies=["policy-b"])
        role_file_b = os.path.join(s.dir, "role_b")
        write_atomic(role_file_b, role_b["role_id"])
        s.rewrite(role_file=role_file_b)
        s.hup("reload: configuration applied", "6 auth method")
        wait_until(lambda: "policy-b" in s.lookup_self().json()["data"]["policies"],
                   timeout=5, msg="the auto-auth token is role-b's")
        logins = {r["role_name"]: r["logins"] for r in sim.state()["approles"]}
        eq(logins.get("role-b"), 1, "one login with role-b")
        loop.progress("6")

        # 7: a change that needs a restart is warned about and not applied.
        s.rewrite(listener_extra="require_request_header = true")
        log = s.hup("reload: configuration applied", "7 needs restart")
        check(re.search(r"listener 1 .*needs a restart", log), "needs-restart warning")
        eq(s.lookup_self().status, 200, "still no request header required")
        loop.progress("7")

        # 8: back to info, the restart-only change reverted.
        s.rewrite(level="info", listener_extra="")
        s.hup("reload: configuration applied", "8 back to info")
        mark = len(s.proxy.log())
        loop.progress("8")
        check("[debug]" not in s.proxy.log()[mark:], "no debug lines at info again")

        # 9 and 10: two SIGHUPs back to back.
        n = s.proxy.log().count("reload: configuration applied")
        s.proxy.send_signal(signal.SIGHUP)
        s.proxy.send_signal(signal.SIGHUP)
        wait_until(lambda: s.proxy.log().count("reload: configuration applied") >= n + 1,
                   timeout=5, msg="9/10 reloaded")
        time.sleep(0.2)
        loop.progress("9 and 10")
    finally:
        loop.finish()
    diag(f"{loop.ok} requests across the reloads")
    eq(loop.failures, [], "no request failed")
    check(s.proxy.alive(), "still running")
    eq(s.proxy.stop(), 0, "clean exit")


@test("upstream ca_cert changed to a CA that does not match: new connections fail; back: they work")
def _():
    sim.reset()
    s = Setup()
    other_ca, _ = new_cert("other-ca")
    s.rewrite(ca_cert=other_ca)
    s.hup("reload: configuration applied", "wrong CA")
    r = s.lookup_self()
    eq(r.status, 502, f"the upstream certificate is now refused: {r.body[:200]!r}")
    s.rewrite(ca_cert=SIM_CERT[0])
    s.hup("reload: configuration applied", "right CA")
    eq(s.lookup_self().status, 200, "verified again with the right CA")
    s.proxy.stop()


@test("a reload whose files fail (missing listener key, unreadable ca_cert) changes nothing")
def _():
    sim.reset()
    s = Setup()
    fp = served_fingerprint(s.port)
    cert, key = new_cert("listener-c")
    s.rewrite(level="debug", cert=cert, key=os.path.join(s.dir, "missing-key.pem"))
    log = s.hup("reload refused", "missing key file")
    line = [l for l in log.splitlines() if "reload refused" in l][-1]
    contains(line, s.proxy.config_path, "names the file")
    contains(line, "tls_key_file", "names the key")
    eq(served_fingerprint(s.port), fp, "the old certificate is still served")
    mark = len(s.proxy.log())
    eq(s.lookup_self().status, 200, "still serving")
    check("[debug]" not in s.proxy.log()[mark:], "the log level did not change either")
    s.rewrite(key=key, ca_cert=os.path.join(s.dir, "no-such-ca.pem"))
    log = s.hup("reload refused", "missing ca_cert")
    line = [l for l in log.splitlines() if "reload refused" in l][-1]
    check(re.search(r":\d+: vault: ca_cert", line), f"file:line: vault: ca_cert: {line}")
    eq(served_fingerprint(s.port), fp, "nothing applied")
    s.proxy.stop()


if __name__ == "__main__":
    sys.exit(run())
