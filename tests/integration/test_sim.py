#!/usr/bin/python3
"""TAP self-test of the Vault simulator (and of the harness around it).

Pins the simulator's behaviour so that proxy tests built on it can trust it.
Runs without vaproxyd: the one harness test about daemons stands in
/bin/false for $VAPROXYD.
"""

import base64
import hashlib
import os
import re
import ssl
import signal
import subprocess
import sys
import time

# The script's own directory is on sys.path, so the harness imports directly.
from harness import (PYTHON, SIM_SCRIPT, Client, Proxy, Sim, TestFailure, check, contains, eq,
                     find_named, free_port, make_cert, need_binary, parse_responses, raw,
                     request, run, test, tmpdir, wait_until)

sim = Sim()  # shared by the tests below; each test resets what it touches
ROOT = {"X-Vault-Token": sim.root_token}


def hdr(token):
    return {"X-Vault-Token": token}


def decode_index(value):
    return base64.b64decode(value).decode().split(":")


@test("health needs no token and has Vault's shape")
def _():
    r = request(sim.port, "GET", "/v1/sys/health")
    eq(r.status, 200, "status")
    eq(r.header("Content-Type"), "application/json", "content type")
    eq(r.header("Content-Length"), str(len(r.body)), "content length")
    j = r.json()
    for k, v in {"initialized": True, "sealed": False, "standby": False,
                 "version": "1.15.0-sim", "cluster_name": "sim"}.items():
        eq(j.get(k), v, k)
    check(j.get("cluster_id"), "cluster_id present")


@test("missing and invalid tokens get Vault's 403 texts")
def _():
    r = request(sim.port, "GET", "/v1/secret/data/x")
    eq((r.status, r.json()), (403, {"errors": ["permission denied"]}), "no token")
    r = request(sim.port, "GET", "/v1/auth/token/lookup-self", hdr("hvs.nope"))
    eq((r.status, r.json()), (403, {"errors": ["permission denied", "invalid token"]}),
       "invalid token")
    r = request(sim.port, "GET", "/v1/no/such/route", ROOT)
    eq(r.status, 404, "unknown route with a valid token")


@test("token create, lookup, child revocation")
def _():
    r = sim.api("POST", "auth/token/create", {"ttl": "30s", "policies": ["p1"]})
    eq(r.status, 200, "create status")
    auth = r.json()["auth"]
    check(auth["client_token"].startswith("hvs."), f"token id shape: {auth['client_token']}")
    eq((auth["policies"], auth["lease_duration"], auth["renewable"], auth["orphan"]),
       (["p1"], 30, True, False), "auth block")
    child = auth["client_token"]

    r = sim.api("GET", "auth/token/lookup-self", token=child)
    eq(r.status, 200, "lookup-self status")
    j = r.json()
    eq((j["lease_id"], j["renewable"], j["lease_duration"], j["auth"]), ("", False, 0, None),
       "envelope")
    d = j["data"]
    eq((d["id"], d["accessor"], d["policies"]), (child, auth["accessor"], ["p1"]), "lookup data")
    check(28 <= d["ttl"] <= 30, f"ttl about 30, got {d['ttl']}")

    r = sim.api("POST", "auth/token/lookup", {"token": child})
    eq(r.json()["data"]["id"], child, "lookup by body token")

    # A grandchild dies with its parent; an orphan survives it.
    grand = sim.api("POST", "auth/token/create", {"ttl": 60}, token=child).json()["auth"]
    orphan = sim.api("POST", "auth/token/create-orphan", {"ttl": "1m"}, token=child).json()["auth"]
    eq(orphan["orphan"], True, "create-orphan gives an orphan")
    r = sim.api("POST", "auth/token/revoke", {"token": child})
    eq((r.status, r.body, r.header("Content-Length")), (204, b"", None), "revoke is an empty 204")
    eq(sim.api("GET", "auth/token/lookup-self", token=grand["client_token"]).status, 403,
       "grandchild revoked with parent")
    eq(sim.api("GET", "auth/token/lookup-self", token=orphan["client_token"]).status, 200,
       "orphan survives")
    eq(sim.api("POST", "auth/token/revoke-self", token=orphan["client_token"]).status, 204,
       "revoke-self")
    eq(sim.api("GET", "auth/token/lookup-self", token=orphan["client_token"]).status, 403,
       "revoked by revoke-self")


