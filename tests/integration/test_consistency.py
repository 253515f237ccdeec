#!/usr/bin/python3
"""TAP integration tests of Vault's consistency model through the proxy
(vaproxyd.hcl(5)): enforce_consistency = always|never, when_inconsistent =
fail|retry|forward, against the simulator's X-Vault-Index emulation.
"""

import base64
import sys

from harness import (Proxy, Sim, check, eq, free_port, request, run, test)

sim = Sim()
ROOT = ("X-Vault-Token", sim.root_token)

CONFIG = """
vault {
  address = "{sim}"
  retry { num_retries = {retries} }
}
api_proxy {
  enforce_consistency = "{enforce}"
  when_inconsistent = "{when}"
}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
"""


def proxy(enforce="always", when="fail", retries=3):
    port = free_port()
    p = Proxy(CONFIG, sim=sim.addr, port=port, enforce=enforce, when=when, retries=retries,
              env={"VAPROXY_RETRY_WAIT_MS": "20,30"})
    p.wait_ready()
    return p, port


def fresh(lag=None):
    """Empty simulator state with consistency emulation on."""
    sim.reset(all=True)
    sim.consistency(enabled=True, lag=lag)


def index_fields(value):
    return base64.b64decode(value).decode().split(":")


def sent(q, name):
    return [v for k, v in q["headers"] if k.lower() == name.lower()]


def write(port, path, extra=(), data=None):
    r = request(port, "POST", f"/v1/secret/data/{path}", [ROOT] + list(extra),
                {"data": data or {"v": 1}})
    eq(r.status, 200, f"write {path} (body {r.body[:200]!r})")
    idx = r.header("X-Vault-Index")
    check(idx, "the write's answer carries X-Vault-Index to the client")
    return idx


def last(path):
    log = sim.requests(f"/v1/secret/data/{path}")
    check(log, f"requests for {path} logged")
    return log[-1]


# --------------------------------------------------------------------------

@test('always: the next read carries the index learned from a write')
def _():
    p, port = proxy("always", "fail")
    fresh()
    idx = write(port, "a")
    eq(sent(last("a"), "X-Vault-Index"), [], "nothing learned yet: first request has no index")
    eq(index_fields(idx)[:4], ["v1", "sim-cluster", "1", "1"], "index of the first write")
    r = request(port, "GET", "/v1/secret/data/a", [ROOT])
    eq(r.status, 200, "read")
    q = last("a")
    eq(sent(q, "X-Vault-Index"), [idx], "read carries the learned index")
    eq(sent(q, "X-Vault-Inconsistent"), [], "fail mode adds no X-Vault-Inconsistent")
    # A later write replaces the remembered state (ahead on both indexes).
    idx2 = write(port, "b")
    check(sent(last("b"), "X-Vault-Index"), "the second write carries a state too")
    request(port, "GET", "/v1/secret/data/b", [ROOT])
    eq(sent(last("b"), "X-Vault-Index"), [idx2], "only the newest state is sent")
    eq(index_fields(idx2)[2], "2", "second write's local index")


@test('always + fail: a lagging standby\'s 412 goes straight back to the client')
def _():
    p, port = proxy("always", "fail", retries=3)
    fresh(lag=3)
    idx = write(port, "f")
    r = request(port, "GET", "/v1/secret/data/f", [ROOT])
    eq(r.status, 412, f"status (body {r.body!r})")
    eq(r.json(), {"errors": ["required index state not present"]}, "Vault's 412 body")
    log = sim.requests("/v1/secret/data/f")
    eq([q["method"] for q in log], ["POST", "GET"], "the 412 was not retried")
    eq(sent(log[-1], "X-Vault-Index"), [idx], "the read named the write's index")


@test('always + retry: the client gets 200 after the standby catches up')
def _():
    p, port = proxy("always", "retry", retries=3)
    fresh(lag=2)
    idx = write(port, "r")
    r = request(port, "GET", "/v1/secret/data/r", [ROOT])
    eq(r.status, 200, f"status after retries (body {r.body[:200]!r})")
    eq(r.json()["data"]["data"], {"v": 1}, "the written data")
    reads = [q for q in sim.requests("/v1/secret/data/r") if q["method"] == "GET"]
    eq([q["status"] for q in reads], [412, 412, 200], "attempts upstream")
    check(all(sent(q, "X-Vault-Index") == [idx] for q in reads), "every attempt names the index")


