#!/usr/bin/python3
"""TAP stress test: hostile and malformed client traffic against a real
vaproxyd (token_file auto-auth, a cache, Prometheus metrics, a plain and a
TLS listener) in front of the simulator.

A seeded generator (GARBAGE_SEED, default fixed; GARBAGE_CASES, default
2000) builds bad request lines, huge, duplicate and odd headers, bad
chunked bodies, pipelined mixes, LIST with bodies, invalid UTF-8 and ../
paths, missing Host, slow partial sends, TLS garbage and connections
closed mid-request.  After every batch the daemon must be alive and still
answer a normal request correctly.  Every byte it sends back must parse
as HTTP/1.x responses, and every error it answers must be Vault's
{"errors":[...]} JSON, except the few answers Vault Proxy itself gives
in another shape (listed in error_shape_ok).  Under ASan+UBSan
(contrib/check.sh) the daemon's log is checked for sanitizer reports.
"""

import json
import os
import random
import re
import socket
import ssl
import struct
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from harness import (Proxy, Sim, check, diag, eq, insecure_ctx, make_cert,
                     request, run, test, tmpdir)

SEED = int(os.environ.get("GARBAGE_SEED", "20261123"))
CASES = int(os.environ.get("GARBAGE_CASES", "2000"))
# GARBAGE_SHOW=500,501 prints the answers with those statuses (debugging).
SHOW = os.environ.get("GARBAGE_SHOW", "").split(",")
BATCH = 250
WORKERS = 24
# The server closes an unfinished request after http_read_timeout and an
# idle keep-alive connection after http_idle_timeout: both 1 s here, so
# no connection may stay open much longer than that.
CLOSE_DEADLINE = 8.0
MAX_HEADER = 8192
MAX_BODY = 65536

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
api_proxy { use_auto_auth_token = true }
cache {}
telemetry { prometheus_retention_time = "1h" }
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
  max_request_header_bytes = 8192
  max_request_size = 65536
  http_read_timeout = "1s"
  http_idle_timeout = "1s"
}
listener "tcp" {
  address = "127.0.0.1:{tls_port}"
  tls_cert_file = "{cert}"
  tls_key_file = "{key}"
  http_read_timeout = "1s"
  http_idle_timeout = "1s"
}
"""


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


sim = Sim()
_dir = tmpdir("garbage-")
_token_file = os.path.join(_dir, "token")
with open(_token_file, "w") as f:
    f.write(sim.make_token(ttl=3600, renewable=True)["id"] + "\n")
PORT, TLS_PORT = free_ports(2)
CERT, KEY = make_cert(_dir)
proxy = Proxy(CONFIG, sim=sim.addr, port=PORT, tls_port=TLS_PORT, cert=CERT, key=KEY,
              token_file=_token_file)
proxy.wait_ready(PORT)

# ---------------------------------------------------------------------------
# what a well-behaved daemon sends back

STATUS_RE = re.compile(rb"HTTP/1\.[01] (\d{3}) [^\r\n]*")
HEADER_RE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+: ?[^\r\n]*")


def parse_stream(data):
    """Split what one connection received into (status, {name: value}, body)
    tuples; returns (responses, problem or None).  The daemon frames every
    answer with Content-Length (none on 1xx, 204, 304), and no HEAD is sent."""
    out, i = [], 0
    while i < len(data):
        end = data.find(b"\r\n\r\n", i)
        if end < 0:
            return out, f"unterminated head: {data[i:i + 200]!r}"
        lines = data[i:end].split(b"\r\n")
        m = STATUS_RE.fullmatch(lines[0])
        if not m:
            return out, f"bad status line: {lines[0][:200]!r}"
        status, headers = int(m.group(1)), {}
        for line in lines[1:]:
            if not HEADER_RE.fullmatch(line):
                return out, f"bad header line: {line[:200]!r}"
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.lower()] = v.strip()
        i = end + 4
        if 100 <= status < 200 or status in (204, 304):
            if "content-length" in headers and status != 304:
                return out, f"{status} with Content-Length"
            if status >= 200:
                out.append((status, headers, b""))
            continue
        if "content-length" not in headers:
            return out, f"{status} without Content-Length"
        n = int(headers["content-length"])
        if len(data) - i < n:
            return out, f"{status}: body cut short ({len(data) - i} of {n})"
        out.append((status, headers, data[i:i + n]))
        i += n
    return out, None


def error_shape_ok(status, headers, body):
    """Vault's JSON errors, or one of the answers Vault Proxy gives in another
    shape: the quit endpoint's empty 404/405 (disabled, or not a POST), the
    metrics endpoint's text/plain 400 (unknown format, Prometheus off) and
    the Go mux's text/plain 404 on a metrics_only listener."""
    if status < 400:
        return True
    if not body and status in (404, 405):
        return True
    if headers.get("content-type", "").startswith("text/plain") and status in (400, 404):
        return True
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("errors"), list)