@test("token renew-self, max_ttl cap, non-renewable refusal")
def _():
    tok = sim.make_token(ttl=2, max_ttl=5)["id"]
    r = sim.api("PUT", "auth/token/renew-self", {"increment": 3}, token=tok)
    eq(r.status, 200, "renew status")
    auth = r.json()["auth"]
    eq((auth["client_token"], auth["lease_duration"], auth["renewable"]), (tok, 3, True), "renewed")
    r = sim.api("PUT", "auth/token/renew-self", {"increment": 100}, token=tok)
    check(r.json()["auth"]["lease_duration"] <= 5, "capped by max_ttl")
    check(r.json()["warnings"], "a warning says the TTL was capped")
    fixed = sim.make_token(ttl=60, renewable=False)["id"]
    r = sim.api("PUT", "auth/token/renew-self", None, token=fixed)
    eq((r.status, r.json()), (400, {"errors": ["lease is not renewable"]}), "non-renewable")


@test("expired token behaves as invalid")
def _():
    tok = sim.make_token(ttl=1)["id"]
    eq(sim.api("GET", "auth/token/lookup-self", token=tok).status, 200, "valid at first")
    r = wait_until(lambda: (lambda r: r if r.status == 403 else None)(
        sim.api("GET", "auth/token/lookup-self", token=tok)), timeout=4, msg="token expiry")
    eq(r.json(), {"errors": ["permission denied", "invalid token"]}, "expired token error")


@test("KV v2 write, read, versions, list, delete")
def _():
    sim.reset(all=True)
    r = sim.api("GET", "secret/data/app/db")
    eq((r.status, r.json()), (404, {"errors": []}), "absent secret")
    r = sim.api("POST", "secret/data/app/db", {"data": {"user": "a"}, "options": {}})
    eq(r.status, 200, "write status")
    eq(r.json()["data"]["version"], 1, "first version")
    sim.api("PUT", "secret/data/app/db", {"data": {"user": "b"}})
    sim.api("POST", "secret/data/app/web/cfg", {"data": {"k": "v"}})
    sim.api("POST", "secret/data/top", {"data": {}})

    j = sim.api("GET", "secret/data/app/db").json()
    for k in ("request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info",
              "warnings", "auth"):
        check(k in j, f"envelope has {k}")
    eq((j["data"]["data"], j["data"]["metadata"]["version"]), ({"user": "b"}, 2), "latest")
    j = sim.api("GET", "secret/data/app/db?version=1").json()
    eq(j["data"]["data"], {"user": "a"}, "?version=1")

    r = sim.api("LIST", "secret/metadata/app")
    eq((r.status, r.json()["data"]["keys"]), (200, ["db", "web/"]), "LIST app")
    r = sim.api("GET", "secret/metadata/?list=true")
    eq(r.json()["data"]["keys"], ["app/", "top"], "GET ?list=true at the root")
    eq(sim.api("LIST", "secret/metadata/nothing").status, 404, "empty list is 404")
    eq(sim.api("GET", "secret/metadata/app/db").json()["data"]["current_version"], 2, "metadata")

    eq(sim.api("DELETE", "secret/data/app/db").status, 204, "soft delete")
    r = sim.api("GET", "secret/data/app/db")
    eq((r.status, r.json()["data"]["data"]), (404, None), "deleted version reads as 404")
    eq(sim.api("DELETE", "secret/metadata/app/db").status, 204, "metadata delete")
    eq(sim.api("GET", "secret/metadata/app/db").status, 404, "all versions gone")


