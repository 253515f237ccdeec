#!/usr/bin/python3
"""TAP integration tests of the metrics endpoint (vaproxyd(8)) and the
request log lines: JSON and Prometheus formats and their selection, errors,
counters that move with proxied requests, cache hits and misses and
auto-auth logins, histograms, connection gauges, retention, metrics_only
listeners -- vaproxyd against the simulator.
"""

import json
import os
import re
import sys

from harness import (Client, Proxy, Sim, check, eq, free_port, request, run,
                     test, tmpdir, wait_until)

sim = Sim()

ENV = {"VAPROXY_RETRY_WAIT_MS": "20,30"}

VAULT = """
vault {
  address = "{vault}"
  retry { num_retries = -1 }
}
"""

LISTENER = """
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
"""

AUTO_AUTH = """
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
"""

PROM_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def start(config, token=None, vault=None, wait_login=True, **subst):
    """A daemon on `config` (VAULT + ... placeholders); with `token`, a token
    file holding it.  Returns (proxy, port)."""
    port = free_port()
    d = tmpdir("metrics-")
    tf = os.path.join(d, "token")
    write(tf, (token or "none") + "\n")
    p = Proxy(config, vault=vault or sim.addr, port=port, token_file=tf, env=ENV, **subst)
    p.wait_ready()
    if token and wait_login:
        wait_until(lambda: "authenticated with" in p.log(), timeout=8, msg="auto-auth login")
    return p, port


def metrics(target, path="/proxy/v1/metrics"):
    r = (target.request("GET", path) if isinstance(target, Client)
         else request(target, "GET", path))
    eq(r.status, 200, f"metrics status ({r.body[:200]!r})")
    eq(r.header("Content-Type"), "application/json", "metrics content type")
    return r.json()


def counts(j):
    return {c["Name"]: c["Count"] for c in j["Counters"]}


def gauges(j):
    return {g["Name"]: g["Value"] for g in j["Gauges"]}


def samples(j):
    return {s["Name"]: s for s in j["Samples"]}


def prom(port, headers=None, path="/proxy/v1/metrics?format=prometheus"):
    r = request(port, "GET", path, headers)
    eq(r.status, 200, f"prometheus status ({r.body[:200]!r})")
    eq(r.header("Content-Type"), PROM_TYPE, "prometheus content type")
    return r.text()