# ---------------------------------------------------------------------------
# the generator

METHODS = ["GET", "GET", "POST", "PUT", "DELETE", "LIST", "LIST", "PATCH", "OPTIONS",
           "list", "LIS", "LISTT", "G\x00T", "GET\t", "X" * 40, "PRI", "CONNECT", ""]
PATHS = ["/v1/secret/data/foo", "/v1/auth/token/lookup-self", "/v1/sys/health",
         "/v1/secret/metadata/", "/proxy/v1/metrics", "/agent/v1/metrics?format=prometheus",
         "/proxy/v1/metrics?format=bogus", "/proxy/v1/cache-clear", "/agent/v1/quit",
         "/v1/../../etc/passwd", "/v1//secret/./data/../foo", "/v1/secret/data/\xff\xfe\xc3(",
         "/v1/%zz%00%2e%2e/x", "/v1/x#frag", "*", "http://evil.example/v1/x", "https://h", "/v1/a b",
         "/v1/\x7f\x01", "/v1/" + "a" * 9000, "", "/v1/x?" + "&" * 300, "/?list=true"]
VERSIONS = ["HTTP/1.1"] * 6 + ["HTTP/1.0", "HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "http/1.1",
                               "HTTP/11", "HTTP/1.1 x", "", "HTTP/1."]
ODD_HEADERS = ["Bad Name: x", "X-Ctl\x01: y", "NoColon", ": empty-name", " folded: x",
               "X-Obs: a\r\n  folded continuation", "X-Vault-Request: true",
               "X-Vault-Request: false", "X-Vault-Token: ", "X-Vault-Token: hvs.\xff\xfe",
               "Connection: X-Vault-Token, close", "Upgrade: h2c\r\nConnection: Upgrade",
               "Expect: 100-continue", "Expect: 999-whatever", "Host: a\r\nHost: b",
               "Content-Length: -1", "Content-Length: 1, 2", "Content-Length: 99999999999999999999",
               "Transfer-Encoding: gzip", "Transfer-Encoding: chunked, chunked",
               "Transfer-Encoding: identity", "Accept: prometheus/telemetry",
               "X-Utf8: \xc3\xa9\xff", "X-Nul: a\x00b", "Cache-Control: no-store"]


def chunked(r, body):
    """A chunked body, valid or broken in one of several ways."""
    parts, i = [], 0
    while i < len(body):
        n = r.randint(1, 40)
        parts.append(b"%x\r\n%s\r\n" % (len(body[i:i + n]), body[i:i + n]))
        i += n
    tail = b"0\r\n\r\n"
    kind = r.randrange(8)
    if kind == 0:
        parts.insert(0, b"zz\r\nbad\r\n")
    elif kind == 1:
        parts.append(b"ffffffffffffffffffff\r\n")
    elif kind == 2:
        tail = b"0\r\nX-Trailer: t\r\n" + b"Y: " + b"t" * r.randint(1, 12000) + b"\r\n\r\n"
    elif kind == 3:
        parts.append(b"3;ext=\"q\"\r\nabc\r\n")
    elif kind == 4:
        tail = b"5\r\nab"  # cut short
    elif kind == 5:
        parts.append(b"3\r\nabcXX")
    return b"".join(parts) + tail