@test("echo keeps header order, case, raw path and body")
def _():
    req = (b"PATCH /v1/sim/echo/a%2Fb//c/?z=1&a=2&a=1 HTTP/1.1\r\n"
           b"host: x\r\nX-Zed: 1\r\nx-vault-TOKEN: t\r\nAccept: */*\r\nX-Zed: 2\r\n"
           b"Content-Length: 5\r\nConnection: close\r\n\r\nhello")
    (r,) = raw(sim.port, req, responses=1)
    eq(r.status, 200, "status")
    j = r.json()
    eq(j["method"], "PATCH", "method")
    eq(j["raw_path"], "/v1/sim/echo/a%2Fb//c/?z=1&a=2&a=1", "raw path")
    eq(j["query"], "z=1&a=2&a=1", "query")
    eq(j["headers"], [["host", "x"], ["X-Zed", "1"], ["x-vault-TOKEN", "t"], ["Accept", "*/*"],
                      ["X-Zed", "2"], ["Content-Length", "5"], ["Connection", "close"]], "headers")
    eq(j["body"], "hello", "body")
    # Any method at all, and no token needed.
    r = request(sim.port, "LIST", "/v1/sim/echo/x")
    eq((r.status, r.json()["method"]), (200, "LIST"), "LIST")
    r = request(sim.port, "FROB", "/v1/sim/echo/x", body=b"")
    eq((r.status, r.json()["method"]), (200, "FROB"), "made-up method")


@test("chunked request bodies, pipelining, malformed requests")
def _():
    req = (b"POST /v1/sim/echo/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
           b"GET /v1/sim/status/201 HTTP/1.1\r\nHost: x\r\n\r\n")
    a, b = raw(sim.port, req, responses=2)
    eq((a.status, a.json()["body"]), (200, "abcde"), "chunked body decoded")
    eq(b.status, 201, "second pipelined response")
    out = raw(sim.port, b"NOT A REQUEST LINE\r\n\r\n")
    (r,) = parse_responses(out)
    eq(r.status, 400, "malformed request line")
    eq(r.header("Content-Type"), "application/json", "even errors are JSON")
    check(r.json()["errors"], "error text present")


@test("status, big and slow endpoints; keep-alive across them")
def _():
    sim.reset()
    with Client(sim.port) as c:
        r = c.request("POST", "/v1/sim/status/418")
        eq((r.status, r.header("X-Sim"), r.json()), (418, "yes", {"errors": ["sim status 418"]}),
           "418")
        r = c.request("GET", "/v1/sim/status/204")
        eq((r.status, r.body), (204, b""), "204 has no body")
        r = c.request("GET", "/v1/sim/status/307?location=/v1/sim/echo/z")
        eq((r.status, r.header("Location")), (307, "/v1/sim/echo/z"), "redirect location")
        r = c.request("GET", "/v1/sim/big/100000")
        eq((r.status, len(r.body)), (200, 100000), "big body size")
        r.json()
        t0 = time.monotonic()
        r = c.request("GET", "/v1/sim/slow/200")
        check(time.monotonic() - t0 >= 0.2, "slow endpoint slept")
        eq(r.json(), {"slept": 200}, "slow body")
    peers = [q["peer"] for q in sim.requests()]
    eq(len(peers), 5, "requests logged")
    eq(len(set(peers)), 1, "all over one keep-alive connection")


@test("fail injection: status, custom body, close without answer")
def _():
    sim.reset()
    sim.fail(count=2, status=503, path_prefix="/v1/sys/health", body={"errors": ["down"]})
    eq(request(sim.port, "GET", "/v1/sys/health").status, 503, "first injected")
    r = request(sim.port, "GET", "/v1/sys/health")
    eq((r.status, r.json()), (503, {"errors": ["down"]}), "second injected, custom body")
    eq(request(sim.port, "GET", "/v1/sys/health").status, 200, "rule used up")
    sim.fail(count=1, status=0, path_prefix="/v1/sim/echo/")
    out = raw(sim.port, b"GET /v1/sim/echo/x HTTP/1.1\r\nHost: x\r\n\r\n")
    eq(out, b"", "status 0 closes the connection without a byte")
    eq(request(sim.port, "GET", "/v1/sim/echo/x").status, 200, "next one answered")
    log = sim.requests("/v1/sim/echo/")
    eq([q["status"] for q in log], [0, 200], "request log statuses")
    eq(sim.stats()["paths"].get("/v1/sys/health"), 3, "stats per path")


@test("delay injection")
def _():
    sim.reset()
    sim.delay(300, path_prefix="/v1/sim/echo/", count=1)
    t0 = time.monotonic()
    request(sim.port, "GET", "/v1/sim/echo/a")
    check(time.monotonic() - t0 >= 0.3, "delayed by 300 ms")
    t0 = time.monotonic()
    request(sim.port, "GET", "/v1/sim/echo/a")
    check(time.monotonic() - t0 < 0.25, "count=1 used up")


