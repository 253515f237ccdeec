#!/usr/bin/python3
"""TAP integration tests of the static secret cache (vaproxyd.hcl(5),
cache_static_secrets): KV v1 and v2 answers kept per token set, hits only
for tokens Vault answered, eviction on writes, re-reads without events,
capability checks (optimistic and pessimistic), persistence, cache-clear,
metrics and a randomized run of many tokens with overlapping policies --
vaproxyd against the simulator's ACL policies.

The event stream's own tests are test_kv_events.py's.
"""

import json
import os
import random
import sys
import time

from harness import (Proxy, Sim, check, contains, diag, eq, free_port,
                     request, run, test, tmpdir, wait_until)

sim = Sim()

ENV = {"VAPROXY_RETRY_WAIT_MS": "20,30"}

CONFIG = """
vault {
  address = "{sim}"
  retry { num_retries = 1 }
}
auto_auth {
  method "token_file" {
    config = { token_file_path = "{token_file}" }
  }
}
api_proxy {
  use_auto_auth_token = true
}
cache {
  cache_static_secrets = true
  static_secret_events = "off"
{cache_extra}
}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
"""

# Policies the tests hand out: "app" reads secret/data/app*, "ops" reads
# everything under secret/ and kv/, "none" reads nothing.
POLICIES = {
    "app": {"secret/data/app*": ["read"], "kv/app*": ["read"]},
    "ops": {"secret/*": ["read", "create", "update", "delete", "list"],
            "kv/*": ["read", "create", "update", "delete", "list"]},
    "none": {"secret/data/other": ["read"]},
}


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Daemon:
    def __init__(self, proxy, port, dir):
        self.proxy, self.port, self.dir = proxy, port, dir

    def get(self, path, token, headers=None):
        hdrs = {"X-Vault-Token": token}
        hdrs.update(headers or {})
        return request(self.port, "GET", path, hdrs)

    def send(self, method, path, token, body=None):
        return request(self.port, method, path, {"X-Vault-Token": token}, body)

    def metrics(self):
        r = request(self.port, "GET", "/proxy/v1/metrics")
        return {g["Name"]: g["Value"] for g in r.json()["Gauges"]} | {
            c["Name"]: c["Count"] for c in r.json()["Counters"]}


def setup_sim(policies=True):
    sim.reset(all=True)
    if policies:
        for name, rules in POLICIES.items():
            sim.control("POST", "policy", {"name": name, "rules": rules})


def start(cache_extra="", dir=None, reset=True):
    if reset:
        setup_sim()
    auto = sim.make_token(ttl=3600, policies=["ops"])["id"]
    d = dir or tmpdir("static-")
    tf = os.path.join(d, "token")
    write(tf, auto + "\n")
    port = free_port()
    p = Proxy(CONFIG, sim=sim.addr, port=port, token_file=tf, cache_extra=cache_extra,
              env=ENV)
    p.wait_ready()
    return Daemon(p, port, d)


def kv_put(path, data, token=None):
    r = sim.api("POST", path, {"data": data} if "/data/" in path else data, token=token)
    check(r.status in (200, 204), f"kv write {path}: {r.status} {r.body!r}")


def reads_of(path):
    return [r for r in sim.requests("/v1/" + path) if r["method"] == "GET"]


def token(policies):
    return sim.make_token(policies=policies)["id"]


@test("a token's second read is a hit; another token is forwarded, then served")
def _():
    d = start()
    kv_put("secret/data/app", {"k": "v1"})
    a, b = token(["app"]), token(["ops"])
    r = d.get("/v1/secret/data/app", a)
    eq(r.status, 200, "first read")
    eq(r.header("X-Cache"), "MISS", "first read is a miss")
    r = d.get("/v1/secret/data/app", a)
    eq(r.status, 200)
    eq(r.header("X-Cache"), "HIT", "second read of the same token")
    check(r.header("Age") is not None, "a hit says its age")
    eq(r.json()["data"]["data"], {"k": "v1"})
    eq(len(reads_of("secret/data/app")), 1, "one read reached the server")
    r = d.get("/v1/secret/data/app", b)
    eq(r.header("X-Cache"), "MISS", "another token is forwarded")
    eq(len(reads_of("secret/data/app")), 2)
    r = d.get("/v1/secret/data/app", b)
    eq(r.header("X-Cache"), "HIT", "then served")
    eq(len(reads_of("secret/data/app")), 2)


