#!/usr/bin/python3
"""The jwt auth method (plugins/auth_jwt), a plugin built like a third
party's: only the SDK is installed into a staging directory, the plugin's
folder is copied out of the tree and built there with its own Makefile
(pkg-config vaproxy-sdk), its unit tests run on the installed mock host, and
a real vaproxyd loads the result and logs in through it against the
simulator's auth/jwt/login: the file is consumed, a new JWT in it brings a
new login, a refused JWT is not retried until a new one appears, and a
SIGHUP that changes the role keeps the JWT that was already consumed.

Needs make and pkg-config; skipped (not failed) without them."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

from harness import (Proxy, Sim, TestFailure, check, contains, eq, find_named, need_binary,
                     read_text, rec_body, run, test, tmpdir, wait_until, write_atomic)

BUILD = os.environ.get("VAPROXY_BUILDDIR", "")
SRC = os.environ.get("VAPROXY_SRCDIR", "")
# Strict C11 and -Werror: the plugin needs nothing beyond the SDK's headers.
CFLAGS = "-O2 -g -std=c11 -pedantic -Werror"
state = {}


def sh(argv, cwd, env, what, timeout=240):
    r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise TestFailure(f"{what} failed ({' '.join(argv)}, exit {r.returncode}):\n"
                          + (r.stdout + r.stderr)[-4000:])
    return r


def built():
    """The staged SDK and the plugin built against it: (dir, make check output)."""
    if "built" in state:
        if isinstance(state["built"], str):
            raise TestFailure("(set-up failed before)\n" + state["built"])
        return state["built"]
    need_binary("make")
    need_binary("pkg-config")
    try:
        stage = tmpdir("vaproxy-sdk-stage-")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("MAKE") and k not in ("MFLAGS", "PKG_CONFIG_SYSROOT_DIR")}
        sh(["make", "-C", BUILD, "install-sdk", "DESTDIR=" + stage], BUILD, env,
           "staging the SDK")
        pcs = find_named(stage, "vaproxy-sdk.pc")
        check(len(pcs) == 1, f"one installed vaproxy-sdk.pc, found {pcs}")
        # As if vaproxy had been installed with its prefix inside the stage.
        lines = []
        for line in read_text(pcs[0]).splitlines():
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_.]*)=(/.*)$", line)
            lines.append(f"{m.group(1)}={stage}{m.group(2)}" if m else line)
        with open(pcs[0], "w") as f:
            f.write("\n".join(lines) + "\n")
        env["PKG_CONFIG_PATH"] = os.path.dirname(pcs[0])
        work = os.path.join(tmpdir("auth-jwt-"), "auth_jwt")
        shutil.copytree(os.path.join(SRC, "plugins", "auth_jwt"), work,
                        ignore=shutil.ignore_patterns("*.so", "test_auth_jwt"))
        sh(["make", "CFLAGS=" + CFLAGS], work, env, "make of auth_jwt")
        r = sh(["make", "check", "CFLAGS=" + CFLAGS], work, env, "make check of auth_jwt")
        state["built"] = (work, r.stdout + r.stderr)
    except TestFailure as e:
        state["built"] = str(e)
        raise
    return state["built"]


sim = None


def get_sim():
    """The simulator of the running test (the harness stops every process
    a test started when it ends)."""
    return sim


def new_sim():
    global sim
    sim = Sim()
    return sim


def start(d, jwt_path, role="dev", extra=""):
    work, _ = built()
    cfg = f'''
vault {{
  address = "{get_sim().addr}"
}}
auto_auth {{
  method "jwt" {{
    min_backoff = "200ms"
    max_backoff = "400ms"
    config = {{
      path = "{jwt_path}"
      role = "{role}"
      watch_interval = "100ms"
{extra}
    }}
  }}
  sink "file" {{
    config = {{
      path = "{os.path.join(d, 'sink')}"
    }}
  }}
}}
'''
    p = Proxy(cfg, args=["--plugin-dir", work])
    p.jwt_cfg = cfg
    return p


def jwt_role(role, *jwts):
    return get_sim().control("POST", "jwt", {"role": role, "jwts": list(jwts)})


def used(role):
    return get_sim().control("POST", "jwt", {"role": role})["used"]


def new_jwt(tag):
    return "eyJhbGciOiJSUzI1NiJ9." + tag + "-" + os.urandom(6).hex() + ".sig"


def sink_token(d, not_in=()):
    path = os.path.join(d, "sink")
    def ready():
        try:
            t = (read_text(path) or "").strip()
        except OSError:
            return None
        return t if t and t not in not_in else None
    return wait_until(ready, timeout=8, msg="a token in the sink")


@test("auth_jwt builds against the staged SDK and passes its unit tests", timeout=300)
def _():
    work, out = built()
    check(os.path.exists(os.path.join(work, "auth_jwt.so")), "auth_jwt.so built")
    contains(out, "ok 1 - ", "the unit tests ran and passed")


@test("a login with the JWT from the file, which is removed after reading", timeout=300)
def _():
    new_sim()
    d = tmpdir("jwt-")
    jwt = new_jwt("first")
    jwt_role("dev", jwt)
    path = os.path.join(d, "jwt")
    write_atomic(path, jwt + "\n")
    p = start(d, path)
    try:
        tok = sink_token(d)
        check(tok, "a token in the sink")
        eq(used("dev"), [jwt], "the sim saw the JWT from the file")
        check(not os.path.exists(path), "the file was removed after reading")
    finally:
        p.stop()


@test("a new JWT in the file brings a new login at once", timeout=300)
def _():
    new_sim()
    d = tmpdir("jwt-")
    one, two = new_jwt("one"), new_jwt("two")
    jwt_role("rot", one, two)
    path = os.path.join(d, "jwt")
    write_atomic(path, one)
    p = start(d, path, role="rot")
    try:
        first = sink_token(d)
        write_atomic(path, two)
        second = sink_token(d, not_in=(first,))
        check(second != first, "a new token")
        eq(used("rot"), [one, two], "logins with each JWT, in order")
        contains(p.log(), "logging in again", "the method asked for the login")
    finally:
        p.stop()


@test("a refused JWT is not retried; the next JWT in the file logs in", timeout=300)
def _():
    new_sim()
    d = tmpdir("jwt-")
    good = new_jwt("good")
    jwt_role("strict", good)
    path = os.path.join(d, "jwt")
    write_atomic(path, new_jwt("forged"))
    p = start(d, path, role="strict")
    try:
        wait_until(lambda: "waiting for a new JWT" in p.log(), timeout=8,
                   msg="the method's own message")
        n = len([q for q in get_sim().requests("/v1/auth/jwt/login")])
        time.sleep(1.5)  # several backoff periods (max_backoff 400ms)
        eq(len(get_sim().requests("/v1/auth/jwt/login")), n, "no retry of the refused JWT")
        write_atomic(path, good)
        check(sink_token(d), "logged in with the new JWT")
        eq(used("strict"), [good], "the good JWT did it")
    finally:
        p.stop()


@test("SIGHUP with another role keeps the JWT already read", timeout=300)
def _():
    new_sim()
    d = tmpdir("jwt-")
    jwt = new_jwt("kept")
    jwt_role("before", jwt)
    jwt_role("after", jwt)
    path = os.path.join(d, "jwt")
    write_atomic(path, jwt)
    p = start(d, path, role="before")
    try:
        first = sink_token(d)
        check(not os.path.exists(path), "the file was consumed")
        with open(p.config_path, "w") as f:
            f.write(p.jwt_cfg.replace('role = "before"', 'role = "after"'))
        p.send_signal(signal.SIGHUP)
        second = sink_token(d, not_in=(first,))
        check(second != first, "a new login after the reload")
        eq(used("after"), [jwt], "the new role logged in with the kept JWT")
        contains(p.log(), "applied to the running instance", "reconfigured, not replaced")
    finally:
        p.stop()


if __name__ == "__main__":
    sys.exit(run())