@test("request log records method, raw path, headers and token")
def _():
    sim.reset()
    request(sim.port, "LIST", "/v1/secret/metadata/?x=1", [("X-Vault-Token", sim.root_token), ("A", "b")])
    (q,) = sim.requests()
    eq((q["method"], q["path"], q["raw_path"], q["token"]),
       ("LIST", "/v1/secret/metadata/", "/v1/secret/metadata/?x=1", sim.root_token), "entry")
    check(q["status"] in (200, 404), f"answered status recorded: {q['status']}")
    eq(q["headers"][-2:], [["X-Vault-Token", sim.root_token], ["A", "b"]], "headers in wire order")


@test("consistency: index header, 412 while lagging, forward-active-node")
def _():
    sim.reset(all=True)
    sim.consistency(enabled=True, lag=2)
    r = sim.api("POST", "secret/data/c", {"data": {"a": 1}})
    eq(r.status, 200, "write")
    idx = r.header("X-Vault-Index")
    f = decode_index(idx)
    eq(f[:4], ["v1", "sim-cluster", "1", "1"], "index fields")
    check(all(ch in "0123456789abcdef" for ch in f[4]) and f[4], "hex hmac")

    # The standby has not applied index 1 yet: the first request naming it fails...
    old = base64.b64encode(b"v1:sim-cluster:0:0:00").decode()
    r = sim.api("GET", "secret/data/c", headers=[("X-Vault-Index", old), ("X-Vault-Index", idx)])
    eq((r.status, r.json()), (412, {"errors": ["required index state not present"]}), "412")
    check(r.header("X-Vault-Index"), "412 carries the current index too")
    # ...the second is forwarded to the "active node" and succeeds...
    r = sim.api("GET", "secret/data/c", headers=[("X-Vault-Index", idx),
                                                 ("X-Vault-Inconsistent", "forward-active-node")])
    eq(r.status, 200, "forwarded read")
    check(sim.requests("/v1/secret/data/c")[-1]["forwarded"], "logged as forwarded")
    # ...and after `lag` requests the standby has caught up.
    r = sim.api("GET", "secret/data/c", headers=[("X-Vault-Index", idx)])
    eq(r.status, 200, "caught up")
    eq(decode_index(r.header("X-Vault-Index"))[2], "1", "read reports the applied index")
    sim.consistency(enabled=False)
    eq(sim.api("GET", "secret/data/c").header("X-Vault-Index"), None, "no header when disabled")


@test("dynamic secret leases: read, renew, lookup, revoke")
def _():
    sim.lease_duration(7)
    r = sim.api("GET", "database/creds/app")
    eq(r.status, 200, "creds status")
    j = r.json()
    check(j["lease_id"].startswith("database/creds/app/"), f"lease id {j['lease_id']}")
    eq((j["renewable"], j["lease_duration"]), (True, 7), "lease fields")
    check(j["data"]["username"] and j["data"]["password"], "credentials present")
    lid = j["lease_id"]
    r = sim.api("PUT", "sys/leases/renew", {"lease_id": lid, "increment": 20})
    eq((r.status, r.json()["lease_id"], r.json()["lease_duration"]), (200, lid, 20), "renew")
    r = sim.api("PUT", "sys/leases/lookup", {"lease_id": lid})
    check(18 <= r.json()["data"]["ttl"] <= 20, f"lookup ttl {r.json()['data']['ttl']}")
    eq(sim.api("PUT", "sys/leases/revoke", {"lease_id": lid}).status, 204, "revoke")
    r = sim.api("PUT", "sys/leases/renew", {"lease_id": lid})
    eq((r.status, r.json()), (400, {"errors": ["lease not found"]}), "renew after revoke")
    sim.lease_duration(30)


@test("approle login ignores a stale token")
def _():
    ids = sim.approle(role_id="r1", secret_id="s1", ttl=60, policies=["app"])
    r = sim.api("POST", "auth/approle/login", ids, token="hvs.stale")
    eq(r.status, 200, "login")
    auth = r.json()["auth"]
    eq((auth["policies"], auth["orphan"], auth["lease_duration"]), (["app"], True, 60), "auth")
    r = sim.api("POST", "auth/approle/login", {"role_id": "r1", "secret_id": "bad"}, token="")
    eq(r.status, 400, "wrong secret id")