@test("a token without read is never served the cached answer")
def _():
    d = start()
    kv_put("secret/data/app", {"k": "v1"})
    a, n = token(["app"]), token(["none"])
    eq(d.get("/v1/secret/data/app", a).status, 200)
    eq(d.get("/v1/secret/data/app", a).header("X-Cache"), "HIT")
    for _ in range(3):
        r = d.get("/v1/secret/data/app", n)
        eq(r.status, 403, "refused by the server")
        check(r.header("X-Cache") != "HIT", "never a hit")
    unknown = "hvs.not-a-token"
    eq(d.get("/v1/secret/data/app", unknown).status, 403)


@test("?version=N is its own entry; KV v1 is cached too")
def _():
    d = start()
    kv_put("secret/data/app", {"k": "v1"})
    kv_put("secret/data/app", {"k": "v2"})
    kv_put("kv/app", {"k": "one"})
    a = token(["app"])
    eq(d.get("/v1/secret/data/app?version=1", a).json()["data"]["data"], {"k": "v1"})
    eq(d.get("/v1/secret/data/app", a).json()["data"]["data"], {"k": "v2"})
    r = d.get("/v1/secret/data/app?version=1", a)
    eq(r.header("X-Cache"), "HIT")
    eq(r.json()["data"]["data"], {"k": "v1"}, "version 1 from its own entry")
    r = d.get("/v1/secret/data/app", a)
    eq(r.json()["data"]["data"], {"k": "v2"}, "the latest from its own")
    eq(r.header("X-Cache"), "HIT")
    eq(d.get("/v1/kv/app", a).status, 200)
    r = d.get("/v1/kv/app", a)
    eq(r.header("X-Cache"), "HIT", "KV v1 hit")
    eq(r.json()["data"], {"k": "one"})


@test("what is not cached: lists, sys/, wrapped requests, non-KV answers")
def _():
    d = start()
    kv_put("secret/data/app", {"k": "v1"})
    o = token(["ops"])
    for _ in range(2):
        eq(d.get("/v1/secret/metadata/?list=true", o).status, 200)
        r = d.send("LIST", "/v1/secret/metadata/", o)
        eq(r.status, 200)
        check(r.header("X-Cache") != "HIT", "a list is never a hit")
    eq(d.get("/v1/secret/data/app", o).status, 200)
    r = d.get("/v1/secret/data/app", o, {"X-Vault-Wrap-TTL": "60"})
    eq(r.status, 200)
    check(r.json().get("wrap_info"), "a wrapped request gets a wrapped answer")
    check(r.header("X-Cache") != "HIT", "never the cached plain one")
    for _ in range(2):
        r = d.get("/v1/auth/token/lookup-self", o)
        check(r.header("X-Cache") != "HIT", "token lookups are not static")


@test("without mount_type the mount is looked up once, then answers are cached")
def _():
    d = start()
    sim.control("POST", "kv_mount_type", {"enabled": False})
    kv_put("secret/data/app", {"k": "v1"})
    kv_put("secret/data/app2", {"k": "v1"})
    a = token(["app"])
    eq(d.get("/v1/secret/data/app", a).status, 200)
    wait_until(lambda: d.get("/v1/secret/data/app", a).header("X-Cache") == "HIT",
               timeout=5, msg="hit after the mount lookup")
    eq(d.get("/v1/secret/data/app2", a).status, 200)
    eq(d.get("/v1/secret/data/app2", a).header("X-Cache"), "HIT",
       "the mount is remembered: the second path is stored at once")
    # Counted by this test's token: an earlier test's daemon may have had
    # a request on its way when it was stopped.
    lookups = [q for q in sim.requests("/v1/sys/internal/ui/mounts/")
               if q["token"] == a]
    eq([q["path"] for q in lookups], ["/v1/sys/internal/ui/mounts/secret/data/app"],
       "one mount lookup, made with the request's token")
    # Vault's own roots are never asked about: no KV mount can be there.
    eq(d.get("/v1/auth/token/lookup-self", a).status, 200)
    eq([q["path"] for q in sim.requests("/v1/sys/internal/ui/mounts/auth")], [],
       "no mount lookup for auth/")


