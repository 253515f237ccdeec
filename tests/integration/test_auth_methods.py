#!/usr/bin/python3
"""TAP integration tests of the auto-auth methods (vaproxyd.hcl(5)): approle,
kubernetes, cert and token_file against the Vault simulator — the exact
login request each sends, mount_path and namespace, renewal, re-login after
revocation and after the max TTL with rewritten credential files, approle's
secret-id file handling and response-wrapped secret ids, cert logins over
mutual TLS, and method-level wrap_ttl.
"""

import hashlib
import json
import os
import ssl
import subprocess
import sys
import time

from harness import (rec_body, rec_header, read_text, write_atomic, Proxy, Sim, check, contains, eq, need_binary, run, test, tmpdir,
                     wait_until)

sim = Sim()

ENV = {"VAPROXY_RETRY_WAIT_MS": "20,30"}
UA_PREFIX = "Vault Proxy Auto-Auth/"


# --------------------------------------------------------------------------
# helpers

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


def config(addr, method, cfg, opts=None, sinks=None, vault=None, top=""):
    """HCL for one daemon: a vault stanza, one auth method, file sinks.

    cfg: the method's config map; opts: keys next to it (mount_path...);
    sinks: list of sink-config maps (default: one file sink)."""
    opts = dict({"min_backoff": "200ms", "max_backoff": "1s"}, **(opts or {}))
    vault = dict({"address": addr}, **(vault or {}))
    sink_text = ""
    for s in sinks or []:
        s = dict(s)
        sink_cfg = s.pop("config")
        sink_text += ("  sink \"file\" {\n" + hcl_map(s, "    ") + "\n    config = {\n"
                      + hcl_map(sink_cfg) + "\n    }\n  }\n")
    return f"""
vault {{
{hcl_map(vault, "  ")}
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


def start(text, args=(), env=None):
    e = dict(ENV)
    e.update(env or {})
    return Proxy(text, args=args, env=e)


# Shared with the other scripts (harness.py).
write, read, header, body = write_atomic, read_text, rec_header, rec_body



def reqs(path, method=None, status=None, token=None):
    return [q for q in cur().requests(path)
            if (method is None or q["method"] == method)
            and (status is None or q["status"] == status)
            and (token is None or q["token"] == token)]


_current = {"sim": sim}  # the simulator the running test talks to


def cur():
    return _current["sim"]


def use_sim(s):
    _current["sim"] = s


def logins(path):
    """Finished login attempts at path (PUT, answered)."""
    return [q for q in cur().requests(path)
            if q["method"] == "PUT" and q["status"] is not None]


def renewals(token):
    return reqs("/v1/auth/token/renew-self", token=token)


def wait_sink(path, timeout=6, not_in=(), p=None):
    """The sink file's content once it exists and differs from not_in."""
    def ready():
        if p is not None and not p.alive():
            raise AssertionError(f"vaproxyd exited ({p.proc.returncode}):\n{p.log_tail()}")
        c = read(path)
        return c if c and c not in not_in else None
    return wait_until(ready, timeout=timeout, msg=f"a token in {path}")


def check_login_request(q, path, want_body, namespace=None, what=""):
    """The recorded login: PUT <path>, JSON body, X-Vault-Request, UA, namespace."""
    eq(q["method"], "PUT", f"{what}: login method")
    eq(q["path"], path, f"{what}: login path")
    eq(body(q), want_body, f"{what}: login body")
    eq(header(q, "X-Vault-Request"), "true", f"{what}: X-Vault-Request")
    ua = header(q, "User-Agent") or ""
    check(ua.startswith(UA_PREFIX), f"{what}: User-Agent {ua!r} must start with {UA_PREFIX!r}")
    eq(header(q, "X-Vault-Namespace"), namespace, f"{what}: X-Vault-Namespace")
    eq(header(q, "X-Vault-Wrap-TTL"), None, f"{what}: no wrap TTL asked for")


def token_info(token):
    """lookup-self of token straight at the sim (root-free); -> data or None."""
    r = cur().api("GET", "auth/token/lookup-self", token=token)
    return r.json()["data"] if r.status == 200 else None


def approle_files(d, role_id, secret_id=None):
    rid, sid = os.path.join(d, "role-id"), os.path.join(d, "secret-id")
    write(rid, role_id + "\n")
    if secret_id is not None:
        write(sid, "  " + secret_id + "\n")
    return rid, sid


# --------------------------------------------------------------------------
# a PKI for the cert method, made with the openssl CLI at test time

