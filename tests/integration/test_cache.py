#!/usr/bin/python3
"""TAP integration tests of the lease cache (vaproxyd(8)): keys and
hits, per-token isolation, what is and is not cached, renewal watchers,
eviction on revocation and re-authentication, cache-clear, request
coalescing and the memory store's limits -- vaproxyd against the simulator.

Every test starts its own daemon (token_file auto-auth, use_auto_auth_token
= true, a cache block) on a freshly reset simulator.
"""

import json
import os
import random
import socket
import sys
import threading
import time

from harness import (Proxy, Sim, check, contains, diag, eq, free_port,
                     request, run, test, tmpdir, wait_until)

sim = Sim()

ENV = {"VAPROXY_RETRY_WAIT_MS": "20,30"}

CONFIG = """
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
{cache_extra}
}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
"""

CLEAR_PATHS = ("/proxy/v1/cache-clear", "/agent/v1/cache-clear")


class Daemon:
    """A running vaproxyd with its port, auto-auth token and token file."""

    def __init__(self, proxy, port, token, token_file):
        self.proxy, self.port, self.token, self.token_file = proxy, port, token, token_file


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def start(cache_extra="", ttl=3600, lease_duration=None):
    """Reset the sim, make an auto-auth token, start a daemon and wait until
    it has logged in (so the auto-auth token is a managed token)."""
    sim.reset(all=True)
    if lease_duration is not None:
        sim.lease_duration(lease_duration)
    tok = sim.make_token(ttl=ttl, renewable=True)["id"]
    d = tmpdir("cache-")
    tf = os.path.join(d, "token")
    write(tf, tok + "\n")
    port = free_port()
    p = Proxy(CONFIG, sim=sim.addr, port=port, token_file=tf, cache_extra=cache_extra, env=ENV)
    p.wait_ready()
    wait_until(lambda: "authenticated with" in p.log(), timeout=8, msg="auto-auth login")
    return Daemon(p, port, tok, tf)


def get(port, path, token=None, headers=(), body=None, method="GET", timeout=10.0):
    hdrs = list(headers)
    if token is not None:
        hdrs.append(("X-Vault-Token", token))
    return request(port, method, "/v1/" + path, hdrs, body, timeout=timeout)


def creds(port, role, token=None, headers=(), body=None):
    return get(port, "database/creds/" + role, token, headers, body)


def xcache(r):
    return r.header("X-Cache")


def upstream(path, method=None):
    """Requests the sim received for exactly /v1/<path> (query not part of it)."""
    full = "/v1/" + path
    return [q for q in sim.requests(full)
            if q["path"] == full and (method is None or q["method"] == method)]


def reads(role):
    return len(upstream("database/creds/" + role, "GET"))


def lease_renewals(lease_id=None):
    out = []
    for q in sim.requests("/v1/sys/leases/renew"):
        if q["method"] != "PUT":
            continue
        try:
            body = json.loads(q["body"] or "{}")
        except ValueError:
            body = {}
        if lease_id is None or body.get("lease_id") == lease_id:
            out.append(q)
    return out


def miss(r, what):
    eq(r.status, 200, f"{what}: status (body {r.body[:200]!r})")
    eq(xcache(r), "MISS", f"{what}: X-Cache")
    return r.json()


def hit(r, what):
    eq(r.status, 200, f"{what}: status (body {r.body[:200]!r})")
    eq(xcache(r), "HIT", f"{what}: X-Cache")
    return r.json()


