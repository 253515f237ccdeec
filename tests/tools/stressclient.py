#!/usr/bin/python3
"""stressclient: the clients of the stress campaign (contrib/stress/) and of
tests/integration/test_stress_short.py, as functions and as a command line.

Each command prints one JSON object with its figures, e.g.

    stressclient.py load --port 8100 --requests 2000 --conns 8
    stressclient.py slowloris --port 8100 --drippers 500 --seconds 20
    stressclient.py abuse --port 8100
    stressclient.py isolation --port 8100 --sim http://127.0.0.1:8200

Every loop is bounded in count and in time; every socket is closed before
a function returns.  Standard library only.
"""

import argparse
import http.client
import json
import random
import socket
import struct
import sys
import threading
import time

TOKEN = "stress-token"


# --------------------------------------------------------------------------
# plain HTTP helpers

def get(port, path, token=TOKEN, timeout=10.0, method="GET", body=None, headers=None):
    """One request on a fresh connection -> (status, body bytes); status 0 on error."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if token:
            hdrs["X-Vault-Token"] = token
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException):
        return 0, b""
    finally:
        c.close()


def is_vault_error(body):
    """True when body is Vault's error shape, {"errors": [...]}."""
    try:
        j = json.loads(body)
    except ValueError:
        return False
    return isinstance(j, dict) and isinstance(j.get("errors"), list)


def raw(port, data, timeout=5.0, half_close=False, tls_ctx=None):
    """Sends bytes and reads until the peer closes or timeout -> (bytes, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out, closed = b"", False
    deadline = time.monotonic() + timeout
    try:
        if tls_ctx is not None:
            s = tls_ctx.wrap_socket(s, server_hostname="127.0.0.1")
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            out += chunk
    finally:
        s.close()
    return out, closed


def status_of(data):
    """The status code of the first response in data, or 0."""
    parts = data.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return 0


# --------------------------------------------------------------------------
# probe: the same request a few times, and what came back

def probe(port, path, count=10, token=TOKEN, timeout=30.0):
    """`count` sequential requests for `path` -> figures: statuses, how many
    errors were Vault's JSON shape, the first error message, the slowest."""
    statuses, json_errors, first, slowest = {}, 0, None, 0.0
    for _ in range(count):
        t0 = time.monotonic()
        st, body = get(port, path, token=token, timeout=timeout)
        slowest = max(slowest, time.monotonic() - t0)
        statuses[str(st)] = statuses.get(str(st), 0) + 1
        if st >= 400 and is_vault_error(body):
            json_errors += 1
            if first is None:
                first = json.loads(body)["errors"][0] if json.loads(body)["errors"] else ""
    failed = sum(v for k, v in statuses.items() if not 200 <= int(k) < 300)
    return {"requests": count, "failed": failed, "statuses": statuses,
            "json_errors": json_errors, "error": first, "slowest": round(slowest, 3)}


# --------------------------------------------------------------------------
# load

def load(port, path="/v1/secret/data/stress", requests=2000, conns=8, seconds=60.0,
         token=TOKEN):
    """Keep-alive load from `conns` threads until `requests` answers or
    `seconds` pass; no token header when `token` is empty (auto-auth's
    token is used then).  A failure is anything but a 2xx (an error
    status, a connection error, a timeout)."""
    lock = threading.Lock()
    state = {"sent": 0, "ok": 0, "failed": 0, "statuses": {}}
    deadline = time.monotonic() + seconds

    def worker():
        c = None
        while time.monotonic() < deadline:
            with lock:
                if state["sent"] >= requests:
                    break
                state["sent"] += 1
            status = 0
            try:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                c.request("GET", path, headers={"X-Vault-Token": token} if token else {})
                r = c.getresponse()
                r.read()
                status = r.status
                if r.will_close:
                    c.close()
                    c = None
            except (OSError, http.client.HTTPException):
                if c is not None:
                    c.close()
                c = None
            with lock:
                if 200 <= status < 300:
                    state["ok"] += 1
                else:
                    state["failed"] += 1
                    state["statuses"][status] = state["statuses"].get(status, 0) + 1
        if c is not None:
            c.close()

    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"requests": state["ok"] + state["failed"], "failed": state["failed"],
            "statuses": {str(k): v for k, v in state["statuses"].items()}}