def prom_values(text):
    """{'name{labels}': float} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


def get(port, path, token=None, method="GET", body=None, headers=()):
    hdrs = list(headers)
    if token is not None:
        hdrs.append(("X-Vault-Token", token))
    return request(port, method, path, hdrs, body)


BOTH = ("vault.agent.", "vault.proxy.")


@test("JSON shape: go-metrics summary keys in Go's order, on /proxy and /agent")
def _():
    p, port = start(VAULT + LISTENER)
    get(port, "/v1/sim/echo/a")
    for path in ("/proxy/v1/metrics", "/agent/v1/metrics"):
        r = request(port, "GET", path)
        eq(r.status, 200, f"{path} status")
        eq(r.header("Content-Type"), "application/json", f"{path} content type")
        raw = r.text()
        # Go's encoding/json keeps the struct's field order.
        order = [raw.index(f'"{k}"') for k in ("Timestamp", "Gauges", "Points", "Counters",
                                               "Samples")]
        eq(order, sorted(order), f"{path}: top-level key order in {raw[:120]!r}")
        j = r.json()
        check(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC", j["Timestamp"]),
              f"Timestamp {j['Timestamp']!r}")
        eq(j["Points"], [], "Points")
        for c in j["Counters"] + j["Samples"]:
            eq(list(c), ["Name", "Count", "Rate", "Sum", "Min", "Max", "Mean", "Stddev",
                         "Labels"], f"sampled value keys of {c.get('Name')}")
            eq(c["Labels"], {}, "no labels")
        for g in j["Gauges"]:
            eq(list(g), ["Name", "Value", "Labels"], f"gauge keys of {g.get('Name')}")
        c = counts(j)
        for prefix in BOTH:
            for name in ("proxy.success", "proxy.client_error", "proxy.error", "cache.hit",
                         "cache.miss", "auth.success", "auth.failure"):
                check(prefix + name in c, f"{prefix}{name} listed: {sorted(c)}")
        eq(c["vault.agent.proxy.success"], 1, "one success so far")
        s = samples(j)["vault.proxy.request.duration_seconds"]
        eq(s["Count"], 1, "one proxied request in the histogram")
        check(0 < s["Min"] <= s["Max"] < 5, f"duration in seconds: {s}")


@test("format selection and errors")
def _():
    p, port = start(VAULT + LISTENER + 'telemetry {\n  disable_hostname = true\n}\n')
    text = prom(port)
    check("# TYPE vault_agent_proxy_success counter" in text, f"counter type line:\n{text[:400]}")
    check("# TYPE vault_proxy_client_connections gauge" in text, "gauge type line")
    check("# TYPE vault_proxy_request_duration_seconds histogram" in text, "histogram line")
    for accept in ("application/openmetrics-text; version=1.0.0; charset=utf-8",
                   "text/plain; version=0.0.4", "application/json, prometheus/telemetry"):
        t = prom(port, [("Accept", accept)], path="/proxy/v1/metrics")
        check("# TYPE vault_agent_proxy_success counter" in t, f"Accept {accept!r} -> prometheus")
    # The query wins over the header; an Accept of JSON or text/plain alone is JSON.
    r = request(port, "GET", "/proxy/v1/metrics?format=", [("Accept", "text/plain")])
    eq(r.header("Content-Type"), "application/json", "plain text/plain Accept is JSON")
    r = request(port, "GET", "/agent/v1/metrics?format=bogus",
                [("Accept", "application/openmetrics-text")])
    eq((r.status, r.header("Content-Type"), r.text()),
       (400, "text/plain", 'metric response format "bogus" unknown'), "unknown format")
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = request(port, method, "/proxy/v1/metrics?format=prometheus")
        eq((r.status, r.json()), (405, {"errors": []}), f"{method} metrics")
    eq(request(port, "HEAD", "/proxy/v1/metrics").status, 405, "HEAD metrics")

    # No telemetry block, or a zero retention: Prometheus is off.
    for extra in ("", 'telemetry {\n  prometheus_retention_time = "0"\n}\n'):
        p2, port2 = start(VAULT + LISTENER + extra)
        for hdrs, path in ((None, "/proxy/v1/metrics?format=prometheus"),
                           ([("Accept", "text/plain; version=0.0.4")], "/agent/v1/metrics")):
            r = request(port2, "GET", path, hdrs)
            eq((r.status, r.header("Content-Type"), r.text()),
               (400, "text/plain", "prometheus is not enabled"), f"{extra!r}: {path} {hdrs}")
        eq(request(port2, "GET", "/proxy/v1/metrics").status, 200, "JSON still served")
        p2.stop()


@test("metrics_prefix renames both formats; prefix_filter hides what it blocks")
def _():
    p, port = start(VAULT + LISTENER + """