@test("response wrapping: any answer, lookup, single-use unwrap, expiry")
def _():
    sim.reset(all=True)
    r = sim.api("POST", "auth/token/create", {"ttl": 60}, headers={"X-Vault-Wrap-TTL": "5m0s"})
    eq(r.status, 200, "wrapped create")
    j = r.json()
    eq((j["auth"], j["data"]), (None, None), "nothing but wrap_info")
    wi = j["wrap_info"]
    eq(sorted(wi), ["accessor", "creation_path", "creation_time", "token", "ttl",
                    "wrapped_accessor"], "wrap_info fields")
    eq((wi["ttl"], wi["creation_path"]), (300, "auth/token/create"), "ttl and path")
    check(wi["token"] and wi["wrapped_accessor"], "token and wrapped accessor set")
    r = sim.wrap_lookup(wi["token"])
    eq(r.status, 200, "lookup with X-Vault-Token")
    eq((r.json()["data"]["creation_path"], r.json()["data"]["creation_ttl"]),
       ("auth/token/create", 300), "lookup data")
    check(r.json()["data"]["creation_time"], "creation_time")
    r = sim.api("POST", "sys/wrapping/lookup", {"token": wi["token"]}, token="")
    eq(r.status, 200, "lookup with a body token, no X-Vault-Token")
    r = sim.api("PUT", "sys/wrapping/unwrap", b"null", token=wi["token"])
    eq(r.status, 200, "unwrap with a null body")
    auth = r.json()["auth"]
    eq(auth["accessor"], wi["wrapped_accessor"], "the wrapped token")
    eq(sim.api("GET", "auth/token/lookup-self", token=auth["client_token"]).status, 200,
       "unwrapped token works")
    for what, r in (("unwrap", sim.unwrap(wi["token"])), ("lookup", sim.wrap_lookup(wi["token"]))):
        eq((r.status, r.json()), (400, {"errors": ["wrapping token is not valid or does not exist"]}),
           f"{what} after the unwrap")

    info = sim.api("POST", "sys/wrapping/wrap", {"a": "b"},
                   headers={"X-Vault-Wrap-TTL": "60"}).json()["wrap_info"]
    eq((info["creation_path"], info["ttl"]), ("sys/wrapping/wrap", 60), "sys/wrapping/wrap")
    eq(sim.unwrap(info["token"]).json()["data"], {"a": "b"}, "unwrapped data")
    info = sim.wrap({"x": 1}, ttl=1, creation_path="some/path")
    eq(sim.wrap_lookup(info["token"]).json()["data"]["creation_path"], "some/path", "control wrap")
    wait_until(lambda: sim.wrap_lookup(info["token"]).status == 400, timeout=4,
               msg="wrapping token expiry")
    r = sim.api("GET", "sys/health", headers={"X-Vault-Wrap-TTL": "1m"})
    eq((r.status, "wrap_info" in r.json()), (200, False), "health is never wrapped")
    eq(sim.api("GET", "auth/token/lookup-self", headers={"X-Vault-Wrap-TTL": "soon"}).status,
       400, "a bad wrap TTL is refused")