# --------------------------------------------------------------------------
# slowloris: many connections that drip a request, and one steady client

def slowloris(port, drippers=500, seconds=10.0, drip=1.0, steady_every=0.05,
              path="/v1/secret/data/stress"):
    """`drippers` connections each send a request line and then one short
    header line every `drip` seconds, never finishing; meanwhile a steady
    client sends a whole request on a fresh connection every
    `steady_every` seconds.  Figures: the steady client's answers and
    failures, drippers refused at connect, and drippers the server closed
    (which is what it should do to them after http_read_timeout)."""
    socks, refused = [], 0
    for i in range(drippers):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.setblocking(False)
            s.send(f"GET {path}?d={i} HTTP/1.1\r\nHost: x\r\n".encode())
            socks.append(s)
        except OSError:
            refused += 1
    steady = {"requests": 0, "failed": 0}
    stop = threading.Event()

    def steady_client():
        while not stop.is_set():
            status, _ = get(port, path, timeout=5)
            steady["requests"] += 1
            if not 200 <= status < 300:
                steady["failed"] += 1
            stop.wait(steady_every)

    t = threading.Thread(target=steady_client)
    t.start()
    closed = set()
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        for i, s in enumerate(socks):
            if i in closed:
                continue
            try:
                s.send(f"X-Drip-{n}: a\r\n".encode())
            except BlockingIOError:
                pass
            except OSError:
                closed.add(i)
        n += 1
        time.sleep(min(drip, max(0.0, deadline - time.monotonic())))
    stop.set()
    t.join(timeout=15)
    for s in socks:
        s.close()
    return {"drippers": drippers, "refused": refused, "closed_by_server": len(closed),
            "requests": steady["requests"], "failed": steady["failed"]}


# --------------------------------------------------------------------------
# client abuse, one case at a time

def half_close(port, path="/v1/secret/data/stress"):
    """A whole request followed by a half-close (`printf ... | nc -N`): the
    answer must still come back.  -> status (0: none)."""
    out, _ = raw(port, f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {TOKEN}\r\n\r\n"
                 .encode(), timeout=3, half_close=True)
    return status_of(out)


