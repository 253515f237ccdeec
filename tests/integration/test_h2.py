#!/usr/bin/python3
"""TAP integration tests of HTTP/2 on the listeners (vaproxyd.hcl(5)):
ALPN h2 on TLS listeners, h2c with http2_prior_knowledge, curl --http2 and
nghttp through the proxy (GET, PUT, LIST, large answers over small windows,
many streams on one connection), hostile peers speaking raw frames, graceful
GOAWAY on SIGTERM and /proxy/v1/quit, SIGHUP keeping connections, metrics.

The hostile peers are written with the standard library only: frames are
put together by hand and header blocks use HPACK literals without Huffman
coding, which every decoder must accept (RFC 7541 6.2)."""

import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

from harness import (Proxy, Sim, check, contains, eq, free_port, insecure_ctx, make_cert,
                     need_binary, request, run, test, wait_until)

sim = Sim()

VAULT = """
vault {
  address = "{sim}"
  retry { num_retries = -1 }
}
"""

TLS = VAULT + """
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_cert_file = "{cert}"
  tls_key_file = "{key}"
  {extra}
}
"""

H2C = VAULT + """
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
  http2_prior_knowledge = true
  {extra}
}
"""

_cert = None


def cert():
    global _cert
    if _cert is None:
        _cert = make_cert()
    return _cert


def tls_proxy(extra="", top=""):
    c, k = cert()
    port = free_port()
    p = Proxy(top + TLS, sim=sim.addr, port=port, cert=c, key=k, extra=extra)
    p.wait_ready(f"https://127.0.0.1:{port}", tls_ctx=insecure_ctx())
    return p, port


def curl(*args, timeout=20):
    exe = need_binary("curl")
    r = subprocess.run([exe, "-sk", "--http2", *args], capture_output=True, timeout=timeout)
    return r


def curl_status(port, path="/v1/sim/echo/alive", proto="--http2"):
    r = subprocess.run([need_binary("curl"), "-sk", proto, "-o", "/dev/null", "-w",
                        "%{http_version} %{http_code}", f"https://127.0.0.1:{port}{path}"],
                       capture_output=True, text=True, timeout=20)
    return r.stdout


def rss_kib(p):
    with open(f"/proc/{p.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------
# A raw HTTP/2 peer

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, STREAM_CLOSED, REFUSED_STREAM, \
    ENHANCE_YOUR_CALM = 0x0, 0x1, 0x3, 0x5, 0x7, 0xb
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack(headers):
    """Literal header fields without indexing, new names, no Huffman."""
    out = b""
    for name, value in headers:
        n, v = name.encode(), value.encode() if isinstance(value, str) else value
        out += b"\x00" + hpack_int(len(n), 7) + n + hpack_int(len(v), 7) + v
    return out


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream & 0x7FFFFFFF) + payload


def settings(**kv):
    ids = {"header_table_size": 1, "enable_push": 2, "max_concurrent_streams": 3,
           "initial_window_size": 4, "max_frame_size": 5, "max_header_list_size": 6}
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", ids[k], v) for k, v in kv.items()))


def req_headers(method, path, port, extra=()):
    return [(":method", method), (":scheme", "https"), (":path", path),
            (":authority", f"127.0.0.1:{port}"), *extra]


