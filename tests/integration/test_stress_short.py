#!/usr/bin/python3
"""TAP: the short version of the stress campaign (contrib/stress/), in
seconds: a pass-through and a cache-hit soak, upstream faults (down at
start, hang, cut-off body, garbage, closed at once, a 1 MiB header, a TLS
upstream signed by another CA), client abuse (slow drippers next to a
steady client, huge bodies and header counts, malformed lines, pipelining,
hang-ups, a half-closed request, plain HTTP to TLS), SIGHUPs under load,
SIGTERM with requests in flight, kill -9 with persist, a full disk under
the persisted cache, and cross-token isolation.

The clients and the misbehaving upstream are tests/tools/stressclient.py
and tests/tools/badupstream.py, the same ones the long campaign uses.

A test whose name ends in "# TODO ..." would check a defect not fixed yet
(automake's TAP driver counts its failure as expected, XFAIL, and its
success as XPASS, which fails `make check`); there are none now.
"""

import os
import signal
import subprocess
import sys
import threading
import time

from harness import (PLAIN_CONFIG, Proxy, Sim, check, diag, eq, free_port, make_cert, run,
                     skip, test, tmpdir, wait_until)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import stressclient as sc  # noqa: E402  (needs the path above)

BADUP = os.path.join(os.path.dirname(os.path.abspath(sc.__file__)), "badupstream.py")

AUTH_CACHE = """
vault {
  address = "{sim}"
  retry { num_retries = -1 }
}
auto_auth {
  method "token_file" {
    min_backoff = "200ms"
    config = { token_file_path = "{token_file}" }
  }
}
api_proxy { use_auto_auth_token = true }
cache {
{cache_extra}
}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
"""

sim = Sim()


class BadUpstream:
    """tests/tools/badupstream.py on a port of its own choosing (or `port`)."""

    def __init__(self, port=0, tls=None):
        d = tmpdir("badup-")
        pf = os.path.join(d, "port")
        argv = [sys.executable, BADUP, "--port", str(port), "--port-file", pf]
        if tls:
            argv += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = wait_until(lambda: _read_port(pf), timeout=10, msg="badupstream's port")
        scheme = "https" if tls else "http"
        self.addr = f"{scheme}://127.0.0.1:{self.port}"

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _read_port(path):
    try:
        with open(path) as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def plain(upstream, env=None, extra=""):
    port = free_port()
    p = Proxy(PLAIN_CONFIG + extra, sim=upstream, port=port, env=env)
    p.wait_ready()
    return p, port


def auth_cache(cache_extra=""):
    """vaproxyd with token_file auto-auth and a cache, logged in."""
    tok = sim.make_token(ttl=3600, renewable=True)["id"]
    d = tmpdir("stress-")
    tf = os.path.join(d, "token")
    with open(tf, "w") as f:
        f.write(tok + "\n")
    port = free_port()
    p = Proxy(AUTH_CACHE, sim=sim.addr, port=port, token_file=tf, cache_extra=cache_extra)
    p.wait_ready()
    wait_until(lambda: "authenticated with" in p.log() or not p.alive(), timeout=10,
               msg="auto-auth login")
    check(p.alive(), f"vaproxyd died during start-up:\n{p.log_tail()}")
    return p, port


def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def address_sanitized(pid):
    """True when the daemon runs with AddressSanitizer, whose quarantine
    holds freed memory back on purpose (and which finds leaks itself)."""
    with open(f"/proc/{pid}/maps") as f:
        if "libasan" in f.read():
            return True
    with open(f"/proc/{pid}/exe", "rb") as f:
        return b"__asan_init" in f.read()


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def json_errors(res, status, what):
    eq(res["statuses"], {str(status): res["requests"]}, f"{what}: statuses")
    eq(res["json_errors"], res["requests"], f"{what}: every answer Vault's error JSON")


# --------------------------------------------------------------------------
# soaks

