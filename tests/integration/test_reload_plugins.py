#!/usr/bin/python3
"""TAP integration tests of SIGHUP applying plugin settings live (issue #5,
the `reconfigure` op of SDK ABI 1.1): the cache block's max_entries, the
consistency policy's when_inconsistent and `plugin` blocks' config maps
change in the running instances, which keep their entries and learned
state; a plugin that refuses its new settings keeps the old ones with one
log line; a plugin built against ABI 1.0 still loads and its changed block
is logged as needing a restart.  Requests keep flowing throughout.
"""

import glob
import os
import signal
import sys
import threading
import time

from harness import (Proxy, Sim, check, contains, diag, eq, free_port, request, run,
                     skip, test, tmpdir, wait_until, write_atomic)

sim = Sim()
ENV = {"VAPROXY_RETRY_WAIT_MS": "20,30"}
TEST_PLUGIN_DIR = os.environ.get("VAPROXY_TEST_PLUGIN_DIR", "")
APPLIED = "reload: configuration applied"


class Reloadable:
    """A running vaproxyd whose config is a template with {placeholders}."""

    def __init__(self, config, args=(), **values):
        self.config, self.values = config, dict(values)
        self.port = self.values["port"]
        self.proxy = Proxy(config, args=args, env=ENV, **self.values)
        self.proxy.wait_ready()

    def rewrite(self, **changes):
        self.values.update(changes)
        text = self.config
        for k, v in self.values.items():
            text = text.replace("{" + k + "}", str(v))
        write_atomic(self.proxy.config_path, text)

    def hup(self, expect=APPLIED, what="reload", timeout=5):
        """SIGHUP, wait for the line ending this reload; returns the log
        lines this reload wrote."""
        log = self.proxy.log()
        mark, n = len(log), log.count(expect)
        self.proxy.send_signal(signal.SIGHUP)
        wait_until(lambda: self.proxy.log().count(expect) > n, timeout=timeout,
                   msg=f"{what}: '{expect}' logged")
        return self.proxy.log()[mark:]


def lines_with(text, needle):
    return [l for l in text.splitlines() if needle in l]


# --------------------------------------------------------------------------
# cache { max_entries } through cache_memory's reconfigure

CACHE_CONFIG = """
vault {
  address = "{sim}"
  retry { num_retries = -1 }
}
auto_auth {
  method "token_file" {
    min_backoff = "200ms"
    max_backoff = "400ms"
    config = { token_file_path = "{token_file}" }
  }
}
api_proxy {
  use_auto_auth_token = true
}
cache {
  max_entries = {max_entries}
}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
"""


def creds(port, role):
    return request(port, "GET", f"/v1/database/creds/{role}")


def read(port, role, want, what):
    r = creds(port, role)
    eq(r.status, 200, f"{what}: status (body {r.body[:200]!r})")
    eq(r.header("X-Cache"), want, f"{what}: X-Cache")
    return r.json()["lease_id"]


def cached(port, role):
    """MISS then HIT: the answer was stored."""
    lid = read(port, role, "MISS", f"{role} first read")
    eq(read(port, role, "HIT", f"{role} second read"), lid, f"{role}: the same lease")
    return lid


def refused(port, role):
    """MISS twice: the cache declined to store it."""
    a = read(port, role, "MISS", f"{role} while full")
    b = read(port, role, "MISS", f"{role} again while full")
    check(a != b, f"{role}: two different leases, neither cached")


def refused_full(port):
    r = request(port, "GET", "/proxy/v1/metrics")
    eq(r.status, 200, f"metrics ({r.body[:200]!r})")
    counters = {c["Name"]: c["Count"] for c in r.json()["Counters"]}
    return counters.get("vault.proxy.cache.refused_full", 0)


def renewals(lease_id):
    import json
    n = 0
    for q in sim.requests("/v1/sys/leases/renew"):
        try:
            body = json.loads(q["body"] or "{}")
        except ValueError:
            body = {}
        n += q["method"] == "PUT" and body.get("lease_id") == lease_id
    return n


@test("cache max_entries raised then lowered by SIGHUP: applied live; entries above the "
      "lowered limit are kept and renewed, new ones refused until under it", timeout=90)