@test("a write through the proxy evicts; KV v2 metadata/delete evict every version")
def _():
    d = start()
    kv_put("secret/data/app", {"k": "v1"})
    o = token(["ops"])
    eq(d.get("/v1/secret/data/app", o).status, 200)
    eq(d.get("/v1/secret/data/app?version=1", o).status, 200)
    eq(d.get("/v1/secret/data/app", o).header("X-Cache"), "HIT")
    eq(d.send("POST", "/v1/secret/data/app", o, {"data": {"k": "v2"}}).status, 200)
    r = d.get("/v1/secret/data/app", o)
    eq(r.header("X-Cache"), "MISS", "evicted by the write")
    eq(r.json()["data"]["data"], {"k": "v2"})
    eq(d.get("/v1/secret/data/app", o).header("X-Cache"), "HIT")
    eq(d.get("/v1/secret/data/app?version=1", o).header("X-Cache"), "MISS",
       "the write evicted every version")
    eq(d.send("POST", "/v1/secret/delete/app", o, {"versions": [2]}).status, 204)
    r = d.get("/v1/secret/data/app", o)
    eq(r.status, 404, "deleted")
    eq(d.get("/v1/secret/data/app?version=1", o).header("X-Cache"), "MISS")
    eq(d.send("POST", "/v1/secret/metadata/app", o, {"custom_metadata": {"a": "b"}}).status,
       204)
    eq(d.get("/v1/secret/data/app?version=1", o).header("X-Cache"), "MISS",
       "metadata writes evict too")
    kv_put("kv/app", {"k": "one"})
    eq(d.get("/v1/kv/app", o).status, 200)
    eq(d.send("DELETE", "/v1/kv/app", o).status, 204)
    eq(d.get("/v1/kv/app", o).status, 404, "KV v1 delete evicts")


@test("without events a write made at the server shows within the interval")
def _():
    d = start('  static_secret_refresh_interval = "1s"')
    kv_put("secret/data/app", {"k": "v1"})
    a = token(["app"])
    eq(d.get("/v1/secret/data/app", a).json()["data"]["data"], {"k": "v1"})
    kv_put("secret/data/app", {"k": "v2"})
    t0 = time.time()
    wait_until(lambda: d.get("/v1/secret/data/app", a).json()["data"]["data"] == {"k": "v2"},
               timeout=5, msg="re-read")
    check(time.time() - t0 < 3, "within the interval (and a little)")
    r = d.get("/v1/secret/data/app", a)
    eq(r.header("X-Cache"), "HIT", "still served from the cache")
    contains(d.proxy.log(), "static secret events are off")


@test("a policy change removes access at the next capability check")
def _():
    d = start('  static_secret_token_capability_refresh_interval = "1s"\n'
              '  static_secret_refresh_interval = "0"')
    kv_put("secret/data/app", {"k": "v1"})
    a, o = token(["app"]), token(["ops"])
    eq(d.get("/v1/secret/data/app", a).status, 200)
    eq(d.get("/v1/secret/data/app", o).status, 200)
    eq(d.get("/v1/secret/data/app", a).header("X-Cache"), "HIT")
    sim.control("POST", "token_policies", {"id": a, "policies": ["none"]})
    wait_until(lambda: d.metrics().get("vault.proxy.cache.static.capability_removals", 0) >= 1,
               timeout=5, msg="the capability check removed the token")
    r = d.get("/v1/secret/data/app", a)
    eq(r.status, 403, "forwarded, and refused by the server")
    eq(d.get("/v1/secret/data/app", o).header("X-Cache"), "HIT", "the other token keeps it")
    checks = [json.loads(r["body"]) for r in sim.requests("/v1/sys/capabilities-self")]
    check(any("secret/data/app" in c["paths"] for c in checks), "the paths are checked")


@test("a revoked token leaves every set; the last token out evicts the entry")
def _():
    d = start('  static_secret_token_capability_refresh_interval = "1s"\n'
              '  static_secret_refresh_interval = "0"')
    kv_put("secret/data/app", {"k": "v1"})
    kv_put("kv/app", {"k": "one"})
    a = token(["app"])
    eq(d.get("/v1/secret/data/app", a).status, 200)
    eq(d.get("/v1/kv/app", a).status, 200)
    eq(d.metrics().get("vault.proxy.cache.static.entries"), 2)
    sim.revoke(a)
    wait_until(lambda: d.metrics().get("vault.proxy.cache.static.entries") == 0,
               timeout=5, msg="entries evicted once their only token was revoked")
    eq(d.get("/v1/secret/data/app", a).status, 403)


