#!/usr/bin/python3
"""The SDK's fetch example (sdk/example/example_metadata.c) works for a third
party: it builds out of tree against the staged SDK with nothing but
pkg-config, and a running vaproxyd logs in through it: the plugin fetches
an identity token from a loopback metadata-style server (with the header
such servers demand) and logs in with it at the simulator's jwt method.
A metadata server that fails at first is retried after the backoff."""

import http.server
import os
import re
import shutil
import subprocess
import sys
import threading

from harness import (Proxy, Sim, TestFailure, check, eq, find_named, need_binary, read_text,
                     rec_body, run, test, tmpdir, wait_until)

BUILD = os.environ.get("VAPROXY_BUILDDIR", "")
SRC = os.environ.get("VAPROXY_SRCDIR", "")
state = {}


def built():
    if "dir" in state:
        return state["dir"]
    need_binary("make")
    need_binary("pkg-config")
    stage = tmpdir("vaproxy-sdk-stage-")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MAKE") and k not in ("MFLAGS", "PKG_CONFIG_SYSROOT_DIR")}
    r = subprocess.run(["make", "-C", BUILD, "install-vaproxyincludeHEADERS",
                        "install-pkgconfigDATA", "DESTDIR=" + stage],
                       env=env, capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "staging the SDK failed:\n" + r.stdout + r.stderr)
    pcs = find_named(stage, "vaproxy-sdk.pc")
    check(len(pcs) == 1, f"one installed vaproxy-sdk.pc, found {pcs}")
    lines = []
    for line in read_text(pcs[0]).splitlines():
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_.]*)=(/.*)$", line)
        lines.append(f"{m.group(1)}={stage}{m.group(2)}" if m else line)
    with open(pcs[0], "w") as f:
        f.write("\n".join(lines) + "\n")
    env["PKG_CONFIG_PATH"] = os.path.dirname(pcs[0])
    work = tmpdir("vaproxy-fetch-example-")
    for f in ("Makefile", "example_metadata.c"):
        shutil.copy(os.path.join(SRC, "sdk", "example", f), work)
    r = subprocess.run(["make", "-C", work, "example_metadata.so",
                        "CFLAGS=-O2 -g -std=c11 -pedantic -Werror"], env=env,
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "building the example failed:\n" + r.stdout + r.stderr)
    state["dir"] = work
    return work


class Metadata:
    """A loopback metadata server: GET of its identity path with
    "Metadata-Flavor: Google" answers the current token; the first
    `failures` requests get a 503."""

    def __init__(self, token, failures=0):
        self.token = token
        self.failures = failures
        self.seen = []
        md = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                md.seen.append((self.path, self.headers.get("Metadata-Flavor")))
                if self.headers.get("Metadata-Flavor") != "Google":
                    return self._send(403, b"missing Metadata-Flavor")
                if md.failures > 0:
                    md.failures -= 1
                    return self._send(503, b"not yet")
                self._send(200, md.token.encode())

            def _send(self, status, body):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = ("http://127.0.0.1:%d/computeMetadata/v1/instance/service-accounts/"
                    "default/identity?audience=vault" % self.srv.server_address[1])
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def run_case(failures):
    work = built()
    sim = Sim()
    jwt = "eyJhbGciOiJSUzI1NiJ9.metadata-" + os.urandom(6).hex() + ".sig"
    sim.control("POST", "jwt", {"role": "vm", "jwt": jwt})
    md = Metadata(jwt, failures=failures)
    d = tmpdir("fetch-example-")
    sink = os.path.join(d, "sink")
    try:
        p = Proxy(f'''
vault {{
  address = "{sim.addr}"
}}
auto_auth {{
  method "metadata" {{
    mount_path = "auth/jwt"
    min_backoff = "200ms"
    max_backoff = "400ms"
    config = {{
      metadata_url = "{md.url}"
      role = "vm"
    }}
  }}
  sink "file" {{
    config = {{
      path = "{sink}"
    }}
  }}
}}
''', args=["--plugin-dir", work])
        tok = wait_until(lambda: (read_text(sink) or "").strip() if os.path.exists(sink)
                         else None, timeout=10, msg="a token in the sink")
        check(tok.startswith("hvs."), "a Vault token")
        logins = [q for q in sim.requests("/v1/auth/jwt/login") if q["status"] == 200]
        eq(len(logins), 1, "one successful login")
        eq(rec_body(logins[0]), {"role": "vm", "jwt": jwt}, "logged in with the fetched token")
        check(md.seen and all(h == "Google" for _, h in md.seen),
              f"every fetch carried Metadata-Flavor: {md.seen}")
        check(md.seen[0][0].startswith("/computeMetadata/v1/"), "the identity path")
        return p, md
    finally:
        md.close()


@test("the fetch example logs in with a token from a loopback metadata server", timeout=300)
def _():
    p, md = run_case(failures=0)
    eq(len(md.seen), 1, "one fetch")
    p.stop()


@test("a failing metadata server is asked again after the backoff", timeout=300)
def _():
    p, md = run_case(failures=2)
    eq(len(md.seen), 3, "two failed fetches, then the good one")
    check("metadata server: status 503" in p.log(), "the failure was logged")
    p.stop()


if __name__ == "__main__":
    sys.exit(run())