@test("soak pass-through: 0 failed, descriptors back after the load", timeout=60)
def _():
    with BadUpstream() as up:
        p, port = plain(up.addr)
        warm = sc.load(port, requests=500, conns=8)
        eq(warm["failed"], 0, f"warm-up failures: {warm}")
        time.sleep(0.3)
        fd0, rss0 = fds(p.pid), rss_kb(p.pid)
        res = sc.load(port, requests=3000, conns=8)
        # Connections the clients closed are closed by the daemon when it
        # reads their end: poll (bounded) instead of guessing a delay.
        # The upstream pool may keep one idle connection per request that
        # ran at once (8 here) beyond what the warm-up left open; a leak
        # would show per request (thousands), not per connection.
        slack = 8 + 2
        deadline = time.monotonic() + 10
        while fds(p.pid) > fd0 + slack and time.monotonic() < deadline:
            time.sleep(0.05)
        fd1, rss1 = fds(p.pid), rss_kb(p.pid)
        # The short run is too short to judge a 1 % RSS growth; the long
        # soak (contrib/stress/soak.sh) does.  Here it is only reported.
        diag(f"{res['requests']} requests, {res['failed']} failed; RSS {rss0} -> {rss1} kB; "
             f"fds {fd0} -> {fd1}")
        eq(res["failed"], 0, f"failed requests: {res}")
        check(fd1 <= fd0 + slack, f"descriptors {fd0} -> {fd1}")
        check(p.alive(), "daemon alive")


@test("pass-through memory: private RSS flat from 4000 to 12000 requests", timeout=90)
def _():
    # RssAnon, not VmRSS: VmRSS also counts the pages of the executable and
    # libraries, which grow as code runs for the first time and are no
    # memory the daemon allocated.  After the warm-up every pool, spare list
    # and buffer has reached its steady size, so 8000 more requests must not
    # grow the private memory by more than a few pages: a leak of 16 bytes
    # per request would add 125 kB.
    with BadUpstream() as up:
        p, port = plain(up.addr)
        if address_sanitized(p.pid):
            skip("AddressSanitizer's quarantine keeps freed memory resident")
        warm = sc.load(port, requests=4000, conns=8)
        eq(warm["failed"], 0, f"warm-up failures: {warm}")
        time.sleep(0.3)
        anon0, rss0 = rss_kb(p.pid, "RssAnon"), rss_kb(p.pid)
        res = sc.load(port, requests=8000, conns=8)
        time.sleep(0.3)
        anon1, rss1 = rss_kb(p.pid, "RssAnon"), rss_kb(p.pid)
        diag(f"{res['requests']} requests; RssAnon {anon0} -> {anon1} kB, "
             f"VmRSS {rss0} -> {rss1} kB")
        eq(res["failed"], 0, f"failed requests: {res}")
        check(anon1 - anon0 <= 96, f"RssAnon grew {anon1 - anon0} kB over 8000 requests")


@test("soak cache-hit: one lease read 2000 times, every read after the first a hit",
      timeout=60)
def _():
    sim.reset(all=True)
    p, port = auth_cache()
    first = sc.leases(port, count=1, prefix="soak")
    eq((first["failed"], first["misses"]), (0, 1), "first read")
    res = sc.load(port, path="/v1/database/creds/soak-0", requests=2000, conns=8, token="")
    eq(res["failed"], 0, f"failed: {res}")
    reads = [q for q in sim.requests("/v1/database/creds/") if q["method"] == "GET"]
    eq(len(reads), 1, "upstream reads (misses)")


# --------------------------------------------------------------------------
# upstream faults

@test("upstream down at start: 502 JSON, then 200 once it is up", timeout=40)
def _():
    up_port = free_port()
    p, port = plain(f"http://127.0.0.1:{up_port}")
    json_errors(sc.probe(port, "/v1/secret/data/x", 5), 502, "down")
    with BadUpstream(port=up_port):
        res = sc.probe(port, "/v1/secret/data/x", 5)
        eq(res["failed"], 0, f"after start: {res}")


@test("upstream hang (1 s client timeout): 504 JSON, other requests served meanwhile",
      timeout=40)
def _():
    with BadUpstream() as up:
        p, port = plain(up.addr, env={"VAULT_CLIENT_TIMEOUT": "1s"})
        hung = {}
        t = threading.Thread(target=lambda: hung.update(sc.probe(port, "/v1/stress/hang", 2)))
        t.start()
        time.sleep(0.2)
        ok = sc.probe(port, "/v1/secret/data/x", 20)
        t.join(timeout=20)
        json_errors(hung, 504, "hang")
        check(hung["slowest"] < 5, f"hang answered within the timeout, not {hung['slowest']}s")
        eq(ok["failed"], 0, f"requests beside the hang: {ok}")


@test("upstream cut-off body, garbage, close at once: 502 JSON, daemon serving", timeout=40)
def _():
    with BadUpstream() as up:
        p, port = plain(up.addr)
        for fault in ("cutoff", "garbage", "reset"):
            json_errors(sc.probe(port, f"/v1/stress/{fault}", 5), 502, fault)
        eq(sc.probe(port, "/v1/secret/data/x", 3)["failed"], 0, "normal requests afterwards")
        check(p.alive(), "daemon alive")


