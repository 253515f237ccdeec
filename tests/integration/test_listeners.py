#!/usr/bin/python3
"""TAP integration tests of listeners and the daemon's own endpoints: unix
sockets, TLS (client certificates, SIGHUP reload), SIGTERM drain, pid_file,
require_request_header, cache-clear / quit / metrics, metrics_only
listeners and unclean paths (vaproxyd(8), vaproxyd.hcl(5)).
"""

import os
import shutil
import signal
import socket
import ssl
import stat
import sys
import threading
import time

from harness import (Client, Proxy, Sim, TestFailure, check, eq, free_port,
                     insecure_ctx, make_cert, parse_responses, raw, request, run, skip, test,
                     tmpdir, wait_until)

sim = Sim()

VAULT = """
vault {
  address = "{sim}"
  retry { num_retries = -1 }
}
"""

PLAIN = VAULT + """
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
  {extra}
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


def plain(extra="", top="", **kw):
    port = free_port()
    p = Proxy(top + PLAIN, sim=sim.addr, port=port, extra=extra, **kw)
    p.wait_ready()
    return p, port


def in_thread(fn):
    """Runs fn() in a thread; returns a callable giving (result, exception)."""
    box = {}

    def body():
        try:
            box["r"] = fn()
        except BaseException as e:  # reported by the caller
            box["e"] = e
    t = threading.Thread(target=body, daemon=True)
    t.start()

    def result(timeout=10):
        t.join(timeout)
        if t.is_alive():
            raise TestFailure(f"background request still running after {timeout}s")
        if "e" in box:
            raise TestFailure(f"background request failed: {box['e']!r}")
        return box["r"]
    return result


def peer_cert(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with insecure_ctx().wrap_socket(s, server_hostname="localhost") as t:
            return t.getpeercert(binary_form=True)


def der(cert_path):
    with open(cert_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def listens(pid, port):
    """Whether process pid holds a listening TCP socket on port.  Asked of
    /proc rather than by connecting: once the daemon has let the port go,
    a test running beside this one may listen on it (and, never
    accepting, leave a probe's SYN unanswered)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False  # gone
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


# --------------------------------------------------------------------------
# unix sockets

@test("unix listener: socket_mode applied on its own; requests work; file removed on exit")
def _():
    d = tmpdir("unix-")
    sock = os.path.join(d, "proxy.sock")
    with open(sock, "w") as f:
        f.write("stale")  # a stale file at the path is replaced
    p = Proxy(VAULT + """
listener "unix" {
  address = "{sock}"
  tls_disable = true
  socket_mode = "0640"
}
""", sim=sim.addr, sock=sock)
    p.wait_ready(sock)
    st = os.stat(sock)
    check(stat.S_ISSOCK(st.st_mode), "a socket at the path")
    eq(oct(stat.S_IMODE(st.st_mode)), oct(0o640),
       "socket_mode without socket_user/socket_group")
    sim.reset()
    r = request(sock, "PUT", "/v1/sim/echo/unix", body=b"hi")
    eq(r.status, 200, "request over the unix socket")
    eq((r.json()["method"], r.json()["body"]), ("PUT", "hi"), "forwarded")
    eq(r.header("X-Cache"), "MISS", "X-Cache")
    with Client(sock) as c:
        for i in range(3):
            eq(c.request("GET", f"/v1/sim/echo/u{i}").status, 200, f"keep-alive {i}")
    eq(p.stop(), 0, "exit status")
    check(not os.path.exists(sock), "socket file removed on exit")


@test("unix listener: socket_group and socket_user each applied on their own")
def _():
    if os.geteuid() != 0:
        skip("needs root to change a socket's owner")
    d = tmpdir("unix-")
    s1, s2 = os.path.join(d, "g.sock"), os.path.join(d, "u.sock")
    p = Proxy(VAULT + """
listener "unix" {
  address = "{s1}"
  tls_disable = true
  socket_group = "4242"
}
listener "unix" {
  address = "{s2}"
  tls_disable = true
  socket_user = "4343"
  socket_mode = "0600"
}
""", sim=sim.addr, s1=s1, s2=s2)
    p.wait_ready(s1)
    p.wait_ready(s2)
    eq(os.stat(s1).st_gid, 4242, "socket_group alone")
    eq(os.stat(s2).st_uid, 4343, "socket_user with socket_mode, no socket_group")
    eq(oct(stat.S_IMODE(os.stat(s2).st_mode)), oct(0o600), "socket_mode")


# --------------------------------------------------------------------------
# TLS

@test("TLS listener: https works; plain HTTP to it fails cleanly; still serving")
def _():
    cert, key = make_cert()
    port = free_port()
    p = Proxy(TLS, sim=sim.addr, port=port, cert=cert, key=key, extra="")
    p.wait_ready(f"https://127.0.0.1:{port}")
    ctx = ssl.create_default_context(cafile=cert)
    r = request(f"https://127.0.0.1:{port}", "GET", "/v1/sim/echo/tls", tls_ctx=ctx)
    eq((r.status, r.json()["path"]), (200, "/v1/sim/echo/tls"), "verified https request")
    eq(peer_cert(port), der(cert), "served certificate")
    t0 = time.monotonic()
    out = raw(port, b"GET /v1/sim/echo/plain HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
    check(time.monotonic() - t0 < 5, "closed promptly")
    check(not out.startswith(b"HTTP/1.1 2") and not out.startswith(b"HTTP/1.0 2"),
          f"plain HTTP must not be served: {out[:80]!r}")
    # A client that connects and says nothing, and one that sends garbage.
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s2 = socket.create_connection(("127.0.0.1", port), timeout=5)
    s2.sendall(b"\x16\x03\x01\x00\x05hello-garbage")
    r = request(f"https://127.0.0.1:{port}", "GET", "/v1/sim/echo/after", tls_ctx=ctx)
    eq(r.status, 200, "still serving with a silent and a garbage client connected")
    s.close()
    s2.close()
    check(p.alive(), "daemon alive")


@test("TLS versions (tls_min_version, tls_max_version) and ALPN")
def _():
    cert, key = make_cert()
    port = free_port()
    p = Proxy(TLS, sim=sim.addr, port=port, cert=cert, key=key,
              extra='tls_min_version = "tls13"')
    url = f"https://127.0.0.1:{port}"
    p.wait_ready(url)
    old = insecure_ctx()
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        r = request(url, "GET", "/v1/sim/echo/v12", tls_ctx=old, timeout=5)
    except (ssl.SSLError, ConnectionError, OSError):
        pass
    else:
        raise TestFailure(f"a TLS 1.2 client was served by a tls13-minimum listener: {r.status}")
    eq(request(url, "GET", "/v1/sim/echo/v13").status, 200, "TLS 1.3 client")
    port2 = free_port()
    p2 = Proxy(TLS, sim=sim.addr, port=port2, cert=cert, key=key,
               extra='tls_max_version = "tls12"')
    p2.wait_ready(f"https://127.0.0.1:{port2}")
    with socket.create_connection(("127.0.0.1", port2), timeout=5) as s:
        with insecure_ctx().wrap_socket(s, server_hostname="localhost") as t:
            eq(t.version(), "TLSv1.2", "negotiated version under tls_max_version = tls12")
    # A client offering h2 first must still get a working connection.
    ctx = insecure_ctx()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            proto = t.selected_alpn_protocol()
            if proto == "h2":
                t.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00"
                          b"\x00\x00\x00\x00")
                head = t.recv(9)
                check(len(head) == 9 and head[3] == 4,
                      f"h2 selected by ALPN but no SETTINGS frame: {head!r}")
            else:
                check(proto in (None, "http/1.1"), f"ALPN result {proto!r}")
                t.sendall(b"GET /v1/sim/echo/alpn HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = t.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                eq(parse_responses(data)[0].status, 200, f"HTTP/1.1 after ALPN {proto!r}")


@test("tls_require_and_verify_client_cert refuses a client without a certificate")
def _():
    cert, key = make_cert()
    ccert, ckey = make_cert(cn="client")
    port = free_port()
    p = Proxy(TLS, sim=sim.addr, port=port, cert=cert, key=key,
              extra=f'tls_require_and_verify_client_cert = true\n  '
                    f'tls_client_ca_file = "{ccert}"')
    ok_ctx = insecure_ctx()
    ok_ctx.load_cert_chain(ccert, ckey)
    p.wait_ready(f"https://127.0.0.1:{port}", tls_ctx=ok_ctx)
    url = f"https://127.0.0.1:{port}"
    try:
        r = request(url, "GET", "/v1/sim/echo/nocert", tls_ctx=insecure_ctx(), timeout=5)
    except (ssl.SSLError, ConnectionError, OSError) as e:
        refused_with = repr(e)
    else:
        raise TestFailure(f"a client without a certificate got an answer: {r.status}")
    other, okey = make_cert(cn="stranger")
    bad_ctx = insecure_ctx()
    bad_ctx.load_cert_chain(other, okey)
    try:
        r = request(url, "GET", "/v1/sim/echo/badcert", tls_ctx=bad_ctx, timeout=5)
    except (ssl.SSLError, ConnectionError, OSError):
        pass
    else:
        raise TestFailure(f"a client with an untrusted certificate got an answer: {r.status}")
    r = request(url, "GET", "/v1/sim/echo/cert", tls_ctx=ok_ctx)
    eq(r.status, 200, f"client with a trusted certificate (no-cert refusal was {refused_with})")


@test("SIGHUP swaps the TLS certificate for new connections, in-flight request survives")
def _():
    d = tmpdir("hup-")
    old_cert, old_key = make_cert(tmpdir("old-"), cn="old")
    new_cert, new_key = make_cert(tmpdir("new-"), cn="new")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    shutil.copy(old_cert, cert)
    shutil.copy(old_key, key)
    port = free_port()
    p = Proxy(TLS, sim=sim.addr, port=port, cert=cert, key=key, extra="")
    url = f"https://127.0.0.1:{port}"
    p.wait_ready(url)
    eq(peer_cert(port), der(old_cert), "old certificate before SIGHUP")
    sim.reset()
    pending = in_thread(lambda: request(url, "GET", "/v1/sim/slow/1500", timeout=10))
    wait_until(lambda: sim.requests("/v1/sim/slow/"), timeout=5, msg="slow request upstream")
    # Both files replaced atomically, then the signal.
    for src, dst in ((new_cert, cert), (new_key, key)):
        shutil.copy(src, dst + ".tmp")
        os.replace(dst + ".tmp", dst)
    p.send_signal(signal.SIGHUP)
    wait_until(lambda: peer_cert(port) == der(new_cert), timeout=5,
               msg="the new certificate on new connections")
    r = pending(10)
    eq((r.status, r.json()), (200, {"slept": 1500}), "in-flight request across SIGHUP")
    eq(request(url, "GET", "/v1/sim/echo/after").status, 200, "serving after the reload")
    check(p.alive(), "daemon alive after SIGHUP")
    # A broken certificate file: the reload fails, the old one stays.
    with open(cert, "w") as f:
        f.write("not a certificate\n")
    p.send_signal(signal.SIGHUP)
    wait_until(lambda: p.log().count("SIGHUP") >= 2 or p.log().count("reload") >= 2,
               timeout=5, msg="second reload logged")
    time.sleep(0.2)
    eq(peer_cert(port), der(new_cert), "a failed reload keeps the working certificate")
    check(p.alive(), "daemon alive after a failed reload")


# --------------------------------------------------------------------------
# signals, pid file

@test("SIGTERM: in-flight request completes, listener closed at once, exit 0, pid_file gone")
def _():
    d = tmpdir("term-")
    pid_file = os.path.join(d, "vaproxyd.pid")
    p, port = plain(top=f'pid_file = "{pid_file}"\n')
    wait_until(lambda: os.path.exists(pid_file), timeout=5, msg="pid file")
    with open(pid_file) as f:
        eq(f.read().strip(), str(p.pid), "pid file content")
    eq(oct(stat.S_IMODE(os.stat(pid_file).st_mode) & 0o077), oct(0), "pid file not group/world")
    sim.reset()
    pending = in_thread(lambda: request(port, "GET", "/v1/sim/slow/1500", timeout=10))
    wait_until(lambda: sim.requests("/v1/sim/slow/"), timeout=5, msg="slow request upstream")
    check(listens(p.pid, port), "the daemon listens before SIGTERM")
    p.send_signal(signal.SIGTERM)
    wait_until(lambda: not listens(p.pid, port), timeout=1.0,
               msg="listener closed right after SIGTERM")
    check(p.alive(), "still draining while the request is in flight")
    r = pending(10)
    eq((r.status, r.json()), (200, {"slept": 1500}), "in-flight request completed")
    eq(p.wait_exit(timeout=10), 0, "exit status after SIGTERM")
    check(not os.path.exists(pid_file), "pid file removed on exit")


@test("SIGINT with an idle keep-alive client: prompt exit 0")
def _():
    p, port = plain()
    c = Client(port)
    eq(c.request("GET", "/v1/sim/echo/idle").status, 200, "connection open")
    t0 = time.monotonic()
    eq(p.stop(signal.SIGINT, timeout=10), 0, "exit status")
    check(time.monotonic() - t0 < 3, f"idle connections do not hold up the exit "
          f"({time.monotonic() - t0:.1f}s)")
    c.close()


# --------------------------------------------------------------------------
# require_request_header, built-in endpoints

@test("require_request_header: 412 unless exactly one X-Vault-Request: true")
def _():
    port2 = free_port()
    port = free_port()
    p = Proxy(VAULT + """
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
  require_request_header = true
}
listener "tcp" {
  address = "127.0.0.1:{port2}"
  tls_disable = true
}
""", sim=sim.addr, port=port, port2=port2)
    p.wait_ready(port)
    p.wait_ready(port2)
    want = b'{"errors":["missing \\"X-Vault-Request\\" header"]}'
    sim.reset()
    for hdrs in ([], [("X-Vault-Request", "bogus")], [("X-Vault-Request", "True")],
                 [("X-Vault-Request", "true"), ("X-Vault-Request", "true")],
                 [("X-Vault-Requests", "true")]):
        r = request(port, "GET", "/v1/sim/echo/rrh", hdrs)
        eq(r.status, 412, f"status with {hdrs}")
        eq(r.body.rstrip(b"\n"), want, f"body with {hdrs}")
        eq(r.header("Content-Type"), "application/json", f"content type with {hdrs}")
    eq(sim.requests("/v1/sim/echo/rrh"), [], "refused requests never reach the upstream")
    for name in ("X-Vault-Request", "x-vault-request"):
        r = request(port, "GET", "/v1/sim/echo/rrh", [(name, "true")])
        eq(r.status, 200, f"with {name}: true")
    eq(request(port2, "GET", "/v1/sim/echo/rrh").status, 200, "other listener: not required")
    # The proxy's own endpoints are exempt.
    eq(request(port, "GET", "/proxy/v1/metrics").status, 200, "metrics exempt")
    eq(request(port, "POST", "/proxy/v1/cache-clear", body={"type": "all"}).status, 200,
       "cache-clear exempt")
    eq(request(port, "GET", "/proxy/v1/quit").status, 404, "quit exempt (and disabled)")


@test("cache-clear endpoints answer an empty 200; a trailing slash is forwarded")
def _():
    p, port = plain()
    sim.reset()
    for path in ("/proxy/v1/cache-clear", "/agent/v1/cache-clear"):
        for method, body in (("POST", {"type": "all"}), ("PUT", {"type": "request_path",
                                                                 "value": "/v1/x"}),
                             ("GET", None)):
            r = request(port, method, path, body=body)
            eq((r.status, r.body), (200, b""), f"{method} {path}")
    eq(sim.requests(), [], "cache-clear is answered locally")
    r = request(port, "POST", "/proxy/v1/cache-clear/", body={"type": "all"})
    eq(len(sim.requests("/proxy/v1/cache-clear/")), 1,
       f"the path with a trailing slash is not the endpoint: forwarded (got {r.status})")


@test("quit: 404 when disabled; 405 for GET and 200 + exit 0 for POST when enabled")
def _():
    p, port = plain()
    for path in ("/proxy/v1/quit", "/agent/v1/quit"):
        for method in ("GET", "POST", "PUT"):
            r = request(port, method, path)
            eq((r.status, r.body), (404, b""), f"{method} {path} when disabled")
    check(p.alive(), "a disabled quit does not stop the daemon")
    p2, port2 = plain(extra="proxy_api { enable_quit = true }")
    r = request(port2, "GET", "/proxy/v1/quit")
    eq((r.status, r.body), (405, b""), "GET when enabled")
    r = request(port2, "PUT", "/proxy/v1/quit")
    eq((r.status, r.body), (405, b""), "PUT when enabled")
    check(p2.alive(), "still running")
    r = request(port2, "POST", "/proxy/v1/quit")
    eq((r.status, r.body), (200, b""), "POST when enabled")
    eq(p2.wait_exit(timeout=10), 0, "exit status after quit")


@test("metrics_only listener: 404 for proxy paths, JSON metrics, 405 for POST")
def _():
    port = free_port()
    mport = free_port()
    p = Proxy(VAULT + """
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
listener "tcp" {
  address = "127.0.0.1:{mport}"
  tls_disable = true
  role = "metrics_only"
}
""", sim=sim.addr, port=port, mport=mport)
    p.wait_ready(port)
    p.wait_ready(mport)
    sim.reset()
    for path in ("/v1/sim/echo/m", "/v1/sys/health", "/proxy/v1/quit", "/proxy/v1/cache-clear",
                 "/"):
        r = request(mport, "GET", path)
        eq(r.status, 404, f"{path} on metrics_only")
        eq(r.body.strip(), b"404 page not found", f"{path} body")
    eq(sim.requests(), [], "nothing forwarded from the metrics_only listener")
    request(port, "GET", "/v1/sim/echo/count")
    for lp in (mport, port):
        r = request(lp, "GET", "/proxy/v1/metrics")
        eq(r.status, 200, f"metrics on {lp}")
        eq(r.header("Content-Type"), "application/json", "metrics content type")
        j = r.json()
        for k in ("Timestamp", "Gauges", "Counters", "Samples", "Points"):
            check(k in j, f"metrics key {k}: {sorted(j)}")
    r = request(mport, "POST", "/proxy/v1/metrics")
    eq((r.status, r.json()), (405, {"errors": []}), "POST metrics")


def counters(port):
    r = request(port, "GET", "/proxy/v1/metrics")
    eq(r.status, 200, "metrics status")
    return {c["Name"]: c["Count"] for c in r.json()["Counters"]}


@test("metrics: proxy counters count answers; format selection")
def _():
    p, port = plain()
    before = counters(port)
    for _ in range(3):
        eq(request(port, "GET", "/v1/sim/echo/m").status, 200, "success")
    for _ in range(2):
        eq(request(port, "GET", "/v1/sim/status/404").status, 404, "client error")
    after = counters(port)
    for name, delta in (("vault.agent.proxy.success", 3), ("vault.agent.proxy.client_error", 2),
                        ("vault.agent.proxy.error", 0)):
        eq(after.get(name, 0) - before.get(name, 0), delta, f"{name} delta ({sorted(after)})")
    problems = []
    r = request(port, "GET", "/proxy/v1/metrics?format=prometheus")
    if (r.status, r.body.strip()) != (400, b"prometheus is not enabled"):
        problems.append(f"?format=prometheus without telemetry: {r.status} {r.body[:80]!r}, "
                        f"want 400 'prometheus is not enabled'")
    for accept in ("application/openmetrics-text; version=1.0.0", "text/plain; version=0.0.4"):
        r = request(port, "GET", "/proxy/v1/metrics", [("Accept", accept)])
        if r.status != 400:
            problems.append(f"Accept: {accept} should select prometheus (not enabled: 400), "
                            f"got {r.status}")
    r = request(port, "GET", "/proxy/v1/metrics?format=bogus")
    if r.status != 400 or "bogus" not in r.text():
        problems.append(f'?format=bogus: {r.status} {r.body[:60]!r}, want 400 '
                        f'metric response format "bogus" unknown')
    check(not problems, "\n".join(problems))


@test("SIGHUP re-reads log_level from the config")
def _():
    port = free_port()
    p = Proxy(PLAIN.replace("vault {", 'log_level = "info"\nvault {', 1), sim=sim.addr,
              port=port, extra="")
    p.wait_ready()
    request(port, "GET", "/v1/sim/echo/quiet")
    check("[debug]" not in p.log(), "no debug lines at info level")
    with open(p.config_path) as f:
        text = f.read()
    with open(p.config_path, "w") as f:
        f.write(text.replace('log_level = "info"', 'log_level = "debug"'))
    p.send_signal(signal.SIGHUP)
    wait_until(lambda: "log level is now debug" in p.log() or "[debug]" in p.log(),
               timeout=5, msg="reload logged")
    request(port, "GET", "/v1/sim/echo/loud")
    wait_until(lambda: "[debug]" in p.log(), timeout=3, msg="debug lines after SIGHUP")
    # The listener address is not reloaded: still serving on the same port.
    eq(request(port, "GET", "/v1/sim/echo/x").status, 200, "still serving")


@test("unclean paths get a 301 to the cleaned path")
def _():
    p, port = plain()
    sim.reset()
    for path, want in (("//v1//sim/echo/x", "/v1/sim/echo/x"),
                       ("/v1/./sim/echo/x", "/v1/sim/echo/x"),
                       ("/v1/sim/../sim/echo/x?a=1", "/v1/sim/echo/x?a=1"),
                       ("/v1//sim/echo/y/", "/v1/sim/echo/y/")):
        r = request(port, "GET", path)
        eq((r.status, r.header("Location")), (301, want), f"redirect for {path}")
    eq(sim.requests(), [], "nothing forwarded")
    # Dots that are not a "." or ".." segment followed by a slash: as clean
    # as they look, forwarded.
    for path in ("/v1/sim/echo/.x", "/v1/sim/echo/..x", "/v1/sim/echo/x.",
                 "/v1/sim/echo/a/."):
        r = request(port, "GET", path)
        eq(r.header("Location"), None, f"no redirect for {path}")
        check(r.status != 301, f"{path} answered {r.status}, not redirected")
    eq(len(sim.requests()), 4, "all four forwarded")
    # Paths are scanned a word at a time: each form at every offset, so
    # that it lies within a word and across two.
    sim.reset()
    for k in range(18):
        seg = "/v1/sim/echo" + "a" * k
        for unclean, want in ((seg + "//b", seg + "/b"),
                              (seg + "/./b", seg + "/b"),
                              (seg + "/../b", "/v1/sim/b")):
            r = request(port, "GET", unclean)
            eq((r.status, r.header("Location")), (301, want),
               f"redirect for {unclean}")
    eq(sim.requests(), [], "nothing forwarded")
    for k in range(18):
        r = request(port, "GET", "/v1/sim/echo" + "a" * k + "/.b/..c/x.")
        eq(r.header("Location"), None, f"no redirect at offset {k}")
    eq(len(sim.requests()), 18, "all forwarded")


if __name__ == "__main__":
    sys.exit(run())