@test("approle: bind_secret_id, single-use secret ids, role API, token TTL options")
def _():
    sim.reset(all=True)
    ids = sim.approle(role_name="app", token_ttl="2s", token_max_ttl=4, token_renewable=True,
                      secret_id_num_uses=1)
    eq(sorted(ids), ["role_id", "role_name", "secret_id"], "answer fields")
    r = sim.api("PUT", "auth/approle/login", {"role_id": ids["role_id"]}, token="")
    eq((r.status, r.json()), (400, {"errors": ["missing secret_id"]}), "secret id required")
    r = sim.api("PUT", "auth/approle/login", ids, token="")
    eq(r.status, 200, "login")
    auth = r.json()["auth"]
    eq((auth["lease_duration"], auth["renewable"], auth["metadata"]), (2, True, {"role_name": "app"}),
       "token options")
    eq(sim.api("PUT", "auth/approle/login", ids, token="").status, 400, "single-use secret id")
    more = sim.approle_secret_id(role_name="app", num_uses=0)
    eq(sim.api("PUT", "auth/approle/login", {"role_id": ids["role_id"],
                                             "secret_id": more["secret_id"]}, token="").status,
       200, "a second secret id, unlimited")
    eq(sim.api("PUT", "auth/approle/login", {"role_id": ids["role_id"],
                                             "secret_id": more["secret_id"]}, token="").status,
       200, "used again")
    r = sim.api("GET", "auth/approle/role/app/role-id")
    eq(r.json()["data"]["role_id"], ids["role_id"], "role-id API")
    r = sim.api("POST", "auth/approle/role/app/secret-id", {})
    sid = r.json()["data"]["secret_id"]
    eq(sim.api("PUT", "auth/approle/login", {"role_id": ids["role_id"], "secret_id": sid},
               token="").status, 200, "secret id from the role API")

    free = sim.approle(role_id="free-role", bind_secret_id=False, ttl=1)
    r = sim.api("PUT", "auth/approle/login", {"role_id": free["role_id"]}, token="")
    eq((r.status, r.json()["auth"]["lease_duration"]), (200, 1), "role-id-only login")
    eq([a["logins"] for a in sim.state()["approles"] if a["role_id"] == "free-role"], [1],
       "logins counted in the state")


@test("approle: wrapped secret ids (control and role API) and wrapped logins")
def _():
    sim.reset(all=True)
    ids = sim.approle(role_name="web", wrap=True, wrap_ttl=120)
    wt = ids["wrapping_token"]
    eq((ids["wrap_info"]["creation_path"], ids["wrap_info"]["ttl"]),
       ("auth/approle/role/web/secret-id", 120), "wrap info")
    r = sim.wrap_lookup(wt)
    eq(r.json()["data"]["creation_path"], "auth/approle/role/web/secret-id", "lookup")
    r = sim.unwrap(wt)
    eq(r.json()["data"]["secret_id"], ids["secret_id"], "unwrapped secret id")
    eq(sim.unwrap(wt).status, 400, "single use")
    more = sim.approle_secret_id(role_id=ids["role_id"], wrap=True)
    sid = sim.unwrap(more["wrapping_token"]).json()["data"]["secret_id"]
    eq(sid, more["secret_id"], "second wrapped secret id")
    r = sim.api("POST", "auth/approle/role/web/secret-id", {},
                headers={"X-Vault-Wrap-TTL": "30s"})
    eq(r.json()["wrap_info"]["creation_path"], "auth/approle/role/web/secret-id",
       "the role API wraps like Vault")
    # A login itself can be wrapped.
    r = sim.api("PUT", "auth/approle/login", {"role_id": ids["role_id"], "secret_id": sid},
                token="", headers={"X-Vault-Wrap-TTL": "1m"})
    eq((r.status, r.json()["auth"]), (200, None), "wrapped login")
    wi = r.json()["wrap_info"]
    eq((wi["creation_path"], wi["ttl"]), ("auth/approle/login", 60), "login wrap info")
    auth = sim.unwrap(wi["token"]).json()["auth"]
    eq(auth["accessor"], wi["wrapped_accessor"], "wrapped accessor is the token's")


@test("kubernetes: role and JWTs, rotation, 403, mount alias")
def _():
    sim.reset(all=True)
    sim.kubernetes("dev", jwt="jwt-1", token_ttl=3, policies=["k8s"])
    r = sim.api("PUT", "auth/kubernetes/login", {"role": "dev", "jwt": "jwt-1"}, token="hvs.stale")
    eq(r.status, 200, "login")
    auth = r.json()["auth"]
    eq((auth["lease_duration"], auth["policies"], auth["metadata"]["role"]), (3, ["k8s"], "dev"),
       "auth block")
    for body in ({"role": "dev", "jwt": "jwt-2"}, {"role": "ops", "jwt": "jwt-1"}):
        r = sim.api("PUT", "auth/kubernetes/login", body, token="")
        eq((r.status, r.json()), (403, {"errors": ["permission denied"]}), f"refused: {body}")
    eq(sim.kubernetes("dev", jwt="jwt-2")["jwts"], ["jwt-1", "jwt-2"], "rotation: both accepted")
    eq(sim.api("PUT", "auth/kubernetes/login", {"role": "dev", "jwt": "jwt-2"}, token="").status,
       200, "new JWT")
    eq(sim.kubernetes("dev", jwts=["jwt-3"], replace=True)["jwts"], ["jwt-3"], "replace")
    eq(sim.api("PUT", "auth/kubernetes/login", {"role": "dev", "jwt": "jwt-1"}, token="").status,
       403, "old JWT refused after replace")
    sim.mount("auth/k8s", "kubernetes")
    eq(sim.api("PUT", "auth/k8s/login", {"role": "dev", "jwt": "jwt-3"}, token="").status, 200,
       "mount alias")
    eq(sim.api("PUT", "auth/k8s/login", {"jwt": "jwt-3"}, token="").status, 400, "missing role")