@test('always + retry: 412 relayed once num_retries is used up')
def _():
    p, port = proxy("always", "retry", retries=1)
    fresh(lag=5)
    write(port, "x")
    r = request(port, "GET", "/v1/secret/data/x", [ROOT])
    eq(r.status, 412, "status")
    reads = [q for q in sim.requests("/v1/secret/data/x") if q["method"] == "GET"]
    eq([q["status"] for q in reads], [412, 412], "one try plus one retry")


@test('always + forward: X-Vault-Inconsistent: forward-active-node, answered by the active node')
def _():
    p, port = proxy("always", "forward", retries=3)
    fresh(lag=2)
    idx = write(port, "w")
    eq(sent(last("w"), "X-Vault-Inconsistent"), [],
       "nothing learned before the write: no consistency headers at all")
    r = request(port, "GET", "/v1/secret/data/w", [ROOT])
    eq(r.status, 200, f"status (body {r.body[:200]!r})")
    q = last("w")
    eq(sent(q, "X-Vault-Inconsistent"), ["forward-active-node"], "forward header")
    eq(sent(q, "X-Vault-Index"), [idx], "index header")
    check(q["forwarded"], "the simulator forwarded it to the active node")
    eq(len([x for x in sim.requests("/v1/secret/data/w") if x["method"] == "GET"]), 1,
       "one attempt")


@test('always: client-managed requests are untouched and teach the proxy nothing')
def _():
    p, port = proxy("always", "forward", retries=3)
    fresh()
    learned = write(port, "m1")  # managed: learned
    own = base64.b64encode(b"v1:sim-cluster:0:0:00").decode()
    # Client sends its own index: forwarded as is, nothing added.
    r = request(port, "GET", "/v1/secret/data/m1", [ROOT, ("X-Vault-Index", own)])
    eq(r.status, 200, "client-managed read")
    q = last("m1")
    eq(sent(q, "X-Vault-Index"), [own], "only the client's index")
    eq(sent(q, "X-Vault-Inconsistent"), [], "no forward header added")
    # Client sends X-Vault-Inconsistent / X-Vault-Forward only.
    for hdr in (("X-Vault-Inconsistent", "fail"), ("X-Vault-Forward", "active-node")):
        request(port, "GET", "/v1/secret/data/m1", [ROOT, hdr])
        q = last("m1")
        eq(sent(q, "X-Vault-Index"), [], f"no index added next to {hdr[0]}")
        eq(sent(q, hdr[0]), [hdr[1]], f"{hdr[0]} forwarded")
        if hdr[0] == "X-Vault-Forward":
            eq(sent(q, "X-Vault-Inconsistent"), [], "no forward header added next to it")
    # A client-managed write advances the server; the proxy must not learn it.
    newer = write(port, "m2", extra=[("X-Vault-Inconsistent", "fail")])
    check(int(index_fields(newer)[2]) > int(index_fields(learned)[2]), "the server moved on")
    request(port, "GET", "/v1/secret/data/m2", [ROOT])
    eq(sent(last("m2"), "X-Vault-Index"), [learned],
       "the next managed request still names only what managed requests taught")


@test('never: no consistency headers added; a 412 is retried (Vault default policy)')
def _():
    p, port = proxy("never", "fail", retries=3)
    fresh()
    write(port, "n")
    r = request(port, "GET", "/v1/secret/data/n", [ROOT])
    eq(r.status, 200, "read")
    for q in sim.requests("/v1/secret/data/n"):
        eq((sent(q, "X-Vault-Index"), sent(q, "X-Vault-Inconsistent")), ([], []),
           f"{q['method']} carries no consistency headers")
    # With a lagging standby and the client's own index, 412 is retried.
    fresh(lag=2)
    idx = sim.api("POST", "secret/data/n2", {"data": {"a": 1}}).header("X-Vault-Index")
    r = request(port, "GET", "/v1/secret/data/n2", [ROOT, ("X-Vault-Index", idx)])
    eq(r.status, 200, "client's 412 retried until the standby caught up")
    reads = [q for q in sim.requests("/v1/secret/data/n2") if q["method"] == "GET"]
    eq([q["status"] for q in reads], [412, 412, 200], "attempts")


if __name__ == "__main__":
    sys.exit(run())
