#!/usr/bin/python3
"""badupstream: a misbehaving stand-in for Vault, for the stress campaign
(contrib/stress/) and tests/integration/test_stress_short.py.

The path picks the fault, so one upstream serves every case:

  /v1/stress/hang       reads the request and never answers (the connection
                        is held until the client closes it, at most --hold s)
  /v1/stress/cutoff     200 with Content-Length 4096, 100 body bytes, close
  /v1/stress/garbage    random non-HTTP bytes (seeded), then close
  /v1/stress/bigheader  200 whose one header is --big-header bytes (1 MiB)
  /v1/stress/reset      closes at once without a byte
  anything else         200 with a small KV v2 read answer, keep-alive

Over TLS (--tls-cert/--tls-key) the same paths are served; a client that
does not trust the certificate never gets that far.  Standard library
only; plain sockets rather than http.server, so that every byte sent is the
one written here.

    badupstream.py --port 0 --port-file F [--tls-cert C --tls-key K]
"""

import argparse
import os
import random
import signal
import socket
import ssl
import sys
import threading
import time

OK_BODY = (b'{"request_id":"0b7c3d2e-5f1a-4e6b-9c8d-7a6f5e4d3c2b","lease_id":"",'
           b'"renewable":false,"lease_duration":0,"data":{"data":{"k":"v"}},'
           b'"wrap_info":null,"warnings":null,"auth":null}')
MAX_REQUEST = 1 << 20


def read_request(conn):
    """The request's head and body (by Content-Length), or None at EOF."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf += chunk
        if len(buf) > MAX_REQUEST:
            return None
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or b"0")
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    return parts[1] if len(parts) > 1 else "/"


def answer(status, body, extra=b""):
    return (b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n" + extra +
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


class Upstream:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()

    def garbage(self):
        with self.lock:
            n = self.rng.randrange(64, 4096)
            data = bytes(self.rng.randrange(256) for _ in range(n))
        # Never something an HTTP parser could take for a status line.
        return b"\x00\xffNOT-HTTP " + data

    def serve(self, conn):
        """One connection: answers until the client closes or a fault ends it."""
        with conn:
            while True:
                path = read_request(conn)
                if path is None:
                    return
                path = path.split("?", 1)[0]
                if path == "/v1/stress/hang":
                    conn.settimeout(self.args.hold)
                    try:
                        while conn.recv(65536):
                            pass
                    except OSError:
                        pass
                    return
                if path == "/v1/stress/cutoff":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 4096\r\n\r\n" + b'{"data":"' + b"x" * 91)
                    return
                if path == "/v1/stress/garbage":
                    conn.sendall(self.garbage())
                    return
                if path == "/v1/stress/reset":
                    return
                if path == "/v1/stress/bigheader":
                    big = b"X-Big: " + b"a" * self.args.big_header + b"\r\n"
                    conn.sendall(answer(b"200 OK", OK_BODY, big))
                    return
                conn.sendall(answer(b"200 OK", OK_BODY))

    def handle(self, conn):
        try:
            if self.args.tls_cert:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(self.args.tls_cert, self.args.tls_key)
                conn.settimeout(10)
                conn = ctx.wrap_socket(conn, server_side=True)
                conn.settimeout(None)
            self.serve(conn)
        except (OSError, ssl.SSLError, ValueError):
            # A client that hangs up or fails the handshake is part of the job.
            pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--seed", type=int, default=20261111)
    ap.add_argument("--hold", type=float, default=120.0,
                    help="longest time a hung request keeps its connection (s)")
    ap.add_argument("--big-header", type=int, default=1 << 20,
                    help="bytes in the header of /v1/stress/bigheader")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    up = Upstream(args)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(512)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{srv.getsockname()[1]}\n")
        os.replace(tmp, args.port_file)
    else:
        print(srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=up.handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