class H2:
    """One client connection: TLS with ALPN h2, or h2c prior knowledge."""

    def __init__(self, port, tls=True, window=None, timeout=10):
        self.port = port
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls:
            ctx = insecure_ctx()
            ctx.set_alpn_protocols(["h2", "http/1.1"])
            s = ctx.wrap_socket(s, server_hostname="localhost")
            eq(s.selected_alpn_protocol(), "h2", "ALPN")
        self.sock = s
        self.buf = b""
        first = PREFACE + (settings(initial_window_size=window) if window is not None
                           else settings())
        self.sock.sendall(first)

    def send(self, data):
        self.sock.sendall(data)

    def settle(self, timeout=10):
        """Reads the server's SETTINGS (read_frame acknowledges them) and its
        connection WINDOW_UPDATE.  A client may send more than the default
        65 535 bytes of body only after that (RFC 9113 6.9.2); sent sooner,
        the server may rightly end the connection with FLOW_CONTROL_ERROR."""
        seen = set()

        def done(f):
            if f[0] == SETTINGS and not f[1] & ACK:
                seen.add("SETTINGS")
            elif f[0] == WINDOW_UPDATE and f[2] == 0:
                seen.add("WINDOW_UPDATE")
            return len(seen) == 2
        frames = self.frames_until(done, timeout)
        check(len(seen) == 2, f"server SETTINGS and connection WINDOW_UPDATE, got "
                              f"{[(t, fl, st) for t, fl, st, _ in frames]!r}")

    def request(self, stream, method="GET", path="/v1/sim/echo/h2", body=None, extra=()):
        hb = hpack(req_headers(method, path, self.port, extra))
        flags = END_HEADERS | (0 if body else END_STREAM)
        out = frame(HEADERS, flags, stream, hb)
        for off in range(0, len(body or b""), 16384):
            last = off + 16384 >= len(body)
            out += frame(DATA, END_STREAM if last else 0, stream, body[off:off + 16384])
        self.send(out)

    def read_frame(self):
        """(type, flags, stream, payload), or None at the end of the connection."""
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError, OSError):
                chunk = b""
            if not chunk:
                return None
            self.buf += chunk
        n = int.from_bytes(self.buf[:3], "big")
        f = (self.buf[3], self.buf[4], int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF,
             self.buf[9:9 + n])
        self.buf = self.buf[9 + n:]
        if f[0] == SETTINGS and not f[1] & ACK:
            try:
                self.send(frame(SETTINGS, ACK, 0))
            except OSError:
                pass
        return f

    def frames_until(self, pred, timeout=10):
        """Reads until pred(frame) holds; returns every frame read."""
        self.sock.settimeout(timeout)
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                f = self.read_frame()
            except socket.timeout:
                break
            if f is None:
                break
            seen.append(f)
            if pred(f):
                return seen
        return seen

    def goaway(self, timeout=10):
        """The error code of the GOAWAY the server sends, or None."""
        for f in self.frames_until(lambda f: f[0] == GOAWAY, timeout):
            if f[0] == GOAWAY:
                return struct.unpack(">I", f[3][4:8])[0]
        return None

    def response(self, stream, timeout=10):
        """(got headers, body bytes, RST code or None) of one stream."""
        got_headers, body, rst = False, b"", None

        def done(f):
            nonlocal got_headers, body, rst
            if f[2] != stream:
                return False
            if f[0] == HEADERS:
                got_headers = True
            elif f[0] == DATA:
                body += f[3]
                self.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(f[3]) or 1)) +
                          frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", len(f[3]) or 1)))
            elif f[0] == RST_STREAM:
                rst = struct.unpack(">I", f[3][:4])[0]
                return True
            return bool(f[1] & END_STREAM) and f[0] in (DATA, HEADERS)
        self.frames_until(done, timeout)
        return got_headers, body, rst

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def get_echoed(h, stream, path, what):
    """A GET on `stream` whose answer must echo `path` (the simulator's echo)."""
    h.request(stream, path=path)
    got, body, rst = h.response(stream)
    check(got and path.encode() in body, f"{what}: {body[:200]!r}")


# --------------------------------------------------------------------------
# Clients through the proxy