def plain_on_tls(port):
    """Plain HTTP to a TLS listener -> the status answered (0: none)."""
    out, _ = raw(port, b"GET /v1/secret/data/stress HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
    return status_of(out)


def huge_body(port, size=48 << 20):
    """A Content-Length beyond max_request_size (32 MiB by default): the
    server must answer 413 without reading it all. -> status."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(f"PUT /v1/secret/data/big HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {TOKEN}\r\n"
                  f"Content-Length: {size}\r\n\r\n".encode())
        chunk = b"a" * 65536
        sent = 0
        s.settimeout(0.5)
        out = b""
        while sent < size:
            try:
                s.sendall(chunk)
                sent += len(chunk)
            except socket.timeout:
                break
            except OSError:
                break
            if sent % (1 << 20) == 0:
                try:
                    out += s.recv(65536, socket.MSG_DONTWAIT)
                except (BlockingIOError, OSError):
                    pass
                if out:
                    break
        s.settimeout(5)
        try:
            while b"\r\n\r\n" not in out:
                c = s.recv(65536)
                if not c:
                    break
                out += c
        except OSError:
            pass
        return status_of(out)
    finally:
        s.close()


def many_headers(port, count=5000):
    """A request with `count` headers (beyond max_request_header_bytes). -> status."""
    hdrs = "".join(f"X-H{i}: {i}\r\n" for i in range(count))
    out, _ = raw(port, f"GET /v1/secret/data/stress HTTP/1.1\r\nHost: x\r\n{hdrs}\r\n".encode(),
                 timeout=5)
    return status_of(out)


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /v1/x HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /v1/x HTTP/1.1\r\nHost x\r\n\r\n",
    b"GET /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"GET /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"POST /v1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    b"GET /v1/\x00x HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v1/x HTTP/1.1\r\n" + b"X: " + b"\x7f" * 10 + b"\r\n\r\n",
]


def malformed(port, rounds=10):
    """Each malformed request `rounds` times: every answer must be a 4xx
    (or a close without an answer) and the connection closed. -> figures."""
    sent = bad = 0
    statuses = {}
    for _ in range(rounds):
        for data in MALFORMED:
            out, closed = raw(port, data, timeout=5)
            sent += 1
            st = status_of(out)
            statuses[str(st)] = statuses.get(str(st), 0) + 1
            if not closed or not (st == 0 or 400 <= st < 500):
                bad += 1
    return {"requests": sent, "failed": bad, "statuses": statuses}


def pipeline(port, depth=1000, path="/v1/secret/data/stress"):
    """`depth` requests in one write, the last asking to close; every one
    must be answered 200. -> figures."""
    one = f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {TOKEN}\r\n\r\n".encode()
    last = (f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {TOKEN}\r\n"
            "Connection: close\r\n\r\n").encode()
    out, _ = raw(port, one * (depth - 1) + last, timeout=30)
    answered = out.count(b"HTTP/1.1 ")
    ok = out.count(b"HTTP/1.1 200 ")
    return {"requests": depth, "answered": answered, "failed": depth - ok}


def hangups(port, count=500):
    """Clients that close at every stage of a request. -> count sent."""
    req = (f"POST /v1/secret/data/stress HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {TOKEN}\r\n"
           "Content-Length: 100\r\n\r\n" + "a" * 50).encode()
    rng = random.Random(7)
    for _ in range(count):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(req[:rng.randrange(len(req))])
            if rng.random() < 0.5:
                # Linger 0: the close is a reset rather than a FIN.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        except OSError:
            pass
    return {"requests": count}


def abuse(port, quick=False):
    """Every abuse case, then a normal request. -> figures per case."""
    res = {
        "huge_body": huge_body(port, 40 << 20),
        "many_headers": many_headers(port, 10000),
        "malformed": malformed(port, 1 if quick else 20),
        "pipeline": pipeline(port, 100 if quick else 1000),
        "hangups": hangups(port, 50 if quick else 2000),
        "half_close": half_close(port),
    }
    res["after"] = get(port, "/v1/secret/data/stress")[0]
    return res


# --------------------------------------------------------------------------
# leases: read database/creds/<prefix>-<i> and count the cache's answers

def leases(port, count=100, prefix="p", token=None, timeout=10.0):
    """Reads `count` distinct lease paths once each (with the auto-auth
    token when `token` is None) -> figures: failed, hits, misses."""
    hits = misses = failed = 0
    for i in range(count):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            c.request("GET", f"/v1/database/creds/{prefix}-{i}",
                      headers={"X-Vault-Token": token} if token else {})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                failed += 1
            elif r.getheader("X-Cache") == "HIT":
                hits += 1
            else:
                misses += 1
        except (OSError, http.client.HTTPException):
            failed += 1
        finally:
            c.close()
    return {"requests": count, "failed": failed, "hits": hits, "misses": misses}


# --------------------------------------------------------------------------
# cross-token isolation (vaproxyd with a cache, in front of vaultsim)

def sim_state(sim):
    host, port = sim.split("://", 1)[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        c.request("GET", "/_sim/state")
        return json.loads(c.getresponse().read())
    finally:
        c.close()


def isolation(port, sim, admin_token="root", tokens=100, requests=10000, roles=5, threads=8,
              seed=20261111, seconds=300.0):
    """Makes `tokens` orphan tokens through the proxy (so they are managed
    tokens and their leases are cached), then `requests` random reads of
    database/creds/<role> by random tokens from `threads` threads.  Every
    lease answered must belong, per the simulator, to the token that asked.
    -> figures (cross = answers that belong to another token)."""
    toks = []
    for i in range(tokens):
        body = json.dumps({"policies": ["default"], "display_name": f"iso-{i}"})
        st, b = get(port, "/v1/auth/token/create-orphan", token=admin_token, method="POST",
                    body=body, headers={"Content-Type": "application/json"})
        if st != 200:
            return {"error": f"create-orphan {i}: {st} {b[:200]!r}"}
        toks.append(json.loads(b)["auth"]["client_token"])
    lock = threading.Lock()
    answers, failed = [], [0]
    counter = [0]
    deadline = time.monotonic() + seconds

    def worker(k):
        rng = random.Random(seed + k)
        conn = None
        while time.monotonic() < deadline:
            with lock:
                if counter[0] >= requests:
                    break
                counter[0] += 1
            t = rng.randrange(len(toks))
            role = f"iso-{rng.randrange(roles)}"
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", f"/v1/database/creds/{role}",
                             headers={"X-Vault-Token": toks[t]})
                r = conn.getresponse()
                body = r.read()
                xc = r.getheader("X-Cache")
                if r.status != 200:
                    raise ValueError(r.status)
                lid = json.loads(body)["lease_id"]
                with lock:
                    answers.append((t, lid, xc))
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                if conn is not None:
                    conn.close()
                conn = None
                with lock:
                    failed[0] += 1
        if conn is not None:
            conn.close()

    ths = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    owner = {l["id"]: l["token"] for l in sim_state(sim)["leases"]}
    cross = sum(1 for t, lid, _ in answers if owner.get(lid) != toks[t])
    hits = sum(1 for _, _, xc in answers if xc == "HIT")
    return {"tokens": tokens, "requests": len(answers) + failed[0], "failed": failed[0],
            "hits": hits, "cross": cross}


# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("load")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--conns", type=int, default=8)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--path", default="/v1/secret/data/stress")
    p = sub.add_parser("slowloris")
    p.add_argument("--drippers", type=int, default=500)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--drip", type=float, default=1.0)
    p = sub.add_parser("probe")
    p.add_argument("--path", required=True)
    p.add_argument("--count", type=int, default=10)
    p = sub.add_parser("leases")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--prefix", default="p")
    p = sub.add_parser("abuse")
    p.add_argument("--quick", action="store_true")
    p = sub.add_parser("half-close")
    p = sub.add_parser("plain-on-tls")
    p = sub.add_parser("isolation")
    p.add_argument("--sim", required=True)
    p.add_argument("--tokens", type=int, default=100)
    p.add_argument("--requests", type=int, default=10000)
    p.add_argument("--threads", type=int, default=8)
    for p in sub.choices.values():
        p.add_argument("--port", type=int, required=True)
    a = ap.parse_args(argv)
    if a.cmd == "load":
        res = load(a.port, a.path, a.requests, a.conns, a.seconds)
    elif a.cmd == "slowloris":
        res = slowloris(a.port, a.drippers, a.seconds, a.drip)
    elif a.cmd == "probe":
        res = probe(a.port, a.path, a.count)
    elif a.cmd == "leases":
        res = leases(a.port, a.count, a.prefix)
    elif a.cmd == "abuse":
        res = abuse(a.port, a.quick)
    elif a.cmd == "half-close":
        res = {"status": half_close(a.port)}
    elif a.cmd == "plain-on-tls":
        res = {"status": plain_on_tls(a.port)}
    else:
        res = isolation(a.port, a.sim, admin_token=None, tokens=a.tokens, requests=a.requests,
                        threads=a.threads)
    print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