@test("a failed capability check keeps access (optimistic) or removes it (pessimistic)")
def _():
    for behavior, kept in (("optimistic", True), ("pessimistic", False)):
        d = start('  static_secret_token_capability_refresh_interval = "1s"\n'
                  '  static_secret_refresh_interval = "0"\n'
                  f'  static_secret_token_capability_refresh_behavior = "{behavior}"')
        kv_put("secret/data/app", {"k": "v1"})
        a = token(["app"])
        eq(d.get("/v1/secret/data/app", a).status, 200)
        sim.fail(count=-1, status=500, path_prefix="/v1/sys/capabilities-self")
        wait_until(lambda: d.metrics().get("vault.proxy.cache.static.capability_checks", 0) >= 1,
                   timeout=5, msg="a capability check")
        time.sleep(0.3)
        r = d.get("/v1/secret/data/app", a)
        eq(r.header("X-Cache") == "HIT", kept, f"{behavior}: hit after a failed check")
        d.proxy.stop()


@test("cache-clear: request_path (a prefix) and all clear static entries")
def _():
    d = start()
    kv_put("secret/data/app", {"k": "v1"})
    kv_put("secret/data/app2", {"k": "v1"})
    kv_put("kv/app", {"k": "one"})
    o = token(["ops"])
    for p in ("/v1/secret/data/app", "/v1/secret/data/app2", "/v1/kv/app"):
        eq(d.get(p, o).status, 200)
        eq(d.get(p, o).header("X-Cache"), "HIT")
    r = request(d.port, "POST", "/proxy/v1/cache-clear", body={"type": "request_path",
                                                               "value": "/v1/secret/data/app"})
    eq(r.status, 200)
    eq(r.json()["data"]["cleared"], 2, "both secret/data/app* entries")
    eq(d.get("/v1/secret/data/app2", o).header("X-Cache"), "MISS")
    eq(d.get("/v1/kv/app", o).header("X-Cache"), "HIT", "another prefix stays")
    r = request(d.port, "POST", "/proxy/v1/cache-clear", body={"type": "all"})
    eq(r.status, 200)
    eq(d.get("/v1/kv/app", o).header("X-Cache"), "MISS", "all clears static entries")


@test("metrics: static hits, misses, entries, bytes, stored")
def _():
    d = start()
    kv_put("secret/data/app", {"k": "v1"})
    a = token(["app"])
    d.get("/v1/secret/data/app", a)
    d.get("/v1/secret/data/app", a)
    d.get("/v1/secret/data/app", a)
    m = d.metrics()
    eq(m.get("vault.proxy.cache.static.hits"), 2)
    eq(m.get("vault.proxy.cache.static.misses"), 1)
    eq(m.get("vault.proxy.cache.static.stored"), 1)
    eq(m.get("vault.proxy.cache.static.entries"), 1)
    eq(m.get("vault.proxy.cache.static.tokens"), 1)
    check(m.get("vault.proxy.cache.static.bytes", 0) > 100, "bytes counted")
    eq(m.get("vault.proxy.cache.static.events_connected"), 0)


@test("a re-read: 403 removes the token, the next one replaces the answer; "
      "404 evicts; 5xx keeps")