def _():
    sim.reset(all=True)
    sim.lease_duration(3)
    tok = sim.make_token(ttl=3600, renewable=True)["id"]
    d = tmpdir("reload-cache-")
    tf = os.path.join(d, "token")
    write_atomic(tf, tok + "\n")
    s = Reloadable(CACHE_CONFIG, sim=sim.addr, port=free_port(), token_file=tf, max_entries=3)
    wait_until(lambda: "authenticated with" in s.proxy.log(), timeout=8, msg="auto-auth login")
    port = s.port

    # max_entries = 3: the auto-auth token's marker and two leases.
    l1 = cached(port, "r1")
    l2 = cached(port, "r2")
    before = refused_full(port)
    refused(port, "r3")
    full0 = refused_full(port)
    check(full0 >= before + 2, f"refused_full counted the refusals: {before} -> {full0}")

    # Raised to 5: two more fit, a third does not.
    s.rewrite(max_entries=5)
    log = s.hup(what="raise to 5")
    eq(len(lines_with(log, "reload: cache changed: applied")), 1, "the change applied, said once")
    eq(lines_with(log, "needs a restart"), [], "nothing needs a restart")
    l3 = cached(port, "r3")
    l4 = cached(port, "r4")
    eq(refused_full(port), full0, "nothing refused below the new limit")
    refused(port, "r5")
    full1 = refused_full(port)
    check(full1 >= full0 + 2, f"full again at 5 entries: {full0} -> {full1}")
    for role, lid in (("r1", l1), ("r2", l2)):
        eq(read(port, role, "HIT", f"{role} after the raise"), lid, f"{role} kept")

    # Lowered to 2, below the 5 held: every entry stays (the proxy renews
    # them), nothing new is stored.
    s.rewrite(max_entries=2)
    log = s.hup(what="lower to 2")
    eq(len(lines_with(log, "reload: cache changed: applied")), 1, "the lowering applied")
    contains(log, "above the new max_entries 2", "the store says it is above the limit")
    for role, lid in (("r1", l1), ("r2", l2), ("r3", l3), ("r4", l4)):
        eq(read(port, role, "HIT", f"{role} after the lowering"), lid, f"{role} kept")
    refused(port, "r6")
    full2 = refused_full(port)
    check(full2 >= full1 + 2, f"refused below the lowered limit: {full1} -> {full2}")
    n = renewals(l1)
    wait_until(lambda: renewals(l1) > n, timeout=8, msg="a kept lease is still renewed")

    # Evictions bring it under: at 2 (marker + r4) still full, at 1 room.
    for lid in (l1, l2, l3):
        r = request(port, "POST", "/proxy/v1/cache-clear", [("Content-Type", "application/json")],
                    {"type": "lease", "value": lid})
        eq(r.status, 200, f"cache-clear {lid}")
    refused(port, "r6")
    r = request(port, "POST", "/proxy/v1/cache-clear", [("Content-Type", "application/json")],
                {"type": "lease", "value": l4})
    eq(r.status, 200, "cache-clear r4")
    cached(port, "r6")
    refused(port, "r7")

    # A value the store refuses (max_entries = 0) fails validation: the
    # whole reload is refused and the limit of 2 stays.
    s.rewrite(max_entries=0)
    log = s.hup("reload refused", what="max_entries = 0")
    contains(log, "max_entries must be a positive integer", "the store's reason")
    refused(port, "r7")
    check(s.proxy.alive(), "still running")
    eq(s.proxy.stop(), 0, "clean exit")


# --------------------------------------------------------------------------
# api_proxy when_inconsistent through consistency_vault's reconfigure

CONS_CONFIG = """
vault {
  address = "{sim}"
  retry { num_retries = 3 }
}
api_proxy {
  enforce_consistency = "always"
  when_inconsistent = "{when}"
}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
"""
ROOT = ("X-Vault-Token", sim.root_token)


def sent(q, name):
    return [v for k, v in q["headers"] if k.lower() == name.lower()]


def reads_of(path):
    return [q for q in sim.requests(f"/v1/secret/data/{path}") if q["method"] == "GET"]


@test("when_inconsistent fail -> forward -> fail by SIGHUP: applied live, the index "
      "learned before the reload still sent")
