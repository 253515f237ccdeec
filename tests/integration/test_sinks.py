#!/usr/bin/python3
"""TAP integration tests of the file sink (vaproxyd.hcl(5)): mode and
ownership, atomic replacement, the start-up write check, retries of failed
writes, several sinks, no rewrite of an unchanged token, sink-level
response wrapping and Diffie-Hellman encryption (opened with
tests/tools/dh_decrypt, an independent OpenSSL client).
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

from harness import (Proxy, Sim, check, contains, diag, eq, run, skip, test, tmpdir,
                     wait_until)

sim = Sim()

ENV = {"VAPROXY_RETRY_WAIT_MS": "20,30"}
TOKEN_RE = re.compile(r"^hvs\.[A-Za-z0-9]{24}$")
WRAP_FIELDS = ["token", "accessor", "ttl", "creation_time", "creation_path", "wrapped_accessor"]


# --------------------------------------------------------------------------
# helpers (each test file is standalone)

class Raw(str):
    """An HCL value written as is (an octal mode, say)."""


def hcl_value(v):
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))


def hcl_map(d, indent="      "):
    return "\n".join(f"{indent}{k} = {hcl_value(v)}" for k, v in d.items())


def config(method, cfg, sinks, opts=None, top=""):
    opts = dict({"min_backoff": "200ms", "max_backoff": "1s"}, **(opts or {}))
    sink_text = ""
    for s in sinks:
        s = dict(s)
        sink_cfg = s.pop("config")
        sink_text += ("  sink \"file\" {\n" + hcl_map(s, "    ") + "\n    config = {\n"
                      + hcl_map(sink_cfg) + "\n    }\n  }\n")
    return f"""
vault {{
  address = "{sim.addr}"
}}
{top}
auto_auth {{
  method "{method}" {{
{hcl_map(opts, "    ")}
    config = {{
{hcl_map(cfg)}
    }}
  }}
{sink_text}}}
"""


def start(text, env=None):
    e = dict(ENV)
    e.update(env or {})
    return Proxy(text, env=e)


def write(path, text):
    tmp = path + ".tmp-writer"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def token_file_daemon(d, sinks, ttl=600, renewable=True, top="", env=None):
    """token_file auto-auth with a fresh sim token -> (proxy, token, token file)."""
    tok = sim.make_token(ttl=ttl, renewable=renewable)["id"]
    tf = os.path.join(d, "token-file")
    write(tf, tok + "\n")
    p = start(config("token_file", {"token_file_path": tf}, sinks, top=top), env=env)
    return p, tok, tf


def wait_sink(path, timeout=6, not_in=(), p=None):
    def ready():
        if p is not None and not p.alive():
            raise AssertionError(f"vaproxyd exited ({p.proc.returncode}):\n{p.log_tail()}")
        c = read(path)
        return c if c and c not in not_in else None
    return wait_until(ready, timeout=timeout, msg=f"content in {path}")


def renewals(token):
    return [q for q in sim.requests("/v1/auth/token/renew-self") if q["token"] == token]


def lookups(token):
    return [q for q in sim.requests("/v1/auth/token/lookup-self") if q["token"] == token]


def umask():
    m = os.umask(0)
    os.umask(m)
    return m


def written_lines(p, path):
    return [l for l in p.log().splitlines() if "token written to " + path in l]


# -- the DH client ------------------------------------------------------------

def dh_tool():
    b = os.environ.get("VAPROXY_BUILDDIR")
    if not b:
        skip("VAPROXY_BUILDDIR is not set")
    path = os.path.join(b, "tests", "tools", "dh_decrypt")
    if not os.access(path, os.X_OK):
        skip(f"{path} not built (make check builds it)")
    return path


def dh_keypair(d):
    """A client key pair -> (private key file, public key JSON file)."""
    priv, pub = os.path.join(d, "client.key"), os.path.join(d, "client-pub.json")
    subprocess.run([dh_tool(), "--generate", priv, pub], check=True, timeout=10)
    return priv, pub


def dh_open(envelope, priv, derive=False, aad=None):
    """Runs dh_decrypt -> (exit status, stdout text, stderr)."""
    argv = [dh_tool(), "--private-key-file", priv]
    if derive:
        argv.append("--derive-key")
    if aad is not None:
        argv += ["--aad", aad]
    r = subprocess.run(argv + [envelope], capture_output=True, timeout=10)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def check_envelope(text, plain_len, what):
    """Shape of the DH envelope; returns the sink's public key (base64)."""
    check(text.endswith("}\n") and text.count("\n") == 1,
          f"{what}: one JSON object plus a newline: {text!r}")
    env = json.loads(text)
    eq(sorted(env), ["curve25519_public_key", "encrypted_payload", "nonce"], f"{what}: fields")
    eq(len(base64.b64decode(env["curve25519_public_key"], validate=True)), 32,
       f"{what}: public key size")
    eq(len(base64.b64decode(env["nonce"], validate=True)), 12, f"{what}: nonce size")
    eq(len(base64.b64decode(env["encrypted_payload"], validate=True)), plain_len + 16,
       f"{what}: ciphertext + 16-byte tag")
    return env["curve25519_public_key"]


