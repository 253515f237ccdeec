#!/usr/bin/python3
"""TAP integration tests of the egress proxy: vaproxyd reaches Vault through
the forward proxy named by the environment, as Vault's own client does.

- HTTPS_PROXY / https_proxy: an https upstream is reached through a CONNECT
  tunnel to the upstream's host:port;
- HTTP_PROXY / http_proxy: a plain-http upstream is reached with
  absolute-form requests (GET http://host:port/path);
- NO_PROXY / no_proxy: a listed host is reached directly;
- a proxy that refuses the tunnel: the client gets a 502 with Vault's
  {"errors": [...]} body.

The upstream's host name is vault.egress.invalid, which never resolves: the
loopback proxy (tests/tools/connect_proxy.py) maps every name to 127.0.0.1,
so an answer for that name can only have come through the proxy.
"""

import json
import os
import subprocess
import sys

from harness import *

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
from connect_proxy import ConnectProxy  # noqa: E402

NAME = "vault.egress.invalid"
PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
              "ALL_PROXY", "no_proxy", "NO_PROXY")

CONFIG = """
vault {
  address = "{vault}"
  ca_cert = "{ca}"
  retry { num_retries = -1 }
}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
"""

_certs = {}


def cert():
    """A self-signed certificate valid for NAME, localhost and 127.0.0.1."""
    if "pair" not in _certs:
        openssl = need_binary("openssl")
        d = tmpdir("egress-cert-")
        c, k = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-keyout", k, "-out", c, "-subj", f"/CN={NAME}", "-addext",
                        f"subjectAltName=DNS:{NAME},DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=30)
        _certs["pair"] = (c, k)
    return _certs["pair"]


def start(sim, host, env):
    """vaproxyd in front of `sim` addressed as host:port, with only the given
    proxy variables set (any inherited from the test's environment removed)."""
    full = {k: None for k in PROXY_VARS}
    full.update(env)
    port = free_port()
    p = Proxy(CONFIG, vault=f"{sim.scheme}://{host}:{sim.port}", ca=cert()[0], port=port,
              env=full)
    p.wait_ready(port)
    return p, port


def lookup_self(port, sim):
    return request(port, "GET", "/v1/auth/token/lookup-self",
                   {"X-Vault-Token": sim.root_token})


def ok_through(port, sim, what):
    """The request through vaproxyd got the simulator's answer."""
    r = lookup_self(port, sim)
    eq(r.status, 200, f"status through vaproxyd ({what}); body {r.body!r}")
    eq(r.json()["data"]["id"], sim.root_token, "lookup-self answer")
    check(sim.requests("/v1/auth/token/lookup-self"), "the simulator saw the request")


# Started here, outside any test, so that they outlive each test (the
# harness stops what a test starts when that test ends).
_sims = {"tls": Sim(tls=cert()), "plain": Sim()}


def sim(tls):
    s = _sims["tls" if tls else "plain"]
    s.reset()
    return s


@test("HTTPS_PROXY: the https upstream is reached through a CONNECT tunnel")
def _():
    s = sim(tls=True)
    with ConnectProxy() as px:
        p, port = start(s, NAME, {"HTTPS_PROXY": px.url})
        ok_through(port, s, "HTTPS_PROXY")
        ok_through(port, s, "HTTPS_PROXY, second request")
        connects, absolute = px.seen()
        check(connects, "the proxy saw no CONNECT")
        eq(set(connects), {f"{NAME}:{s.port}"}, "CONNECT targets")
        eq(absolute, [], "absolute-form requests (https must be tunnelled)")
        diag(f"{len(connects)} CONNECT(s) for 2 requests")


@test("https_proxy (lower case) is honoured too")
def _():
    s = sim(tls=True)
    with ConnectProxy() as px:
        p, port = start(s, NAME, {"https_proxy": px.url})
        ok_through(port, s, "https_proxy")
        eq(set(px.seen()[0]), {f"{NAME}:{s.port}"}, "CONNECT targets")


@test("NO_PROXY naming the upstream's host: no tunnel, direct connection")
def _():
    s = sim(tls=True)
    with ConnectProxy() as px:
        p, port = start(s, "127.0.0.1", {"HTTPS_PROXY": px.url,
                                         "NO_PROXY": "example.com,127.0.0.1"})
        ok_through(port, s, "NO_PROXY")
        eq(px.seen(), ([], []), "what the proxy saw (connects, absolute-form)")


@test("no_proxy (lower case) naming localhost: no tunnel")
def _():
    s = sim(tls=True)
    with ConnectProxy() as px:
        p, port = start(s, "localhost", {"https_proxy": px.url, "no_proxy": "localhost"})
        ok_through(port, s, "no_proxy")
        eq(px.seen(), ([], []), "what the proxy saw (connects, absolute-form)")


@test("NO_PROXY naming other hosts does not bypass the proxy")
def _():
    s = sim(tls=True)
    with ConnectProxy() as px:
        p, port = start(s, NAME, {"HTTPS_PROXY": px.url,
                                  "NO_PROXY": "example.com,.egress.example,127.0.0.2"})
        ok_through(port, s, "NO_PROXY for other hosts")
        eq(set(px.seen()[0]), {f"{NAME}:{s.port}"}, "CONNECT targets")


@test("http_proxy (lower case): a plain-http upstream gets absolute-form requests")
def _():
    s = sim(tls=False)
    with ConnectProxy() as px:
        p, port = start(s, NAME, {"http_proxy": px.url})
        ok_through(port, s, "http_proxy")
        connects, absolute = px.seen()
        eq(connects, [], "CONNECTs (plain http is not tunnelled)")
        check(absolute, "the proxy saw no absolute-form request")
        eq(absolute[0], f"GET http://{NAME}:{s.port}/v1/auth/token/lookup-self HTTP/1.1",
           "request line")


@test("HTTP_PROXY (upper case): a plain-http upstream gets absolute-form requests")
def _():
    s = sim(tls=False)
    with ConnectProxy() as px:
        p, port = start(s, NAME, {"HTTP_PROXY": px.url})
        r = lookup_self(port, s)
        connects, absolute = px.seen()
        eq(r.status, 200, f"status through vaproxyd; body {r.body!r}")
        eq(connects, [], "CONNECTs (plain http is not tunnelled)")
        eq(absolute[:1], [f"GET http://{NAME}:{s.port}/v1/auth/token/lookup-self HTTP/1.1"],
           "request line")


@test("a proxy refusing the tunnel (403): 502 with Vault's error shape")
def _():
    s = sim(tls=True)
    with ConnectProxy(refuse_status=403) as px:
        p, port = start(s, NAME, {"HTTPS_PROXY": px.url})
        r = lookup_self(port, s)
        eq(r.status, 502, f"status; body {r.body!r}")
        contains(r.header("Content-Type", ""), "application/json", "Content-Type")
        errors = json.loads(r.body).get("errors")
        check(isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors),
              f"errors must be a list of strings: {r.body!r}")
        eq(set(px.seen()[0]), {f"{NAME}:{s.port}"}, "CONNECT targets")
        eq(s.requests("/v1/"), [], "requests that reached the simulator")


if __name__ == "__main__":
    sys.exit(run())