telemetry {
  metrics_prefix = "px"
  disable_hostname = true
  prefix_filter = ["-px.proxy", "+px.proxy.request"]
}
""")
    get(port, "/v1/sim/echo/a")
    c = counts(metrics(port))
    eq(c.get("px.agent.proxy.success"), 1, f"renamed counter: {sorted(c)}")
    check("px.proxy.proxy.success" not in c, "px.proxy.* blocked")
    check("px.proxy.request.duration_seconds" in samples(metrics(port)), "longer + rule wins")
    v = prom_values(prom(port))
    eq(v.get("px_agent_proxy_success"), 1.0, f"prometheus name: {sorted(v)[:8]}")
    check(not any(k.startswith("vault_") for k in v), "no vault_ names left")


@test("counters move with proxied requests, cache hits and misses, logins")
def _():
    sim.reset(all=True)
    tok = sim.make_token(ttl=3600, renewable=True)["id"]
    p, port = start(VAULT + AUTO_AUTH + "cache {}\n" + LISTENER +
                    'telemetry {\n  disable_hostname = true\n}\n', token=tok)
    j0 = metrics(port)
    c0 = counts(j0)
    for prefix in BOTH:
        check(c0[prefix + "auth.success"] >= 1, f"{prefix}auth.success after the login: {c0}")
    check(c0["vault.proxy.auth.login_attempts"] >= 1, "login attempts")
    n0 = samples(j0)["vault.proxy.request.duration_seconds"]["Count"]
    u0 = samples(j0)["vault.proxy.upstream.duration_seconds"]["Count"]

    r = get(port, "/v1/database/creds/metrics")
    eq((r.status, r.header("X-Cache")), (200, "MISS"), "first read")
    r = get(port, "/v1/database/creds/metrics")
    eq((r.status, r.header("X-Cache")), (200, "HIT"), "second read")
    eq(get(port, "/v1/sim/status/404").status, 404, "client error")

    j1 = metrics(port)
    c1 = counts(j1)
    for prefix in BOTH:
        for name, delta in (("proxy.success", 2), ("cache.miss", 1), ("cache.hit", 1),
                            ("proxy.client_error", 1), ("proxy.error", 0)):
            eq(c1[prefix + name] - c0[prefix + name], delta, f"{prefix}{name} delta")
    s1 = samples(j1)
    eq(s1["vault.proxy.request.duration_seconds"]["Count"] - n0, 3, "request histogram count")
    eq(s1["vault.proxy.upstream.duration_seconds"]["Count"] - u0, 2,
       "upstream histogram: the hit went nowhere")
    g = gauges(j1)
    check(g["vault.proxy.cache.entries"] >= 1, f"cache entries gauge: {g}")
    check(g["vault.proxy.cache.bytes"] > 0, f"cache bytes gauge: {g}")
    check(c1["vault.proxy.cache.stored"] >= 1, "stored counter")

    # Prometheus agrees with JSON; buckets are cumulative up to +Inf = count.
    v = prom_values(prom(port))
    n = s1["vault.proxy.request.duration_seconds"]["Count"]
    eq(v["vault_proxy_request_duration_seconds_count"], n, "prometheus count = JSON count")
    buckets = [(k, val) for k, val in v.items()
               if k.startswith("vault_proxy_request_duration_seconds_bucket")]
    eq(len(buckets), 19, "18 bounds and +Inf")
    vals = [val for _, val in buckets]
    eq(vals, sorted(vals), "cumulative buckets")
    eq(buckets[-1], ('vault_proxy_request_duration_seconds_bucket{le="+Inf"}', float(n)), "+Inf")
    eq(buckets[0][0], 'vault_proxy_request_duration_seconds_bucket{le="5e-05"}', "first bound")
    eq(v["vault_agent_cache_hit"], c1["vault.agent.cache.hit"], "prometheus counter value")


@test("failed logins, upstream errors and lease renewals are counted")
def _():
    sim.reset(all=True)
    # A token the server does not know: every login (lookup) fails.
    p, port = start(VAULT + AUTO_AUTH + LISTENER, token="hvs.unknown-token", wait_login=False)
    def failed_twice():
        c = counts(metrics(port))
        return c if min(c[x + "auth.failure"] for x in BOTH) >= 2 else None
    c = wait_until(failed_twice, timeout=8, msg="two failed logins counted")
    check(c["vault.proxy.auth.login_attempts"] >= 2, f"login attempts: {c}")
    eq(c["vault.agent.auth.success"], 0, "no success")
    p.stop()

    # Nothing listens upstream: a local 502 is an error, not a client error.
    dead = f"http://127.0.0.1:{free_port()}"
    p, port = start(VAULT + LISTENER, vault=dead)
    eq(get(port, "/v1/sim/echo/x").status, 502, "no upstream")
    c = counts(metrics(port))
    eq((c["vault.agent.proxy.error"], c["vault.proxy.proxy.error"],
        c["vault.agent.proxy.client_error"]), (1, 1, 0), "error counters")
    p.stop()

    # Cached leases of 2 s are renewed by the cache's watchers.
    sim.reset(all=True)
    sim.lease_duration(2, max_ttl=60)
    tok = sim.make_token(ttl=3600, renewable=True)["id"]
    p, port = start(VAULT + AUTO_AUTH + "cache {}\n" + LISTENER, token=tok)
    eq(get(port, "/v1/database/creds/renewed").status, 200, "leased read")
    wait_until(lambda: counts(metrics(port))["vault.proxy.cache.renewals"] >= 1, timeout=8,
               msg="a lease renewal counted")


def gauge_of(client, name):
    return gauges(metrics(client))[name]


@test("open client and upstream connection gauges move")
def _():
    sim.reset()
    p, port = start(VAULT + LISTENER)
    with Client(port) as scraper:
        base = gauge_of(scraper, "vault.proxy.client.connections")
        check(base >= 1, f"the scraper's own connection counts: {base}")
        eq(gauge_of(scraper, "vault.proxy.upstream.connections"), 0, "no upstream yet")
        clients = [Client(port) for _ in range(3)]
        for c in clients:
            eq(c.request("GET", "/v1/sim/echo/keep").status, 200, "kept-alive request")
        wait_until(lambda: gauge_of(scraper, "vault.proxy.client.connections") == base + 3,
                   timeout=5, msg=f"client connections = {base} + 3")
        check(gauge_of(scraper, "vault.proxy.upstream.connections") >= 1,
              "a kept-alive upstream connection")
        for c in clients:
            c.close()
        wait_until(lambda: gauge_of(scraper, "vault.proxy.client.connections") == base,
                   timeout=5, msg=f"client connections back to {base}")


@test("metrics_only listener: metrics in both formats, everything else 404")
def _():
    sim.reset()
    mport = free_port()
    p, port = start(VAULT + LISTENER + """