def _():
    d = start('  static_secret_refresh_interval = "1s"')
    kv_put("secret/data/app", {"k": "v1"})
    a, o = token(["app"]), token(["ops"])
    eq(d.get("/v1/secret/data/app", a).status, 200)
    eq(d.get("/v1/secret/data/app", o).status, 200)
    sim.control("POST", "token_policies", {"id": a, "policies": ["none"]})
    kv_put("secret/data/app", {"k": "v2"})
    wait_until(lambda: d.get("/v1/secret/data/app", o).json()["data"]["data"] == {"k": "v2"},
               timeout=5, msg="re-read with the next token")
    r = d.get("/v1/secret/data/app", a)
    eq(r.status, 403, "the refused token was removed from the set")
    sim.fail(count=-1, status=503, path_prefix="/v1/secret/")
    time.sleep(2.5)
    r = d.get("/v1/secret/data/app", o)
    eq(r.status, 200, "served while the server fails")
    eq(r.header("X-Cache"), "HIT")
    check(d.metrics().get("vault.proxy.cache.static.refresh_failures", 0) >= 1,
          "failures counted")
    sim.reset()
    sim.api("DELETE", "secret/metadata/app")
    wait_until(lambda: d.metrics().get("vault.proxy.cache.static.entries") == 0,
               timeout=5, msg="a 404 on re-read evicts")


@test("disable_caching_dynamic_secrets keeps static caching, caches no leases")
def _():
    d = start("  disable_caching_dynamic_secrets = true")
    kv_put("secret/data/app", {"k": "v1"})
    a = token(["app"])
    d.get("/v1/secret/data/app", a)
    eq(d.get("/v1/secret/data/app", a).header("X-Cache"), "HIT")
    o = sim.make_token(policies=["root"])["id"]
    r1 = d.get("/v1/database/creds/role", o)
    r2 = d.get("/v1/database/creds/role", o)
    eq(r1.status, 200)
    check(r1.json()["lease_id"] != r2.json()["lease_id"], "leases are not cached")


@test("config: cache_static_secrets needs auto_auth; disabling dynamic caching needs it")
def _():
    d = tmpdir("static-cfg-")
    cfg = os.path.join(d, "a.hcl")
    write(cfg, 'vault { address = "http://127.0.0.1:1" }\n'
               'cache { cache_static_secrets = true }\n'
               'listener "tcp" {\n address = "127.0.0.1:1"\n tls_disable = true\n}\n')
    import subprocess
    r = subprocess.run([os.environ["VAPROXYD"], "--check-config", "--config", cfg,
                        "--plugin-dir", os.environ["VAPROXY_PLUGIN_DIR"]],
                       capture_output=True, text=True)
    check(r.returncode != 0, "refused")
    contains(r.stderr + r.stdout, "cache_static_secrets=true requires an auto-auth block")
    write(cfg, 'vault { address = "http://127.0.0.1:1" }\n'
               'cache { disable_caching_dynamic_secrets = true }\n'
               'listener "tcp" {\n address = "127.0.0.1:1"\n tls_disable = true\n}\n')
    r = subprocess.run([os.environ["VAPROXYD"], "--check-config", "--config", cfg,
                        "--plugin-dir", os.environ["VAPROXY_PLUGIN_DIR"]],
                       capture_output=True, text=True)
    check(r.returncode != 0, "refused")
    contains(r.stderr + r.stdout, "cache.cache_static_secrets must be true")
    write(cfg, 'vault { address = "http://127.0.0.1:1" }\n'
               'cache { static_secret_events = "sometimes" }\n'
               'listener "tcp" {\n address = "127.0.0.1:1"\n tls_disable = true\n}\n')
    r = subprocess.run([os.environ["VAPROXYD"], "--check-config", "--config", cfg,
                        "--plugin-dir", os.environ["VAPROXY_PLUGIN_DIR"]],
                       capture_output=True, text=True)
    check(r.returncode != 0, "an unknown value is refused")
    contains(r.stderr + r.stdout, "static_secret_events")


@test("randomized: many tokens, overlapping policies, writes and policy changes: "
      "no answer to a token the server would refuse")