@test("curl --http2: GET, PUT with a body and LIST go through as on HTTP/1.1")
def _():
    p, port = tls_proxy()
    base = f"https://127.0.0.1:{port}"
    r = curl("-i", base + "/v1/sim/echo/get?x=1")
    out = r.stdout.decode()
    check(out.startswith("HTTP/2 200"), f"HTTP/2 answer: {out[:200]!r}")
    contains(out.lower(), "x-cache: miss", "X-Cache as on HTTP/1.1")
    contains(out, '"raw_path":"/v1/sim/echo/get?x=1"', "path and query")
    r = curl("-X", "PUT", "--data-binary", '{"k":"v"}', base + "/v1/sim/echo/put")
    contains(r.stdout.decode(), '"method":"PUT"', "PUT")
    contains(r.stdout.decode(), '"body":"{\\"k\\":\\"v\\"}"', "PUT body")
    r = curl("-X", "LIST", base + "/v1/sim/echo/list")
    contains(r.stdout.decode(), '"method":"LIST"', "LIST as a method")
    r = curl("-i", base + "/v1/sys/nope-not-there", "-H", "X-Vault-Token: x")
    check(r.stdout.decode().startswith("HTTP/2 "), "error answer over h2")
    eq(curl_status(port), "2 200", "curl reports HTTP/2")
    contains(p.log(), "method=PUT path=/v1/sim/echo/put status=200", "request log line")