def _():
    s = Reloadable(CONS_CONFIG, sim=sim.addr, port=free_port(), when="fail")
    port = s.port
    sim.reset(all=True)
    sim.consistency(enabled=True, lag=20)
    r = request(port, "POST", "/v1/secret/data/f", [ROOT], {"data": {"v": 1}})
    eq(r.status, 200, f"write (body {r.body[:200]!r})")
    idx = r.header("X-Vault-Index")
    check(idx, "the write's index")
    r = request(port, "GET", "/v1/secret/data/f", [ROOT])
    eq(r.status, 412, "fail: the lagging standby's 412 goes back to the client")
    eq(len(reads_of("f")), 1, "fail: not retried")

    s.rewrite(when="forward")
    log = s.hup(what="forward")
    eq(len(lines_with(log, "reload: api_proxy when_inconsistent changed: applied")), 1,
       "the policy change applied")
    eq(lines_with(log, "needs a restart"), [], "nothing needs a restart")
    r = request(port, "GET", "/v1/secret/data/f", [ROOT])
    eq(r.status, 200, f"forward: answered by the active node (body {r.body[:200]!r})")
    q = reads_of("f")[-1]
    eq(sent(q, "X-Vault-Inconsistent"), ["forward-active-node"], "forward header")
    eq(sent(q, "X-Vault-Index"), [idx], "the state learned before the reload is still sent")
    check(q["forwarded"], "the simulator forwarded it")

    s.rewrite(when="fail")
    log = s.hup(what="back to fail")
    eq(len(lines_with(log, "reload: api_proxy when_inconsistent changed: applied")), 1,
       "applied again")
    n = len(reads_of("f"))
    r = request(port, "GET", "/v1/secret/data/f", [ROOT])
    eq(r.status, 412, "fail again: 412 to the client")
    eq(len(reads_of("f")), n + 1, "and not retried")
    eq(sent(reads_of("f")[-1], "X-Vault-Inconsistent"), [], "no forward header any more")

    # enforce_consistency names another implementation: a restart.
    s.config = s.config.replace('enforce_consistency = "always"',
                                'enforce_consistency = "never"')
    s.rewrite()
    log = s.hup(what="enforce_consistency")
    check(lines_with(log, "api_proxy changed: needs a restart"), f"restart warning:\n{log}")
    r = request(port, "GET", "/v1/secret/data/f", [ROOT])
    eq(r.status, 412, "still \"always\" with fail")
    eq(s.proxy.stop(), 0, "clean exit")


# --------------------------------------------------------------------------
# plugin blocks: a 1.1 plugin that reconfigures (or refuses), a 1.0 plugin

PLUGIN_CONFIG = """
vault {
  address = "{sim}"
  retry { num_retries = 1 }
}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
plugin "consistency" "reconf" {
  config = { label = "{label}" }
}
plugin "consistency" "abi_old" {
  config = { label = "{old}" }
}
plugin "consistency" "abi_old_padded" {
  config = { label = "{padded}" }
}
{extra}
"""


def test_plugin_dir():
    """A directory with only the test plugins this file needs (the test
    plugin directory also holds deliberately broken ones)."""
    found = {}
    for base in (TEST_PLUGIN_DIR, os.path.join(TEST_PLUGIN_DIR, ".libs")):
        for so in glob.glob(os.path.join(base, "*.so")):
            found.setdefault(os.path.basename(so), so)
    need = ("reconf.so", "abi_old.so")
    if not TEST_PLUGIN_DIR or any(n not in found for n in need):
        skip("test plugins reconf.so / abi_old.so not built (make check builds them)")
    d = tmpdir("reload-plugins-")
    for n in need:
        os.symlink(found[n], os.path.join(d, n))
    return d


class Loop:
    """A client requesting through the proxy until stopped; every answer
    must be a 200."""

    def __init__(self, port):
        self.port, self.ok, self.failures = port, 0, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                r = request(self.port, "GET", "/v1/sim/echo/loop", timeout=5)
                if r.status == 200:
                    self.ok += 1
                else:
                    self.failures.append(f"{r.status} {r.body[:200]!r}")
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.failures.append(repr(e))
            time.sleep(0.01)

    def progress(self, what):
        n = self.ok
        wait_until(lambda: self.ok >= n + 5, timeout=5, msg=f"requests flowing after {what}")

    def finish(self):
        self.stop.set()
        self.thread.join(10)