def clear(port, body, path=CLEAR_PATHS[0], method="POST"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return request(port, method, path, [("Content-Type", "application/json")], data)


def cleared(port, body, path=CLEAR_PATHS[0]):
    r = clear(port, body, path)
    eq(r.status, 200, f"cache-clear {body!r}: status (body {r.body!r})")
    return r.json()["data"]["cleared"]


def create_token(port, token=None, path="auth/token/create", **body):
    body.setdefault("policies", ["default"])
    return get(port, path, token, [("Content-Type", "application/json")], body, method="POST")


# --------------------------------------------------------------------------

@test("hit/miss: identical dynamic-secret reads hit; paths, queries, bodies, headers differ")
def _():
    d = start()
    port = d.port
    a1 = miss(creds(port, "hm-a"), "first read")
    check(a1["lease_id"].startswith("database/creds/hm-a/"), f"lease id {a1['lease_id']!r}")
    time.sleep(1.1)
    r = creds(port, "hm-a")
    a2 = hit(r, "identical second read")
    eq(a2["lease_id"], a1["lease_id"], "hit: same lease_id")
    eq(a2["request_id"], a1["request_id"], "hit: same request_id")
    age = r.header("Age")
    check(age is not None and age.isdigit(), f"hit has a numeric Age header, got {age!r}")
    check(int(age) >= 1, f"Age after 1.1 s is {age}")
    eq(reads("hm-a"), 1, "upstream saw one read")

    # A different path is a different entry.
    b1 = miss(creds(port, "hm-b"), "other path")
    check(b1["lease_id"] != a1["lease_id"], "other path: another lease")
    eq(reads("hm-b"), 1, "other path reached the sim")

    # Query string, extra header, body: each byte difference is a new key.
    variants = [
        ("query", dict(path="database/creds/hm-a?x=1")),
        ("header", dict(path="database/creds/hm-a", headers=[("X-Test", "one")])),
        ("header value", dict(path="database/creds/hm-a", headers=[("X-Test", "two")])),
        ("body", dict(path="database/creds/hm-a", body='{"a":1}')),
        ("other body", dict(path="database/creds/hm-a", body='{"a":2}')),
    ]
    seen = {a1["lease_id"]}
    first = {}
    for n, (what, kw) in enumerate(variants, start=2):
        r = get(port, **kw)
        j = miss(r, f"variant {what}")
        check(j["lease_id"] not in seen, f"variant {what}: a fresh lease")
        seen.add(j["lease_id"])
        first[what] = j
        eq(reads("hm-a"), n, f"variant {what} reached the sim")
    for what, kw in variants:
        j = hit(get(port, **kw), f"variant {what} repeated")
        eq(j["lease_id"], first[what]["lease_id"], f"variant {what}: its own entry")
    eq(reads("hm-a"), 1 + len(variants), "repeats did not reach the sim")
    check(d.proxy.alive(), "daemon alive")


@test("per-token isolation: randomized reads over 20 managed tokens never cross tokens", timeout=40)
def _():
    d = start()
    port = d.port
    tokens = []
    for i in range(20):
        r = create_token(port, path="auth/token/create-orphan", display_name=f"iso-{i}")
        eq(r.status, 200, f"create-orphan {i}")
        tokens.append(r.json()["auth"]["client_token"])
    eq(len(set(tokens)), 20, "20 distinct orphan tokens")
    roles = [f"iso-{c}" for c in "abcde"]
    rng = random.Random(20240607)
    first = {}              # (token, role) -> lease_id of its first (MISS) answer
    problems = []
    hits = cross = 0
    responses = []
    for step in range(200):
        t = rng.randrange(len(tokens))
        role = rng.choice(roles)
        r = creds(port, role, token=tokens[t])
        if r.status != 200:
            problems.append(f"step {step}: status {r.status} {r.body[:120]!r}")
            continue
        lid = r.json()["lease_id"]
        responses.append((step, t, role, xcache(r), lid))
        key = (t, role)
        if key in first:
            if xcache(r) != "HIT" or lid != first[key]:
                problems.append(f"step {step}: token {t} {role} repeated: X-Cache {xcache(r)}, "
                                f"lease {lid} (first {first[key]})")
        else:
            if xcache(r) != "MISS":
                problems.append(f"step {step}: token {t} {role} first read was {xcache(r)}")
            first[key] = lid
    owner = {l["id"]: l["token"] for l in sim.state()["leases"]}
    for step, t, role, xc, lid in responses:
        hits += xc == "HIT"
        if owner.get(lid) != tokens[t]:
            cross += 1
            problems.append(f"step {step}: token {t} got lease {lid} ({xc}) which belongs to "
                            f"another token")
    diag(f"{len(responses)} reads, {hits} hits, {len(first)} distinct (token, path) pairs")
    check(hits > 50, f"the randomized run produced hits ({hits})")
    eq(cross, 0, "cross-token answers")
    check(not problems, "\n".join(problems[:20]))


@test("not cached: KV reads, 404, 500, leases of an unmanaged client token")
def _():
    d = start()
    port = d.port
    w = sim.api("POST", "secret/data/app", {"data": {"k": "v"}})
    eq(w.status, 200, "KV write in the sim")
    for i in range(2):
        r = get(port, "secret/data/app")
        eq(r.status, 200, f"KV read {i}")
        eq(r.json()["data"]["data"], {"k": "v"}, f"KV read {i} data")
        eq(xcache(r), "MISS", f"KV read {i} X-Cache")
    eq(len(upstream("secret/data/app", "GET")), 2, "both KV reads reached the sim")

    for i in range(2):
        r = get(port, "secret/data/missing")
        eq(r.status, 404, f"404 read {i}")
        check(xcache(r) != "HIT", f"404 read {i} not a hit")
    eq(len(upstream("secret/data/missing", "GET")), 2, "both 404 reads reached the sim")

    # A 500 that looks like a renewable lease is an error all the same.
    fake = {"request_id": "fake", "lease_id": "database/creds/err/x", "renewable": True,
            "lease_duration": 30, "data": {"username": "u"}, "auth": None}
    sim.fail(count=2, status=500, path_prefix="/v1/database/creds/err", body=fake)
    for i in range(2):
        r = creds(port, "err")
        eq(r.status, 500, f"500 read {i}")
        check(xcache(r) != "HIT", f"500 read {i} not a hit")
    r = creds(port, "err")
    j = miss(r, "read after the injected errors")
    check(j["lease_id"] != fake["lease_id"], "the error body was never served")
    eq(reads("err"), 3, "every read reached the sim")

    own = sim.make_token(ttl=3600)["id"]
    l1 = miss(creds(port, "own", token=own), "unmanaged token read 1")
    l2 = miss(creds(port, "own", token=own), "unmanaged token read 2")
    check(l1["lease_id"] != l2["lease_id"], "unmanaged token: two different leases")
    eq(reads("own"), 2, "unmanaged token: both reads reached the sim")
    check(not lease_renewals(l1["lease_id"]), "no renewal watcher for an uncached lease")


@test("token creation cached: auth/token/create with the auto-auth token, create-orphan always")
def _():
    d = start()
    port = d.port
    r1 = create_token(port, display_name="tc")
    a1 = miss(r1, "create 1")["auth"]
    a2 = hit(create_token(port, display_name="tc"), "identical create 2")["auth"]
    eq(a2["client_token"], a1["client_token"], "same client_token (TestCache_Caching_AuthResponse)")
    eq(a2["accessor"], a1["accessor"], "same accessor")
    eq(len(upstream("auth/token/create", "POST")), 1, "one create reached the sim")
    other = miss(create_token(port, display_name="tc2"), "different body")["auth"]
    check(other["client_token"] != a1["client_token"], "different body: another token")

    unmanaged = sim.make_token(ttl=3600)["id"]
    o1 = miss(create_token(port, unmanaged, "auth/token/create-orphan", display_name="o"),
              "create-orphan with an unmanaged token")["auth"]
    check(o1["orphan"], "the token is an orphan")
    o2 = hit(create_token(port, unmanaged, "auth/token/create-orphan", display_name="o"),
             "identical create-orphan")["auth"]
    eq(o2["client_token"], o1["client_token"], "create-orphan: same client_token")
    eq(len(upstream("auth/token/create-orphan", "POST")), 1, "one create-orphan reached the sim")
    # no_parent=true is an orphan too.
    n1 = miss(create_token(port, unmanaged, no_parent=True, display_name="np"),
              "create no_parent")["auth"]
    n2 = hit(create_token(port, unmanaged, no_parent=True, display_name="np"),
             "identical create no_parent")["auth"]
    eq(n2["client_token"], n1["client_token"], "no_parent: same client_token")

    # A child of an unmanaged token is not kept.
    c1 = miss(create_token(port, unmanaged, display_name="child"), "child of unmanaged 1")["auth"]
    c2 = miss(create_token(port, unmanaged, display_name="child"), "child of unmanaged 2")["auth"]
    check(c1["client_token"] != c2["client_token"], "child of an unmanaged token: not cached")

    # A token created through the proxy is managed: its leases are cached.
    miss(creds(port, "tc-lease", token=o1["client_token"]), "lease of a created orphan")
    hit(creds(port, "tc-lease", token=o1["client_token"]), "lease of a created orphan again")
    eq(reads("tc-lease"), 1, "one lease read reached the sim")


@test("renewals: at once, then on the 2/3 schedule; renew endpoints are never cached", timeout=20)
def _():
    d = start(lease_duration=3)
    port = d.port
    t0 = time.time()
    lid = miss(creds(port, "rn"), "lease read")["lease_id"]
    first = wait_until(lambda: lease_renewals(lid), timeout=1.0,
                       msg="the first renewal within 1 s")[0]
    check(first["time"] - t0 < 1.0, f"first renewal {first['time'] - t0:.2f}s after the read")
    eq(first["token"], d.token, "renewed with the token that obtained the lease")
    body = json.loads(first["body"])
    eq((body.get("lease_id"), body.get("increment")), (lid, 0), "renewal body")
    second = wait_until(lambda: lease_renewals(lid)[1:], timeout=4,
                        msg="the second renewal")[0]
    gap = second["time"] - first["time"]
    diag(f"renewal gap {gap:.2f}s for a 3 s lease")
    check(1.6 <= gap <= 2.8, f"second renewal {gap:.2f}s after the first; expected about 2 s "
                             f"(2/3 of 3 s plus a third of a 10-20 % grace)")
    hit(creds(port, "rn"), "lease still cached while renewed")

    # The renew endpoints themselves: both identical requests reach the sim.
    before = len(lease_renewals(lid))
    for path in ("sys/leases/renew", "sys/renew"):
        for i in range(2):
            r = get(port, path, headers=[("Content-Type", "application/json"),
                                         ("X-Case", "client-renew")],
                    body={"lease_id": lid}, method="PUT")
            eq(r.status, 200, f"client {path} {i} (body {r.body[:200]!r})")
            eq(xcache(r), "MISS", f"client {path} {i} X-Cache")
    client_renews = [q for q in sim.requests("/v1/sys/")
                     if ["X-Case", "client-renew"] in q["headers"]]
    eq(len(client_renews), 4, "every client renewal reached the sim")
    check(len(lease_renewals(lid)) >= before + 2, "sys/leases/renew calls counted upstream")
    # Token renewals neither.
    for i in range(2):
        r = get(port, "auth/token/renew-self", headers=[("X-Case", "tok-renew")],
                body={"increment": 0}, method="PUT")
        eq(r.status, 200, f"renew-self {i}")
        eq(xcache(r), "MISS", f"renew-self {i} X-Cache")
    eq(len([q for q in upstream("auth/token/renew-self")
            if ["X-Case", "tok-renew"] in q["headers"]]), 2, "both renew-self reached the sim")


def cached_lease(port, role, token=None):
    """Read a lease twice (MISS, HIT) and return its id."""
    lid = miss(creds(port, role, token), f"{role}: first read")["lease_id"]
    eq(hit(creds(port, role, token), f"{role}: second read")["lease_id"], lid, f"{role}: same lease")
    return lid


def revoke(port, path, body=None, token=None):
    r = get(port, path, token, [("Content-Type", "application/json")], body, method="PUT")
    eq(r.status, 204, f"revocation {path} {body!r} (body {r.body[:200]!r})")
    return r


@test("eviction on lease revocations: body, URL, legacy and prefix forms")
def _():
    d = start()
    port = d.port
    lid = cached_lease(port, "ev-body")
    revoke(port, "sys/leases/revoke", {"lease_id": lid})
    miss(creds(port, "ev-body"), "after sys/leases/revoke (body)")

    lid = cached_lease(port, "ev-url")
    revoke(port, "sys/leases/revoke/" + lid)
    miss(creds(port, "ev-url"), "after sys/leases/revoke/<id>")

    lid = cached_lease(port, "ev-legacy")
    revoke(port, "sys/revoke/" + lid)
    miss(creds(port, "ev-legacy"), "after sys/revoke/<id>")

    cached_lease(port, "ev-pfx")
    cached_lease(port, "other-pfx")
    revoke(port, "sys/leases/revoke-prefix/database/creds/ev-pfx")
    miss(creds(port, "ev-pfx"), "after sys/leases/revoke-prefix/<prefix>")
    hit(creds(port, "other-pfx"), "a lease outside the prefix stays")

    cached_lease(port, "ev-force")
    revoke(port, "sys/leases/revoke-force/database/creds/ev-force")
    miss(creds(port, "ev-force"), "after sys/leases/revoke-force/<prefix>")

    # A revocation the server refuses evicts nothing.
    lid = cached_lease(port, "ev-refused")
    sim.fail(count=1, status=403, path_prefix="/v1/sys/leases/revoke")
    r = get(port, "sys/leases/revoke", None, [("Content-Type", "application/json")],
            {"lease_id": lid}, method="PUT")
    eq(r.status, 403, "refused revocation relayed")
    hit(creds(port, "ev-refused"), "after a refused revocation the lease stays")


def child(port, name, token=None):
    """A child token created through the proxy (cached: its parent is managed)."""
    a = miss(create_token(port, token, display_name=name), f"create {name}")["auth"]
    check(not a["orphan"], f"{name} is a child token")
    return a


def gone(port, role, tok, what):
    """The lease read with a revoked token is no longer answered from the cache."""
    n = reads(role)
    r = creds(port, role, tok)
    check(xcache(r) != "HIT", f"{what}: still a cache HIT ({r.status})")
    eq(reads(role), n + 1, f"{what}: the read reached the sim")


@test("eviction on token revocations: revoke, revoke-self, revoke-accessor, revoke-orphan")
def _():
    d = start()
    port = d.port

    # auth/token/revoke: the token, its child tokens and all their leases.
    c = child(port, "rv")
    g = child(port, "rv-grand", c["client_token"])
    cached_lease(port, "rv", c["client_token"])
    cached_lease(port, "rv-g", g["client_token"])
    hit(create_token(port, display_name="rv"), "create rv again: cached")
    revoke(port, "auth/token/revoke", {"token": c["client_token"]})
    gone(port, "rv", c["client_token"], "revoke: the token's lease")
    gone(port, "rv-g", g["client_token"], "revoke: the child token's lease")
    r = miss(create_token(port, display_name="rv"), "create rv after revoke: new token")
    check(r["auth"]["client_token"] != c["client_token"], "revoke: the token entry went")

    # revoke-self
    c = child(port, "rs")
    cached_lease(port, "rs", c["client_token"])
    revoke(port, "auth/token/revoke-self", {}, token=c["client_token"])
    gone(port, "rs", c["client_token"], "revoke-self")
    miss(create_token(port, display_name="rs"), "create rs after revoke-self")

    # revoke-accessor, body form
    c = child(port, "ra")
    cached_lease(port, "ra", c["client_token"])
    revoke(port, "auth/token/revoke-accessor", {"accessor": c["accessor"]})
    gone(port, "ra", c["client_token"], "revoke-accessor (body)")
    miss(create_token(port, display_name="ra"), "create ra after revoke-accessor")

    # revoke-accessor, URL form.  The sim knows only the body form, so the
    # 204 is injected and the token stays valid upstream: a MISS with a new
    # lease proves the eviction.
    c = child(port, "rau")
    lid = cached_lease(port, "rau", c["client_token"])
    sim.fail(count=1, status=204, path_prefix="/v1/auth/token/revoke-accessor/")
    revoke(port, "auth/token/revoke-accessor/" + c["accessor"])
    j = miss(creds(port, "rau", c["client_token"]), "after revoke-accessor/<accessor>")
    check(j["lease_id"] != lid, "revoke-accessor/<acc>: a new lease")
    miss(create_token(port, display_name="rau"), "create rau after revoke-accessor/<acc>")

    # revoke-orphan: the token and its leases go, its children stay.
    c = child(port, "ro")
    g = child(port, "ro-grand", c["client_token"])
    cached_lease(port, "ro", c["client_token"])
    glid = cached_lease(port, "ro-g", g["client_token"])
    revoke(port, "auth/token/revoke-orphan", {"token": c["client_token"]})
    gone(port, "ro", c["client_token"], "revoke-orphan: the token's lease")
    miss(create_token(port, display_name="ro"), "create ro after revoke-orphan")
    eq(hit(creds(port, "ro-g", g["client_token"]), "revoke-orphan: the child's lease stays")
       ["lease_id"], glid, "child's lease")


@test("eviction when renewal is refused (lease revoked directly in the sim)", timeout=20)
def _():
    d = start(lease_duration=3)
    port = d.port
    lid = cached_lease(port, "refused")
    wait_until(lambda: lease_renewals(lid), timeout=2, msg="first renewal")
    r = sim.api("PUT", "sys/leases/revoke", {"lease_id": lid})
    eq(r.status, 204, "lease revoked in the sim")
    hit(creds(port, "refused"), "still cached until the next renewal")
    wait_until(lambda: [q for q in lease_renewals(lid) if q["status"] == 400], timeout=4,
               msg="a refused renewal")
    time.sleep(0.2)
    j = miss(creds(port, "refused"), "read after the refused renewal")
    check(j["lease_id"] != lid, "a new lease")


@test("eviction when the lease reaches its max TTL", timeout=20)
def _():
    d = start()
    sim.lease_duration(3, max_ttl=4)
    port = d.port
    t0 = time.monotonic()
    lid = cached_lease(port, "maxttl")
    wait_until(lambda: len(lease_renewals(lid)) >= 2, timeout=4, msg="two renewals")
    hit(creds(port, "maxttl"), "cached while renewals go on")
    # The lease ends 4 s after the read (the sim rounds what is left up to
    # whole seconds, so the watcher may wait up to a second more): then the
    # watcher ends and the entry goes.
    answers = []

    def evicted():
        r = creds(port, "maxttl")
        answers.append((round(time.monotonic() - t0, 2), xcache(r)))
        return r if xcache(r) != "HIT" else None
    r = wait_until(evicted, timeout=max(0.5, 6.5 - (time.monotonic() - t0)), interval=0.2,
                   msg="the entry to go after the max TTL")
    j = miss(r, "read after the max TTL")
    check(j["lease_id"] != lid, "a new lease after the max TTL")
    check(answers[-1][0] > 3.5, f"evicted before the max TTL: {answers}")


@test("auto-auth re-authentication evicts the old token's leases", timeout=25)
def _():
    d = start(ttl=3)
    port = d.port
    old = d.token
    lid = cached_lease(port, "reauth")
    # The same request with the token given explicitly is the same key.
    eq(hit(creds(port, "reauth", old), "explicit old token: same entry")["lease_id"], lid,
       "explicit old token: same lease")
    new = sim.make_token(ttl=3600, renewable=True)["id"]
    write(d.token_file, new + "\n")
    sim.revoke(old)
    wait_until(lambda: [q for q in upstream("auth/token/lookup-self") if q["token"] == new],
               timeout=8, msg="re-login with the new token")
    wait_until(lambda: d.proxy.log().count("authenticated with") >= 2, timeout=3,
               msg="a second 'authenticated with' log line")
    n = reads("reauth")
    r = creds(port, "reauth", old)
    check(xcache(r) != "HIT", f"old token's lease still answered from the cache ({r.status})")
    eq(reads("reauth"), n + 1, "the old token's read reached the sim")
    j = miss(creds(port, "reauth"), "read with the new auto-auth token")
    check(j["lease_id"] != lid, "new lease")
    owner = {l["id"]: l["token"] for l in sim.state()["leases"]}
    eq(owner.get(j["lease_id"]), new, "the new lease belongs to the new token")
    hit(creds(port, "reauth"), "the new token is managed: its lease is cached")


@test("auto-auth re-login with the same token keeps its cached leases", timeout=20)
def _():
    d = start(ttl=3)
    port = d.port
    wait_until(lambda: [q for q in upstream("auth/token/renew-self") if q["token"] == d.token],
               timeout=3, msg="the auto-auth token's first renewal")
    lid = cached_lease(port, "same")
    # The next renewal of the auto-auth token fails: the handler logs in
    # again and gets the very same token from the file.
    sim.fail(count=1, status=500, path_prefix="/v1/auth/token/renew-self")
    wait_until(lambda: d.proxy.log().count("authenticated with") >= 2, timeout=6,
               msg="a second login after the failed renewal")
    logins = [q for q in upstream("auth/token/lookup-self") if q["token"] == d.token]
    check(len(logins) >= 2, f"re-login used the same token ({len(logins)} lookup-self)")
    # As in Vault: registering the token the cache already manages is a no-op
    # (TestRegisterAutoAuth_sameToken); its leases stay.
    j = hit(creds(port, "same"), "the same token's lease after the re-login")
    eq(j["lease_id"], lid, "same lease")


@test("cache-clear: every type, namespace default, both API paths")
def _():
    d = start()
    port = d.port
    for n, cp in enumerate(CLEAR_PATHS):
        tag = f"cc{n}"
        # request_path: a prefix match in the root/ namespace by default.
        cached_lease(port, tag + "-p1")
        cached_lease(port, tag + "-p2")
        cached_lease(port, "keep-" + tag)
        miss(creds(port, tag + "-ns", headers=[("X-Vault-Namespace", "ns1/")]),
             "lease read in namespace ns1/")
        hit(creds(port, tag + "-ns", headers=[("X-Vault-Namespace", "ns1/")]), "ns1/ again")
        eq(cleared(port, {"type": "request_path", "value": f"/v1/database/creds/{tag}-p",
                          "namespace": "other/"}, cp), 0, "request_path in another namespace")
        eq(cleared(port, {"type": "request_path", "value": f"/v1/database/creds/{tag}-"}, cp),
           2, "request_path prefix, default namespace root/ (not the ns1/ entry)")
        miss(creds(port, tag + "-p1"), "p1 after request_path clear")
        miss(creds(port, tag + "-p2"), "p2 after request_path clear")
        hit(creds(port, "keep-" + tag), "outside the prefix: kept")
        hit(creds(port, tag + "-ns", headers=[("X-Vault-Namespace", "ns1/")]), "ns1/ kept")
        eq(cleared(port, {"type": "request_path", "value": f"/v1/database/creds/{tag}-ns",
                          "namespace": "ns1/"}, cp), 1, "request_path in ns1/")
        miss(creds(port, tag + "-ns", headers=[("X-Vault-Namespace", "ns1/")]), "ns1/ cleared")
        eq(cleared(port, {"type": "request_path", "value": "/v1/database/creds/" + tag,
                          "namespace": "root/"}, cp), 2, "request_path with explicit root/")

        # lease
        lid = cached_lease(port, tag + "-l")
        eq(cleared(port, {"type": "lease", "value": lid}, cp), 1, "lease clear")
        miss(creds(port, tag + "-l"), "after lease clear")
        eq(cleared(port, {"type": "lease", "value": "database/creds/none/x"}, cp), 0,
           "unknown lease: nothing cleared")

        # token: the token entry and its leases
        c = child(port, tag + "-t")
        cached_lease(port, tag + "-t", c["client_token"])
        eq(cleared(port, {"type": "token", "value": c["client_token"]}, cp), 1, "token clear")
        miss(creds(port, tag + "-t", c["client_token"]), "token's lease after token clear")
        miss(create_token(port, display_name=tag + "-t"), "token entry after token clear")

        # token_accessor
        c = child(port, tag + "-a")
        cached_lease(port, tag + "-a", c["client_token"])
        eq(cleared(port, {"type": "token_accessor", "value": c["accessor"]}, cp), 1,
           "token_accessor clear")
        miss(creds(port, tag + "-a", c["client_token"]), "lease after token_accessor clear")
        miss(create_token(port, display_name=tag + "-a"), "token entry after accessor clear")

        # all: everything goes; the auto-auth token stays managed.
        cached_lease(port, tag + "-all")
        n_all = cleared(port, {"type": "all"}, cp)
        check(n_all >= 3, f"all cleared {n_all} entries")
        miss(creds(port, tag + "-all"), "after clear all")
        hit(creds(port, tag + "-all"), "after clear all the auto-auth token is still managed")
        miss(creds(port, "keep-" + tag), "keep entry after clear all")
    check(d.proxy.alive(), "daemon alive")


@test("cache-clear: errors and methods, exact messages, both API paths")
def _():
    d = start()
    port = d.port
    cases = [
        (b"", 400, "failed to parse JSON input: empty JSON provided"),
        (b"{", 400, None),
        (b"[1,2]", 400, None),
        (b'{"type": 5}', 400, None),
        (b"{}", 400, "failed to parse clear input: no type provided"),
        (b'{"type": ""}', 400, "failed to parse clear input: no type provided"),
        (b'{"value": "x"}', 400, "failed to parse clear input: no type provided"),
        (b'{"type": "bogus", "value": "x"}', 400, "failed to clear cache: invalid type provided"),
        (b'{"type": "request_path"}', 500, "failed to clear cache: request path not provided"),
        (b'{"type": "token", "value": ""}', 500, "failed to clear cache: token not provided"),
        (b'{"type": "token_accessor"}', 500,
         "failed to clear cache: token accessor not provided"),
        (b'{"type": "lease"}', 500, "failed to clear cache: lease not provided"),
    ]
    problems = []
    for cp in CLEAR_PATHS:
        for method in ("GET", "DELETE", "PATCH"):
            r = request(port, method, cp)
            if (r.status, r.body) != (200, b""):
                problems.append(f"{method} {cp}: {r.status} {r.body!r}, expected empty 200")
        for method in ("POST", "PUT"):
            for body, status, msg in cases:
                r = clear(port, body, cp, method)
                what = f"{method} {cp} {body!r}"
                if r.status != status:
                    problems.append(f"{what}: status {r.status}, expected {status} ({r.body!r})")
                    continue
                try:
                    errors = r.json()["errors"]
                except (ValueError, KeyError, TypeError):
                    problems.append(f"{what}: body {r.body!r} is not {{\"errors\": [...]}}")
                    continue
                if msg is not None and errors != [msg]:
                    problems.append(f"{what}: errors {errors!r}, expected [{msg!r}]")
                if msg is None and not (len(errors) == 1
                                        and errors[0].startswith("failed to parse JSON input")):
                    problems.append(f"{what}: errors {errors!r}, expected a JSON parse error")
            r = clear(port, {"type": "all", "extra": "ignored"}, cp, method)
            if r.status != 200 or "cleared" not in (r.json() or {}).get("data", {}):
                problems.append(f"{method} {cp} type all: {r.status} {r.body!r}")
    check(not problems, "\n".join(problems))
    check(not [q for q in sim.requests("/") if "cache-clear" in q["path"]],
          "cache-clear never reached the sim")


def parallel(n, fn):
    """Run fn(i) in n threads released together; returns the results in order."""
    results = [None] * n
    gate = threading.Barrier(n)

    def worker(i):
        try:
            gate.wait(timeout=10)
            results[i] = fn(i)
        except Exception as e:  # reported by the caller
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    check(not any(t.is_alive() for t in threads), "worker threads finished")
    return results


@test("coalescing: 100 identical requests -> one upstream read; 50 uncacheable not serialised",
      timeout=40)
def _():
    d = start()
    port = d.port
    sim.delay(300, path_prefix="/v1/database/creds/co", count=1)
    results = parallel(100, lambda i: creds(port, "co"))
    errs = [r for r in results if not hasattr(r, "status")]
    check(not errs, f"request errors: {errs[:3]!r}")
    statuses = sorted({r.status for r in results})
    eq(statuses, [200], "all answered 200")
    kinds = [xcache(r) for r in results]
    eq((kinds.count("MISS"), kinds.count("HIT")), (1, 99), "one MISS, 99 HITs")
    eq(len({r.json()["lease_id"] for r in results}), 1, "one lease for all")
    eq(reads("co"), 1, "exactly one upstream read")

    # Distinct uncacheable requests go out in parallel.
    t0 = time.monotonic()
    results = parallel(50, lambda i: get(port, f"sim/slow/200?i={i}", timeout=15))
    took = time.monotonic() - t0
    eq(sorted({getattr(r, "status", None) for r in results}), [200], "distinct slow: all 200")
    diag(f"50 distinct uncacheable 200 ms requests took {took:.2f}s")
    check(took < 3.0, f"50 distinct 200 ms requests took {took:.2f}s")

    # Identical and uncacheable (TestLeaseCache_Concurrent_NonCacheable):
    # they may wait for the first, then each looks up again and, still
    # missing, forwards on its own -- in parallel, not one after another.
    sim.reset()  # the request log only
    t0 = time.monotonic()
    results = parallel(50, lambda i: get(port, "sim/slow/200", timeout=15))
    took = time.monotonic() - t0
    errs = [r for r in results if not hasattr(r, "status")]
    check(not errs, f"request errors: {errs[:3]!r}")
    eq(sorted({r.status for r in results}), [200], "all slow requests answered 200")
    eq(len(upstream("sim/slow/200")), 50, "every slow request reached the sim")
    diag(f"50 identical uncacheable 200 ms requests took {took:.2f}s")
    check(took < 3.0, f"50 identical uncacheable 200 ms requests took {took:.2f}s "
                      f"(one after another: 10 s; uncacheable requests must go in parallel)")


@test("coalescing: once an answer was relayed uncached, identical requests stop waiting",
      timeout=40)
def _():
    d = start()
    port = d.port
    # The first answer for this request teaches the cache it is not kept.
    eq(get(port, "sim/slow/1").status, 200, "first read")
    sim.reset()  # the request log only
    # The next one to reach the sim is held for 6 s.  Identical requests
    # that waited for it would reach the sim only after that; these go at
    # once, and all but the held one are answered meanwhile.
    sim.delay(6000, path_prefix="/v1/sim/slow/1", count=1)
    results = [None] * 4
    done = threading.Event()

    def worker(i):
        try:
            results[i] = get(port, "sim/slow/1", timeout=15)
        except Exception as e:  # reported below
            results[i] = e
        if sum(1 for r in results if r is not None) >= 3:
            done.set()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(upstream("sim/slow/1")) == 4, timeout=4.0,
               msg="all four identical requests reached the sim while one was held")
    check(done.wait(timeout=4.0), "three answered while the fourth was held")
    for t in threads:
        t.join(timeout=15)
    errs = [r for r in results if not hasattr(r, "status")]
    check(not errs, f"request errors: {errs[:3]!r}")
    eq(sorted({r.status for r in results}), [200], "all answered 200")