@test("ALPN: a Go-like client offering h2 gets h2; one offering only http/1.1 gets HTTP/1.1")
def _():
    p, port = tls_proxy()
    h = H2(port)  # asserts h2 was selected
    get_echoed(h, 1, "/v1/sim/echo/h2", "h2 answer")
    h.close()
    ctx = insecure_ctx()
    ctx.set_alpn_protocols(["http/1.1"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                        server_hostname="localhost")
    eq(s.selected_alpn_protocol(), "http/1.1", "ALPN http/1.1 only")
    s.sendall(b"GET /v1/sim/echo/one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    check(data.startswith(b"HTTP/1.1 200"), f"HTTP/1.1 answer: {data[:80]!r}")
    eq(curl_status(port, proto="--http1.1"), "1.1 200", "curl --http1.1")


@test("nghttp: a large answer over many DATA frames with small windows arrives whole")
def _():
    exe = need_binary("nghttp")
    p, port = tls_proxy()
    d = p.dir
    payload = ("0123456789abcdef" * 20000).encode()  # 320 000 bytes
    path = os.path.join(d, "big.txt")
    with open(path, "wb") as f:
        f.write(payload)
    # Windows of 2^12-1 and 2^14-1 bytes: the answer needs many DATA frames
    # and WINDOW_UPDATEs.
    r = subprocess.run([exe, "-w", "12", "-W", "14", "-d", path,
                        f"https://127.0.0.1:{port}/v1/sim/echo/big"],
                       capture_output=True, timeout=60)
    eq(r.returncode, 0, f"nghttp: {r.stderr[-300:]!r}")
    contains(r.stdout.decode(), payload.decode(), "body echoed whole")
    rv = subprocess.run([exe, "-v", "-w", "12", "-W", "14", "-d", path,
                         f"https://127.0.0.1:{port}/v1/sim/echo/big"],
                        capture_output=True, timeout=60, text=True)
    n = len(re.findall(r"recv DATA frame", rv.stdout))
    check(n > 10, f"several DATA frames ({n})")
    # A raw peer that opens the stream window by little steps also gets it.
    # Its body is larger than the default window: it waits for ours first.
    h = H2(port, window=1000)
    h.settle()
    h.request(1, "PUT", "/v1/sim/echo/raw-big", body=payload[:100000])
    t0 = time.monotonic()
    got, body, rst = h.response(1, timeout=30)
    check(got and len(body) > 100000 and rst is None,
          f"raw small-window answer: headers {got}, {len(body)} bytes, RST {rst}, "
          f"after {time.monotonic() - t0:.1f}s")
    h.close()


@test("many concurrent streams on one connection get their own answers")
def _():
    p, port = tls_proxy()
    sim.delay(300, path_prefix="/v1/sim/echo/par-")
    h = H2(port)
    n = 100
    for i in range(n):
        h.request(2 * i + 1, path=f"/v1/sim/echo/par-{i}")
    bodies, ends = {}, set()

    def done(f):
        if f[0] == DATA:
            bodies[f[2]] = bodies.get(f[2], b"") + f[3]
            if f[3]:
                h.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", len(f[3]))))
        if f[0] in (DATA, HEADERS) and f[1] & END_STREAM:
            ends.add(f[2])
        return len(ends) == n
    h.frames_until(done, timeout=30)
    eq(len(ends), n, "every stream answered")
    for i in range(n):
        contains(bodies.get(2 * i + 1, b"").decode(), f'"path":"/v1/sim/echo/par-{i}"',
                 f"stream {2 * i + 1} has its own answer")
    h.close()
    # curl multiplexing several transfers over one connection.
    d = p.dir
    urls = []
    for i in range(20):
        urls += ["-o", os.path.join(d, f"c{i}.json"), f"https://127.0.0.1:{port}/v1/sim/echo/c{i}"]
    r = curl("--parallel", "--parallel-max", "20", *urls, timeout=60)
    eq(r.returncode, 0, "curl --parallel")
    for i in range(20):
        with open(os.path.join(d, f"c{i}.json")) as f:
            contains(f.read(), f'"path":"/v1/sim/echo/c{i}"', f"curl transfer {i}")
    sim.reset()


@test("h2c with http2_prior_knowledge on a plain listener; HTTP/1.1 still served there")
def _():
    port = free_port()
    p = Proxy(H2C, sim=sim.addr, port=port, extra="")
    p.wait_ready()
    h = H2(port, tls=False)
    get_echoed(h, 1, "/v1/sim/echo/h2c", "h2c answer")
    h.close()
    eq(request(port, "GET", "/v1/sim/echo/plain").status, 200, "HTTP/1.1 on the same listener")
    r = subprocess.run([need_binary("curl"), "-s", "--http2-prior-knowledge", "-o", "/dev/null",
                        "-w", "%{http_version}", f"http://127.0.0.1:{port}/v1/sim/echo/c"],
                       capture_output=True, text=True, timeout=20)
    eq(r.stdout, "2", "curl --http2-prior-knowledge")
    # Without the key, the preface is an HTTP/1.1 error.
    port2 = free_port()
    p2 = Proxy(H2C.replace("http2_prior_knowledge = true", ""), sim=sim.addr, port=port2,
               extra="")
    p2.wait_ready()
    s = socket.create_connection(("127.0.0.1", port2), timeout=5)
    s.sendall(PREFACE + settings())
    check(s.recv(100).startswith(b"HTTP/1."), "plain listener without the key answers HTTP/1.1")
    s.close()


# --------------------------------------------------------------------------
# Hostile peers

def serving(port):
    eq(curl_status(port), "2 200", "the daemon still serves h2")


@test("rapid reset (CVE-2023-44487): GOAWAY ENHANCE_YOUR_CALM, memory bounded, still serving")
def _():
    p, port = tls_proxy()
    sim.delay(2000, path_prefix="/v1/sim/echo/rr")
    before = rss_kib(p)
    h = H2(port)
    out = b""
    for i in range(1500):
        sid = 2 * i + 1
        out += frame(HEADERS, END_HEADERS | END_STREAM, sid,
                     hpack(req_headers("GET", "/v1/sim/echo/rr", port))) + \
            frame(RST_STREAM, 0, sid, struct.pack(">I", 0x8))
    try:
        h.send(out)
    except OSError:
        pass
    eq(h.goaway(), ENHANCE_YOUR_CALM, "GOAWAY code")
    h.close()
    serving(port)
    check(rss_kib(p) - before < 64 * 1024, f"memory bounded ({rss_kib(p) - before} KiB more)")
    sim.reset()


@test("CONTINUATION flood (CVE-2024-27316): GOAWAY ENHANCE_YOUR_CALM, still serving")
def _():
    p, port = tls_proxy()
    before = rss_kib(p)
    h = H2(port)
    h.send(frame(HEADERS, 0, 1, hpack(req_headers("GET", "/v1/sim/echo/c", port))))
    try:
        for i in range(2000):
            h.send(frame(CONTINUATION, 0, 1, hpack([(f"x-f{i}", "v" * 100)])))
    except OSError:
        pass
    eq(h.goaway(), ENHANCE_YOUR_CALM, "GOAWAY code")
    h.close()
    # Empty CONTINUATION frames: no bytes, only frames.
    h = H2(port)
    h.send(frame(HEADERS, 0, 1, hpack(req_headers("GET", "/v1/sim/echo/c", port))))
    try:
        h.send(frame(CONTINUATION, 0, 1) * 5000)
    except OSError:
        pass
    eq(h.goaway(), ENHANCE_YOUR_CALM, "GOAWAY code (empty frames)")
    h.close()
    serving(port)
    check(rss_kib(p) - before < 32 * 1024, "memory bounded")


@test("oversize header block: GOAWAY past the block limit, 431 over the list limit")
def _():
    p, port = tls_proxy(extra="max_request_header_bytes = 8192")
    h = H2(port)
    block = hpack(req_headers("GET", "/v1/sim/echo/o", port, [("x-big", "a" * 40000)]))
    h.send(frame(HEADERS, 0, 1, block[:16000]) + frame(CONTINUATION, 0, 1, block[16000:32000]) +
           frame(CONTINUATION, END_HEADERS, 1, block[32000:]))
    eq(h.goaway(), ENHANCE_YOUR_CALM, "GOAWAY code")
    h.close()
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Big: " + "b" * 12000,
             f"https://127.0.0.1:{port}/v1/sim/echo/o")
    eq(r.stdout.decode(), "431", "header list over the limit: 431 on that stream")
    serving(port)


@test("invalid pseudo-headers: RST_STREAM PROTOCOL_ERROR; the connection goes on")
def _():
    p, port = tls_proxy()
    h = H2(port)
    bad = [
        [(":method", "GET"), (":scheme", "https"), (":authority", "x")],  # no :path
        req_headers("GET", "/v1/sim/echo/p", port, [(":foo", "bar")]),  # unknown pseudo
        [("x-a", "b"), (":method", "GET"), (":scheme", "https"), (":path", "/")],  # order
        req_headers("GET", "/v1/sim/echo/p", port, [("connection", "keep-alive")]),
        req_headers("GET", "/v1/sim/echo/p", port, [("Upper", "case")]),
        req_headers("GET", "/v1/sim/echo/p", port, [(":path", "/again")]),  # repeated
    ]
    for i, hs in enumerate(bad):
        sid = 2 * i + 1
        h.send(frame(HEADERS, END_HEADERS | END_STREAM, sid, hpack(hs)))
        got, body, rst = h.response(sid)
        eq(rst, PROTOCOL_ERROR, f"case {i}: RST_STREAM code")
    get_echoed(h, 99, "/v1/sim/echo/after", "a valid stream after them is answered")
    h.close()
    serving(port)


@test("stream id reuse and window overflow end the connection with the RFC's GOAWAY")
def _():
    p, port = tls_proxy()
    h = H2(port)
    h.request(1)
    h.response(1)
    h.request(1)  # a closed stream's id again
    code = h.goaway()
    check(code in (PROTOCOL_ERROR, STREAM_CLOSED), f"id reuse: GOAWAY {code}")
    h.close()
    h = H2(port)
    h.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF)))
    eq(h.goaway(), FLOW_CONTROL_ERROR, "connection window overflow")
    h.close()
    h = H2(port)
    sim.delay(1000, path_prefix="/v1/sim/echo/wo")
    h.request(1, path="/v1/sim/echo/wo")
    h.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 0x7FFFFFFF)))
    got, body, rst = h.response(1)
    eq(rst, FLOW_CONTROL_ERROR, "stream window overflow: RST_STREAM")
    h.close()
    sim.reset()
    serving(port)