def openssl(*args, cwd=None):
    subprocess.run([need_binary("openssl")] + list(args), check=True, capture_output=True,
                   timeout=30, cwd=cwd)


def make_pki():
    """CA, a server certificate for localhost/127.0.0.1 and a client
    certificate, both signed by the CA -> dict of paths (+ client fingerprint)."""
    d = tmpdir("pki-")
    p = {k: os.path.join(d, k) for k in ("ca.pem", "ca.key", "server.pem", "server.key",
                                          "server-chain.pem", "client.pem", "client.key")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-days", "2", "-keyout", p["ca.key"], "-out", p["ca.pem"],
            "-subj", "/CN=vaproxy test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, cn, ext in (
            ("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                    "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"),
            ("client", "vaproxy-client", "extendedKeyUsage=clientAuth\n"
                                         "basicConstraints=CA:FALSE\n")):
        csr, extf = os.path.join(d, name + ".csr"), os.path.join(d, name + ".ext")
        with open(extf, "w") as f:
            f.write(ext)
        openssl("req", "-new", *ec, "-keyout", p[name + ".key"], "-out", csr, "-subj",
                f"/CN={cn}")
        openssl("x509", "-req", "-in", csr, "-CA", p["ca.pem"], "-CAkey", p["ca.key"],
                "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
                "-out", p[name + ".pem"], "-extfile", extf)
    with open(p["server-chain.pem"], "w") as out:
        for f in ("server.pem", "ca.pem"):
            with open(p[f]) as src:
                out.write(src.read())
    with open(p["client.pem"]) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    p["fingerprint"] = hashlib.sha256(der).hexdigest()
    return p


def tls_sim(pki):
    s = Sim(tls=(pki["server-chain.pem"], pki["server.key"]), client_ca=pki["ca.pem"])
    use_sim(s)
    return s


# --------------------------------------------------------------------------
# approle

@test("approle: the exact login request; secret-id file removed, role-id file kept")
def _():
    use_sim(sim)
    sim.reset()
    role = sim.approle(role_name="web", ttl=600)
    d = tmpdir("approle-")
    rid, sid = approle_files(d, role["role_id"], role["secret_id"])
    sink = os.path.join(d, "sink")
    p = start(config(sim.addr, "approle", {"role_id_file_path": rid, "secret_id_file_path": sid},
                     sinks=[{"config": {"path": sink}}]))
    tok = wait_sink(sink, p=p)
    (q,) = logins("/v1/auth/approle/login")
    check_login_request(q, "/v1/auth/approle/login",
                        {"role_id": role["role_id"], "secret_id": role["secret_id"]},
                        what="approle")
    eq(q["status"], 200, "login accepted")
    eq(q["token"], None, "no X-Vault-Token on a login")
    info = token_info(tok)
    check(info is not None, f"the sink holds a live token: {tok!r}")
    eq(info["path"], "auth/approle/login", "the sink's token came from the approle login")
    eq(os.path.exists(sid), False, "secret-id file removed after reading (default true)")
    eq(read(rid), role["role_id"] + "\n", "role-id file never removed")


@test("approle: remove_secret_id_file_after_reading = false (HCL bool and JSON string)")
def _():
    use_sim(sim)
    sim.reset()
    daemons = []
    for form in ("hcl", "json"):
        role = sim.approle(role_name="keep-" + form, ttl=600)
        d = tmpdir("approle-keep-")
        rid, sid = approle_files(d, role["role_id"], role["secret_id"])
        sink = os.path.join(d, "sink")
        if form == "hcl":
            text = config(sim.addr, "approle",
                          {"role_id_file_path": rid, "secret_id_file_path": sid,
                           "remove_secret_id_file_after_reading": False},
                          sinks=[{"config": {"path": sink}}])
        else:
            text = json.dumps({
                "vault": {"address": sim.addr},
                "auto_auth": {
                    "method": {"type": "approle", "min_backoff": "200ms", "max_backoff": "1s",
                               "config": {"role_id_file_path": rid, "secret_id_file_path": sid,
                                          "remove_secret_id_file_after_reading": "false"}},
                    "sinks": [{"sink": {"type": "file", "config": {"path": sink}}}]}})
        daemons.append((form, start(text), role, sid, sink))
    for form, p, role, sid, sink in daemons:
        tok = wait_sink(sink, p=p)
        check(token_info(tok) is not None, f"{form}: a live token in the sink")
        eq(read(sid), "  " + role["secret_id"] + "\n", f"{form}: secret-id file kept as it was")
    bodies = sorted(json.dumps(body(q), sort_keys=True) for q in logins("/v1/auth/approle/login"))
    want = sorted(json.dumps({"role_id": r["role_id"], "secret_id": r["secret_id"]},
                             sort_keys=True) for _, _, r, _, _ in daemons)
    eq(bodies, want, "one login per daemon with its trimmed role and secret id")


@test("approle: role-id-only login (bind_secret_id = false) sends only role_id")
def _():
    use_sim(sim)
    sim.reset()
    role = sim.approle(role_name="nosecret", bind_secret_id=False, ttl=600)
    d = tmpdir("approle-rid-")
    rid, _ = approle_files(d, role["role_id"])
    sink = os.path.join(d, "sink")
    p = start(config(sim.addr, "approle", {"role_id_file_path": rid},
                     sinks=[{"config": {"path": sink}}]))
    tok = wait_sink(sink, p=p)
    (q,) = logins("/v1/auth/approle/login")
    check_login_request(q, "/v1/auth/approle/login", {"role_id": role["role_id"]},
                        what="role-id only")
    check(token_info(tok) is not None, "a live token")


@test("approle: an emptied role-id file: the role id read before is used again")
def _():
    use_sim(sim)
    sim.reset()
    role = sim.approle(role_name="cached", ttl=3)
    d = tmpdir("approle-empty-")
    rid, sid = approle_files(d, role["role_id"], role["secret_id"])
    sink = os.path.join(d, "sink")
    p = start(config(sim.addr, "approle", {"role_id_file_path": rid, "secret_id_file_path": sid},
                     sinks=[{"config": {"path": sink}}]))
    tok1 = wait_sink(sink, p=p)
    wait_until(lambda: renewals(tok1), timeout=3, msg="first renewal")
    write(rid, "  \n")
    sid2 = sim.approle_secret_id(role_id=role["role_id"])["secret_id"]
    write(sid, sid2)
    sim.revoke(tok1)
    wait_sink(sink, timeout=6, not_in=(tok1,), p=p)
    ls = logins("/v1/auth/approle/login")
    eq(body(ls[-1]), {"role_id": role["role_id"], "secret_id": sid2},
       "cached role id with the new secret id")
    eq(read(rid), "  \n", "the role-id file is left alone")
    contains(p.log(), rid, "a warning names the empty file")


@test("approle: custom mount_path and namespace on the login (and on renewals)")
def _():
    use_sim(sim)
    sim.reset()
    sim.mount("auth/approle-east", "approle")
    role = sim.approle(role_name="east", ttl=600)
    d = tmpdir("approle-mnt-")
    rid, sid = approle_files(d, role["role_id"], role["secret_id"])
    sink = os.path.join(d, "sink")
    p = start(config(sim.addr, "approle", {"role_id_file_path": rid, "secret_id_file_path": sid},
                     opts={"mount_path": "auth/approle-east/", "namespace": "/team-a/apps"},
                     sinks=[{"config": {"path": sink}}]))
    tok = wait_sink(sink, p=p)
    eq(logins("/v1/auth/approle/login"), [], "nothing at the default mount")
    (q,) = logins("/v1/auth/approle-east/login")
    check_login_request(q, "/v1/auth/approle-east/login",
                        {"role_id": role["role_id"], "secret_id": role["secret_id"]},
                        namespace="team-a/apps/", what="custom mount")
    eq(token_info(tok)["path"], "auth/approle-east/login", "token from the custom mount")
    (r,) = wait_until(lambda: renewals(tok), timeout=3, msg="the first renewal")
    eq(header(r, "X-Vault-Namespace"), "team-a/apps/", "renew-self carries the namespace too")


@test("approle: re-login after revocation reads the rewritten role-id and secret-id files")
def _():
    use_sim(sim)
    sim.reset()
    old = sim.approle(role_name="old", ttl=3)
    d = tmpdir("approle-rev-")
    rid, sid = approle_files(d, old["role_id"], old["secret_id"])
    sink = os.path.join(d, "sink")
    p = start(config(sim.addr, "approle", {"role_id_file_path": rid, "secret_id_file_path": sid},
                     sinks=[{"config": {"path": sink}}]))
    tok1 = wait_sink(sink, p=p)
    wait_until(lambda: renewals(tok1), timeout=3, msg="first renewal")
    new = sim.approle(role_name="new", ttl=600)
    approle_files(d, new["role_id"], new["secret_id"])
    sim.revoke(tok1)
    tok2 = wait_sink(sink, timeout=6, not_in=(tok1,), p=p)
    ls = logins("/v1/auth/approle/login")
    eq([body(q) for q in ls],
       [{"role_id": old["role_id"], "secret_id": old["secret_id"]},
        {"role_id": new["role_id"], "secret_id": new["secret_id"]}],
       "second login with the rewritten files")
    check(any(q["status"] == 403 for q in renewals(tok1)),
          "a renewal of the revoked token failed first")
    eq(token_info(tok2)["meta"], {"role_name": "new"}, "the new token belongs to the new role")
    eq(os.path.exists(sid), False, "the new secret-id file was consumed too")


@test("approle: re-login near the max TTL reads the rewritten files; token renewed meanwhile")
def _():
    use_sim(sim)
    sim.reset()
    old = sim.approle(role_name="short", ttl=2, max_ttl=4)
    d = tmpdir("approle-max-")
    rid, sid = approle_files(d, old["role_id"], old["secret_id"])
    sink = os.path.join(d, "sink")
    p = start(config(sim.addr, "approle", {"role_id_file_path": rid, "secret_id_file_path": sid},
                     sinks=[{"config": {"path": sink}}]))
    tok1 = wait_sink(sink, p=p)
    born = time.monotonic()
    new = sim.approle(role_name="long", ttl=600)
    approle_files(d, new["role_id"], new["secret_id"])
    tok2 = wait_sink(sink, timeout=6, not_in=(tok1,), p=p)
    took = time.monotonic() - born
    check(took < 4.0, f"re-login {took:.1f}s after the first: before the 4 s max TTL ran out")
    r1 = renewals(tok1)
    check(len(r1) >= 2, f"tok1 renewed meanwhile ({len(r1)} renewals)")
    check(all(q["status"] == 200 for q in r1), "no renewal of tok1 failed")
    ls = logins("/v1/auth/approle/login")
    eq(body(ls[-1]), {"role_id": new["role_id"], "secret_id": new["secret_id"]},
       "the re-login used the rewritten files")
    eq(token_info(tok2)["meta"], {"role_name": "long"}, "new role's token")


@test("renewal before expiry keeps the same token (approle, kubernetes, token_file)")
def _():
    use_sim(sim)
    sim.reset()
    d = tmpdir("renew-")
    role = sim.approle(role_name="renew", ttl=3)
    rid, sid = approle_files(d, role["role_id"], role["secret_id"])
    jwt = "eyJhbGciOiJSUzI1NiJ9.renew-" + os.urandom(8).hex() + ".sig"
    sim.kubernetes("renew", jwt=jwt, token_ttl=3)
    with open(os.path.join(d, "jwt"), "w") as f:
        f.write(jwt + "\n")
    tf_tok = sim.make_token(ttl=3, renewable=True)["id"]
    write(os.path.join(d, "tf"), tf_tok)
    setups = {
        "approle": ({"role_id_file_path": rid, "secret_id_file_path": sid},
                    "/v1/auth/approle/login"),
        "kubernetes": ({"role": "renew", "token_path": os.path.join(d, "jwt")},
                       "/v1/auth/kubernetes/login"),
        "token_file": ({"token_file_path": os.path.join(d, "tf")}, None),
    }
    daemons = {}
    for m, (cfg, _) in setups.items():
        sink = os.path.join(d, "sink-" + m)
        daemons[m] = (start(config(sim.addr, m, cfg, sinks=[{"config": {"path": sink}}])), sink)
    toks = {m: wait_sink(sink, p=p) for m, (p, sink) in daemons.items()}
    born = time.monotonic()
    eq(toks["token_file"], tf_tok, "token_file: the file's token")
    for m, tok in toks.items():
        wait_until(lambda: len(renewals(tok)) >= 2, timeout=4, msg=f"{m}: two renewals")
    wait_until(lambda: time.monotonic() - born > 3.3, timeout=4, msg="the first TTL over")
    for m, tok in toks.items():
        rs = renewals(tok)
        check(rs and all(q["status"] == 200 for q in rs), f"{m}: renewals succeeded")
        q = rs[0]
        eq((q["method"], body(q)), ("PUT", {"increment": 0}), f"{m}: renew-self request")
        check((header(q, "User-Agent") or "").startswith(UA_PREFIX), f"{m}: renewal UA")
        check(token_info(tok) is not None, f"{m}: token alive after its original TTL")
        eq(read(daemons[m][1]), tok, f"{m}: the sink still holds the same token")
    for m, (_, path) in setups.items():
        if path:
            eq(len(logins(path)), 1, f"{m}: no second login")
    eq(len([q for q in reqs("/v1/auth/token/lookup-self", token=tf_tok)
            if (header(q, "User-Agent") or "").startswith(UA_PREFIX)]), 1,
       "token_file: one login (lookup-self) only")


# --------------------------------------------------------------------------
# wrapped secret ids

@test("approle: wrapped secret id: lookup, unwrap, then login (secret_id_response_wrapping_path)")
def _():
    use_sim(sim)
    sim.reset()
    role = sim.approle(role_name="wrapped", wrap=True, ttl=600)
    wt = role["wrapping_token"]
    d = tmpdir("approle-wrap-")
    rid, sid = approle_files(d, role["role_id"], wt)
    sink = os.path.join(d, "sink")
    p = start(config(sim.addr, "approle",
                     {"role_id_file_path": rid, "secret_id_file_path": sid,
                      "secret_id_response_wrapping_path": "auth/approle/role/wrapped/secret-id"},
                     sinks=[{"config": {"path": sink}}]))
    tok = wait_sink(sink, p=p)
    seq = [q for q in sim.requests("/v1/") if q["path"] != "/v1/auth/token/renew-self"]
    eq([(q["method"], q["path"], q["status"]) for q in seq],
       [("GET", "/v1/sys/wrapping/lookup", 200), ("PUT", "/v1/sys/wrapping/unwrap", 200),
        ("PUT", "/v1/auth/approle/login", 200)], "request sequence")
    eq([q["token"] for q in seq[:2]], [wt, wt], "lookup and unwrap with the wrapping token")
    check_login_request(seq[2], "/v1/auth/approle/login",
                        {"role_id": role["role_id"], "secret_id": role["secret_id"]},
                        what="wrapped secret id")
    eq(token_info(tok)["path"], "auth/approle/login", "token from the approle login")
    eq(sim.wrap_lookup(wt).status, 400, "the wrapping token was consumed")
    eq(os.path.exists(sid), False, "the wrapping-token file removed")


@test("approle: a wrapping token from another path is refused: no unwrap, no login")
def _():
    use_sim(sim)
    sim.reset()
    role = sim.approle(role_name="victim", wrap=True, ttl=600)
    wt = role["wrapping_token"]
    d = tmpdir("approle-badwrap-")
    rid, sid = approle_files(d, role["role_id"], wt)
    sink = os.path.join(d, "sink")
    p = start(config(sim.addr, "approle",
                     {"role_id_file_path": rid, "secret_id_file_path": sid,
                      "secret_id_response_wrapping_path": "auth/approle/role/other/secret-id"},
                     sinks=[{"config": {"path": sink}}]))
    wait_until(lambda: len(reqs("/v1/sys/wrapping/lookup")) >= 2, timeout=5,
               msg="lookups (retried with backoff)")
    wait_until(lambda: "creation path" in p.log(), timeout=3, msg="the error in the log")
    check(p.alive(), "keeps running (no exit_on_err)")
    eq(reqs("/v1/sys/wrapping/unwrap"), [], "never unwrapped")
    eq(logins("/v1/auth/approle/login"), [], "never logged in")
    eq(read(sink), None, "no token in the sink")
    eq(sim.wrap_lookup(wt).status, 200, "the wrapping token is still valid")
    log = p.log()
    contains(log, "auth/approle/role/other/secret-id", "log names the expected path")
    contains(log, "auth/approle/role/victim/secret-id", "log names the path found")
    check(wt not in log, "the wrapping token itself is not logged")
    eq(read(sid), "  " + wt + "\n", "the secret-id file is left in place")


# --------------------------------------------------------------------------
# kubernetes

@test("kubernetes: the exact login request; custom mount_path and namespace")
def _():
    use_sim(sim)
    sim.reset()
    sim.mount("auth/k8s-east", "kubernetes")
    jwt1 = "eyJhbGciOiJSUzI1NiJ9.k8s-" + os.urandom(8).hex() + ".sig"
    sim.kubernetes("app", jwt=jwt1, token_ttl=600)
    d = tmpdir("k8s-")
    jf = os.path.join(d, "token")
    with open(jf, "w") as f:
        f.write(jwt1 + "\n\n")
    sinks = [os.path.join(d, "sink-default"), os.path.join(d, "sink-custom")]
    p1 = start(config(sim.addr, "kubernetes", {"role": "app", "token_path": jf},
                      sinks=[{"config": {"path": sinks[0]}}]))
    p2 = start(config(sim.addr, "kubernetes", {"role": "app", "token_path": jf},
                      opts={"mount_path": "auth/k8s-east", "namespace": "ns1"},
                      sinks=[{"config": {"path": sinks[1]}}]))
    t1, t2 = wait_sink(sinks[0], p=p1), wait_sink(sinks[1], p=p2)
    (q,) = logins("/v1/auth/kubernetes/login")
    check_login_request(q, "/v1/auth/kubernetes/login", {"role": "app", "jwt": jwt1},
                        what="default mount")
    (q,) = logins("/v1/auth/k8s-east/login")
    check_login_request(q, "/v1/auth/k8s-east/login", {"role": "app", "jwt": jwt1},
                        namespace="ns1/", what="custom mount")
    eq(token_info(t1)["path"], "auth/kubernetes/login", "default-mount token")
    eq(token_info(t2)["path"], "auth/k8s-east/login", "custom-mount token")
    check(os.path.exists(jf), "the JWT file is never removed")


@test("kubernetes: a rotated JWT is used at the re-login (revocation, then max TTL)")
def _():
    use_sim(sim)
    sim.reset()
    jwts = ["eyJhbGciOiJSUzI1NiJ9.rot%d-%s.sig" % (i, os.urandom(6).hex()) for i in range(3)]
    sim.kubernetes("rot", jwt=jwts[0], token_ttl=3)
    d = tmpdir("k8s-rot-")
    jf = os.path.join(d, "token")
    write(jf, jwts[0])
    sink = os.path.join(d, "sink")
    p = start(config(sim.addr, "kubernetes", {"role": "rot", "token_path": jf},
                     sinks=[{"config": {"path": sink}}]))
    t1 = wait_sink(sink, p=p)
    wait_until(lambda: renewals(t1), timeout=3, msg="first renewal")
    # Rotation: only the new JWT is accepted from now on.
    sim.kubernetes("rot", jwt=jwts[1], token_ttl=2, token_max_ttl=4, replace=True)
    write(jf, jwts[1] + "\n")
    sim.revoke(t1)
    t2 = wait_sink(sink, timeout=6, not_in=(t1,), p=p)
    born = time.monotonic()
    ls = logins("/v1/auth/kubernetes/login")
    eq([body(q)["jwt"] for q in ls], jwts[:2], "re-login after revocation with the rotated JWT")
    eq([q["status"] for q in ls], [200, 200], "both logins accepted")
    # Rotate again; the max TTL (4 s) of t2 forces the next login.
    sim.kubernetes("rot", jwt=jwts[2], token_ttl=600, replace=True)
    write(jf, jwts[2])
    t3 = wait_sink(sink, timeout=6, not_in=(t1, t2), p=p)
    took = time.monotonic() - born
    check(took < 4.0, f"re-login {took:.1f}s after t2: before its max TTL ran out")
    ls = logins("/v1/auth/kubernetes/login")
    eq([body(q)["jwt"] for q in ls], jwts, "re-login near the max TTL with the new JWT")
    check(all(q["status"] == 200 for q in renewals(t2)), "t2 renewals all succeeded")
    check(token_info(t3) is not None, "t3 alive")


# --------------------------------------------------------------------------
# cert

@test("cert: mutual-TLS login with the method's client_cert/client_key/ca_cert; re-login")
def _():
    pki = make_pki()
    s = tls_sim(pki)
    s.mount("auth/cert-mtls", "cert")
    s.cert_role("web", cn="vaproxy-client", token_ttl=3)
    d = tmpdir("cert-")
    sink = os.path.join(d, "sink")
    # No ca_cert in the vault stanza: the method's own CA must verify the server.
    p = start(config(s.addr, "cert",
                     {"name": "web", "client_cert": pki["client.pem"],
                      "client_key": pki["client.key"], "ca_cert": pki["ca.pem"]},
                     opts={"mount_path": "auth/cert-mtls", "namespace": "pki-team"},
                     sinks=[{"config": {"path": sink}}]))
    t1 = wait_sink(sink, p=p)
    (q,) = logins("/v1/auth/cert-mtls/login")
    check_login_request(q, "/v1/auth/cert-mtls/login", {"name": "web"},
                        namespace="pki-team/", what="cert")
    eq((q["client_cert"], q["client_cn"]), (True, "vaproxy-client"),
       "the login presented the client certificate")
    eq(token_info(t1)["meta"]["cert_name"], "web", "token for the cert role")
    wait_until(lambda: renewals(t1), timeout=3, msg="renewal")
    s.revoke(t1)
    t2 = wait_sink(sink, timeout=6, not_in=(t1,), p=p)
    ls = logins("/v1/auth/cert-mtls/login")
    eq([(q["status"], q["client_cn"], body(q)) for q in ls],
       [(200, "vaproxy-client", {"name": "web"})] * 2, "re-login after revocation, same cert")
    check(token_info(t2) is not None, "new token alive")


@test("cert: login with the vault stanza's client_cert/client_key; empty body without name")
def _():
    pki = make_pki()
    s = tls_sim(pki)
    s.cert_role("by-fp", fingerprint=pki["fingerprint"], token_ttl=600)
    d = tmpdir("cert-vault-")
    sink = os.path.join(d, "sink")
    p = start(config(s.addr, "cert", {},
                     vault={"ca_cert": pki["ca.pem"], "client_cert": pki["client.pem"],
                            "client_key": pki["client.key"]},
                     sinks=[{"config": {"path": sink}}]))
    t1 = wait_sink(sink, p=p)
    (q,) = logins("/v1/auth/cert/login")
    check_login_request(q, "/v1/auth/cert/login", {}, what="cert via vault stanza")
    eq((q["client_cert"], q["client_cn"]), (True, "vaproxy-client"), "client certificate sent")
    eq(token_info(t1)["meta"]["cert_name"], "by-fp", "matched by fingerprint")
    # Without any client certificate the same login is refused (sanity of the setup).
    eq(s.cert_login().status, 400, "no certificate: 400 from the sim")


# --------------------------------------------------------------------------
# token_file

@test("token_file: lookup-self login with the file's token; mount_path ignored; namespace")
def _():
    use_sim(sim)
    sim.reset()
    tok = sim.make_token(ttl=600)["id"]
    d = tmpdir("tf-")
    tf = os.path.join(d, "token")
    write(tf, tok + "\n")
    sink = os.path.join(d, "sink")
    p = start(config(sim.addr, "token_file", {"token_file_path": tf},
                     opts={"mount_path": "auth/ignored", "namespace": "tf-ns/"},
                     sinks=[{"config": {"path": sink}}]))
    eq(wait_sink(sink, p=p), tok, "the sink holds the file's token")
    (q,) = [q for q in reqs("/v1/auth/token/lookup-self")
            if (header(q, "User-Agent") or "").startswith(UA_PREFIX)]
    eq((q["method"], q["path"], q["token"]), ("GET", "/v1/auth/token/lookup-self", tok),
       "token_file login request")
    eq(q["body"], "", "no body")
    eq(header(q, "X-Vault-Request"), "true", "X-Vault-Request")
    check((header(q, "User-Agent") or "").startswith(UA_PREFIX), "UA")
    eq(header(q, "X-Vault-Namespace"), "tf-ns/", "namespace")
    eq([r["path"] for r in sim.requests("/v1/auth/ignored")], [], "mount_path ignored")
    eq(read(tf), tok + "\n", "the token file is never removed")


@test("namespace from BAO_NAMESPACE / VAULT_NAMESPACE on logins and renewals when the method "
      "sets none")
def _():
    use_sim(sim)
    sim.reset()
    d = tmpdir("envns-")
    cases = {"VAULT_NAMESPACE": ({"VAULT_NAMESPACE": "vault-ns", "BAO_NAMESPACE": None},
                                 "vault-ns"),
             "BAO_NAMESPACE wins": ({"VAULT_NAMESPACE": "vault-ns", "BAO_NAMESPACE": "bao-ns"},
                                    "bao-ns")}
    daemons = []
    for name, (env, want) in cases.items():
        tok = sim.make_token(ttl=600)["id"]
        tf = os.path.join(d, name.replace(" ", "-"))
        write(tf, tok)
        sink = tf + ".sink"
        daemons.append((name, want, tok, sink,
                        start(config(sim.addr, "token_file", {"token_file_path": tf},
                                     sinks=[{"config": {"path": sink}}]), env=env)))
    for name, want, tok, sink, p in daemons:
        eq(wait_sink(sink, p=p), tok, f"{name}: logged in")
        (q,) = [q for q in reqs("/v1/auth/token/lookup-self", token=tok)
                if (header(q, "User-Agent") or "").startswith(UA_PREFIX)]
        ns = header(q, "X-Vault-Namespace")
        check(ns in (want, want + "/"), f"{name}: login X-Vault-Namespace {ns!r}, want {want!r} "
                                        f"(BAO_NAMESPACE over VAULT_NAMESPACE)")
        (r,) = wait_until(lambda: renewals(tok), timeout=3, msg="renewal")
        ns = header(r, "X-Vault-Namespace")
        check(ns in (want, want + "/"), f"{name}: renewal X-Vault-Namespace {ns!r}")


# --------------------------------------------------------------------------
# method-level wrapping

@test("method wrap_ttl: the single sink gets wrap_info JSON of the login; no renewal")
def _():
    use_sim(sim)
    sim.reset()
    role = sim.approle(role_name="mwrap", ttl=30)
    d = tmpdir("mwrap-")
    rid, sid = approle_files(d, role["role_id"], role["secret_id"])
    sink = os.path.join(d, "sink")
    p = start(config(sim.addr, "approle", {"role_id_file_path": rid, "secret_id_file_path": sid},
                     opts={"wrap_ttl": "5m"}, sinks=[{"config": {"path": sink}}]))
    text = wait_sink(sink, p=p)
    (q,) = logins("/v1/auth/approle/login")
    eq(body(q), {"role_id": role["role_id"], "secret_id": role["secret_id"]}, "login body")
    wttl = header(q, "X-Vault-Wrap-TTL")
    check(wttl in ("5m0s", "300s", "300"), f"X-Vault-Wrap-TTL on the login: {wttl!r}")
    check(text.endswith("}\n") and text.count("\n") == 1, f"JSON plus one newline: {text!r}")
    wi = json.loads(text)
    eq(list(wi), ["token", "accessor", "ttl", "creation_time", "creation_path",
                  "wrapped_accessor"], "wrap_info fields in Vault's order")
    eq(wi["creation_path"], "auth/approle/login", "creation_path is the login path")
    eq(wi["ttl"], 300, "wrap ttl")
    # Nothing may use or renew the wrapped token: only the reader unwraps it.
    time.sleep(1.5)  # a renewal would go out at once after the login
    eq(sim.requests("/v1/auth/token/renew-self"), [], "no renew-self")
    eq(len(logins("/v1/auth/approle/login")), 1, "one login only")
    r = sim.unwrap(wi["token"])
    eq(r.status, 200, "the wrapping token unwraps")
    inner = r.json()["auth"]["client_token"]
    eq(wi["wrapped_accessor"], r.json()["auth"]["accessor"], "wrapped_accessor")
    eq(token_info(inner)["path"], "auth/approle/login", "the wrapped token is the login's")
    eq(read(sink), text, "the sink still holds the wrap_info")


@test("method wrap_ttl with a wrapped secret id: only the login itself is wrapped")
def _():
    use_sim(sim)
    sim.reset()
    role = sim.approle(role_name="both", wrap=True, ttl=600)
    d = tmpdir("mwrap2-")
    rid, sid = approle_files(d, role["role_id"], role["wrapping_token"])
    sink = os.path.join(d, "sink")
    p = start(config(sim.addr, "approle",
                     {"role_id_file_path": rid, "secret_id_file_path": sid,
                      "secret_id_response_wrapping_path": "auth/approle/role/both/secret-id"},
                     opts={"wrap_ttl": "90s"}, sinks=[{"config": {"path": sink}}]))
    wi = json.loads(wait_sink(sink, p=p))
    seq = sim.requests("/v1/")
    eq([(q["path"], q["status"], header(q, "X-Vault-Wrap-TTL") is not None) for q in seq],
       [("/v1/sys/wrapping/lookup", 200, False), ("/v1/sys/wrapping/unwrap", 200, False),
        ("/v1/auth/approle/login", 200, True)], "(path, status, wrapped?) sequence")
    eq((wi["creation_path"], wi["ttl"]), ("auth/approle/login", 90), "the login's wrap_info")
    r = sim.unwrap(wi["token"])
    eq(r.status, 200, "unwraps")
    check(token_info(r.json()["auth"]["client_token"]) is not None, "a live token inside")


class _TapTee:
    """Passes run()'s TAP through and remembers the result lines."""

    def __init__(self, out):
        self.out, self.lines, self.buf = out, [], ""

    def write(self, s):
        self.buf += s
        *done, self.buf = self.buf.split("\n")
        self.lines += done
        return self.out.write(s)

    def flush(self):
        self.out.flush()


def run_known_bugs():
    """run(), except that a failing test marked "# TODO" in its name (a daemon
    bug already reported) does not fail the script: the TAP driver counts it
    as XFAIL.  Once the bug is fixed the test passes as XPASS, which fails
    the suite until the marker is removed."""
    tee = _TapTee(sys.stdout)
    sys.stdout = tee
    try:
        run()
    finally:
        sys.stdout = tee.out
    real = [l for l in tee.lines if l.startswith("not ok") and "# TODO" not in l]
    return 1 if real else 0


if __name__ == "__main__":
    sys.exit(run_known_bugs())