def labels(port):
    r = request(port, "GET", "/v1/sim/echo/labels")
    eq(r.status, 200, f"echo (body {r.body[:200]!r})")
    return (r.header("X-Reconf-Label"), r.header("X-Reconf-Conf"), r.header("X-Reconf-Count"),
            sorted(r.header_all("X-Abi-Old-Label")))


@test("plugin blocks under a request loop: a 1.1 plugin reconfigures or refuses, a 1.0 plugin "
      "loads and needs a restart, added blocks need a restart", timeout=60)
def _():
    pdir = test_plugin_dir()
    sim.reset(all=True)
    s = Reloadable(PLUGIN_CONFIG, args=["--plugin-dir", pdir], sim=sim.addr, port=free_port(),
                   label="one", old="old-1", padded="pad-1", extra="")
    port = s.port
    contains(s.proxy.log(), "vaproxyd", "started")
    eq(labels(port), ("one", "one", "0", ["old-1", "pad-1"]), "the configured labels")
    loop = Loop(port)
    try:
        loop.progress("start")

        # Changed label: applied in the running instance.
        s.rewrite(label="two")
        log = s.hup(what="label two")
        eq(len(lines_with(log, 'reload: plugin "consistency" "reconf" changed: applied')), 1,
           "applied, said once")
        eq(labels(port), ("two", "two", "1", ["old-1", "pad-1"]), "the new label, in place")
        loop.progress("label two")

        # Nothing changed: reconfigure is not called.
        log = s.hup(what="unchanged")
        eq(lines_with(log, "changed"), [], "nothing reported as changed")
        eq(labels(port)[2], "1", "no reconfigure for an unchanged block")

        # Refused by the plugin: one error line with its reason, the
        # running label stays, the rest of the reload still applies.
        s.rewrite(label="refuse-this")
        log = s.hup(what="refused label")
        lines = lines_with(log, 'plugin "consistency" "reconf" changed')
        eq(len(lines), 1, f"one line about it:\n{log}")
        contains(lines[0], "refused, the running value stays", "refused")
        contains(lines[0], 'label "refuse-this" is refused on reload', "the plugin's reason")
        contains(lines[0], "[error]", "at error level")
        contains(log, APPLIED + " (some changes need a restart or were refused",
                 "the reload names it in its last line")
        eq(labels(port), ("two", "two", "1", ["old-1", "pad-1"]), "the running label stays")
        loop.progress("refused label")

        # The ABI 1.0 plugin: needs a restart (both the 1.0 table and the
        # one padded to 1.1's size); the 1.1 plugin in the same reload
        # still applies.
        s.rewrite(label="three", old="old-2", padded="pad-2")
        log = s.hup(what="1.0 plugin")
        for name in ("abi_old", "abi_old_padded"):
            eq(len(lines_with(log, f'reload: plugin "consistency" "{name}" changed: needs a '
                                   'restart')), 1, f"{name}: needs a restart")
        eq(len(lines_with(log, 'reload: plugin "consistency" "reconf" changed: applied')), 1,
           "reconf applied beside them")
        eq(labels(port), ("three", "three", "2", ["old-1", "pad-1"]),
           "1.0 plugins keep their labels")
        loop.progress("1.0 plugin")

        # A block added: the blocks need a restart, and none is touched.
        s.rewrite(label="four", extra='plugin "consistency" "reconf" {\n'
                                      '  config = { label = "extra" }\n}\n')
        log = s.hup(what="block added")
        eq(len(lines_with(log, "reload: plugin blocks changed: needs a restart")), 1,
           "added block: restart")
        eq(lines_with(log, "changed: applied"), [], "nothing applied")
        eq(labels(port)[0], "three", "the label stays")
        loop.progress("block added")
    finally:
        loop.finish()
    diag(f"{loop.ok} requests across the reloads")
    eq(loop.failures, [], "no request failed")
    eq(lines_with(s.proxy.log(), "read past the end"), [],
       "no op was read from beyond a 1.0 ops table")
    check(s.proxy.alive(), "still running")
    eq(s.proxy.stop(), 0, "clean exit")


if __name__ == "__main__":
    sys.exit(run())