@test("HEADERS on a lower stream id the client skipped: GOAWAY PROTOCOL_ERROR")
def _():
    p, port = tls_proxy()
    h = H2(port)
    get_echoed(h, 5, "/v1/sim/echo/five", "stream 5 answered")
    h.request(3, path="/v1/sim/echo/three")  # 3 was skipped: never opened
    seen = h.frames_until(lambda f: f[0] == GOAWAY)
    gw = [f for f in seen if f[0] == GOAWAY]
    check(gw, "a GOAWAY")
    eq(struct.unpack(">I", gw[0][3][4:8])[0], PROTOCOL_ERROR, "GOAWAY code")
    eq(struct.unpack(">I", gw[0][3][:4])[0] & 0x7FFFFFFF, 5, "last stream id")
    check(not [f for f in seen if f[2] == 3], "stream 3 never answered")
    h.close()
    # Trailers on an open stream below the highest id are no such thing.
    h = H2(port)
    h.send(frame(HEADERS, END_HEADERS, 1, hpack(req_headers("PUT", "/v1/sim/echo/tr", port))))
    get_echoed(h, 3, "/v1/sim/echo/three", "stream 3 answered")
    h.send(frame(DATA, 0, 1, b"{}") +
           frame(HEADERS, END_HEADERS | END_STREAM, 1, hpack([("x-trailer", "t")])))
    got, body, rst = h.response(1)
    check(got and b"/v1/sim/echo/tr" in body, f"stream 1 answered after its trailers {body!r}")
    h.close()
    serving(port)