# --------------------------------------------------------------------------
# mode and ownership

@test("mode: 0640 by default, HCL 0600, JSON strings \"0640\"/\"0604\" (octal), JSON 384")
def _():
    sim.reset()
    mask = umask()
    d = tmpdir("mode-")
    paths = {k: os.path.join(d, k) for k in ("default", "hcl-0600", "json-0640", "json-str",
                                             "json-int")}
    p1, tok1, _ = token_file_daemon(d, [
        {"config": {"path": paths["default"]}},
        {"config": {"path": paths["hcl-0600"], "mode": Raw("0600")}}],
        top="exit_after_auth = true")
    tok2 = sim.make_token(ttl=600)["id"]
    tf2 = os.path.join(d, "token-file-2")
    write(tf2, tok2)
    p2 = start(json.dumps({
        "vault": {"address": sim.addr},
        "exit_after_auth": True,
        "auto_auth": {
            "method": {"type": "token_file", "config": {"token_file_path": tf2}},
            "sinks": [{"sink": {"type": "file", "config": {"path": paths["json-0640"],
                                                           "mode": "0640"}}},
                      {"sink": {"type": "file", "config": {"path": paths["json-str"],
                                                           "mode": "0604"}}},
                      {"sink": {"type": "file", "config": {"path": paths["json-int"],
                                                           "mode": 384}}}]}}))
    eq(p1.wait_exit(), 0, f"HCL daemon exit status\n{p1.log_tail()}")
    eq(p2.wait_exit(), 0, f"JSON daemon exit status\n{p2.log_tail()}")
    want = {"default": (0o640, tok1), "hcl-0600": (0o600, tok1),
            "json-0640": (0o640, tok2), "json-str": (0o604, tok2), "json-int": (0o600, tok2)}
    for k, (mode, tok) in want.items():
        st = os.stat(paths[k])
        eq(oct(st.st_mode & 0o7777), oct(mode & ~mask), f"{k}: mode")
        eq(read(paths[k]), tok, f"{k}: exactly the token, no newline")
    eq(sorted(os.listdir(d)), sorted(list(paths) + ["token-file", "token-file-2"]),
       "no temp files left behind")


@test("mode: the process umask still applies (umask 077)")
def _():
    sim.reset()
    d = tmpdir("umask-")
    paths = [os.path.join(d, "default"), os.path.join(d, "m0644")]
    old = os.umask(0o077)
    try:
        p, tok, _ = token_file_daemon(d, [{"config": {"path": paths[0]}},
                                          {"config": {"path": paths[1], "mode": Raw("0644")}}],
                                      top="exit_after_auth = true")
    finally:
        os.umask(old)
    eq(p.wait_exit(), 0, f"exit status\n{p.log_tail()}")
    for path in paths:
        eq(read(path), tok, f"{os.path.basename(path)}: token")
        eq(oct(os.stat(path).st_mode & 0o777), oct(0o600),
           f"{os.path.basename(path)}: mode & ~umask: the umask applies")