@test("short login token TTLs: renew-self capped by max TTL, then expiry")
def _():
    sim.reset(all=True)
    sim.kubernetes("short", jwt="j", token_ttl=1, token_max_ttl=2)
    tok = sim.api("PUT", "auth/kubernetes/login", {"role": "short", "jwt": "j"},
                  token="").json()["auth"]["client_token"]
    r = sim.api("PUT", "auth/token/renew-self", {"increment": 0}, token=tok)
    eq((r.status, r.json()["auth"]["lease_duration"]), (200, 1), "renewed for the role TTL")
    r = sim.api("PUT", "auth/token/renew-self", {"increment": 60}, token=tok)
    check(r.json()["auth"]["lease_duration"] <= 2 and r.json()["warnings"], "capped by max TTL")
    wait_until(lambda: sim.api("GET", "auth/token/lookup-self", token=tok).status == 403,
               timeout=4, msg="expiry at max TTL")


@test("cert auth: client certificates by CN and fingerprint, name, 403, request log")
def _():
    d = tmpdir()
    os.makedirs(os.path.join(d, "server"))
    server = make_cert(os.path.join(d, "server"))
    certs = {}
    for cn in ("client-a", "client-b", "client-c"):
        sub = os.path.join(d, cn)
        os.makedirs(sub)
        certs[cn] = make_cert(sub, cn=cn)
    ca = os.path.join(d, "clients-ca.pem")
    with open(ca, "w") as out:
        for cert, _ in certs.values():
            out.write(open(cert).read())
    fp_b = hashlib.sha256(ssl.PEM_cert_to_DER_cert(open(certs["client-b"][0]).read())).hexdigest()
    csim = Sim(tls=server, client_ca=ca)
    csim.cert_role("role-a", cn="client-a", token_ttl=5)
    csim.cert_role("role-b", fingerprint=fp_b.upper())
    r = csim.cert_login(*certs["client-a"])
    eq(r.status, 200, f"CN match: {r.body!r}")
    auth = r.json()["auth"]
    eq((auth["metadata"]["cert_name"], auth["lease_duration"]), ("role-a", 5), "role-a")
    r = csim.cert_login(*certs["client-b"], name="role-b")
    eq((r.status, r.json()["auth"]["metadata"]["cert_name"]), (200, "role-b"), "fingerprint match")
    eq(csim.cert_login(*certs["client-a"], name="role-b").status, 403, "named role must match")
    eq(csim.cert_login(*certs["client-c"]).status, 403, "trusted but no role")
    eq(csim.cert_login().status, 400, "no client certificate")
    csim.mount("auth/certs", "cert")
    eq(csim.cert_login(*certs["client-a"], mount="auth/certs").status, 200, "mount alias")
    log = csim.requests("/v1/auth/cert/")
    eq([(q["client_cert"], q["client_cn"]) for q in log],
       [(True, "client-a"), (True, "client-b"), (True, "client-a"), (True, "client-c"),
        (False, None)], "request log")
    # Control and API calls need no client certificate.
    eq(csim.api("GET", "auth/token/lookup-self").status, 200, "no cert needed elsewhere")
    r = csim.api("PUT", "auth/cert/login", {})
    eq(r.status, 400, "no certificate on the API path either")
    eq(sim.cert_login().status, 400, "plain HTTP sim: no cert")