@test("SETTINGS and PING floods, and a zero-window stall, end with GOAWAY")
def _():
    p, port = tls_proxy(extra='http_idle_timeout = "2s"')
    for name, f in (("SETTINGS", settings(initial_window_size=65535)),
                    ("PING", frame(PING, 0, 0, b"12345678"))):
        h = H2(port)
        try:
            h.send(f * 5000)
        except OSError:
            pass
        eq(h.goaway(), ENHANCE_YOUR_CALM, f"{name} flood: GOAWAY code")
        h.close()
    # A client that keeps its window shut: the answer can never go.
    h = H2(port, window=0)
    h.request(1, path="/v1/sim/echo/stall")
    t0 = time.monotonic()
    seen = h.frames_until(lambda f: f[0] == GOAWAY, timeout=10)
    gw = [f for f in seen if f[0] == GOAWAY]
    check(gw and struct.unpack(">I", gw[0][3][4:8])[0] == ENHANCE_YOUR_CALM,
          "zero-window stall: GOAWAY ENHANCE_YOUR_CALM")
    check(time.monotonic() - t0 < 8, "after about http_idle_timeout")
    h.close()
    serving(port)


@test("at max_connections, idle h2 connections make room (GOAWAY NO_ERROR); busy ones stay")
def _():
    p, port = tls_proxy(extra="max_connections = 4")
    sim.delay(3000, path_prefix="/v1/sim/echo/busy")
    busy = H2(port)  # the oldest, with a stream open upstream
    busy.request(1, path="/v1/sim/echo/busy")
    idle = []
    for i in range(3):
        h = H2(port)
        get_echoed(h, 1, f"/v1/sim/echo/idle-{i}", f"idle {i} answered first")
        idle.append(h)
    # The limit is reached: a new client is served all the same, at the
    # cost of the oldest idle h2 connection, which is told why.
    eq(curl_status(port), "2 200", "a new client at the limit is served")
    eq(idle[0].goaway(), NO_ERROR, "the oldest idle h2 connection gets GOAWAY NO_ERROR")
    eq(idle[0].frames_until(lambda f: False, timeout=5), [], "and is closed after it")
    eq(curl_status(port, proto="--http1.1"), "1.1 200", "an HTTP/1.1 client too")
    got, body, rst = busy.response(1)
    check(got and b"/v1/sim/echo/busy" in body, "the busy connection kept its stream")
    for h in [busy, *idle]:
        h.close()
    sim.reset()