listener "tcp" {
  address = "127.0.0.1:{mport}"
  tls_disable = true
  role = "metrics_only"
  require_request_header = true
  proxy_api { enable_quit = true }
}
telemetry {
  disable_hostname = true
}
""", mport=mport)
    p.wait_ready(mport)
    before = counts(metrics(mport))
    for method, path in (("GET", "/v1/sim/echo/m"), ("PUT", "/v1/secret/x"),
                         ("POST", "/proxy/v1/quit"), ("POST", "/agent/v1/quit"),
                         ("POST", "/proxy/v1/cache-clear"), ("GET", "/proxy/v1/metrics/"),
                         ("GET", "/proxy/v1/other"), ("GET", "/")):
        r = get(mport, path, token="t", method=method, body="{}" if method != "GET" else None,
                headers=[("X-Vault-Request", "true")])
        eq((r.status, r.body), (404, b"404 page not found\n"), f"{method} {path}")
        eq(r.header("Content-Type"), "text/plain; charset=utf-8", "404 content type")
    # Unclean paths are redirected first, as Go's mux does, then refused.
    r = get(mport, "/v1//sim/echo/m")
    eq((r.status, r.header("Location")), (301, "/v1/sim/echo/m"), "unclean path")
    check(p.alive(), "quit was refused")
    eq(sim.requests(), [], "nothing forwarded from the metrics_only listener")
    after = counts(metrics(mport, "/agent/v1/metrics"))
    eq(after, before, "no proxy counter moved")
    check("vault_agent_proxy_success" in prom(mport), "prometheus on metrics_only")
    # require_request_header does not apply to metrics on either listener.
    eq(request(port, "GET", "/proxy/v1/metrics").status, 200, "metrics on the default listener")


@test("retention: series unchanged for longer than prometheus_retention_time drop out")
def _():
    p, port = start(VAULT + LISTENER + """