def _():
    d = start('  static_secret_token_capability_refresh_interval = "1s"\n'
              '  static_secret_refresh_interval = "1s"')
    rng = random.Random(int(os.environ.get("STATIC_SEED", "0")) or time.time_ns())
    names = [f"n{i}" for i in range(6)]
    for i, n in enumerate(names):
        kv_put(f"secret/data/{n}", {"v": 0})
    # Policies p0..p5 each read a random subset of the names.
    for i in range(6):
        rules = {f"secret/data/{n}": ["read"] for n in rng.sample(names, 3)}
        sim.control("POST", "policy", {"name": f"p{i}", "rules": rules})
    tokens = [token(rng.sample([f"p{i}" for i in range(6)], 2)) for _ in range(12)]
    given = set()  # (token, name) pairs the server answered through the proxy
    hits = violations = 0
    for step in range(300):
        t = rng.choice(tokens)
        n = rng.choice(names)
        if rng.random() < 0.08:
            kv_put(f"secret/data/{n}", {"v": step})
            continue
        r = d.get(f"/v1/secret/data/{n}", t)
        direct = sim.api("GET", f"secret/data/{n}", token=t)
        if r.header("X-Cache") == "HIT":
            hits += 1
            if direct.status == 403 or (t, n) not in given:
                violations += 1
        elif r.status == 200:
            given.add((t, n))
    diag(f"{hits} hits in 300 steps")
    check(hits > 50, "the cache was used")
    eq(violations, 0, "answers to a token the server refuses")
    # Vault changes policies behind the proxy's back: one capability-check
    # interval later no refused token is served.
    for t in rng.sample(tokens, 6):
        sim.control("POST", "token_policies",
                    {"id": t, "policies": rng.sample([f"p{i}" for i in range(6)], 1)})
    time.sleep(2.5)
    for t in tokens:
        for n in names:
            direct = sim.api("GET", f"secret/data/{n}", token=t)
            r = d.get(f"/v1/secret/data/{n}", t)
            if direct.status == 403:
                check(r.header("X-Cache") != "HIT" and r.status == 403,
                      f"a refused token is not served ({n})")

@test("persist + restart with the server down: static hits still served, "
      "then re-read and checked once it is back")
def _():
    d = tmpdir("static-persist-")
    pdir = os.path.join(d, "p")
    os.mkdir(pdir)
    key = os.path.join(d, "key")
    write(key, os.urandom(32).hex() + "\n")
    os.chmod(key, 0o400)
    extra = (f'  persist "file" {{\n    path = "{pdir}"\n    key_file = "{key}"\n'
             '    keep_after_import = true\n  }\n'
             '  static_secret_token_capability_refresh_interval = "1h"\n'
             '  static_secret_refresh_interval = "0"')
    dm = start(extra, dir=d)
    kv_put("secret/data/app", {"k": "v1"})
    kv_put("kv/app", {"k": "one"})
    a, o = token(["app"]), token(["ops"])
    eq(dm.get("/v1/secret/data/app", a).status, 200)
    eq(dm.get("/v1/secret/data/app", o).status, 200)
    eq(dm.get("/v1/kv/app", a).status, 200)
    dm.proxy.stop()
    # The server goes down: every upstream request is dropped unanswered.
    sim.fail(count=-1, status=0)
    port = free_port()
    p = Proxy(CONFIG, sim=sim.addr, port=port, token_file=os.path.join(d, "token"),
              cache_extra=extra, env=ENV)
    p.wait_ready()
    d2 = Daemon(p, port, d)
    for t, path, want in ((a, "/v1/secret/data/app", {"k": "v1"}),
                          (o, "/v1/secret/data/app", {"k": "v1"}),
                          (a, "/v1/kv/app", {"k": "one"})):
        r = d2.get(path, t)
        eq(r.status, 200, f"{path} served while the server is down")
        eq(r.header("X-Cache"), "HIT")
        body = r.json()["data"]
        eq(body.get("data", body) if "/data/" in path else body, want)
    n = token(["none"])
    eq(d2.get("/v1/secret/data/app", n).status, 502, "other tokens are not served")
    contains(p.log(), "restored")
    check(p.alive(), "the failed re-reads harmed nothing")
    sim.reset()
    p.stop()
    # A third start with the server up: re-read and capability check at once.
    sim.control("POST", "token_policies", {"id": a, "policies": ["none"]})
    kv_put("secret/data/app", {"k": "v2"})
    port = free_port()
    p = Proxy(CONFIG, sim=sim.addr, port=port, token_file=os.path.join(d, "token"),
              cache_extra=extra, env=ENV)
    p.wait_ready()
    d3 = Daemon(p, port, d)
    wait_until(lambda: d3.get("/v1/secret/data/app", o).json()["data"]["data"] == {"k": "v2"},
               timeout=5, msg="re-read straight after start")
    wait_until(lambda: d3.get("/v1/secret/data/app", a).status == 403, timeout=5,
               msg="capability-checked straight after start")


if __name__ == "__main__":
    sys.exit(run())
