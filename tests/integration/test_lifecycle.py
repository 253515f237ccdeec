#!/usr/bin/python3
"""TAP integration tests of the auto-auth lifecycle (vaproxyd(8)): login
backoff growth, cap and reset; exit_on_err for every method; exit_after_auth
waiting for every sink; self-healing of a revoked auto-auth token (re-login
and one transparent retry; requests wait for the new token); and log
secrecy at debug level.
"""

import json
import os
import subprocess
import sys
import threading
import time

from harness import (rec_body, rec_header, read_text, write_atomic, Proxy, Sim, check, contains, diag, eq, free_port, need_binary, request,
                     run, test, tmpdir, wait_until)

sim = Sim()

ENV = {"VAPROXY_RETRY_WAIT_MS": "20,30"}


# --------------------------------------------------------------------------
# helpers (each test file is standalone)

def hcl_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))


def hcl_map(d, indent="      "):
    return "\n".join(f"{indent}{k} = {hcl_value(v)}" for k, v in d.items())


def config(addr, method, cfg, opts=None, sinks=None, vault=None, top="", port=None,
           use_auto_auth_token=None):
    opts = dict({"min_backoff": "200ms", "max_backoff": "1s"}, **(opts or {}))
    vault = dict({"address": addr}, **(vault or {}))
    sink_text = ""
    for s in sinks or []:
        s = dict(s)
        sink_cfg = s.pop("config")
        sink_text += ("  sink \"file\" {\n" + hcl_map(s, "    ") + "\n    config = {\n"
                      + hcl_map(sink_cfg) + "\n    }\n  }\n")
    extra = ""
    if use_auto_auth_token is not None:
        extra += f"api_proxy {{\n  use_auto_auth_token = {hcl_value(use_auto_auth_token)}\n}}\n"
    if port is not None:
        extra += (f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n'
                  f"  tls_disable = true\n}}\n")
    return f"""
vault {{
{hcl_map(vault, "  ")}
  retry {{ num_retries = -1 }}
}}
{top}
auto_auth {{
  method "{method}" {{
{hcl_map(opts, "    ")}
    config = {{
{hcl_map(cfg)}
    }}
  }}
{sink_text}}}
{extra}
"""


def start(text, args=(), env=None, port=None):
    e = dict(ENV)
    e.update(env or {})
    p = Proxy(text, args=args, env=e, port=port)
    if port is not None:
        p.wait_ready(port)
    return p


# Shared with the other scripts (harness.py).
write, read, header, body = write_atomic, read_text, rec_header, rec_body



def logins(path, s=None):
    return [q for q in (s or sim).requests(path) if q["method"] == "PUT"]


def renewals(token, s=None):
    return [q for q in (s or sim).requests("/v1/auth/token/renew-self") if q["token"] == token]


def tagged(tag):
    return [q for q in sim.requests("/v1/") if ["X-Case", tag] in q["headers"]]


def wait_sink(path, timeout=6, not_in=(), p=None):
    def ready():
        if p is not None and not p.alive():
            raise AssertionError(f"vaproxyd exited ({p.proc.returncode}):\n{p.log_tail()}")
        c = read(path)
        return c if c and c not in not_in else None
    return wait_until(ready, timeout=timeout, msg=f"a token in {path}")


def approle_setup(d, role, secret=True):
    rid, sid = os.path.join(d, "role-id"), os.path.join(d, "secret-id")
    write(rid, role["role_id"])
    cfg = {"role_id_file_path": rid}
    if secret:
        write(sid, role["secret_id"] if secret is True else secret)
        cfg["secret_id_file_path"] = sid
    return cfg


def gaps(reqs):
    t = [q["time"] for q in reqs]
    return [round(b - a, 3) for a, b in zip(t, t[1:])]


def openssl(*args):
    subprocess.run([need_binary("openssl")] + list(args), check=True, capture_output=True,
                   timeout=30)