def one_request(r, last):
    """Returns bytes of one (maybe malformed) request."""
    m = r.choice(METHODS) if r.random() < 0.4 else r.choice(["GET", "POST", "LIST", "PUT"])
    p = r.choice(PATHS)
    v = r.choice(VERSIONS) if r.random() < 0.3 else "HTTP/1.1"
    line = f"{m} {p} {v}" if r.random() > 0.05 else r.choice(
        ["GET", "GET /", "\x16\x03\x01", " GET / HTTP/1.1", "GET  / HTTP/1.1", "GET /\tHTTP/1.1"])
    hdrs = []
    if r.random() > 0.1:
        hdrs.append("Host: 127.0.0.1")
    if r.random() < 0.3:
        hdrs.append("X-Vault-Token: hvs." + "".join(r.choice("abcXYZ019") for _ in range(r.randint(0, 30))))
    for _ in range(r.choice([0, 0, 1, 2, 5])):
        hdrs.append(r.choice(ODD_HEADERS))
    if r.random() < 0.05:
        hdrs += [f"X-Many-{k}: {k}" for k in range(r.randint(50, 700))]
    if r.random() < 0.05:
        hdrs.append("X-Huge: " + "h" * r.choice([MAX_HEADER - 200, MAX_HEADER + 10, 3 * MAX_HEADER]))
    body = b""
    if m in ("POST", "PUT", "LIST", "PATCH") or r.random() < 0.1:
        body = r.choice([b"", b"{}", b'{"type":"token"}', b'{"token":"x"}', b"{bad json",
                         bytes(r.randrange(256) for _ in range(r.randint(0, 200))),
                         b"x" * r.choice([10, MAX_BODY + 1])])
    framing = r.randrange(10)
    if framing < 6:
        hdrs.append(f"Content-Length: {len(body)}")
    elif framing < 8:
        hdrs.append("Transfer-Encoding: chunked")
        body = chunked(r, body)
    elif framing == 8:
        hdrs.append(f"Content-Length: {max(0, len(body) + r.randint(-5, 5))}")
    elif body:
        hdrs.append(f"Content-Length: {r.choice([MAX_BODY + 1, 2 ** 40])}")
        body = b""
    if last and r.random() < 0.85:
        hdrs.append("Connection: close")
    r.shuffle(hdrs)
    head = line + "\r\n" + "".join(h + "\r\n" for h in hdrs) + "\r\n"
    return head.encode("latin-1") + body


def make_case(r):
    n = r.choice([1, 1, 1, 2, 3, 4])
    data = b"".join(one_request(r, i == n - 1) for i in range(n))
    if r.random() < 0.05:
        data = bytes(r.randrange(256) for _ in range(r.randint(1, 400)))
    if r.random() < 0.03:
        data = b"\r\n" * r.randint(1, 50) + data  # blank lines before a request
    cuts = sorted(r.randrange(len(data) + 1) for _ in range(r.choice([0, 0, 1, 3])))
    return {"data": data, "cuts": cuts, "half_close": r.random() < 0.08}


def run_case(case):
    """Sends one case on its own connection; returns a problem string or None,
    plus the statuses seen."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=CLOSE_DEADLINE)
    got, deadline = b"", time.monotonic() + CLOSE_DEADLINE
    try:
        prev = 0
        try:
            for c in case["cuts"] + [len(case["data"])]:
                s.sendall(case["data"][prev:c])
                prev = c
            if case["half_close"]:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # it gave up on us early: what it sent still counts
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return f"not closed within {CLOSE_DEADLINE}s; got {got[:300]!r}", []
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    resps, problem = parse_stream(got)
    statuses = [st for st, _, _ in resps]
    if problem:
        return problem, statuses
    for st, h, body in resps:
        if str(st) in SHOW:
            diag(f"{st} {h} {body[:300]!r}\n#   for {case['data'][:300]!r}")
        if not error_shape_ok(st, h, body):
            return f"{st} answer not in Vault's error shape: {h} {body[:200]!r}", statuses
        # A request the forwarder refuses must have been refused by the
        # listener first, as the client's error (400), not answered 500.
        if st == 500 and b"failed to start the upstream" in body:
            return f"500 for a client's malformed request: {body[:200]!r}", statuses
    return None, statuses


def healthy(what):
    """The daemon is alive and a normal request still works."""
    check(proxy.alive(), f"vaproxyd died after {what}\n{proxy.log_tail(40)}")
    r = request(PORT, "GET", "/v1/auth/token/lookup-self", {"X-Vault-Request": "true"})
    eq(r.status, 200, f"lookup-self after {what}: {r.body[:300]!r}")
    check("data" in r.json(), f"lookup-self answer after {what}: {r.body[:300]!r}")
    m = request(PORT, "GET", "/proxy/v1/metrics")
    eq(m.status, 200, f"metrics after {what}")


def no_sanitizer_reports():
    log = proxy.log()
    for marker in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
        check(marker not in log, f"sanitizer report in the daemon's log:\n{proxy.log_tail(60)}")


@test("malformed and hostile HTTP on the plain listener", timeout=120)
def _():
    r = random.Random(SEED)
    diag(f"seed {SEED}, {CASES} cases")
    problems, counts = [], {}
    start = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        for b in range(0, CASES, BATCH):
            cases = [make_case(r) for _ in range(min(BATCH, CASES - b))]
            for case, (problem, statuses) in zip(cases, pool.map(run_case, cases)):
                for st in statuses:
                    counts[st] = counts.get(st, 0) + 1
                if problem:
                    problems.append(f"{problem}\n  sent: {case['data'][:300]!r}")
            healthy(f"batch {b // BATCH + 1}")
    diag(f"{CASES} cases in {time.monotonic() - start:.1f}s; statuses: "
         + ", ".join(f"{k}x{v}" for k, v in sorted(counts.items())))
    check(not problems, f"{len(problems)} bad answers; first ones:\n" + "\n".join(problems[:5]))
    no_sanitizer_reports()


def slow_send(i):
    """Slowloris: an unfinished head, a byte every 50 ms for up to 3 s.  The
    read timeout (1 s) must end it with a 408 in Vault's error shape."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    got = b""
    try:
        s.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        end = time.monotonic() + 3
        while time.monotonic() < end:
            try:
                s.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.05)
        s.settimeout(2)
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    return got