@test("uid/gid: the sink file is chowned (65534); only uid leaves the group alone")
def _():
    if os.geteuid() != 0:
        skip("needs root to chown")
    sim.reset()
    d = tmpdir("owner-")
    both, uid_only = os.path.join(d, "both"), os.path.join(d, "uid-only")
    p, tok, _ = token_file_daemon(d, [
        {"config": {"path": both, "uid": 65534, "gid": 65534}},
        {"config": {"path": uid_only, "uid": 65534}}], top="exit_after_auth = true")
    eq(p.wait_exit(), 0, f"exit status\n{p.log_tail()}")
    st = os.stat(both)
    eq((st.st_uid, st.st_gid), (65534, 65534), "uid and gid")
    st = os.stat(uid_only)
    eq((st.st_uid, st.st_gid), (65534, os.getegid()), "uid only")
    eq(read(both), tok, "content")
    eq(oct(os.stat(both).st_mode & 0o777), oct(0o640 & ~umask()), "mode kept after chown")


# --------------------------------------------------------------------------
# atomic replace

@test("atomic replace: a reader never sees an empty or partial token across many changes")
def _():
    sim.reset()
    # Non-renewable 1 s tokens: a new login (and token) about every 0.85 s.
    role = sim.approle(role_name="churn", ttl=1, renewable=False)
    d = tmpdir("atomic-")
    rid, sid = os.path.join(d, "rid"), os.path.join(d, "sid")
    write(rid, role["role_id"])
    write(sid, role["secret_id"])
    sink_dir = os.path.join(d, "sinkdir")
    os.mkdir(sink_dir)
    sink = os.path.join(sink_dir, "token")
    p = start(config("approle", {"role_id_file_path": rid, "secret_id_file_path": sid,
                                 "remove_secret_id_file_after_reading": False},
                     [{"config": {"path": sink}}]))
    first = wait_sink(sink, p=p)
    seen, bad, reads = [], [], [0]
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                with open(sink, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                bad.append(b"<missing>")
                continue
            reads[0] += 1
            text = data.decode("ascii", "replace")
            if not TOKEN_RE.match(text):
                bad.append(data)
            elif not seen or seen[-1] != text:
                seen.append(text)

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    try:
        wait_until(lambda: len(seen) >= 6 or bad or not p.alive(), timeout=12,
                   msg="six token changes")
    finally:
        stop.set()
        th.join(5)
    check(p.alive(), f"daemon alive\n{p.log_tail()}")
    eq(bad[:5], [], f"every read is a whole token ({reads[0]} reads)")
    diag(f"{reads[0]} reads, {len(seen)} distinct tokens")
    check(len(seen) >= 6 and len(set(seen)) == len(seen), f"token changes seen: {seen}")
    check(first in seen[:2], "the first token was seen")
    p.stop()
    eq(os.listdir(sink_dir), ["token"], "no temp files left in the sink directory")


# --------------------------------------------------------------------------
# write check and write retries

@test("write check at start: an unwritable sink path exits non-zero, before any login")
def _():
    sim.reset()
    d = tmpdir("wcheck-")
    blocker = os.path.join(d, "not-a-dir")
    write(blocker, "x")
    cases = {"parent is a regular file": os.path.join(blocker, "token"),
             "parent does not exist": os.path.join(d, "missing", "token"),
             "in /proc": "/proc/vaproxy-test-sink"}
    daemons = {}
    for name, path in cases.items():
        tok = sim.make_token(ttl=600)["id"]
        tf = os.path.join(d, "tf-" + str(len(daemons)))
        write(tf, tok)
        daemons[name] = start(config("token_file", {"token_file_path": tf},
                                     [{"config": {"path": path}}]))
    for name, p in daemons.items():
        rc = p.wait_exit(timeout=10)
        check(rc > 0, f"{name}: exit status {rc} must be non-zero (an exit, not a signal)")
        contains(p.log(), "error creating file sink", f"{name}: the log says why")
    eq(sim.requests("/v1/auth/token/lookup-self"), [], "no login was attempted")


@test("write errors are retried (2 s +- 1 s) until the sink directory is usable again")
def _():
    sim.reset()
    d = tmpdir("retry-")
    sink_dir = os.path.join(d, "sinkdir")
    os.mkdir(sink_dir)
    sink = os.path.join(sink_dir, "token")
    p, tok1, tf = token_file_daemon(d, [{"config": {"path": sink}}], ttl=3)
    eq(wait_sink(sink, p=p), tok1, "first token written")
    wait_until(lambda: renewals(tok1), timeout=3, msg="first renewal")
    # Root ignores permission bits: make the directory a regular file.
    os.rename(sink_dir, sink_dir + ".away")
    write(sink_dir, "not a directory")
    tok2 = sim.make_token(ttl=600)["id"]
    write(tf, tok2)
    sim.revoke(tok1)  # the next renewal fails: re-login with tok2
    pat = re.compile(r"retrying in (\d+) ms")
    waits = wait_until(lambda: len(pat.findall(p.log())) >= 3 and pat.findall(p.log()),
                       timeout=10, msg="three failed writes")
    waits = [int(w) for w in waits]
    diag(f"retry waits: {waits} ms")
    check(all(1000 <= w <= 3000 for w in waits), f"each wait in [1 s, 3 s]: {waits}")
    check(len(set(waits)) > 1, f"the waits are jittered: {waits}")
    check(p.alive(), "the daemon keeps running")
    os.unlink(sink_dir)
    os.rename(sink_dir + ".away", sink_dir)
    t0 = time.monotonic()
    eq(wait_sink(sink, timeout=3.5, not_in=(tok1,), p=p), tok2, "tok2 written after the repair")
    diag(f"written {time.monotonic() - t0:.2f}s after the repair")
    eq(sorted(os.listdir(sink_dir)), ["token"], "no temp files left behind")


# --------------------------------------------------------------------------
# several sinks; unchanged token

@test("several sinks all receive every new token")
def _():
    sim.reset()
    d = tmpdir("multi-")
    paths = [os.path.join(d, f"sink-{i}") for i in range(3)]
    p, tok1, tf = token_file_daemon(d, [{"config": {"path": x}} for x in paths], ttl=3)
    for x in paths:
        eq(wait_sink(x, p=p), tok1, f"{os.path.basename(x)}: first token")
    wait_until(lambda: renewals(tok1), timeout=3, msg="first renewal")
    tok2 = sim.make_token(ttl=600)["id"]
    write(tf, tok2)
    sim.revoke(tok1)
    for x in paths:
        eq(wait_sink(x, timeout=6, not_in=(tok1,), p=p), tok2,
           f"{os.path.basename(x)}: the new token")


@test("an unchanged token is not rewritten: renewals and a same-token re-login keep the file")
def _():
    sim.reset()
    d = tmpdir("same-")
    sink = os.path.join(d, "sink")
    p, tok, tf = token_file_daemon(d, [{"config": {"path": sink}}], ttl=3)
    eq(wait_sink(sink, p=p), tok, "written once")
    st0 = os.stat(sink)
    wait_until(lambda: len(renewals(tok)) >= 2, timeout=4, msg="two renewals")
    # A later renewal failure makes the daemon log in again; token_file
    # hands it the very same token.
    sim.fail(count=1, status=500, path_prefix="/v1/auth/token/renew-self")
    wait_until(lambda: len([q for q in lookups(tok) if q["status"] == 200]) >= 2, timeout=5,
               msg="a second login with the same token")
    wait_until(lambda: len(renewals(tok)) >= 4, timeout=4, msg="renewals after the re-login")
    st1 = os.stat(sink)
    eq((st1.st_ino, st1.st_mtime_ns), (st0.st_ino, st0.st_mtime_ns), "inode and mtime unchanged")
    eq(read(sink), tok, "same content")
    eq(len(written_lines(p, sink)), 1, "the log shows a single write")


# --------------------------------------------------------------------------
# sink wrapping

@test("sink wrap_ttl: wrap_info JSON + newline, creation_path sys/wrapping/wrap; unwraps")
def _():
    sim.reset()
    d = tmpdir("swrap-")
    sink = os.path.join(d, "sink")
    plain = os.path.join(d, "plain")
    p, tok, _ = token_file_daemon(d, [{"wrap_ttl": "2m", "config": {"path": sink}},
                                      {"config": {"path": plain}}])
    text = wait_sink(sink, p=p)
    check(text.endswith("}\n") and text.count("\n") == 1, f"JSON plus one newline: {text!r}")
    wi = json.loads(text)
    eq(list(wi), WRAP_FIELDS, "wrap_info fields in Vault's order")
    eq(wi["creation_path"], "sys/wrapping/wrap", "creation_path")
    eq(wi["ttl"], 120, "ttl")
    (q,) = sim.requests("/v1/sys/wrapping/wrap")
    eq((q["method"], q["token"]), ("PUT", tok), "wrapped with the token itself")
    eq(json.loads(q["body"]), {"token": tok}, "wrap request body")
    wttl = [v for k, v in q["headers"] if k.lower() == "x-vault-wrap-ttl"]
    check(wttl in (["2m0s"], ["120s"], ["120"]), f"X-Vault-Wrap-TTL {wttl!r}")
    eq(wait_sink(plain, p=p), tok, "the other sink gets the plain token")
    r = sim.unwrap(wi["token"])
    eq(r.status, 200, "unwrap")
    eq(r.json()["data"]["token"], tok, "the wrapped token is the real one")
    # The real token keeps being renewed (unlike method-level wrapping).
    wait_until(lambda: renewals(tok), timeout=3, msg="renewal of the real token")


# --------------------------------------------------------------------------
# Diffie-Hellman

@test("dh: envelopes open with the client key: plain, derive_key, aad, aad_env_var")
def _():
    dh_tool()
    sim.reset()
    d = tmpdir("dh-")
    priv, pub = dh_keypair(d)
    sinks = {
        "plain": {"dh_type": "curve25519", "dh_path": pub},
        "derive": {"dh_type": "curve25519", "dh_path": pub, "derive_key": True},
        "aad": {"dh_type": "curve25519", "dh_path": pub, "aad": "ctx-1"},
        "aad-env": {"dh_type": "curve25519", "dh_path": pub, "derive_key": True,
                    "aad": "not-this-one", "aad_env_var": "VP_TEST_SINK_AAD"},
    }
    paths = {k: os.path.join(d, "sink-" + k) for k in sinks}
    p, tok, _ = token_file_daemon(
        d, [dict(v, config={"path": paths[k]}) for k, v in sinks.items()],
        env={"VP_TEST_SINK_AAD": "from-the-env"})
    opts = {"plain": {}, "derive": {"derive": True}, "aad": {"aad": "ctx-1"},
            "aad-env": {"derive": True, "aad": "from-the-env"}}
    pubs = set()
    for k in sinks:
        text = wait_sink(paths[k], p=p)
        pubs.add(check_envelope(text, len(tok), k))
        rc, out, err = dh_open(paths[k], priv, **opts[k])
        eq((rc, out), (0, tok), f"{k}: decrypts to the token ({err.strip()})")
    eq(len(pubs), 1, "one sink key pair per process")
    # Wrong parameters must not open them (the tool really checks).
    for k, o in (("plain", {"derive": True}), ("derive", {}), ("aad", {}),
                 ("aad", {"aad": "ctx-2"}), ("aad-env", {"derive": True, "aad": "not-this-one"})):
        rc, out, _ = dh_open(paths[k], priv, **o)
        check(rc != 0 and tok not in out, f"{k} with {o}: must fail to open")
    other_priv, _ = dh_keypair(tmpdir("dh-other-"))
    rc, _, _ = dh_open(paths["plain"], other_priv)
    check(rc != 0, "another client's key cannot open it")


@test("dh: the client's public key file may appear late; the write is retried")
def _():
    dh_tool()
    sim.reset()
    d = tmpdir("dh-late-")
    priv, pub = dh_keypair(d)
    late = os.path.join(d, "late-pub.json")
    sink = os.path.join(d, "sink")
    p, tok, _ = token_file_daemon(d, [{"dh_type": "curve25519", "dh_path": late,
                                       "config": {"path": sink}}])
    wait_until(lambda: "retrying in" in p.log(), timeout=5, msg="a failed write")
    contains(p.log(), "no dh parameters file found", "the reason is logged")
    eq(read(sink), None, "nothing written without the client key")
    shutil.copy(pub, late)
    text = wait_sink(sink, timeout=4, p=p)
    check_envelope(text, len(tok), "late key")
    rc, out, err = dh_open(sink, priv)
    eq((rc, out), (0, tok), f"decrypts ({err.strip()})")


@test("dh: the client's public key is trusted on first use; a replaced key file is ignored")
def _():
    dh_tool()
    sim.reset()
    d = tmpdir("dh-tofu-")
    priv_a, pub_a = dh_keypair(d)
    priv_b, pub_b = dh_keypair(tmpdir("dh-tofu-b-"))
    dh_path = os.path.join(d, "dh.json")
    shutil.copy(pub_a, dh_path)
    sink = os.path.join(d, "sink")
    p, tok1, tf = token_file_daemon(d, [{"dh_type": "curve25519", "dh_path": dh_path,
                                         "config": {"path": sink}}], ttl=3)
    first = wait_sink(sink, p=p)
    eq(dh_open(sink, priv_a)[:2], (0, tok1), "first token for key A")
    wait_until(lambda: renewals(tok1), timeout=3, msg="first renewal")
    shutil.copy(pub_b, dh_path)
    tok2 = sim.make_token(ttl=600)["id"]
    write(tf, tok2)
    sim.revoke(tok1)
    wait_sink(sink, timeout=6, not_in=(first,), p=p)
    eq(dh_open(sink, priv_a)[:2], (0, tok2), "the new token is still encrypted for key A")
    check(dh_open(sink, priv_b)[0] != 0, "key B cannot open it")


@test("dh + wrap_ttl: the decrypted text is the wrap_info JSON; it unwraps to the token")
def _():
    dh_tool()
    sim.reset()
    d = tmpdir("dh-wrap-")
    priv, pub = dh_keypair(d)
    sink = os.path.join(d, "sink")
    p, tok, _ = token_file_daemon(d, [{"wrap_ttl": "3m", "dh_type": "curve25519",
                                       "dh_path": pub, "derive_key": True, "aad": "both",
                                       "config": {"path": sink}}])
    text = wait_sink(sink, p=p)
    rc, out, err = dh_open(sink, priv, derive=True, aad="both")
    eq(rc, 0, f"decrypts ({err.strip()})")
    check_envelope(text, len(out.encode()), "wrap+dh")
    check(out.endswith("}\n") and out.count("\n") == 1, f"wrap_info JSON + newline: {out!r}")
    wi = json.loads(out)
    eq(list(wi), WRAP_FIELDS, "wrap_info fields")
    eq((wi["creation_path"], wi["ttl"]), ("sys/wrapping/wrap", 180), "wrap_info values")
    r = sim.unwrap(wi["token"])
    eq((r.status, r.json()["data"]["token"]), (200, tok), "unwraps to the token")


if __name__ == "__main__":
    sys.exit(run())