@test("upstream 1 MiB header: 502 JSON", timeout=40)
def _():
    with BadUpstream() as up:
        p, port = plain(up.addr)
        res = sc.probe(port, "/v1/stress/bigheader", 3)
        diag(f"error: {res['error']!r}")
        json_errors(res, 502, "1 MiB header")
        check(p.alive(), "daemon alive")


@test("upstream 1 MiB header is reported as 'upstream answer header too large'",
      timeout=40)
def _():
    with BadUpstream() as up:
        p, port = plain(up.addr)
        res = sc.probe(port, "/v1/stress/bigheader", 1)
        diag(f"error: {res['error']!r}")
        check("upstream answer header too large" in (res["error"] or ""), "the message")


@test("TLS upstream signed by another CA: 502 JSON", timeout=40)
def _():
    server = make_cert()
    other = make_cert()
    with BadUpstream(tls=server) as up:
        extra_vault = PLAIN_CONFIG.replace('address = "{sim}"',
                                           'address = "{sim}"\n  ca_cert = "{ca}"')
        port = free_port()
        p = Proxy(extra_vault, sim=up.addr, port=port, ca=other[0])
        p.wait_ready()
        json_errors(sc.probe(port, "/v1/secret/data/x", 5), 502, "wrong CA")


# --------------------------------------------------------------------------
# client abuse

@test("slow drippers beside a steady client: 0 failed", timeout=40)
def _():
    with BadUpstream() as up:
        p, port = plain(up.addr)
        res = sc.slowloris(port, drippers=200, seconds=3, drip=0.5)
        diag(str(res))
        check(res["requests"] > 10, f"the steady client ran: {res}")
        eq(res["failed"], 0, f"steady client failures: {res}")


@test("huge body 413, 10000 headers 431, malformed lines 4xx, 100 pipelined, hang-ups",
      timeout=60)
def _():
    with BadUpstream() as up:
        p, port = plain(up.addr)
        fd0 = fds(p.pid)
        eq(sc.huge_body(port, 40 << 20), 413, "40 MiB body")
        eq(sc.many_headers(port, 10000), 431, "10000 headers")
        m = sc.malformed(port, 1)
        eq(m["failed"], 0, f"malformed: {m}")
        pl = sc.pipeline(port, 100)
        eq((pl["answered"], pl["failed"]), (100, 0), "pipelined")
        sc.hangups(port, 200)
        eq(sc.probe(port, "/v1/secret/data/x", 3)["failed"], 0, "served after the abuse")
        wait_until(lambda: fds(p.pid) <= fd0 + 2, timeout=5,
                   msg=f"descriptors back to {fd0} (now {fds(p.pid)})")


# Fixed on the core/http branch: a request followed by a half-close
# (printf ... | nc -N) is answered before the connection closes.
@test("a half-closed request gets its answer", timeout=30)
def _():
    with BadUpstream() as up:
        p, port = plain(up.addr)
        eq(sc.half_close(port), 200, "status of the half-closed request")


# Fixed on the core/http branch: plain HTTP to a TLS listener gets a 400.
@test("plain HTTP to a TLS listener gets 400", timeout=30)
def _():
    cert, key = make_cert()
    port = free_port()
    p = Proxy(PLAIN_CONFIG.replace("tls_disable = true",
                                   'tls_cert_file = "{cert}"\n  tls_key_file = "{key}"'),
              sim=sim.addr, port=port, cert=cert, key=key)
    p.wait_ready(f"https://127.0.0.1:{port}")
    eq(sc.plain_on_tls(port), 400, "status")


# --------------------------------------------------------------------------
# signals

@test("five SIGHUPs under load: 0 failed", timeout=60)
def _():
    with BadUpstream() as up:
        p, port = plain(up.addr)
        res = {}
        t = threading.Thread(target=lambda: res.update(sc.load(port, requests=3000, conns=8)))
        t.start()
        for _ in range(5):
            time.sleep(0.1)
            p.send_signal(signal.SIGHUP)
        t.join(timeout=50)
        diag(str(res))
        eq(res["failed"], 0, f"failures across the reloads: {res}")
        check(p.alive(), "daemon alive")