@test("request body over max_request_size: 413 on that stream, connection goes on")
def _():
    p, port = tls_proxy(extra="max_request_size = 1000")
    h = H2(port)
    h.request(1, "PUT", "/v1/sim/echo/b", body=b"x" * 5000)
    got, body, rst = h.response(1)
    contains(body.decode(), "request body too large", "413 body")
    get_echoed(h, 3, "/v1/sim/echo/small", "next stream answered")
    h.close()


# --------------------------------------------------------------------------
# Lifecycle and metrics

def slow_stream_then(port, action, path="/v1/sim/echo/slow"):
    """Opens a stream the upstream answers late, runs action(), and returns
    (GOAWAY code, stream answered, frames)."""
    sim.delay(1500, path_prefix=path)
    h = H2(port)
    h.request(1, path=path)
    time.sleep(0.4)
    action()
    frames = h.frames_until(lambda f: f[0] in (DATA, HEADERS) and f[2] == 1 and
                            f[1] & END_STREAM, timeout=10)
    h.close()
    sim.reset()
    codes = [struct.unpack(">I", f[3][4:8])[0] for f in frames if f[0] == GOAWAY]
    body = b"".join(f[3] for f in frames if f[0] == DATA and f[2] == 1)
    return codes, body


@test("SIGTERM: GOAWAY NO_ERROR, the open stream still gets its answer, then exit")
def _():
    p, port = tls_proxy()
    codes, body = slow_stream_then(port, lambda: p.send_signal(signal.SIGTERM))
    eq(codes[:1], [NO_ERROR], "GOAWAY NO_ERROR first")
    contains(body.decode(), '"path":"/v1/sim/echo/slow"', "in-flight stream answered")
    eq(p.wait_exit(), 0, "clean exit")


@test("/proxy/v1/quit: GOAWAY to h2 clients, open streams finish")
def _():
    p, port = tls_proxy(extra="proxy_api { enable_quit = true }")
    codes, body = slow_stream_then(
        port, lambda: request(f"https://127.0.0.1:{port}", "POST", "/proxy/v1/quit",
                              tls_ctx=insecure_ctx()))
    eq(codes[:1], [NO_ERROR], "GOAWAY NO_ERROR")
    contains(body.decode(), '"path":"/v1/sim/echo/slow"', "in-flight stream answered")
    p.wait_exit()


@test("SIGHUP keeps h2 connections; metrics count connections, streams, resets, GOAWAYs")
def _():
    p, port = tls_proxy()
    h = H2(port)
    get_echoed(h, 1, "/v1/sim/echo/before", "answer before the reload")
    p.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload" in p.log().lower(), msg="reload logged")
    time.sleep(0.3)
    get_echoed(h, 3, "/v1/sim/echo/after-hup", "same connection still served after SIGHUP")
    sim.delay(1000, path_prefix="/v1/sim/echo/cancel")
    h.request(5, path="/v1/sim/echo/cancel")
    h.send(frame(RST_STREAM, 0, 5, struct.pack(">I", 0x8)))
    time.sleep(0.2)
    h.close()
    h = H2(port)
    h.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF)))
    h.goaway()
    h.close()
    sim.reset()
    j = request(f"https://127.0.0.1:{port}", "GET", "/proxy/v1/metrics",
                tls_ctx=insecure_ctx()).json()
    counts = {c["Name"]: c["Count"] for c in j["Counters"]}
    gauges = {g["Name"]: g["Value"] for g in j["Gauges"]}
    check(counts.get("vault.proxy.h2.connections", 0) >= 2, f"h2 connections: {counts}")
    check(counts.get("vault.proxy.h2.streams", 0) >= 3, "h2 streams counted")
    check(counts.get("vault.proxy.h2.peer_resets", 0) >= 1, "resets by the peer counted")
    check(counts.get("vault.proxy.h2.goaways_sent", 0) >= 1, "GOAWAYs counted")
    check("vault.proxy.h2.connections.open" in gauges, "open h2 connections gauge")
    check("vault.proxy.h2.streams.open" in gauges, "open h2 streams gauge")


if __name__ == "__main__":
    sys.exit(run())