def raw_get_then_close(port, path, linger):
    """Send an identical GET on a raw socket and hang up after `linger` s."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    time.sleep(linger)
    sock.close()


@test("coalescing: clients that hang up while waiting or while leading", timeout=30)
def _():
    d = start()
    port = d.port
    # Waiters hang up: the leader still gets its answer, later ones hit.
    sim.delay(800, path_prefix="/v1/database/creds/hang", count=1)
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("lead", creds(port, "hang")))
    t.start()
    time.sleep(0.2)
    quitters = [threading.Thread(target=raw_get_then_close,
                                 args=(port, "/v1/database/creds/hang", 0.1)) for _ in range(5)]
    for q in quitters:
        q.start()
    stayer = parallel(3, lambda i: creds(port, "hang"))
    t.join(timeout=10)
    for q in quitters:
        q.join(timeout=5)
    lid = miss(out["lead"], "the leader")["lease_id"]
    for r in stayer:
        check(hasattr(r, "status"), f"waiter error {r!r}")
        eq(hit(r, "a waiter that stayed")["lease_id"], lid, "waiter: the leader's lease")
    eq(reads("hang"), 1, "one upstream read")
    check(d.proxy.alive(), "daemon alive after waiters hung up")

    # The leader hangs up: the waiters still get answers of their own.
    sim.delay(800, path_prefix="/v1/database/creds/lead-quit", count=1)
    q = threading.Thread(target=raw_get_then_close,
                         args=(port, "/v1/database/creds/lead-quit", 0.3))
    q.start()
    time.sleep(0.15)
    results = parallel(3, lambda i: creds(port, "lead-quit"))
    q.join(timeout=5)
    for r in results:
        check(hasattr(r, "status"), f"waiter error {r!r}")
        eq(r.status, 200, f"waiter after the leader hung up ({r.body[:200]!r})")
    hit(creds(port, "lead-quit"), "cached afterwards")
    check(d.proxy.alive(), "daemon alive after the leader hung up")


@test("limits: max_entries = 3 (the auto-auth marker takes one); full -> relayed uncached")
def _():
    d = start(cache_extra="  max_entries = 3")
    port = d.port
    l1 = cached_lease(port, "lim1")
    cached_lease(port, "lim2")
    a = miss(creds(port, "lim3"), "third lease: cache full")
    b = miss(creds(port, "lim3"), "third lease again: not cached")
    check(a["lease_id"] != b["lease_id"], "two different leases")
    eq(reads("lim3"), 2, "both reads reached the sim")
    check(not lease_renewals(a["lease_id"]), "no watcher for the uncached lease")
    # A token creation is relayed uncached too.
    t1 = miss(create_token(port, display_name="lim"), "create while full")["auth"]
    t2 = miss(create_token(port, display_name="lim"), "create while full again")["auth"]
    check(t1["client_token"] != t2["client_token"], "token creation not cached while full")
    hit(creds(port, "lim2"), "old entries still served")
    contains(d.proxy.log(), "cache full", "the daemon logs that the cache is full")

    eq(cleared(port, {"type": "lease", "value": l1}), 1, "clear one lease")
    cached_lease(port, "lim3")
    miss(creds(port, "lim4"), "full again")
    miss(creds(port, "lim4"), "full again: not cached")

    n = cleared(port, {"type": "all"})
    eq(n, 3, "all: the marker and two leases")
    cached_lease(port, "lim5")
    cached_lease(port, "lim6")
    miss(creds(port, "lim7"), "after all + 2 leases: full (marker re-registered)")
    miss(creds(port, "lim7"), "still full")
    check(d.proxy.alive(), "daemon alive")


if __name__ == "__main__":
    sys.exit(run())
