#!/usr/bin/python3
"""A loopback forward proxy for tests: CONNECT tunnels and absolute-form requests.

It plays the egress proxy a site puts between vaproxyd and Vault.  It listens
on 127.0.0.1 (a port of its own choosing) and records what it is asked to do:

- ``CONNECT host:port`` (how HTTPS goes through a proxy): the target is
  recorded in ``connects`` and, unless the proxy was told to refuse, a tunnel
  is opened to 127.0.0.1:port and bytes are copied both ways until one side
  closes;
- ``GET http://host:port/path HTTP/1.1`` (how plain HTTP goes through a
  proxy): the request line is recorded in ``absolute`` and the request is
  relayed to 127.0.0.1:port in origin form, keep-alive included.

Whatever host name the client asks for, the proxy connects to 127.0.0.1: the
tests give the upstream a name that does not resolve (``*.invalid``), so an
answer can only have come through the proxy.

Ownership: the ConnectProxy object owns its listening socket and one thread
per client connection (daemon threads); stop() closes the listener and every
socket it opened.  Standard library only.
"""

import http.client
import socket
import threading

__all__ = ["ConnectProxy"]

# Headers a proxy must not pass on (they describe one hop, not the message).
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization",
               "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade"}
_IO_TIMEOUT = 30.0


class ConnectProxy:
    """Start with ConnectProxy(); use .url, .connects, .absolute; stop() at the end.

    refuse_status=N answers every CONNECT with status N (e.g. 403) instead of
    opening the tunnel, as a proxy whose policy forbids the destination does.
    """

    def __init__(self, refuse_status=None):
        self.refuse_status = refuse_status
        self.connects = []   # "host:port" of each CONNECT, in arrival order
        self.absolute = []   # each absolute-form request line, in arrival order
        self._lock = threading.Lock()
        self._socks = set()
        self._stopped = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept_loop, daemon=True).start()

    # -- records ---------------------------------------------------------------

    def seen(self):
        """(connects, absolute) copies, safe to read while clients are active."""
        with self._lock:
            return list(self.connects), list(self.absolute)

    def _record(self, lst, item):
        with self._lock:
            lst.append(item)

    # -- life cycle --------------------------------------------------------------

    def stop(self):
        self._stopped = True
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            socks, self._socks = list(self._socks), set()
        for s in socks:
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _track(self, s):
        with self._lock:
            self._socks.add(s)
        return s

    def _accept_loop(self):
        while not self._stopped:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.settimeout(_IO_TIMEOUT)
            self._track(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    # -- one client connection ---------------------------------------------------

    def _serve(self, conn):
        rfile = conn.makefile("rb")
        upstreams = {}  # "host:port" -> http.client.HTTPConnection, for keep-alive
        try:
            while not self._stopped:
                line = rfile.readline(65536)
                if not line:
                    return
                parts = line.decode("latin-1").rstrip("\r\n").split(" ")
                if len(parts) != 3:
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
                    return
                method, target, _version = parts
                headers = _read_headers(rfile)
                if method == "CONNECT":
                    self._record(self.connects, target)
                    self._tunnel(conn, rfile, target)
                    return
                if not target.startswith("http://"):
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
                    return
                self._record(self.absolute, line.decode("latin-1").rstrip("\r\n"))
                if not self._relay(conn, rfile, method, target, headers, upstreams):
                    return
        except (OSError, ValueError, http.client.HTTPException):
            return
        finally:
            for u in upstreams.values():
                u.close()
            try:
                conn.close()
            except OSError:
                pass

    def _tunnel(self, conn, rfile, target):
        if self.refuse_status:
            body = b"tunnel refused by policy\n"
            conn.sendall(f"HTTP/1.1 {self.refuse_status} Forbidden\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                         .encode() + body)
            return
        _host, _, port = target.rpartition(":")
        try:
            up = self._track(socket.create_connection(("127.0.0.1", int(port)),
                                                      timeout=_IO_TIMEOUT))
        except (OSError, ValueError):
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            return
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        t = threading.Thread(target=_pump, args=(up.recv, conn), daemon=True)
        t.start()
        # The client side is read through rfile: bytes sent right after the
        # CONNECT may already sit in its buffer, and they belong to the tunnel.
        _pump(rfile.read1, up)
        t.join(_IO_TIMEOUT)
        up.close()

    def _relay(self, conn, rfile, method, target, headers, upstreams):
        """Relays one absolute-form request; returns whether the client connection
        may carry another one."""
        rest = target[len("http://"):]
        hostport, slash, path = rest.partition("/")
        path = slash + path if slash else "/"
        _host, _, port = hostport.rpartition(":")
        body = _read_body(rfile, headers)
        fwd = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP]
        up = upstreams.get(hostport)
        if up is None:
            up = http.client.HTTPConnection("127.0.0.1", int(port or 80), timeout=_IO_TIMEOUT)
            upstreams[hostport] = up
        up.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in fwd:
            up.putheader(k, v)
        if body and not any(k.lower() == "content-length" for k, _ in fwd):
            up.putheader("Content-Length", str(len(body)))
        up.endheaders(body or None)
        resp = up.getresponse()
        data = resp.read()
        out = [f"HTTP/1.1 {resp.status} {resp.reason}\r\n".encode("latin-1")]
        for k, v in resp.getheaders():
            if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length":
                out.append(f"{k}: {v}\r\n".encode("latin-1"))
        out.append(f"Content-Length: {len(data)}\r\n\r\n".encode())
        conn.sendall(b"".join(out) + data)
        closing = any(k.lower() == "connection" and "close" in v.lower() for k, v in headers)
        return not closing


def _read_headers(rfile):
    headers = []
    for _ in range(200):
        line = rfile.readline(65536)
        if not line or line in (b"\r\n", b"\n"):
            return headers
        k, _, v = line.decode("latin-1").partition(":")
        headers.append((k.strip(), v.strip()))
    raise ValueError("too many header lines")


def _read_body(rfile, headers):
    lower = {k.lower(): v for k, v in headers}
    if "chunked" in lower.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size = int(rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(65536) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(rfile.read(size))
            rfile.readline(16)
    n = int(lower.get("content-length", "0") or 0)
    return rfile.read(n) if n else b""


def _pump(read, dst):
    """Copies what read() returns to dst until it returns b"", then half-closes dst."""
    try:
        while True:
            data = read(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