telemetry {
  prometheus_retention_time = "1s"
  disable_hostname = true
}
""")
    eq(get(port, "/v1/sim/echo/r").status, 200, "one request")
    v = prom_values(prom(port))
    eq(v.get("vault_agent_proxy_success"), 1.0, "fresh counter shown")
    wait_until(lambda: "vault_agent_proxy_success" not in prom_values(prom(port)),
               timeout=6, msg="the idle counter expires")
    v = prom_values(prom(port))
    check("vault_proxy_client_connections" in v, "sampled gauges stay")
    eq(metrics(port).get("Counters") and counts(metrics(port))["vault.agent.proxy.success"], 1,
       "JSON keeps every series")
    eq(get(port, "/v1/sim/echo/r").status, 200, "another request")
    eq(prom_values(prom(port)).get("vault_agent_proxy_success"), 2.0, "back, cumulative")


LINE = re.compile(r"\[info\] proxy\.apiproxy: request: method=(\S+) path=(\S+) status=(\d+) "
                  r"latency_ms=(\d+\.\d{3}) cache=(hit|miss|none)(?: upstream_ms=(\d+\.\d{3}))?$")


def request_lines(log):
    return [m.groups() for m in (LINE.search(line) for line in log.splitlines()) if m]


@test("request log: one info line per request, safe fields only, no token")
def _():
    sim.reset(all=True)
    auto = sim.make_token(ttl=3600, renewable=True)["id"]
    client = sim.make_token(ttl=3600)["id"]
    legacy = sim.make_token(ttl=3600)["id"]
    p, port = start(VAULT + AUTO_AUTH + "cache {}\n" + LISTENER, token=auto)
    eq(get(port, "/v1/database/creds/log?secret_q=shh").status, 200, "miss")
    eq(get(port, "/v1/database/creds/log?secret_q=shh").header("X-Cache"), "HIT", "hit")
    eq(get(port, "/v1/sim/echo/x", token=client, method="PUT",
           body={"password": "body-secret"}).status, 200, "own token, body")
    get(port, "/v1/auth/token/lookup/" + legacy, token=client)
    get(port, "/v1/sim/status/403")
    metrics(port)
    want = 7  # the readiness probe (GET /proxy/v1/quit) is a request too

    lines = wait_until(lambda: (lambda ls: ls if len(ls) >= want else None)(
        request_lines(p.log())), timeout=5, msg=f"{want} request lines")
    eq(len(lines), want, f"exactly one line per request:\n{p.log_tail(20)}")
    by = [(m, path, st, cache, up is not None) for m, path, st, _, cache, up in lines]
    eq(by, [("GET", "/proxy/v1/quit", "404", "none", False),
            ("GET", "/v1/database/creds/log", "200", "miss", True),
            ("GET", "/v1/database/creds/log", "200", "hit", False),
            ("PUT", "/v1/sim/echo/x", "200", "miss", True),
            ("GET", "/v1/auth/token/lookup/<redacted>", by[4][2], "miss", True),
            ("GET", "/v1/sim/status/403", "403", "miss", True),
            ("GET", "/proxy/v1/metrics", "200", "none", False)], "request lines")
    for _, _, _, total, _, up in lines:
        if up is not None:
            check(float(up) <= float(total), f"upstream {up} <= total {total}")
    log = p.log()
    for secret in (auto, client, legacy, "secret_q", "shh", "body-secret"):
        check(secret not in log, f"{secret!r} appears in the log")

    # The same record as JSON members with log_format = "json".
    p2, port2 = start('log_format = "json"\n' + VAULT + LISTENER)
    get(port2, "/v1/sim/echo/j?x=1", token=client)
    def json_line():
        for line in p2.log().splitlines():
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if o.get("@message") == "request" and o.get("path") != "/proxy/v1/quit":
                return o
        return None
    o = wait_until(json_line, timeout=5, msg="a JSON request line")
    eq({k: o[k] for k in ("@level", "@module", "method", "path", "status", "cache")},
       {"@level": "info", "@module": "proxy.apiproxy", "method": "GET",
        "path": "/v1/sim/echo/j", "status": "200", "cache": "none"}, "JSON request line")
    check(re.fullmatch(r"\d+\.\d{3}", o["latency_ms"]) and re.fullmatch(r"\d+\.\d{3}",
                                                                       o["upstream_ms"]),
          f"latencies {o}")
    check(client not in p2.log(), "no token in the JSON log")

    # log_level = "warn": no request lines at all.
    p3, port3 = start('log_level = "warn"\n' + VAULT + LISTENER)
    eq(get(port3, "/v1/sim/echo/quiet").status, 200, "request at warn")
    metrics(port3)
    eq(request_lines(p3.log()), [], "no request lines at warn")


if __name__ == "__main__":
    sys.exit(run())
