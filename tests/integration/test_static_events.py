#!/usr/bin/python3
"""TAP integration tests of the static secret cache kept fresh by the
server's KV events (vaproxyd.hcl(5): static_secret_events): vaproxyd
subscribes once auto-auth has a token, re-reads what each event names and
every entry when the stream (re)connects, survives dropped, split and
malformed streams, answers pings, logs in again on an invalid-token close,
falls back to the refresh interval when the server has no events, starts
and stops the stream on SIGHUP and closes it on SIGTERM; the stream's state
and the events received show at /proxy/v1/metrics (JSON and Prometheus).

The subscription module's own tests (through a probe) are test_kv_events.py's.
"""

import os
import signal
import sys
import time

from harness import (Proxy, Sim, check, contains, eq, free_port, request, run,
                     test, tmpdir, wait_until)

sim = Sim()

# A short reconnect delay keeps the stream tests fast; the invalid-token
# test sets its own to show the new token, not the delay, reconnects.
ENV = {"VAPROXY_RETRY_WAIT_MS": "20,30", "VAPROXY_EVENTS_RECONNECT_MS": "300"}

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
  static_secret_events = "{events}"
  static_secret_refresh_interval = "{interval}"
  static_secret_token_capability_refresh_interval = "1h"
}
telemetry {
  prometheus_retention_time = "1h"
}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
"""


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Daemon:
    def __init__(self, proxy, port, dir, cfg):
        self.proxy, self.port, self.dir, self.cfg = proxy, port, dir, cfg

    def get(self, path, token):
        return request(self.port, "GET", path, {"X-Vault-Token": token})

    def value(self, path, token):
        r = self.get(path, token)
        body = r.json()["data"]
        return r.header("X-Cache"), body.get("data", body) if "/data/" in path else body

    def metrics(self):
        r = request(self.port, "GET", "/proxy/v1/metrics")
        j = r.json()
        return {g["Name"]: g["Value"] for g in j["Gauges"]} | {
            c["Name"]: c["Count"] for c in j["Counters"]}

    def prometheus(self):
        return request(self.port, "GET", "/proxy/v1/metrics?format=prometheus").text()

    def connected(self):
        return self.metrics().get("vault.proxy.cache.static.events_connected") == 1

    def reconfigure(self, **subst):
        self.cfg.update(subst)
        write(self.proxy.config_path, template_config(self.cfg))
        self.proxy.send_signal(signal.SIGHUP)


def template_config(cfg):
    text = CONFIG
    for k, v in cfg.items():
        text = text.replace("{" + k + "}", str(v))
    return text


def events_state():
    return sim.control("GET", "events")


def events_set(**knobs):
    return sim.control("POST", "events", knobs)


def subscribes():
    return sim.requests("/v1/sys/events/subscribe/")


def start(events="auto", interval="1h", env=None, wait_connected=True,
          server_events=True):
    sim.reset(all=True)
    events_set(enabled=server_events, split=0, refuse=0)
    auto = sim.make_token(ttl=3600)["id"]
    d = tmpdir("static-events-")
    tf = os.path.join(d, "token")
    write(tf, auto + "\n")
    port = free_port()
    cfg = {"sim": sim.addr, "port": port, "token_file": tf, "events": events,
           "interval": interval}
    p = Proxy(template_config(cfg), env=env or ENV, port=port)
    p.wait_ready()
    dm = Daemon(p, port, d, cfg)
    dm.auto_token = auto
    if wait_connected:
        wait_until(dm.connected, timeout=5, msg="the event stream is connected")
    return dm


def kv_put(path, data):
    r = sim.api("POST", path, {"data": data} if "/data/" in path else data)
    check(r.status in (200, 204), f"kv write {path}: {r.status} {r.body!r}")


def reads_of(path):
    return [r for r in sim.requests("/v1/" + path) if r["method"] == "GET"]


def cached(d, path, tok, want):
    """Reads until the cache serves `want` as a hit; returns how long it took."""
    t0 = time.time()
    wait_until(lambda: d.value(path, tok) == ("HIT", want), timeout=5,
               interval=0.02, msg=f"{path} served {want} from the cache")
    return time.time() - t0


@test("a write made at the server updates the entry within a second through events")
def _():
    d = start()
    base = d.metrics().get("vault.proxy.cache.static.events_received", 0)
    kv_put("secret/data/app", {"k": "v1"})
    kv_put("kv/app", {"k": "one"})
    # The events of these two writes must be in before anything is cached,
    # or one arriving late would re-read an entry and be counted below.
    wait_until(lambda: d.metrics().get("vault.proxy.cache.static.events_received", 0)
               >= base + 2, timeout=5, interval=0.02, msg="the two writes' events")
    tok = sim.make_token()["id"]
    eq(d.value("/v1/secret/data/app", tok), ("MISS", {"k": "v1"}))
    eq(d.value("/v1/secret/data/app", tok), ("HIT", {"k": "v1"}))
    eq(d.value("/v1/kv/app", tok), ("MISS", {"k": "one"}))
    eq(d.value("/v1/kv/app", tok), ("HIT", {"k": "one"}))
    reads = len(reads_of("secret/data/app"))
    kv_put("secret/data/app", {"k": "v2"})
    check(cached(d, "/v1/secret/data/app", tok, {"k": "v2"}) < 1.0,
          "KV v2 write shows within a second (the interval is an hour)")
    eq(len(reads_of("secret/data/app")), reads + 1, "one re-read on the event")
    kv_put("kv/app", {"k": "two"})
    check(cached(d, "/v1/kv/app", tok, {"k": "two"}) < 1.0,
          "KV v1 write shows within a second through its kv-v1 event")
    sim.api("DELETE", "secret/metadata/app")
    wait_until(lambda: d.get("/v1/secret/data/app", tok).status == 404, timeout=1,
               msg="a metadata delete evicts through its event")


@test("metrics: the stream's state and the events received, JSON and Prometheus")
def _():
    d = start()
    m = d.metrics()
    eq(m.get("vault.proxy.cache.static.events_connected"), 1)
    base = m.get("vault.proxy.cache.static.events_received", 0)
    kv_put("secret/data/a", {"k": 1})
    kv_put("secret/data/b", {"k": 2})
    wait_until(lambda: d.metrics().get("vault.proxy.cache.static.events_received") == base + 2,
               timeout=3, msg="two events counted")
    prom = d.prometheus()
    contains(prom, "vault_proxy_cache_static_events_connected 1")
    contains(prom, "vault_proxy_cache_static_events_received %d" % (base + 2))
    events_set(enabled=False)
    events_set(drop=True)
    wait_until(lambda: d.metrics().get("vault.proxy.cache.static.events_connected") == 0,
               timeout=3, msg="the gauge falls to 0 when the stream is gone")
    eq(d.metrics().get("vault.proxy.cache.static.events_received"), base + 2,
       "the counter never goes back")
    contains(d.prometheus(), "vault_proxy_cache_static_events_connected 0")


@test("a dropped stream resumes and every entry is re-read on connect")
def _():
    d = start()
    kv_put("secret/data/app", {"k": "v1"})
    tok = sim.make_token()["id"]
    d.get("/v1/secret/data/app", tok)
    eq(d.value("/v1/secret/data/app", tok), ("HIT", {"k": "v1"}))
    connects = events_state()["connects"]
    reads = len(reads_of("secret/data/app"))
    events_set(drop=True)
    wait_until(lambda: events_state()["connects"] > connects, timeout=5,
               msg="subscribed again")
    wait_until(lambda: len(reads_of("secret/data/app")) > reads, timeout=3,
               msg="the entry re-read on connect")
    eq(d.value("/v1/secret/data/app", tok), ("HIT", {"k": "v1"}))
    wait_until(d.connected, timeout=3, msg="connected again")
    kv_put("secret/data/app", {"k": "v2"})
    check(cached(d, "/v1/secret/data/app", tok, {"k": "v2"}) < 1.0,
          "events flow on the resumed stream")


@test("frames split across reads are joined, and a ping is answered")
def _():
    d = start()
    kv_put("secret/data/app", {"k": "v1"})
    tok = sim.make_token()["id"]
    d.get("/v1/secret/data/app", tok)
    connects = events_state()["connects"]
    events_set(split=3)
    events_set(ping="are-you-there")
    wait_until(lambda: "are-you-there" in events_state()["pongs"], timeout=3,
               msg="the ping answered with its payload")
    kv_put("secret/data/app", {"k": "v2"})
    check(cached(d, "/v1/secret/data/app", tok, {"k": "v2"}) < 2.0,
          "an event written three bytes at a time arrives")
    eq(events_state()["connects"], connects, "the stream never broke")


@test("a malformed frame closes the stream without harming the daemon")
def _():
    d = start()
    kv_put("secret/data/app", {"k": "v1"})
    tok = sim.make_token()["id"]
    d.get("/v1/secret/data/app", tok)
    st = events_state()
    closes, connects = len(st["closes"]), st["connects"]
    events_set(malformed=True)
    wait_until(lambda: len(events_state()["closes"]) > closes, timeout=3,
               msg="the daemon closed the stream")
    eq(events_state()["closes"][closes][0], 1002, "a protocol error close")
    eq(d.value("/v1/secret/data/app", tok), ("HIT", {"k": "v1"}), "requests still served")
    wait_until(lambda: events_state()["connects"] > connects, timeout=5,
               msg="the stream comes back")
    wait_until(d.connected, timeout=3, msg="connected again")
    kv_put("secret/data/app", {"k": "v2"})
    check(cached(d, "/v1/secret/data/app", tok, {"k": "v2"}) < 1.0, "events flow again")
    check(d.proxy.alive(), "the daemon is still running")


@test("an invalid-token close logs in again and resubscribes with the new token")
def _():
    # The reconnect delay is the default 10 s here: only the new token's
    # arrival can bring the stream back within the wait below.
    d = start(env={"VAPROXY_RETRY_WAIT_MS": "20,30"})
    first = [r["token"] for r in subscribes()]
    eq(first, [d.auto_token])
    fresh = sim.make_token(ttl=3600)["id"]
    write(d.cfg["token_file"], fresh + "\n")
    events_set(close={"code": 1008, "reason": "invalid token"})
    wait_until(lambda: [r["token"] for r in subscribes()][-1:] == [fresh], timeout=4,
               msg="subscribed again with the token of a new login")
    wait_until(d.connected, timeout=3, msg="connected again")


@test("a server without events: logged once at info, the interval re-reads")
def _():
    d = start(interval="1s", wait_connected=False, server_events=False)
    wait_until(lambda: "has no KV event stream" in d.proxy.log(), timeout=5,
               msg="the log line")
    kv_put("secret/data/app", {"k": "v1"})
    tok = sim.make_token()["id"]
    d.get("/v1/secret/data/app", tok)
    kv_put("secret/data/app", {"k": "v2"})
    check(cached(d, "/v1/secret/data/app", tok, {"k": "v2"}) < 2.5,
          "no hit older than the interval (and a little)")
    eq(d.proxy.log().count("has no KV event stream"), 1, "logged once")
    eq(d.metrics().get("vault.proxy.cache.static.events_connected"), 0)


@test("events off: never subscribes; the interval keeps hits no older than it")
def _():
    d = start(events="off", interval="1s", wait_connected=False)
    kv_put("secret/data/app", {"k": "v1"})
    tok = sim.make_token()["id"]
    d.get("/v1/secret/data/app", tok)
    eq(d.value("/v1/secret/data/app", tok), ("HIT", {"k": "v1"}))
    kv_put("secret/data/app", {"k": "v2"})
    check(cached(d, "/v1/secret/data/app", tok, {"k": "v2"}) < 2.5,
          "re-read within the interval")
    eq(subscribes(), [], "no subscription")


@test("with events connected the interval runs ten times slower")
def _():
    d = start(interval="300ms")
    kv_put("secret/data/app", {"k": "v1"})
    tok = sim.make_token()["id"]
    d.get("/v1/secret/data/app", tok)
    time.sleep(0.3)
    reads = len(reads_of("secret/data/app"))
    time.sleep(1.5)
    check(len(reads_of("secret/data/app")) - reads <= 1,
          "at most one safety-net re-read in 1.5 s (3 s period)")
    events_set(enabled=False)
    events_set(drop=True)
    wait_until(lambda: not d.connected(), timeout=3, msg="disconnected")
    reads = len(reads_of("secret/data/app"))
    time.sleep(1.5)
    check(len(reads_of("secret/data/app")) - reads >= 3,
          "back at the 300 ms period without the stream")


@test("SIGHUP starts and stops the stream when static_secret_events changes")
def _():
    d = start()
    eq(events_state()["subscribers"], 1)
    d.reconfigure(events="off")
    wait_until(lambda: events_state()["subscribers"] == 0, timeout=3,
               msg="the stream closed")
    wait_until(lambda: "static_secret_events is now off" in d.proxy.log(), timeout=3)
    check("needs a restart" not in d.proxy.log(), "no restart needed")
    eq(d.metrics().get("vault.proxy.cache.static.events_connected"), 0)
    d.reconfigure(events="auto")
    wait_until(d.connected, timeout=5, msg="subscribed again")
    eq(events_state()["subscribers"], 1)
    kv_put("secret/data/app", {"k": "v1"})
    tok = sim.make_token()["id"]
    d.get("/v1/secret/data/app", tok)
    kv_put("secret/data/app", {"k": "v2"})
    check(cached(d, "/v1/secret/data/app", tok, {"k": "v2"}) < 1.0, "events flow")


@test("SIGTERM closes the stream with going-away and exits cleanly")
def _():
    d = start()
    closes = len(events_state()["closes"])
    rc = d.proxy.stop()
    eq(rc, 0)
    wait_until(lambda: len(events_state()["closes"]) > closes, timeout=3, msg="a close frame")
    eq(events_state()["closes"][closes][0], 1001)


if __name__ == "__main__":
    sys.exit(run())
