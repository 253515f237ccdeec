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


def kv_put(path, data, token="root"):
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
    lookups = sim.requests("/v1/sys/internal/ui/mounts/")
    eq(len(lookups), 1, "one mount lookup")
    eq(lookups[0]["token"], a, "made with the request's token")


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


if __name__ == "__main__":
    sys.exit(run())