@test("TLS mode")
def _():
    cert, key = make_cert()
    tsim = Sim(tls=(cert, key))
    eq(tsim.addr, f"https://127.0.0.1:{tsim.port}", "https address")
    r = request(tsim.addr, "GET", "/v1/sys/health", tls_ctx=tsim.tls_ctx)
    eq(r.status, 200, "health over verified TLS")
    eq(tsim.api("GET", "auth/token/lookup-self").json()["data"]["id"], tsim.root_token,
       "root lookup")


@test("sim exits cleanly on SIGTERM even with an idle keep-alive connection")
def _():
    s = Sim()
    c = Client(s.port)
    eq(c.request("GET", "/v1/sys/health").status, 200, "connection open")
    t0 = time.monotonic()
    eq(s.stop(signal.SIGTERM, timeout=5), 0, "exit status")
    check(time.monotonic() - t0 < 3, "prompt exit")
    c.close()


@test("harness: Proxy fails fast when the daemon exits")
def _():
    # Pin the harness, not the daemon: stand in a program that exits at once.
    saved = os.environ.get("VAPROXYD")
    os.environ["VAPROXYD"] = need_binary("false")
    try:
        port = free_port()
        p = Proxy('listener "tcp" { address = "127.0.0.1:{port}" }', port=port)
    finally:
        if saved is None:
            del os.environ["VAPROXYD"]
        else:
            os.environ["VAPROXYD"] = saved
    eq(open(p.config_path).read(), 'listener "tcp" { address = "127.0.0.1:%d" }' % port,
       "template filled in")
    check(p.config_path.endswith(".hcl"), "HCL file name")
    t0 = time.monotonic()
    try:
        p.wait_ready(timeout=8)
    except TestFailure as e:
        contains(str(e), "exited with status 1", "failure message")
    else:
        raise TestFailure("wait_ready succeeded against a daemon that exited")
    check(time.monotonic() - t0 < 5, "did not wait out the whole timeout")


TOKEN_SHAPE = re.compile(r"^hvs\.[A-Za-z0-9]{24}$")


@test("the root token is random, Vault-shaped, new per simulator; a given one is kept")
def _():
    check(TOKEN_SHAPE.match(sim.root_token), f"shape: {sim.root_token!r}")
    eq(request(sim.port, "GET", "/v1/auth/token/lookup-self", ROOT).status, 200,
       "the root token works")
    eq(request(sim.port, "GET", "/v1/auth/token/lookup-self", hdr("root")).status, 403,
       "the word root is no token")
    other = Sim()
    check(TOKEN_SHAPE.match(other.root_token) and other.root_token != sim.root_token,
          f"a second simulator has a token of its own: {other.root_token!r}")
    other.stop()
    given = Sim(root_token="hvs.given")
    eq(given.api("GET", "auth/token/lookup-self").json()["data"]["id"], "hvs.given",
       "an explicit root token")
    given.stop()


@test("vaultsim.py run by hand without --root-token makes up a random one")
def _():
    d = tmpdir("sim-cli-")
    port_file = os.path.join(d, "port")
    proc = subprocess.Popen([PYTHON, SIM_SCRIPT, "--port", "0", "--port-file", port_file],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: os.path.exists(port_file), timeout=10, msg="its port file")
        with open(port_file) as f:
            port = int(f.read())
        state = request(port, "GET", "/_sim/state").json()
        ids = [t["id"] for t in state["tokens"]]
        eq(len(ids), 1, f"one token at start: {ids}")
        check(TOKEN_SHAPE.match(ids[0]), f"shape: {ids[0]!r}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@test("find_named walks into dot-directories, where glob's ** does not look")
def _():
    d = tmpdir("find-")
    deep = os.path.join(d, "home", ".local", "share", "aclocal")
    os.makedirs(deep)
    os.makedirs(os.path.join(d, "other"))
    for where in (deep, os.path.join(d, "other")):
        with open(os.path.join(where, "x.m4"), "w") as f:
            f.write("")
    eq(find_named(d, "x.m4"), sorted([os.path.join(deep, "x.m4"),
                                      os.path.join(d, "other", "x.m4")]), "every x.m4")
    eq(find_named(d, "x.m4", parent="aclocal"), [os.path.join(deep, "x.m4")],
       "only the one in an aclocal directory")


if __name__ == "__main__":
    sys.exit(run())
