#!/usr/bin/python3
"""Integration-test harness for vaproxy: processes, HTTP helpers, a TAP runner.

A test script (run as tests/integration/test_x.py, so this directory is on
sys.path) looks like this:

    import sys
    from harness import *

    sim = Sim()

    @test("lookup-self through the proxy")
    def _():
        port = free_port()
        p = Proxy(CONFIG, sim=sim.addr, port=port)
        p.wait_ready(port)
        r = request(port, "GET", "/v1/auth/token/lookup-self", {"X-Vault-Token": sim.root_token})
        eq(r.status, 200, "status")

    if __name__ == "__main__":
        sys.exit(run())

Every wait is bounded and polls for a condition.  Every process started here
runs in its own process group and is killed at the end of the test that
started it (or at exit for ones started outside a test), even on failure.
Standard library only.
"""

import atexit
import collections
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

__all__ = [
    "Sim", "Proxy", "Client", "Response", "TestFailure", "Skip",
    "free_port", "template", "tmpdir", "random_token", "find_named", "request", "raw", "parse_responses",
    "insecure_ctx", "make_cert", "test", "run", "check", "eq", "contains",
    "wait_until", "skip", "need_binary", "diag",
    "write_atomic", "read_text", "rec_header", "rec_body", "PLAIN_CONFIG",
]

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIM_SCRIPT = os.path.join(TESTS_DIR, "sim", "vaultsim.py")
PYTHON = sys.executable or "/usr/bin/python3"
READY_TIMEOUT = 10.0


class TestFailure(AssertionError):
    pass


class Skip(Exception):
    pass


class _TestTimeout(Exception):
    pass


# --------------------------------------------------------------------------
# assertions

# The smallest config most daemon tests start from: the simulator as the
# upstream, retries without end, one plain TCP listener.  Fill it with
# template(PLAIN_CONFIG, sim=..., port=...).
PLAIN_CONFIG = """
vault {
  address = "{sim}"
  retry { num_retries = -1 }
}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
"""


def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def eq(actual, expected, msg=""):
    if actual != expected:
        raise TestFailure(f"{msg}\nexpected: {expected!r}\n  actual: {actual!r}".lstrip("\n"))


def contains(haystack, needle, msg=""):
    if needle not in haystack:
        raise TestFailure(f"{msg}\nexpected to contain: {needle!r}\n              actual: {haystack!r}"
                          .lstrip("\n"))


def wait_until(pred, timeout=5.0, interval=0.05, msg="condition"):
    """Poll pred() until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TestFailure(f"timed out after {timeout}s waiting for {msg}")
        time.sleep(interval)


def skip(reason):
    raise Skip(reason)


def need_binary(name):
    path = shutil.which(name)
    if path is None:
        skip(f"{name} not found")
    return path


def diag(msg):
    for line in str(msg).splitlines() or [""]:
        print("# " + line)
    sys.stdout.flush()


# --------------------------------------------------------------------------
# temp dirs, ports, templating

_tmpdirs = []


def random_token():
    """A token shaped like Vault's (hvs. and 24 letters and digits), new each call."""
    alphabet = string.ascii_letters + string.digits
    return "hvs." + "".join(secrets.choice(alphabet) for _ in range(24))


def find_named(top, name, parent=None):
    """Every file called NAME under TOP (whose directory is called PARENT, if
    given), sorted.  Walks with os.walk, not glob("**"), because "**" skips
    dot-directories and an install prefix may well be under one (~/.local)."""
    found = []
    for d, _, files in os.walk(top):
        if name in files and (parent is None or os.path.basename(d) == parent):
            found.append(os.path.join(d, name))
    return sorted(found)


def tmpdir(prefix="vaproxy-test-"):
    """A fresh directory, removed at exit unless VAPROXY_KEEP_TMP is set."""
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


_handed_out = set()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago.

    Inherently racy (someone may grab it before the daemon binds), which is
    why the simulator itself uses port 0 plus a port file.  Ports already
    returned in this process are not returned twice.
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise TestFailure("could not find a free port")