def make_pki():
    """CA, server certificate (localhost/127.0.0.1) and client certificate
    signed by it, made with the openssl CLI -> dict of paths."""
    d = tmpdir("pki-")
    p = {k: os.path.join(d, k) for k in ("ca.pem", "ca.key", "server.pem", "server.key",
                                          "server-chain.pem", "client.pem", "client.key")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-days", "2", "-keyout", p["ca.key"], "-out", p["ca.pem"],
            "-subj", "/CN=vaproxy test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, cn, ext in (
            ("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                    "extendedKeyUsage=serverAuth\n"),
            ("client", "vaproxy-client", "extendedKeyUsage=clientAuth\n")):
        csr, extf = os.path.join(d, name + ".csr"), os.path.join(d, name + ".ext")
        with open(extf, "w") as f:
            f.write(ext)
        openssl("req", "-new", *ec, "-keyout", p[name + ".key"], "-out", csr, "-subj",
                f"/CN={cn}")
        openssl("x509", "-req", "-in", csr, "-CA", p["ca.pem"], "-CAkey", p["ca.key"],
                "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
                "-out", p[name + ".pem"], "-extfile", extf)
    with open(p["server-chain.pem"], "w") as out:
        for f in ("server.pem", "ca.pem"):
            with open(p[f]) as src:
                out.write(src.read())
    return p


# --------------------------------------------------------------------------
# backoff

@test("backoff: login retry gaps start at min_backoff, grow, are capped; reset after success")
def _():
    sim.reset()
    role = sim.approle(role_name="backoff", ttl=2, renewable=False)
    d = tmpdir("backoff-")
    sink = os.path.join(d, "sink")
    path = "/v1/auth/approle/login"
    sim.fail(count=6, status=500, path_prefix=path)
    p = start(config(sim.addr, "approle", approle_setup(d, role),
                     opts={"min_backoff": "200ms", "max_backoff": "1s"},
                     sinks=[{"config": {"path": sink}}]))
    t1 = wait_sink(sink, timeout=10, p=p)
    # Arm the next failure streak before the re-login of the 2 s token.
    sim.fail(count=3, status=500, path_prefix=path)
    first = logins(path)
    eq([q["status"] for q in first], [500] * 6 + [200], "six failures, then a success")
    g = gaps(first)
    diag(f"gaps between failed logins: {g}")
    check(0.19 <= g[0] <= 0.32, f"first wait is min_backoff (200 ms): {g[0]}s")
    for k in range(1, len(g)):
        prev, cur = g[k - 1], g[k]
        expect_hi = min(2 * prev, 1.0)
        check(cur <= expect_hi + 0.1,
              f"gap {k + 1} ({cur}s) at most double the previous ({prev}s), capped at 1 s")
        check(cur >= 0.75 * min(2 * (prev - 0.1), 1.0) - 0.03,
              f"gap {k + 1} ({cur}s) at least 75% of min(2 x {prev}s, 1 s)")
    check(g[2] > g[0] * 2, f"the waits grow: {g}")
    check(max(g) <= 1.1, f"capped at max_backoff: {g}")
    check(min(g[-2:]) >= 0.72, f"the last waits sit at the cap (75-100% of 1 s): {g}")

    # The non-renewable token is replaced before it expires: that login
    # and the next two fail, and the waits start again from min_backoff.
    t2 = wait_sink(sink, timeout=8, not_in=(t1,), p=p)
    second = logins(path)[len(first):]
    eq([q["status"] for q in second][:4], [500, 500, 500, 200], "the second streak")
    g2 = gaps(second[:4])
    diag(f"gaps after the reset: {g2}")
    check(0.19 <= g2[0] <= 0.32, f"after a success the first wait is min_backoff again: {g2[0]}s")
    check(g2[1] > g2[0] + 0.05, f"and grows again: {g2}")
    check(t2 != t1, "a new token")


@test("renewal failures: the first keeps the token until near expiry, a later one re-logs in")
def _():
    sim.reset()
    role = sim.approle(role_name="renewfail", ttl=3)
    d = tmpdir("renewfail-")
    sink = os.path.join(d, "sink")
    path = "/v1/auth/approle/login"
    # The renewal right after the login fails once.
    sim.fail(count=1, status=500, path_prefix="/v1/auth/token/renew-self")
    p = start(config(sim.addr, "approle", approle_setup(d, role),
                     sinks=[{"config": {"path": sink}}]))
    t1 = wait_sink(sink, p=p)
    t2 = wait_sink(sink, timeout=5, not_in=(t1,), p=p)
    ls = logins(path)
    eq(len(ls), 2, "two logins")
    r1 = renewals(t1)
    eq([q["status"] for q in r1], [500], "one failed renewal of t1, nothing else")
    gap = ls[1]["time"] - ls[0]["time"]
    check(2.0 <= gap <= 3.0, f"t1 was used until shortly before its 3 s TTL ran out "
                             f"(re-login after {gap:.2f}s), no login loop")
    # t2 renews normally; when a later renewal fails, the login is immediate.
    wait_until(lambda: [q["status"] for q in renewals(t2)][:1] == [200], timeout=3,
               msg="t2 renewed")
    sim.fail(count=1, status=500, path_prefix="/v1/auth/token/renew-self")
    t3 = wait_sink(sink, timeout=5, not_in=(t1, t2), p=p)
    failed = [q for q in renewals(t2) if q["status"] == 500]
    eq(len(failed), 1, "one failed renewal of t2")
    ls = logins(path)
    eq(len(ls), 3, "third login")
    gap = ls[2]["time"] - failed[0]["time"]
    check(gap < 0.5, f"the re-login followed the failed renewal at once ({gap:.2f}s)")
    check(t3 and t3 != t2, "a new token")


# --------------------------------------------------------------------------
# exit_on_err / exit_after_auth

@test("exit_on_err: a failing login exits non-zero at once, for every method")
def _():
    sim.reset()
    cases = []
    d = tmpdir("eoe-")

    def case(name, method, cfg, opts=None, addr=None, mount=None):
        o = dict(opts or {}, exit_on_err=True)
        if mount:
            o["mount_path"] = mount
        sink = os.path.join(d, name + ".sink")
        p = start(config(addr or sim.addr, method, cfg, opts=o,
                         sinks=[{"config": {"path": sink}}]))
        cases.append((name, p, sink, mount))

    for m in ("approle-bad", "approle-200", "approle-nowrap"):
        sim.mount("auth/" + m, "approle")
    good = sim.approle(role_name="eoe", ttl=600)
    case("approle: wrong secret id", "approle", approle_setup(tmpdir("eoe-a-"), good, "nope"),
         mount="auth/approle-bad")
    case("approle: no role-id file", "approle",
         {"role_id_file_path": os.path.join(d, "absent")})
    # 200 without a token (Vault Proxy exits 0 there, a bug vaproxyd does not copy).
    sim.fail(count=-1, status=200, path_prefix="/v1/auth/approle-200/login",
             body={"auth": None, "data": {}})
    case("approle: 200 without auth", "approle", approle_setup(tmpdir("eoe-b-"), good),
         mount="auth/approle-200")
    sim.fail(count=-1, status=200, path_prefix="/v1/auth/approle-nowrap/login",
             body={"wrap_info": None, "auth": None})
    case("approle: wrap_ttl, no wrap_info", "approle", approle_setup(tmpdir("eoe-c-"), good),
         opts={"wrap_ttl": "1m"}, mount="auth/approle-nowrap")
    sim.kubernetes("eoe", jwt="eyJ.good.jwt")
    jf = os.path.join(d, "jwt")
    write(jf, "eyJ.wrong.jwt")
    case("kubernetes: rejected JWT", "kubernetes", {"role": "eoe", "token_path": jf})
    case("kubernetes: no JWT file", "kubernetes",
         {"role": "eoe", "token_path": os.path.join(d, "no-jwt")})
    tf = os.path.join(d, "token")
    write(tf, "hvs.rejected-token")
    case("token_file: rejected token", "token_file", {"token_file_path": tf})
    pki = make_pki()
    tls = Sim(tls=(pki["server-chain.pem"], pki["server.key"]), client_ca=pki["ca.pem"])
    tls.cert_role("someone-else", cn="not-this-client")
    case("cert: no matching role", "cert",
         {"client_cert": pki["client.pem"], "client_key": pki["client.key"],
          "ca_cert": pki["ca.pem"]}, addr=tls.addr)

    for name, p, sink, mount in cases:
        rc = p.wait_exit(timeout=10)
        diag(f"{name}: exit status {rc}")
        check(rc != 0, f"{name}: exit status must not be 0\n{p.log_tail()}")
        check(rc > 0, f"{name}: an exit, not a signal ({rc})")
        eq(read(sink), None, f"{name}: nothing written to the sink")
        if name == "kubernetes: no JWT file":
            contains(p.log(), "error reading JWT with Kubernetes Auth", f"{name}: log")
        if mount:
            eq(len(logins(f"/v1/{mount}/login")), 1, f"{name}: one attempt, no backoff retry")
    eq(len(tls.requests("/v1/auth/cert/login")), 1, "cert: one attempt")
    check(tls.requests("/v1/auth/cert/login")[0]["client_cert"], "cert: certificate presented")


@test("exit_after_auth: exits 0 only once both sinks (one of them wrapping) are written")
def _():
    sim.reset()
    role = sim.approle(role_name="eaa", ttl=600)
    d = tmpdir("eaa-")
    a, b = os.path.join(d, "plain"), os.path.join(d, "wrapped")
    # The wrapping sink's write waits on a slow upstream answer.
    sim.delay(1200, path_prefix="/v1/sys/wrapping/wrap", count=1)
    p = start(config(sim.addr, "approle", approle_setup(d, role), top="exit_after_auth = true",
                     sinks=[{"config": {"path": a}},
                            {"wrap_ttl": "5m", "config": {"path": b}}]))
    rc = p.wait_exit(timeout=10)
    eq(rc, 0, f"exit status\n{p.log_tail()}")
    tok = read(a)
    check(tok and tok.startswith("hvs."), f"plain sink holds a token: {tok!r}")
    text = read(b)
    check(text is not None, "the wrapping sink was written before the exit")
    wi = json.loads(text)
    eq(wi["creation_path"], "sys/wrapping/wrap", "wrap_info in the second sink")
    r = sim.unwrap(wi["token"])
    eq((r.status, r.json()["data"]["token"]), (200, tok), "both sinks hold the same token")
    eq(len(logins("/v1/auth/approle/login")), 1, "one login")
    # Without any file sink (only the in-memory one of use_auto_auth_token)
    # the first token ends it.
    tok = sim.make_token(ttl=600)["id"]
    tf = os.path.join(d, "token")
    write(tf, tok)
    p = start(config(sim.addr, "token_file", {"token_file_path": tf},
                     top="exit_after_auth = true", port=free_port(), use_auto_auth_token=True))
    eq(p.wait_exit(timeout=10), 0, f"no sinks: exit status\n{p.log_tail()}")
    check([q for q in sim.requests("/v1/auth/token/lookup-self") if q["token"] == tok
           and q["status"] == 200], "no sinks: it logged in first")


# --------------------------------------------------------------------------
# self-healing: a revoked auto-auth token is replaced by a new login

def heal_daemon(ttl=600):
    sim.reset()
    role = sim.approle(role_name="heal", ttl=ttl)
    d = tmpdir("heal-")
    sink = os.path.join(d, "sink")
    port = free_port()
    p = start(config(sim.addr, "approle", approle_setup(d, role),
                     sinks=[{"config": {"path": sink}}], port=port, use_auto_auth_token=True),
              port=port)
    t1 = wait_sink(sink, p=p)
    wait_until(lambda: renewals(t1), timeout=3, msg="the first renewal")
    return p, port, sink, t1


def lookup(port, tag, timeout=15):
    return request(port, "GET", "/v1/auth/token/lookup-self", [("X-Case", tag)],
                   timeout=timeout)


@test("self-healing: a revoked auto-auth token is replaced and the request retried; no 403")
def _():
    p, port, sink, t1 = heal_daemon()
    r = lookup(port, "before")
    eq((r.status, [q["token"] for q in tagged("before")]), (200, [t1]), "t1 in use")
    sim.revoke(t1)
    r = lookup(port, "heal")
    eq(r.status, 200, f"the client never sees the 403: {r.body[:300]!r}")
    check(r.json()["data"]["policies"], "a real lookup answer")
    t2 = wait_sink(sink, timeout=3, not_in=(t1,), p=p)
    up = tagged("heal")
    eq([(q["status"], q["token"]) for q in up], [(403, t1), (200, t2)],
       "upstream: the 403 with the old token, then the retry with the new one")
    ls = logins("/v1/auth/approle/login")
    eq(len(ls), 2, "one re-login")
    check(up[0]["seq"] < ls[1]["seq"] < up[1]["seq"],
          "order: 403, then the new login, then the retried request")
    r = lookup(port, "after")
    eq((r.status, [q["token"] for q in tagged("after")]), (200, [t2]), "t2 used from now on")
    # A write is retried with its body intact.
    sim.revoke(t2)
    doc = {"data": {"user": "app", "n": 7}}
    r = request(port, "PUT", "/v1/secret/data/healed", [("X-Case", "put")], body=doc)
    eq(r.status, 200, f"healed write: {r.body[:200]!r}")
    t3 = wait_sink(sink, timeout=3, not_in=(t1, t2), p=p)
    up = tagged("put")
    eq([(q["method"], q["status"], q["token"]) for q in up],
       [("PUT", 403, t2), ("PUT", 200, t3)], "the write: 403, then the retry")
    eq([json.loads(q["body"]) for q in up], [doc, doc], "the same body both times")
    r = sim.api("GET", "secret/data/healed")
    eq((r.status, r.json()["data"]["data"]), (200, doc["data"]), "stored once, as sent")


@test("self-healing: a request while the token is dead waits for the slow re-login")
def _():
    p, port, sink, t1 = heal_daemon()
    sim.revoke(t1)
    sim.delay(2500, path_prefix="/v1/auth/approle/login", count=1)
    out = {}

    def go(tag):
        t0 = time.monotonic()
        try:
            out[tag] = (lookup(port, tag), time.monotonic() - t0)
        except Exception as e:  # reported below
            out[tag] = (e, time.monotonic() - t0)

    ta = threading.Thread(target=go, args=("A",), daemon=True)
    ta.start()
    # A's 403 marks the token dead and starts the (delayed) re-login.
    wait_until(lambda: len(sim.requests("/v1/auth/approle/login")) >= 2, timeout=5,
               msg="the re-login under way")
    tb = threading.Thread(target=go, args=("B",), daemon=True)
    tb.start()
    ta.join(15)
    tb.join(15)
    check("A" in out and "B" in out, f"both requests finished: {out!r}")
    (ra, _), (rb, waited) = out["A"], out["B"]
    check(not isinstance(rb, Exception), f"B failed: {rb!r}")
    eq(ra.status, 200, f"A healed: {ra.body[:200]!r}")
    eq(rb.status, 200, f"B waited for the new token: {rb.body[:200]!r}")
    t2 = read(sink)
    check(t2 != t1, "a new token in the sink")
    eq([(q["status"], q["token"]) for q in tagged("B")], [(200, t2)],
       "B went upstream once, with the new token only (never the dead one)")
    eq([(q["status"], q["token"]) for q in tagged("A")], [(403, t1), (200, t2)], "A's attempts")
    check(waited >= 1.0, f"B waited for the login (took {waited:.2f}s)")


@test("self-healing only for the auto-auth token's 'invalid token'; one retry at most")
def _():
    p, port, sink, t1 = heal_daemon()
    path = "/v1/auth/approle/login"
    # A plain permission denial (policy) is not an invalid token.
    sim.fail(count=1, status=403, path_prefix="/v1/secret/data/denied",
             body={"errors": ["permission denied"]})
    r = request(port, "GET", "/v1/secret/data/denied", [("X-Case", "denied")])
    eq(r.status, 403, "policy denial relayed")
    eq([q["token"] for q in tagged("denied")], [t1], "sent once")
    # A client's own bad token is the client's business.
    r = request(port, "GET", "/v1/auth/token/lookup-self",
                [("X-Case", "client"), ("X-Vault-Token", "hvs.bogus-client-token")])
    eq(r.status, 403, "the client's invalid token gets its 403")
    contains(r.text(), "invalid token", "Vault's answer relayed")
    eq([q["token"] for q in tagged("client")], ["hvs.bogus-client-token"], "sent once")
    eq(len(logins(path)), 1, "no re-login for either")
    eq(read(sink), t1, "the token is kept")
    # The auto-auth token rejected twice in a row: one re-login, one retry,
    # then the second 403 reaches the client.
    sim.fail(count=2, status=403, path_prefix="/v1/secret/data/twice",
             body={"errors": ["permission denied", "invalid token"]})
    r = request(port, "GET", "/v1/secret/data/twice", [("X-Case", "twice")], timeout=15)
    eq(r.status, 403, "the retried request's answer is relayed")
    t2 = wait_sink(sink, timeout=3, not_in=(t1,), p=p)
    eq([q["token"] for q in tagged("twice")], [t1, t2], "exactly one retry, with the new token")
    eq(len(logins(path)), 2, "exactly one re-login")
    r = lookup(port, "after")
    eq((r.status, [q["token"] for q in tagged("after")]), (200, [t2]), "t2 in use")


@test("self-healing: while re-logins keep failing a request waits at most ~10 s, never "
      "with the dead token", timeout=40)
def _():
    p, port, sink, t1 = heal_daemon()
    sim.revoke(t1)
    sim.fail(count=-1, status=500, path_prefix="/v1/auth/approle/login")
    out = {}

    def go(tag):
        t0 = time.monotonic()
        try:
            out[tag] = (lookup(port, tag, timeout=30), time.monotonic() - t0)
        except Exception as e:
            out[tag] = (e, time.monotonic() - t0)

    ta = threading.Thread(target=go, args=("A",), daemon=True)
    ta.start()
    wait_until(lambda: len(logins("/v1/auth/approle/login")) >= 2, timeout=5,
               msg="a failing re-login")
    tb = threading.Thread(target=go, args=("B",), daemon=True)
    tb.start()
    ta.join(25)
    tb.join(25)
    up_a, up_b = tagged("A"), tagged("B")
    ls = logins("/v1/auth/approle/login")
    sim.reset()  # drop the fail rule
    check("A" in out and "B" in out, f"both requests answered: {out!r}")
    (ra, wa), (rb, wb) = out["A"], out["B"]
    check(not isinstance(ra, Exception) and not isinstance(rb, Exception), f"{out!r}")
    diag(f"A answered after {wa:.1f}s, B after {wb:.1f}s")
    eq(ra.status, 403, "A: the server's 403 once no token came")
    check(9.0 <= wa <= 13.0, f"A waited about 10 s ({wa:.1f}s)")
    check(9.0 <= wb <= 13.0, f"B waited about 10 s ({wb:.1f}s)")
    eq([(q["status"], q["token"]) for q in up_a], [(403, t1)], "A sent once, not retried")
    eq([q["token"] for q in up_b], [None], "B went once, without a token: never the dead one")
    g = gaps(ls[1:])
    check(len(g) >= 5 and min(g) >= 0.15, f"re-logins follow the backoff, no storm: {g}")
    check(p.alive(), "daemon alive")


# --------------------------------------------------------------------------
# log secrecy

@test("log secrecy: no token, secret id, wrapping token or JWT in a debug log")
def _():
    sim.reset()
    d = tmpdir("secrecy-")
    known = set()
    # Daemon 1: approle with a response-wrapped secret id, a wrapping sink,
    # proxied requests and a self-healed revocation.
    role = sim.approle(role_name="secrecy", wrap=True, ttl=600)
    known |= {role["secret_id"], role["wrapping_token"]}
    rid = os.path.join(d, "role-id")
    sid = os.path.join(d, "secret-id")
    write(rid, role["role_id"])
    write(sid, role["wrapping_token"])
    port1 = free_port()
    sink1, sink1w = os.path.join(d, "sink1"), os.path.join(d, "sink1w")
    p1 = start(config(sim.addr, "approle",
                      {"role_id_file_path": rid, "secret_id_file_path": sid,
                       "secret_id_response_wrapping_path": "auth/approle/role/secrecy/secret-id"},
                      sinks=[{"config": {"path": sink1}},
                             {"wrap_ttl": "5m", "config": {"path": sink1w}}],
                      port=port1, use_auto_auth_token=True),
               args=["--log-level", "debug"], port=port1)
    # Daemon 2: kubernetes.
    jwt = "eyJhbGciOiJSUzI1NiJ9.secrecy-" + os.urandom(12).hex() + ".c2ln"
    sim.kubernetes("secrecy", jwt=jwt, token_ttl=600)
    known.add(jwt)
    jf = os.path.join(d, "jwt")
    write(jf, jwt)
    port2 = free_port()
    sink2 = os.path.join(d, "sink2")
    p2 = start(config(sim.addr, "kubernetes", {"role": "secrecy", "token_path": jf},
                      sinks=[{"config": {"path": sink2}}], port=port2,
                      use_auto_auth_token=True),
               args=["--log-level", "debug"], port=port2)
    t1 = wait_sink(sink1, p=p1)
    k1 = wait_sink(sink2, p=p2)
    wait_sink(sink1w, p=p1)
    client = sim.make_token(ttl=600)["id"]
    known |= {t1, k1, client}
    for port in (port1, port2):
        eq(request(port, "GET", "/v1/auth/token/lookup-self").status, 200, "auto-auth lookup")
        eq(request(port, "GET", "/v1/auth/token/lookup-self",
                   [("X-Vault-Token", client)]).status, 200, "client token lookup")
        r = request(port, "POST", "/v1/auth/token/create", body={"ttl": "10m"})
        eq(r.status, 200, "child token created")
        known.add(r.json()["auth"]["client_token"])
        r = request(port, "PUT", "/v1/secret/data/app", body={"data": {"password": "s3cr3t-pw"}})
        eq(r.status, 200, "kv write")
        r = request(port, "PUT", "/v1/sys/wrapping/wrap", [("X-Vault-Wrap-TTL", "60")],
                    body={"k": "v"})
        known.add(r.json()["wrap_info"]["token"])
    # Revocations healed by re-logins: more tokens issued.
    sim.revoke(t1)
    sim.revoke(k1)
    for port in (port1, port2):
        eq(request(port, "GET", "/v1/auth/token/lookup-self").status, 200, "healed lookup")
    known |= {wait_sink(sink1, not_in=(t1,), p=p1), wait_sink(sink2, not_in=(k1,), p=p2)}
    known.add(json.loads(read(sink1w))["token"])

    # Every secret the simulator saw or handed out.
    for q in sim.requests("/v1/"):
        if q["token"]:
            known.add(q["token"])
        b = body(q)
        if isinstance(b, dict):
            for k in ("secret_id", "jwt", "token", "client_token"):
                if isinstance(b.get(k), str):
                    known.add(b[k])
    state = sim.state()
    known |= {t["id"] for t in state["tokens"]}
    known |= {w["token"] for w in state["wraps"]}
    known.discard(sim.root_token)
    secrets = sorted(s for s in known if s and len(s) >= 8)
    check(len(secrets) >= 12, f"enough secrets collected: {len(secrets)}")
    for name, p in (("approle", p1), ("kubernetes", p2)):
        p.stop()
        log = p.log()
        check(log.count("[debug]") >= 3, f"{name}: the log is at debug level:\n{log[-1500:]}")
        leaked = [s for s in secrets if s in log]
        check(not leaked, f"{name}: secrets in the log: {leaked}\n"
                          + "\n".join(l for l in log.splitlines()
                                      if any(s in l for s in leaked))[:2000])


if __name__ == "__main__":
    sys.exit(run())
