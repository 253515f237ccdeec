#!/usr/bin/python3
"""TAP integration tests of abusive and unusual clients against a real
vaproxyd in front of the simulator: connections that drip header lines to
hold the connection limit (a small max_connections stands in for the 4096
default), clients that half-close after their request (the answer must
still come, in order, for pipelined requests too), clients that reset
while their request is upstream (the upstream connection is released at
once), and plain HTTP sent to a TLS listener (Go's clear-text 400).
Every wait is bounded.
"""

import json
import os
import socket
import sys
import threading
import time

from harness import (Proxy, Sim, check, eq, free_port, insecure_ctx, make_cert,
                     parse_responses, raw, request, run, test, tmpdir, wait_until)

sim = Sim()

MAX_CONNS = 64
DRIPPERS = 200
STEADY_REQUESTS = 60

CONFIG = """
vault {
  address = "{sim}"
  retry { num_retries = -1 }
}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
  max_connections = {max_conns}
  {extra}
}
"""

TLS_CONFIG = """
vault {
  address = "{sim}"
}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_cert_file = "{cert}"
  tls_key_file = "{key}"
}
"""


def start(extra=""):
    port = free_port()
    p = Proxy(CONFIG, sim=sim.addr, port=port, max_conns=MAX_CONNS, extra=extra)
    p.wait_ready(port)
    return p, port


class Drippers:
    """`n` connections that each send a request line and then one header line
    every `every` seconds, never finishing the head; a connection the server
    closes is opened again at once, as an attacker would."""

    def __init__(self, port, n, every=0.2):
        self.port, self.n, self.every = port, n, every
        self.closed_by_server = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", self.port))
            s.sendall(b"GET /v1/sys/health HTTP/1.1\r\n")
            s.setblocking(False)
            return s
        except OSError:
            s.close()
            return None

    def _alive(self, s):
        try:
            if s.recv(4096) == b"":
                return False
        except BlockingIOError:
            pass
        except OSError:
            return False
        try:
            s.send(b"X-Drip: aaaaaaaa\r\n")
        except BlockingIOError:
            pass
        except OSError:
            return False
        return True

    def _run(self):
        socks = [self._open() for _ in range(self.n)]
        while not self.stop.is_set():
            for i, s in enumerate(socks):
                if s is not None and self._alive(s):
                    continue
                if s is not None:
                    self.closed_by_server += 1
                    s.close()
                socks[i] = self._open()
            self.stop.wait(self.every)
        for s in socks:
            if s is not None:
                s.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def steady_get(port):
    """One request on a fresh connection, as a normal client makes it;
    returns the status, or the error's name."""
    try:
        data = raw(port, "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                   timeout=5.0)
        resps = parse_responses(data)
        return resps[0].status if resps else "no answer"
    except Exception as e:  # counted as a failure by the caller
        return type(e).__name__


@test("drippers holding the connection limit do not lock a steady client out", timeout=90)
def _():
    p, port = start()
    with Drippers(port, DRIPPERS) as d:
        # Let the drippers fill every slot before the steady client starts.
        wait_until(lambda: d.closed_by_server > DRIPPERS - MAX_CONNS, timeout=20,
                   msg="the drippers filling the connection limit")
        results = [steady_get(port) for _ in range(STEADY_REQUESTS)]
        churn = d.closed_by_server
    failed = [r for r in results if r != 200]
    eq(failed, [], f"failed steady requests out of {STEADY_REQUESTS}")
    check(churn > DRIPPERS - MAX_CONNS, f"drippers were pushed out ({churn})")
    check(p.alive(), "daemon alive")


@test("a dripped request head is cut off by http_read_header_timeout", timeout=30)
def _():
    p, port = start('http_read_header_timeout = "1s"\n  http_read_timeout = "20s"')
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.monotonic()
    got = b""
    try:
        s.sendall(b"GET /v1/sys/health HTTP/1.1\r\n")
        s.settimeout(0.2)
        while time.monotonic() - t0 < 10:
            try:
                s.sendall(b"X-Drip: a\r\n")
            except OSError:
                pass
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    took = time.monotonic() - t0
    resps = parse_responses(got)
    eq([r.status for r in resps], [408], f"answer to the dripper: {got[:200]!r}")
    check(0.9 <= took < 5, f"cut off after {took:.2f}s, want about 1s")


@test("a half-closed request gets its answer; pipelined ones all, in order", timeout=30)
def _():
    p, port = start()
    sim.reset()
    body = json.dumps({"data": {"k": "v"}})
    req = (f"PUT /v1/secret/data/half HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {sim.root_token}\r\n"
           f"Content-Length: {len(body)}\r\n\r\n{body}")
    resps = parse_responses(raw(port, req, shutdown_write=True))
    eq(len(resps), 1, "one answer")
    check(resps[0].status in (200, 204), f"status {resps[0].status}")
    eq(len(sim.requests("/v1/secret/data/half")), 1, "the write reached Vault once")
    # Pipelined, then the end of stream: three answers in order.
    paths = ["/v1/sys/health", "/v1/secret/data/half", "/v1/sys/nope-" + os.urandom(4).hex()]
    data = "".join(f"GET {p_} HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {sim.root_token}\r\n\r\n"
                   for p_ in paths)
    resps = parse_responses(raw(port, data, shutdown_write=True))
    eq(len(resps), 3, "three answers")
    eq(resps[0].status, 200, "health first")
    eq(resps[1].status, 200, "the secret second")
    eq(json.loads(resps[1].body)["data"]["data"], {"k": "v"}, "the secret's data")
    check(resps[2].status >= 400, f"the unknown path last ({resps[2].status})")


def upstream_connections(port):
    j = request(port, "GET", "/proxy/v1/metrics").json()
    for g in j["Gauges"]:
        if g["Name"].endswith("proxy.upstream.connections"):
            return g["Value"]
    raise AssertionError("no proxy.upstream.connections gauge")


@test("clients that reset while upstream release their upstream connections", timeout=60)
def _():
    p, port = start()
    sim.reset()
    n = 20
    sim.delay(8000, path_prefix="/v1/sys/slow", count=n)
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(f"GET /v1/sys/slow/{i} HTTP/1.1\r\nHost: x\r\n"
                  f"X-Vault-Token: {sim.root_token}\r\n\r\n".encode())
        socks.append(s)
    wait_until(lambda: len(sim.requests("/v1/sys/slow")) >= n, timeout=10,
               msg="every request upstream")
    check(upstream_connections(port) >= n, "one upstream connection per request")
    for s in socks:
        # SO_LINGER 0: close with a reset, the client is really gone.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    # Well before the 8 s delay ends, the held connections are gone.
    wait_until(lambda: upstream_connections(port) < n / 2, timeout=4,
               msg="upstream connections released")
    check(p.alive(), "daemon alive")


@test("plain HTTP on a TLS listener gets a clear-text 400", timeout=30)
def _():
    d = tmpdir("abuse-tls-")
    cert, key = make_cert(d)
    port = free_port()
    p = Proxy(TLS_CONFIG, sim=sim.addr, port=port, cert=cert, key=key)
    p.wait_ready(f"https://127.0.0.1:{port}")
    got = raw(port, "GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n")
    eq(got, b"HTTP/1.0 400 Bad Request\r\n\r\n"
            b"Client sent an HTTP request to an HTTPS server.\n", "the answer")
    r = request(f"https://127.0.0.1:{port}", "GET", "/v1/sys/health",
                tls_ctx=insecure_ctx())
    eq(r.status, 200, "TLS still served")


if __name__ == "__main__":
    sys.exit(run())