def template(text, **values):
    """Replace {name} placeholders; plain replace, since HCL and JSON are full of braces."""
    for k, v in values.items():
        text = text.replace("{" + k + "}", str(v))
    return text


# --------------------------------------------------------------------------
# processes

_live = []          # every started process not yet reaped, for atexit
_test_owned = None  # processes started by the running test, or None outside a test


def _cleanup_at_exit():
    for proc in reversed(list(_live)):
        proc.kill()
    if not os.environ.get("VAPROXY_KEEP_TMP"):
        for d in _tmpdirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup_at_exit)


class _Process:
    """A child in its own process group with its output in a log file."""

    name = "process"

    def _start(self, argv, env=None, cwd=None):
        self.argv = argv
        self.log_path = os.path.join(self.dir, "output.log")
        with open(self.log_path, "ab") as logf:
            # A new session gives the child its own process group, so
            # anything it forks dies with it in kill().
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                         start_new_session=True)
        _live.append(self)
        if _test_owned is not None:
            _test_owned.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        if self.proc.poll() is None:
            return True
        self._reaped()
        return False

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, lines=30):
        return "\n".join(self.log().splitlines()[-lines:])

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Send sig and wait; returns the exit code (negative: killed by that signal)."""
        if self.alive():
            os.kill(self.proc.pid, sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFailure(f"{self.name} (pid {self.pid}) did not exit within {timeout}s "
                              f"of signal {sig}; killed.\n{self.log_tail()}")
        self._reaped()
        return rc

    def kill(self):
        """Make sure the whole process group is gone (TERM, short grace, then KILL)."""
        if self not in _live:
            return  # already reaped: its group id may belong to someone else by now
        for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
            except (ProcessLookupError, PermissionError):
                break
        self._reaped()

    def _reaped(self):
        """The leader has exited: KILL stragglers in its group, stop tracking it.

        Done at once, while the group still exists, so the id cannot have
        been reused."""
        if self not in _live:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self in _live:
            _live.remove(self)

    def _died(self, what):
        return TestFailure(f"{self.name} exited with status {self.proc.returncode} {what}; "
                           f"last output:\n{self.log_tail()}")

    def _poll(self, probe, timeout, what):
        """Call probe() until it returns non-None; fail fast if the process exits."""
        deadline = time.monotonic() + timeout
        last_err = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise self._died(what)
            try:
                value = probe()
                if value is not None:
                    return value
            except (OSError, http.client.HTTPException, ValueError) as e:
                last_err = e
            time.sleep(0.05)
        raise TestFailure(f"{self.name} not ready after {timeout}s ({what}); last error: "
                          f"{last_err!r}\n{self.log_tail()}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


class Sim(_Process):
    """The Vault simulator (tests/sim/vaultsim.py) on a port of its own choosing."""

    name = "vaultsim"

    def __init__(self, tls=None, root_token=None, args=(), timeout=READY_TIMEOUT,
                 client_ca=None):
        """tls=(cert, key) serves HTTPS; client_ca=FILE (with tls) also requests client
        certificates verified against FILE, for the cert auth method.  The root token
        (self.root_token) is a fresh random one unless given."""
        self.dir = tmpdir("vaultsim-")
        # Random, never a word like "root": the log-secrecy tests look for every
        # token the simulator knows in the daemon's logs, and a word that also
        # occurs in paths (the tree under /root/...) would be found there.
        self.root_token = root_token or random_token()
        root_token = self.root_token
        port_file = os.path.join(self.dir, "port")
        argv = [PYTHON, SIM_SCRIPT, "--port", "0", "--port-file", port_file,
                "--root-token", root_token, "--log", os.path.join(self.dir, "requests.log")]
        self.tls_ctx = None
        self._server_cert = tls[0] if tls else None
        if tls:
            cert, key = tls
            argv += ["--tls-cert", cert, "--tls-key", key]
            self.tls_ctx = ssl.create_default_context(cafile=cert)
            self.tls_ctx.check_hostname = False
            if client_ca:
                argv += ["--tls-client-ca", client_ca]
        elif client_ca:
            raise TestFailure("Sim(client_ca=...) needs tls=(cert, key)")
        self._start(argv + list(args))
        self.port = self._poll(lambda: _read_port(port_file), timeout, "waiting for its port file")
        self.scheme = "https" if tls else "http"
        self.addr = f"{self.scheme}://127.0.0.1:{self.port}"
        # The health probe must not depend on the test's certificate details.
        probe_ctx = insecure_ctx() if tls else None
        self._poll(lambda: request(self.addr, "GET", "/v1/sys/health", tls_ctx=probe_ctx,
                                   timeout=1).status == 200 or None,
                   timeout, "waiting for /v1/sys/health")
        self.reset()  # the probes above should not show up in the request log

    # -- control API -------------------------------------------------------

    def control(self, method, path, body=None):
        """Call /_sim/<path>; returns the decoded JSON, raises on an error status."""
        path = path if path.startswith("/") else "/_sim/" + path
        r = request(self.addr, method, path, body=body, tls_ctx=self.tls_ctx)
        if r.status >= 400:
            raise TestFailure(f"sim control {method} {path} -> {r.status}: {r.body!r}")
        return r.json()

    def reset(self, all=False):
        return self.control("POST", "reset", {"all": all})

    def fail(self, count=1, status=500, path_prefix="/v1/", body=None, method=None, headers=None):
        """The next `count` matching requests get `status` (0: connection closed unanswered)."""
        rule = {"count": count, "status": status, "path_prefix": path_prefix}
        for k, v in (("body", body), ("method", method), ("headers", headers)):
            if v is not None:
                rule[k] = v
        return self.control("POST", "fail", rule)

    def delay(self, ms, path_prefix="/v1/", count=None, method=None):
        return self.control("POST", "delay", {"ms": ms, "path_prefix": path_prefix,
                                              "count": count, "method": method})

    def requests(self, path_prefix=""):
        """Every /v1 request the sim received since the last reset, oldest first."""
        return self.control("GET", "requests?path_prefix=" + urllib.parse.quote(path_prefix))

    def make_token(self, ttl=3600, max_ttl=0, renewable=True, policies=None, id=None, **extra):
        """Create a token directly in the sim; returns {"id", "accessor"}."""
        body = dict(extra, ttl=ttl, max_ttl=max_ttl, renewable=renewable,
                    policies=policies or ["default"])
        if id is not None:
            body["id"] = id
        return self.control("POST", "token", body)

    def revoke(self, token_id):
        return self.control("POST", "revoke", {"id": token_id})

    def consistency(self, enabled=True, lag=None, applied=None):
        """Turn X-Vault-Index emulation on/off; lag=N makes the next N requests whose
        index is ahead of `applied` fail with 412 (or be "forwarded")."""
        body = {"enabled": enabled}
        if lag is not None:
            body["lag"] = lag
        if applied is not None:
            body["applied"] = applied
        return self.control("POST", "consistency", body)

    def lease_duration(self, seconds, max_ttl=None):
        body = {"seconds": seconds}
        if max_ttl is not None:
            body["max_ttl"] = max_ttl
        return self.control("POST", "lease_duration", body)

    def approle(self, wrap=False, wrap_ttl=None, **role):
        """Register (or replace) an AppRole with one secret id; returns {"role_id",
        "secret_id", "role_name"}.  Role keys: role_id, secret_id, role_name,
        ttl|token_ttl, max_ttl|token_max_ttl, renewable|token_renewable, policies,
        bind_secret_id, secret_id_num_uses.  wrap=True also returns the secret id
        response-wrapped ("wrap_info", "wrapping_token"; creation path
        auth/approle/role/<role_name>/secret-id)."""
        body = dict(role)
        if wrap:
            body["wrap"] = True
            if wrap_ttl is not None:
                body["wrap_ttl"] = wrap_ttl
        return self.control("POST", "approle", body)

    def approle_secret_id(self, role_id=None, role_name=None, secret_id=None, num_uses=None,
                          wrap=False, wrap_ttl=None):
        """One more secret id for a role; returns {"role_id", "secret_id",
        "secret_id_accessor"} (+ "wrap_info", "wrapping_token" with wrap=True)."""
        body = {"wrap": bool(wrap)}
        for k, v in (("role_id", role_id), ("role_name", role_name), ("secret_id", secret_id),
                     ("num_uses", num_uses), ("wrap_ttl", wrap_ttl)):
            if v is not None:
                body[k] = v
        return self.control("POST", "approle/secret-id", body)

    def kubernetes(self, role, jwt=None, jwts=None, token_ttl=None, token_max_ttl=None,
                   renewable=None, policies=None, replace=False):
        """Accept JWT(s) for a Kubernetes role (added to those accepted before unless
        replace=True); returns {"role", "jwts"}."""
        body = {"role": role, "replace": bool(replace)}
        for k, v in (("jwt", jwt), ("jwts", jwts), ("token_ttl", token_ttl),
                     ("token_max_ttl", token_max_ttl), ("renewable", renewable),
                     ("policies", policies)):
            if v is not None:
                body[k] = v
        return self.control("POST", "kubernetes", body)

    def cert_role(self, name, cn=None, fingerprint=None, token_ttl=None, token_max_ttl=None,
                  renewable=None, policies=None):
        """A cert auth role matching the client certificate's subject CN and/or SHA-256
        fingerprint (neither: any certificate the sim's client CA accepts)."""
        body = {"name": name}
        for k, v in (("cn", cn), ("fingerprint", fingerprint), ("token_ttl", token_ttl),
                     ("token_max_ttl", token_max_ttl), ("renewable", renewable),
                     ("policies", policies)):
            if v is not None:
                body[k] = v
        return self.control("POST", "cert", body)

    def cert_login(self, cert=None, key=None, name=None, mount="auth/cert"):
        """PUT <mount>/login on a fresh connection presenting (cert, key) (TLS sims
        only; a plain HTTP sim gets the request without a certificate); -> Response."""
        ctx = None
        if self._server_cert:
            ctx = ssl.create_default_context(cafile=self._server_cert)
            ctx.check_hostname = False
            if cert:
                ctx.load_cert_chain(cert, key)
        return request(self.addr, "PUT", f"/v1/{mount}/login",
                       [("Content-Type", "application/json")],
                       {"name": name} if name else {}, tls_ctx=ctx)

    def mount(self, path, type):
        """Serve auth method `type` (approle, kubernetes, cert) at `path` too."""
        return self.control("POST", "mount", {"path": path, "type": type})

    def wrap(self, data, ttl=300, creation_path=None):
        """Response-wrap `data` directly; returns the wrap_info dict."""
        body = {"data": data, "ttl": ttl}
        if creation_path is not None:
            body["creation_path"] = creation_path
        return self.control("POST", "wrap", body)["wrap_info"]

    def unwrap(self, wrapping_token):
        """PUT sys/wrapping/unwrap with the wrapping token; -> Response."""
        return self.api("PUT", "sys/wrapping/unwrap", None, token=wrapping_token)

    def wrap_lookup(self, wrapping_token):
        """GET sys/wrapping/lookup with the wrapping token; -> Response."""
        return self.api("GET", "sys/wrapping/lookup", None, token=wrapping_token)

    def stats(self):
        return self.control("GET", "stats")

    def state(self):
        return self.control("GET", "state")

    def api(self, method, path, body=None, token=None, headers=None):
        """Call the simulated Vault API directly (token defaults to root)."""
        hdrs = [("X-Vault-Token", self.root_token if token is None else token)] if token != "" else []
        hdrs += _header_list(headers)
        return request(self.addr, method, "/v1/" + path.lstrip("/"), hdrs, body,
                       tls_ctx=self.tls_ctx)


def _read_port(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except FileNotFoundError:
        return None


class Proxy(_Process):
    """vaproxyd ($VAPROXYD) started on a config written to a temp file.

    `config` may hold {name} placeholders filled from **subst (e.g. sim=sim.addr,
    port=free_port()).  JSON is detected by a leading "{", else .hcl is used.
    """

    name = "vaproxyd"

    def __init__(self, config, args=(), env=None, ext=None, **subst):
        binary = os.environ.get("VAPROXYD")
        if not binary:
            raise TestFailure("VAPROXYD is not set (path to the vaproxyd binary)")
        self.dir = tmpdir("vaproxyd-")
        self.subst = subst
        text = template(config, **subst)
        ext = ext or ("json" if text.lstrip().startswith("{") else "hcl")
        self.config_path = os.path.join(self.dir, "config." + ext)
        with open(self.config_path, "w") as f:
            f.write(text)
        argv = [binary, "--config", self.config_path]
        plugin_dir = os.environ.get("VAPROXY_PLUGIN_DIR")
        if plugin_dir:
            argv += ["--plugin-dir", plugin_dir]
        full_env = dict(os.environ)
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = str(v)
        self._start(argv + list(args), env=full_env, cwd=self.dir)

    def wait_ready(self, target=None, timeout=READY_TIMEOUT, path="/proxy/v1/quit", tls_ctx=None):
        """Poll until the listener answers an HTTP request (any status); returns that status.

        The default probe, GET /proxy/v1/quit, is answered by the proxy itself
        (404 or 405) and never shuts it down (only POST does), so it does not
        reach the simulator's request log.
        """
        if target is None:
            target = self.subst.get("port")
        if target is None:
            raise TestFailure("wait_ready needs a port, URL or unix socket path")
        if tls_ctx is None and str(target).startswith("https:"):
            tls_ctx = insecure_ctx()
        return self._poll(lambda: request(target, "GET", path, tls_ctx=tls_ctx, timeout=1).status,
                          timeout, f"waiting for {target} to answer")

    def wait_exit(self, timeout=READY_TIMEOUT):
        """Wait for the daemon to exit on its own; returns the exit code."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure(f"vaproxyd still running after {timeout}s\n{self.log_tail()}")
        self._reaped()
        return rc


# --------------------------------------------------------------------------
# HTTP clients

class Response(collections.namedtuple("Response", "status headers body")):
    """(status, [(name, value)...] in wire order, body bytes), plus conveniences."""

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body) if self.body.strip() else None

    def text(self):
        return self.body.decode("utf-8", "replace")


def insecure_ctx():
    """A client TLS context that verifies nothing (for probes and self-signed tests)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _parse_target(target):
    """port | "host:port" | "http(s)://host:port[/...]" | "/unix/socket" | "unix:/path"
    -> ("unix", path, None, False) or ("tcp", host, port, is_tls)."""
    if isinstance(target, int):
        return "tcp", "127.0.0.1", target, False
    t = str(target)
    if t.startswith("unix:"):
        return "unix", t[5:], None, False
    if t.startswith("/"):
        return "unix", t, None, False
    tls = t.startswith("https://")
    if "://" in t:
        t = t.split("://", 1)[1].split("/", 1)[0]
    host, _, port = t.rpartition(":")
    return "tcp", host.strip("[]") or "127.0.0.1", int(port), tls


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def _header_list(headers):
    if headers is None:
        return []
    if isinstance(headers, dict):
        return list(headers.items())
    return [tuple(h) for h in headers]


def _encode_body(body):
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


class Client:
    """One keep-alive connection (http.client) able to send any method, incl. LIST."""

    def __init__(self, target, tls_ctx=None, timeout=10.0):
        kind, host, port, tls = _parse_target(target)
        if kind == "unix":
            self.conn = _UnixHTTPConnection(host, timeout)
        elif tls or tls_ctx is not None:
            self.conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                                    context=tls_ctx or insecure_ctx())
        else:
            self.conn = http.client.HTTPConnection(host, port, timeout=timeout)

    def request(self, method, path, headers=None, body=None):
        """Headers keep the given order; nothing is added but Host (unless given) and
        Content-Length (when there is a body and no framing header was given)."""
        hdrs = _header_list(headers)
        names = {k.lower() for k, _ in hdrs}
        data = _encode_body(body)
        c = self.conn
        c.putrequest(method, path, skip_host="host" in names, skip_accept_encoding=True)
        for k, v in hdrs:
            c.putheader(k, v)
        if data is not None and not names & {"content-length", "transfer-encoding"}:
            c.putheader("Content-Length", str(len(data)))
        c.endheaders(data)
        resp = c.getresponse()
        return Response(resp.status, resp.getheaders(), resp.read())

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def request(target, method, path, headers=None, body=None, tls_ctx=None, timeout=10.0):
    """One request on a fresh connection -> Response(status, headers, body).

    target: port, "host:port", URL, or unix socket path.  body: bytes, str, or
    anything JSON-serialisable.
    """
    with Client(target, tls_ctx, timeout) as c:
        return c.request(method, path, headers, body)


class _Reader:
    """Buffered reads from a socket (or from fixed bytes when sock is None)."""

    def __init__(self, sock, data=b"", deadline=None):
        self.sock, self.buf, self.deadline = sock, data, deadline

    def _fill(self):
        if self.sock is None:
            return False
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("deadline passed")
            self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def readline(self):
        while b"\n" not in self.buf:
            if not self._fill():
                raise TestFailure(f"connection closed mid-response; buffered: {self.buf!r}")
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r")

    def read(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise TestFailure(f"connection closed after {len(self.buf)} of {n} body bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_close(self):
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out


def _read_response(rd):
    """Parse one response; interim 1xx responses are skipped.  (HEAD not supported.)"""
    while True:
        parts = rd.readline().decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise TestFailure(f"bad status line: {' '.join(parts)!r}")
        status = int(parts[1])
        headers = []
        while True:
            line = rd.readline()
            if not line:
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers.append((k, v.strip()))
        if not 100 <= status < 200:
            break
    r = Response(status, headers, b"")
    te = (r.header("Transfer-Encoding") or "").lower()
    if status in (204, 304):
        body = b""
    elif "chunked" in te:
        chunks = []
        while True:
            size = int(rd.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rd.readline():
                    pass
                break
            chunks.append(rd.read(size))
            rd.readline()
        body = b"".join(chunks)
    elif r.header("Content-Length") is not None:
        body = rd.read(int(r.header("Content-Length")))
    else:
        body = rd.read_to_close()
    return Response(status, headers, body)


def parse_responses(data):
    """Split raw bytes (e.g. from raw(..., responses=None)) into Responses."""
    rd, out = _Reader(None, data), []
    while rd.buf:
        out.append(_read_response(rd))
    return out


def raw(target, data, responses=None, timeout=5.0, tls_ctx=None, shutdown_write=False):
    """Send `data` byte for byte, for malformed-request and pipelining tests.

    responses=None: read until the peer closes and return the bytes (a peer
    that stays open past `timeout` is a test failure).  responses=N: parse and
    return a list of N Responses, leaving the connection open until return.
    shutdown_write=True half-closes after sending (EOF on the server side).
    """
    kind, host, port, tls = _parse_target(target)
    if kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        addr = host
    else:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        addr = (host, port)
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    try:
        sock.connect(addr)
        if tls or tls_ctx is not None:
            sock = (tls_ctx or insecure_ctx()).wrap_socket(sock, server_hostname=host)
        sock.sendall(data if isinstance(data, bytes) else data.encode("latin-1"))
        if shutdown_write and not isinstance(sock, ssl.SSLSocket):
            sock.shutdown(socket.SHUT_WR)
        rd = _Reader(sock, deadline=deadline)
        try:
            if responses is None:
                return rd.read_to_close()
            return [_read_response(rd) for _ in range(responses)]
        except socket.timeout:
            raise TestFailure(f"no {'close' if responses is None else f'{responses} responses'} "
                              f"within {timeout}s; received so far: {rd.buf!r}")
        except ConnectionResetError:
            if responses is None:
                return rd.buf
            raise
    finally:
        sock.close()


def make_cert(directory=None, cn="localhost"):
    """A self-signed certificate for localhost/127.0.0.1 -> (cert_path, key_path).

    Skips the calling test when the openssl binary is missing.
    """
    openssl = need_binary("openssl")
    directory = directory or tmpdir("cert-")
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", key, "-out", cert, "-subj", f"/CN={cn}",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


# --------------------------------------------------------------------------
# TAP runner

_tests = []


def test(name, timeout=30):
    """Decorator registering a test; `timeout` is a whole number of seconds."""
    def deco(fn):
        _tests.append((name, fn, max(1, int(timeout))))
        return fn
    return deco


def _on_alarm(signum, frame):
    raise _TestTimeout()


def _on_term(signum, frame):
    raise SystemExit(143)  # let finally blocks and atexit clean up children


def _failure_lines(exc, limit):
    if isinstance(exc, _TestTimeout):
        lines = [f"test timed out after {limit}s"]
    elif isinstance(exc, AssertionError):
        lines = str(exc).splitlines() or ["assertion failed"]
    else:
        lines = [f"{type(exc).__name__}: {exc}"]
    # Where it happened, in test code (skip this module's own frames).
    here = os.path.abspath(__file__)
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(f.filename) != here] or traceback.extract_tb(exc.__traceback__)
    for f in frames[-4:]:
        lines.append(f"at {os.path.basename(f.filename)}:{f.lineno} in {f.name}: {f.line}")
    return lines


def run(argv=None):
    """Run the registered tests (those whose name contains any argv word, if
    given), print TAP, and return an exit code (0 when all passed)."""
    global _test_owned
    words = sys.argv[1:] if argv is None else argv
    selected = [t for t in _tests if not words or any(w in t[0] for w in words)]
    signal.signal(signal.SIGTERM, _on_term)
    print(f"1..{len(selected)}", flush=True)
    failures = 0
    for n, (name, fn, limit) in enumerate(selected, 1):
        owned = _test_owned = []
        status, comments = f"ok {n} - {name}", []
        old = signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(limit)
        try:
            fn()
        except Skip as e:
            status = f"ok {n} - {name} # SKIP {e}"
        except (Exception, _TestTimeout) as e:  # KeyboardInterrupt/SystemExit still abort the run
            signal.alarm(0)
            failures += 1
            status = f"not ok {n} - {name}"
            comments = _failure_lines(e, limit)
            # Proxies this test started, plus shared ones still running.
            seen = []
            for p in owned + _live:
                if isinstance(p, Proxy) and p not in seen:
                    seen.append(p)
                    comments.append(f"--- tail of vaproxyd log (pid {p.pid}, {p.log_path}):")
                    comments += p.log_tail(25).splitlines()
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
            _test_owned = None
            for p in reversed(owned):
                p.kill()
        print(status, flush=True)
        for line in comments:
            print("# " + line, flush=True)
    return 1 if failures else 0


# --------------------------------------------------------------------------
# small helpers shared by the test scripts

def write_atomic(path, text):
    """Replaces a file the way an operator's tooling would: never partial."""
    tmp = path + ".tmp-writer"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def read_text(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def rec_header(q, name):
    """First value of a header in a request the simulator recorded."""
    name = name.lower()
    vals = [v for k, v in q["headers"] if k.lower() == name]
    return vals[0] if vals else None


def rec_body(q):
    """The JSON body of a recorded request, or None (empty or not JSON)."""
    try:
        return json.loads(q["body"]) if q["body"].strip() else None
    except ValueError:
        return None