@test("slow partial sends end with a 408", timeout=30)
def _():
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(slow_send, range(20)))
    for got in results:
        resps, problem = parse_stream(got)
        check(problem is None, f"slow client: {problem}")
        eq([st for st, _, _ in resps], [408], f"slow client got {got[:300]!r}")
        check(error_shape_ok(*resps[0]), f"408 body: {resps[0][2]!r}")
    healthy("slow clients")


def client_hello():
    """A real TLS ClientHello, from Python's ssl module over memory BIOs."""
    ctx = insecure_ctx()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def tls_case(r, hello):
    kind = r.randrange(6)
    if kind == 0:
        data = bytes(r.randrange(256) for _ in range(r.randint(1, 2000)))
    elif kind == 1:
        data = hello[:r.randint(1, len(hello))]
    elif kind == 2:
        data = hello + bytes(r.randrange(256) for _ in range(r.randint(1, 500)))
    elif kind == 3:
        data = b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n"
    elif kind == 4:
        b = bytearray(hello)
        for _ in range(r.randint(1, 8)):
            b[r.randrange(len(b))] = r.randrange(256)
        data = bytes(b)
    else:  # a record header claiming 16 MiB, then little
        data = b"\x16\x03\x01" + struct.pack(">H", 0xffff) + b"\x01" * r.randint(0, 100)
    return data


def run_tls_case(data):
    s = socket.create_connection(("127.0.0.1", TLS_PORT), timeout=CLOSE_DEADLINE)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return None
        end = time.monotonic() + CLOSE_DEADLINE
        while True:
            s.settimeout(max(0.01, end - time.monotonic()))
            try:
                if not s.recv(65536):
                    return None
            except socket.timeout:
                return f"TLS listener kept the connection open: {data[:80]!r}"
            except ConnectionResetError:
                return None
    finally:
        s.close()


@test("garbage on the TLS listener", timeout=60)
def _():
    r = random.Random(SEED + 1)
    hello = client_hello()
    cases = [tls_case(r, hello) for _ in range(max(50, CASES // 8))]
    with ThreadPoolExecutor(WORKERS) as pool:
        problems = [p for p in pool.map(run_tls_case, cases) if p]
    check(not problems, "\n".join(problems[:5]))
    t = request(f"https://127.0.0.1:{TLS_PORT}", "GET", "/v1/sys/health", tls_ctx=insecure_ctx())
    eq(t.status, 200, "health over TLS afterwards")
    healthy("TLS garbage")


def close_early(args):
    """Sends part of a request (or all of it) and goes away, sometimes with
    a RST, before the answer comes."""
    data, cut, rst = args
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    try:
        s.sendall(data[:cut])
        if rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        s.close()


@test("clients that close mid-request", timeout=60)
def _():
    r = random.Random(SEED + 2)
    jobs = []
    for _ in range(max(50, CASES // 5)):
        data = b"".join(one_request(r, False) for _ in range(r.randint(1, 3)))
        jobs.append((data, r.randint(0, len(data)), r.random() < 0.5))
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(close_early, jobs))
    healthy("early closes")
    no_sanitizer_reports()


if __name__ == "__main__":
    sys.exit(run())