@test("SIGTERM with 5 requests in flight: all answered, exit 0", timeout=40)
def _():
    p, port = plain(sim.addr)
    out = []
    ths = [threading.Thread(target=lambda: out.append(sc.get(port, "/v1/sim/slow/800")[0]))
           for _ in range(5)]
    for t in ths:
        t.start()
    wait_until(lambda: len(sim.requests("/v1/sim/slow/")) >= 5, timeout=10,
               msg="the 5 requests upstream")
    rc = p.stop(signal.SIGTERM, timeout=15)
    for t in ths:
        t.join(timeout=15)
    eq(sorted(out), [200] * 5, "in-flight answers")
    eq(rc, 0, "exit status")


def restart(p, block):
    """A new daemon on the stopped one's port and token file, logged in."""
    port = p.subst["port"]
    p2 = Proxy(AUTH_CACHE, sim=sim.addr, port=port, token_file=p.subst["token_file"],
               cache_extra=block)
    p2.wait_ready(port)
    wait_until(lambda: "authenticated with" in p2.log() or not p2.alive(), timeout=10,
               msg="auto-auth login after the restart")
    return p2


def persist_block(path, key_file):
    return (f'  persist "file" {{\n    path = "{path}"\n    key_file = "{key_file}"\n'
            f'    keep_after_import = true\n    exit_on_err = true\n  }}')


def new_key(d):
    kf = os.path.join(d, "key")
    with open(kf, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    return kf


@test("kill -9 with persist: every lease cached before the kill restored", timeout=60)
def _():
    sim.reset(all=True)
    d = tmpdir("stress-persist-")
    pdir = os.path.join(d, "cache")
    os.mkdir(pdir, 0o700)
    block = persist_block(pdir, new_key(d))
    p, port = auth_cache(block)
    first = sc.leases(port, 20, "k9")
    eq((first["failed"], first["misses"]), (0, 20), "20 fresh leases")
    time.sleep(1)
    p.stop(signal.SIGKILL)
    p2 = restart(p, block)
    again = sc.leases(port, 20, "k9")
    eq((again["failed"], again["hits"]), (0, 20), "restored as hits")


# Writes that failed while the disk was full are made again once there is
# space, so a restart restores everything.
@test("persist after ENOSPC restores everything", timeout=60)
def _():
    if os.geteuid() != 0:
        skip("needs root to mount a tmpfs")
    sim.reset(all=True)
    d = tmpdir("stress-enospc-")
    mnt = os.path.join(d, "full")
    os.mkdir(mnt, 0o700)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", mnt],
                      capture_output=True).returncode != 0:
        skip("cannot mount a tmpfs")
    try:
        block = persist_block(mnt, new_key(d))
        p, port = auth_cache(block)
        got = [sc.leases(port, 10, "before")]
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        got.append(sc.leases(port, 10, "during"))
        os.unlink(filler)
        got.append(sc.leases(port, 10, "after"))
        answered = sum(g["requests"] - g["failed"] for g in got)
        time.sleep(1)
        p.stop(signal.SIGTERM)
        p2 = restart(p, block)
        hits = sum(sc.leases(port, 10, ph)["hits"] for ph in ("before", "during", "after"))
        p2.stop(signal.SIGTERM)
        diag(f"restored {hits} of {answered} answered leases")
        eq(hits, answered, "leases restored")
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)


# --------------------------------------------------------------------------
# isolation

@test("cross-token isolation: 500 random reads over 20 tokens, 0 cross-token", timeout=60)
def _():
    sim.reset(all=True)
    p, port = auth_cache()
    res = sc.isolation(port, sim.addr, admin_token=None, tokens=20, requests=500, threads=4)
    diag(str(res))
    check("error" not in res, str(res))
    eq((res["cross"], res["failed"]), (0, 0), "cross-token answers, failures")
    check(res["hits"] > 100, f"the run produced hits ({res['hits']})")


class _TapExit:
    """Passes TAP through, noting a failure that is not a TODO: the exit
    status must not turn an expected failure into an ERROR."""

    def __init__(self, out):
        self.out, self.failed, self.line = out, False, ""

    def write(self, s):
        self.line += s
        while "\n" in self.line:
            line, self.line = self.line.split("\n", 1)
            if line.startswith("not ok") and "# TODO" not in line:
                self.failed = True
        return self.out.write(s)

    def flush(self):
        self.out.flush()


if __name__ == "__main__":
    tap = sys.stdout = _TapExit(sys.stdout)
    run()
    sys.exit(1 if tap.failed else 0)
