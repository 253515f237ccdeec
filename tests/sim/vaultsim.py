#!/usr/bin/python3
"""vaultsim: a small in-memory fake of the Vault HTTP API, for vaproxy's tests.

It speaks HTTP/1.1 with keep-alive, answers every method (including Vault's
non-standard LIST), keeps tokens, KV v2 secrets and dynamic leases in memory,
and can be steered through a control API under /_sim/ (failure and delay
injection, token creation, consistency lag, request log).  Standard library
only.  Run `vaultsim.py --help` for the command line.

Nothing here aims at Vault's full semantics: only what a proxy in front of
Vault can observe and what vaproxy's tests need to provoke.

Vault API (/v1/...): sys/health; auth/token/{lookup-self,lookup,lookup-accessor,
renew-self,renew,create,create-orphan,revoke,revoke-self,revoke-orphan,
revoke-accessor}; auth/approle/{login,role/<name>/secret-id,role/<name>/role-id};
auth/kubernetes/login; auth/jwt/login; auth/cert/login (the TLS peer certificate);
auth/userpass/login/<username> (the SDK template's method); KV v2 at
secret/{data,metadata,delete,undelete,destroy}/<path>; database/creds/<role>;
sys/leases/{renew,revoke,revoke-prefix,revoke-force,lookup} (and legacy
sys/renew, sys/revoke); sys/wrapping/{wrap,lookup,unwrap};
sys/internal/ui/mounts/<path> (the KV mount a path is under);
sys/capabilities-self; KV v1 mounts (kv/ by default; more with
/_sim/kv_mount); sys/events/subscribe/<pattern> (a WebSocket of KV
events; see the event stream section).  Token-free helpers: sim/echo/*, sim/status/<code>
(?location=...), sim/slow/<ms>, sim/big/<bytes>.

Response wrapping: X-Vault-Wrap-TTL (Go duration or seconds) on any request
whose answer is a 200 JSON object turns that answer into a wrap ("wrap_info"
with token, accessor, ttl, creation_time, creation_path, wrapped_accessor;
"data" and "auth" null).  The wrapping token works with sys/wrapping/lookup
(X-Vault-Token or body "token"; not consumed) and sys/wrapping/unwrap (single
use; afterwards 400 "wrapping token is not valid or does not exist").

Auth methods: approle (roles with bind_secret_id, token_ttl, token_max_ttl,
token_renewable, secret_id_num_uses; several secret ids per role),
kubernetes (roles with a set of accepted JWTs; wrong role or JWT: 403),
cert (needs --tls-client-ca: client certificates are requested, not
required, and verified against that file; roles match the peer's subject CN
and/or SHA-256 fingerprint; the body's "name" picks a role, else the first
that matches; no match: 403; no certificate: 400).  Every login mount can be
aliased (/_sim/mount).  The request log notes whether a client certificate
was presented ("client_cert") and its CN ("client_cn").  userpass: users
with a password; a wrong user or password: 400 "invalid username or password".

Control API (/_sim/..., no token, never logged): GET requests[?path_prefix=],
stats, state, consistency; POST reset {all}, fail {count,status,path_prefix,
method,body,headers} (status 0 = close unanswered, count<0 = forever), delay
{ms,path_prefix,method,count}, token {id,ttl,max_ttl,renewable,policies,
num_uses,orphan}, revoke {id}, consistency {enabled,lag,applied},
lease_duration {seconds,max_ttl}, approle {role_id,secret_id,role_name,
ttl|token_ttl,max_ttl|token_max_ttl,renewable|token_renewable,policies,
bind_secret_id,secret_id_num_uses,wrap,wrap_ttl} (creates or replaces the
role with one secret id), approle/secret-id {role_id|role_name,secret_id,
num_uses,wrap,wrap_ttl} (one more secret id), kubernetes {role,jwt|jwts,
ttl|token_ttl,max_ttl|token_max_ttl,renewable|token_renewable,policies,
replace} (adds JWTs to the role unless replace), jwt {role,jwt|jwts, token
options, replace} (the same for the jwt method; answers the JWTs used), cert {name,cn,fingerprint,
ttl|token_ttl,max_ttl|token_max_ttl,renewable|token_renewable,policies},
userpass {username,password,ttl|token_ttl,max_ttl|token_max_ttl,
renewable|token_renewable,policies} (creates or replaces a user),
mount {path,type} (type approle, kubernetes, cert or userpass), wrap {data,ttl,
creation_path} (wraps data without a request), policy {name,rules} (rules:
{"<path glob>": [capabilities]}; null rules delete it), token_policies {id,
policies}, kv_mount {path,version}, kv_mount_type {enabled}.  "wrap": true answers carry
"wrap_info" and "wrapping_token"; the secret id is still returned too.
TTLs are seconds or duration strings ("2s"); short ones (1-5 s) are fine.

ACL model (static secret caching tests): as long as no policy is defined
every token may do everything, as before.  Once one is, a token without the
"root" policy may act on a KV path only as its defined policies allow:
rules name a path exactly, or end in "*" (a prefix), and "+" matches one
segment; capabilities are Vault's (create, read, update, patch, delete,
list, deny; deny wins).  KV answers carry "mount_type": "kv" (Vault 1.15+)
unless kv_mount_type turned that off.

Consistency model: with lag N>0, writes advance the active node's index but
not the "applied" one; each request naming an index beyond "applied" uses up
one unit of lag and gets 412 (or is counted as forwarded when it carries
X-Vault-Inconsistent: forward-active-node); at lag 0 the standby catches up.
Setting lag freezes "applied" where it is; pass "applied" to move it.
"""

import argparse
import base64
import fnmatch
import hashlib
import hmac
import json
import math
import os
import secrets
import select
import signal
import socket
import socketserver
import ssl
import string
import sys
import threading
import time
import traceback
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

CLUSTER_ID = "sim-cluster"
DEFAULT_TOKEN_TTL = 768 * 3600  # Vault's default mount TTL (32 days)
HMAC_KEY = b"vaultsim"
_ALPHABET = string.ascii_letters + string.digits


# --------------------------------------------------------------------------
# small helpers

def rand_id(n=24):
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def rfc3339(t):
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_duration(v, field="ttl"):
    """Vault accepts durations as integer seconds or strings like "30s", "5m", "1h"."""
    if v is None or v == "":
        return 0
    if isinstance(v, bool):
        raise ApiError(400, f"invalid {field}")
    if isinstance(v, (int, float)):
        return int(v)
    s = str(v).strip()
    mult = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if s[-1] in mult:
            return int(float(s[:-1]) * mult[s[-1]])
        return int(s)
    except (ValueError, IndexError):
        raise ApiError(400, f"invalid {field}: {v!r}")


def parse_wrap_ttl(v):
    """X-Vault-Wrap-TTL: Go duration text ("5m0s", "300ms", "1h") or integer seconds."""
    s = str(v).strip()
    if s.isdigit():
        return int(s)
    units = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    total, i, ok = 0.0, 0, bool(s)
    while ok and i < len(s):
        j = i
        while j < len(s) and (s[j].isdigit() or s[j] == "."):
            j += 1
        k = j
        while k < len(s) and not (s[k].isdigit() or s[k] == "."):
            k += 1
        try:
            total += float(s[i:j]) * units[s[j:k]]
        except (ValueError, KeyError):
            ok = False
        i = k
    if not ok:
        raise ApiError(400, f"error parsing wrap TTL: invalid duration {s!r}")
    return int(math.ceil(total))


def truthy(v):
    return str(v).lower() in ("1", "t", "true")


def envelope(data=None, auth=None, lease_id="", renewable=False, lease_duration=0, warnings=None):
    """The JSON shape every Vault logical response has."""
    return {
        "request_id": str(uuid.uuid4()),
        "lease_id": lease_id,
        "renewable": renewable,
        "lease_duration": lease_duration,
        "data": data,
        "wrap_info": None,
        "warnings": warnings,
        "auth": auth,
    }


def index_state(local, replicated):
    """Encode an X-Vault-Index value: base64("v1:<cluster>:<local>:<replicated>:<hmac>")."""
    plain = f"v1:{CLUSTER_ID}:{local}:{replicated}"
    mac = hmac.new(HMAC_KEY, plain.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(f"{plain}:{mac}".encode()).decode()


def parse_index_state(value):
    """Return (cluster_id, local_index, replicated_index) or None if malformed."""
    try:
        parts = base64.b64decode(value.strip(), validate=True).decode().split(":")
        if len(parts) != 5 or parts[0] != "v1":
            return None
        return parts[1], int(parts[2]), int(parts[3])
    except (ValueError, UnicodeDecodeError):
        return None


class ApiError(Exception):
    def __init__(self, status, *errors):
        super().__init__(status, errors)
        self.status = status
        self.errors = list(errors)


def permission_denied(invalid=False):
    if invalid:
        return ApiError(403, "permission denied", "invalid token")
    return ApiError(403, "permission denied")


def acl_rule_matches(rule, path):
    """A policy path rule: exact, a trailing "*" prefix, "+" for one segment."""
    glob = rule.endswith("*")
    rparts = (rule[:-1] if glob else rule).split("/")
    pparts = path.split("/")
    if glob:
        # The prefix's last part matches the start of the path's part.
        if len(pparts) < len(rparts):
            return False
        for i, r in enumerate(rparts):
            last = i == len(rparts) - 1
            if r == "+" and not last:
                continue
            if last:
                if not pparts[i].startswith(r) and r != "+":
                    return False
            elif r != pparts[i]:
                return False
        return True
    if len(pparts) != len(rparts):
        return False
    return all(r == "+" or r == q for r, q in zip(rparts, pparts))


# --------------------------------------------------------------------------
# state

class Token:
    def __init__(self, tid, policies, ttl, max_ttl, renewable, orphan, parent,
                 num_uses=0, display_name="token", path="auth/token/create", meta=None, t=None):
        t = time.time() if t is None else t
        if max_ttl > 0 and (ttl <= 0 or ttl > max_ttl):
            ttl = max_ttl
        self.id = tid
        self.accessor = rand_id()
        self.policies = list(policies)
        self.creation_ttl = ttl
        self.max_ttl = max_ttl
        self.issued = t
        self.expires = t + ttl if ttl > 0 else None  # None: never expires
        self.max_expires = t + max_ttl if max_ttl > 0 else None
        self.renewable = renewable
        self.orphan = orphan
        self.parent = parent
        self.num_uses = num_uses
        self.display_name = display_name
        self.path = path
        self.meta = meta
        self.last_renewal = None
        self.renewals = 0

    def remaining(self, t):
        # Rounded, so a fresh token reports exactly the TTL it was given.
        return 0 if self.expires is None else max(0, round(self.expires - t))

    def lookup_data(self, t):
        return {
            "accessor": self.accessor, "creation_time": int(self.issued),
            "creation_ttl": self.creation_ttl, "display_name": self.display_name,
            "entity_id": "", "expire_time": rfc3339(self.expires),
            "explicit_max_ttl": self.max_ttl, "id": self.id,
            "issue_time": rfc3339(self.issued), "last_renewal_time": rfc3339(self.last_renewal),
            "meta": self.meta, "num_uses": self.num_uses, "orphan": self.orphan,
            "path": self.path, "policies": self.policies, "renewable": self.renewable,
            "ttl": self.remaining(t), "type": "service",
        }

    def auth_block(self, t):
        return {
            "client_token": self.id, "accessor": self.accessor, "policies": self.policies,
            "token_policies": self.policies, "metadata": self.meta,
            "lease_duration": self.remaining(t), "renewable": self.renewable,
            "entity_id": "", "token_type": "service", "orphan": self.orphan,
            "mfa_requirement": None, "num_uses": self.num_uses,
        }


class Lease:
    def __init__(self, lid, token, duration, max_ttl):
        t = time.time()
        self.id = lid
        self.token = token
        self.duration = duration
        self.issued = t
        self.expires = t + duration
        self.max_expires = t + max_ttl if max_ttl > 0 else None
        self.last_renewal = None
        self.renewals = 0


class Secret:
    """One KV v2 path: its versions and metadata."""

    def __init__(self):
        self.versions = {}  # version -> {"data", "created", "deleted", "destroyed"}
        self.current = 0
        self.created = time.time()
        self.updated = self.created
        self.custom_metadata = None

    def version_meta(self, v):
        ver = self.versions[v]
        return {"created_time": rfc3339(ver["created"]), "custom_metadata": self.custom_metadata,
                "deletion_time": rfc3339(ver["deleted"]) or "", "destroyed": ver["destroyed"],
                "version": v}


class State:
    """Everything the simulator remembers; one lock guards all of it."""

    def __init__(self, root_token):
        self.lock = threading.Lock()
        self.root_token = root_token
        self.clear_all()
        self.clear_log()

    def clear_all(self):
        self.tokens = {}
        self.accessors = {}
        self.kv = {}
        self.leases = {}
        self.approles = {}      # role_id -> role (see control "approle")
        self.kube_roles = {}    # role name -> {"jwts": [...], token options}
        self.cert_roles = []    # [{"name", "cn", "fingerprint", token options}], in order
        self.wraps = {}         # wrapping token -> {"info", "response", "expires"}
        self.userpass = {}      # username -> {"password", token options, "logins"}
        self.jwt_roles = {}     # role name -> {"jwts", token options, "logins", "used"}
        self.auth_mounts = {"auth/approle": "approle", "auth/kubernetes": "kubernetes",
                            "auth/cert": "cert", "auth/userpass": "userpass",
                            "auth/jwt": "jwt"}
        self.clear_kv_acl()
        self.lease_duration = 30
        self.lease_max_ttl = 0
        self.cons_enabled = False
        self.cons_lag = 0
        self.local_index = 0
        self.applied_index = 0
        self.forwarded = 0
        self.add_token(Token(self.root_token, ["root"], 0, 0, False, True, None,
                             display_name="root", path="auth/token/root"))

    def clear_kv_acl(self):
        """KV mounts beyond secret/ and the ACL policies (static caching tests)."""
        self.policies = {}            # name -> {path glob: [capabilities]}
        self.kv_mounts = {"secret": 2, "kv": 1}
        self.kv_stores = {"secret": self.kv, "kv": {}}
        self.kv_mount_type = True

    def kv_mount_of(self, p):
        """(mount, version, rest) of the KV mount p is under, else (None, 0, "")."""
        best = None
        for mount in self.kv_mounts:
            if (p == mount or p.startswith(mount + "/")) and (best is None or len(mount) > len(best)):
                best = mount
        if best is None:
            return None, 0, ""
        return best, self.kv_mounts[best], p[len(best) + 1:]

    def acl_active(self, tok):
        return bool(self.policies) and "root" not in tok.policies

    def capabilities(self, tok, path):
        """Vault's capabilities of tok on path, as capabilities-self answers them."""
        if "root" in tok.policies:
            return ["root"]
        if not self.policies:
            return ["create", "delete", "list", "patch", "read", "update"]
        caps = set()
        for name in tok.policies:
            for rule, rcaps in (self.policies.get(name) or {}).items():
                if acl_rule_matches(rule, path):
                    caps.update(rcaps)
        if "deny" in caps:
            return ["deny"]
        return sorted(caps) or ["deny"]

    def clear_log(self):
        self.requests = []
        self.stats = {}
        self.fail_rules = []
        self.delay_rules = []

    # tokens ---------------------------------------------------------------

    def add_token(self, tok):
        self.tokens[tok.id] = tok
        self.accessors[tok.accessor] = tok.id
        return tok

    def revoke_token(self, tid, orphan_children=False):
        """Revoke a token, its leases and (unless orphan_children) its whole subtree."""
        tok = self.tokens.pop(tid, None)
        if tok is None:
            return
        self.accessors.pop(tok.accessor, None)
        for lid in [l.id for l in self.leases.values() if l.token == tid]:
            del self.leases[lid]
        for child in [c for c in self.tokens.values() if c.parent == tid]:
            if orphan_children:
                child.parent, child.orphan = None, True
            else:
                self.revoke_token(child.id)

    def sweep(self, t):
        """Drop expired tokens (with their subtrees) and leases; called on every request."""
        for tid in [k for k, v in self.tokens.items() if v.expires is not None and t >= v.expires]:
            self.revoke_token(tid)
        for lid in [k for k, v in self.leases.items() if t >= v.expires]:
            del self.leases[lid]
        for wt in [k for k, v in self.wraps.items() if t >= v["expires"]]:
            del self.wraps[wt]

    # response wrapping ----------------------------------------------------

    def wrap(self, response, creation_path, ttl, t, wrapped_accessor=""):
        """Keep `response` behind a new single-use wrapping token; returns the wrap answer."""
        info = {"token": "hvs." + rand_id(), "accessor": rand_id(), "ttl": int(ttl),
                "creation_time": rfc3339(t), "creation_path": creation_path,
                "wrapped_accessor": wrapped_accessor or ""}
        self.wraps[info["token"]] = {"info": info, "response": response, "expires": t + ttl}
        out = envelope()
        out["wrap_info"] = info
        return out

    def wrapped(self, token, t):
        w = self.wraps.get(token or "")
        if w is None or t >= w["expires"]:
            self.wraps.pop(token or "", None)
            raise ApiError(400, "wrapping token is not valid or does not exist")
        return w

    # auth method roles ----------------------------------------------------

    @staticmethod
    def token_options(body, old=None):
        """ttl/max_ttl/renewable/policies of a role, from token_* or the short names."""
        old = old or {"ttl": 3600, "max_ttl": 0, "renewable": True, "policies": ["default"]}
        def pick(*keys):
            for k in keys:
                if body.get(k) is not None:
                    return body[k]
            return None
        ttl = pick("token_ttl", "ttl")
        max_ttl = pick("token_max_ttl", "max_ttl")
        renewable = pick("token_renewable", "renewable")
        return {"ttl": old["ttl"] if ttl is None else parse_duration(ttl, "token_ttl"),
                "max_ttl": old["max_ttl"] if max_ttl is None
                else parse_duration(max_ttl, "token_max_ttl"),
                "renewable": old["renewable"] if renewable is None else truthy(renewable)
                if isinstance(renewable, str) else bool(renewable),
                "policies": pick("token_policies", "policies") or old["policies"]}

    def login_token(self, opts, path, display_name, meta, t):
        return self.add_token(Token("hvs." + rand_id(), opts["policies"], opts["ttl"],
                                    opts["max_ttl"], opts["renewable"], True, None,
                                    path=path, display_name=display_name, meta=meta, t=t))

    def approle_by_name(self, name):
        found = None
        for role in self.approles.values():
            if role["role_name"] == name:
                found = role  # the last registered wins
        return found

    def new_secret_id(self, role, secret_id=None, num_uses=None):
        sid = secret_id or str(uuid.uuid4())
        uses = role["secret_id_num_uses"] if num_uses is None else int(num_uses)
        role["secret_ids"][sid] = {"uses": uses, "accessor": str(uuid.uuid4())}
        return sid

    def new_token(self, parent, body, t, orphan=False, path="auth/token/create"):
        ttl = parse_duration(body.get("ttl"), "ttl") or DEFAULT_TOKEN_TTL
        max_ttl = parse_duration(body.get("explicit_max_ttl"), "explicit_max_ttl")
        policies = body.get("policies") or (parent.policies if parent else ["default"])
        orphan = orphan or bool(body.get("no_parent"))
        tid = body.get("id") or "hvs." + rand_id()
        if tid in self.tokens:
            raise ApiError(400, "cannot create a token with a duplicate ID")
        name = body.get("display_name")
        return self.add_token(Token(
            tid, policies, ttl, max_ttl, bool(body.get("renewable", True)), orphan,
            None if orphan or parent is None else parent.id, int(body.get("num_uses") or 0),
            "token-" + name if name else "token", path, body.get("meta"), t))

    def renew_token(self, tok, increment, t):
        if not tok.renewable:
            raise ApiError(400, "lease is not renewable")
        ttl = increment if increment > 0 else tok.creation_ttl
        warnings = None
        new_exp = t + ttl
        if tok.max_expires is not None and new_exp > tok.max_expires:
            new_exp = tok.max_expires
            warnings = ["TTL of %ds exceeded the effective max_ttl of %ds; TTL value is capped "
                        "accordingly" % (ttl, max(0, math.ceil(new_exp - t)))]
        tok.expires = new_exp
        tok.last_renewal = t
        tok.renewals += 1
        return warnings

    # leases ---------------------------------------------------------------

    def renew_lease(self, lid, increment, t):
        lease = self.leases.get(lid)
        if lease is None:
            raise ApiError(400, "lease not found")
        dur = increment if increment > 0 else self.lease_duration
        new_exp = t + dur
        if lease.max_expires is not None and new_exp > lease.max_expires:
            new_exp = lease.max_expires
        lease.expires = new_exp
        lease.duration = max(0, math.ceil(new_exp - t))
        lease.last_renewal = t
        lease.renewals += 1
        return lease

    def revoke_lease_prefix(self, prefix):
        for lid in [k for k in self.leases if k.startswith(prefix)]:
            del self.leases[lid]

    # consistency ----------------------------------------------------------

    def index_header(self, wrote):
        """Current X-Vault-Index; a lagging standby reports what it has applied."""
        idx = self.local_index if wrote else self.applied_index
        return index_state(idx, idx)

    def record_write(self):
        self.local_index += 1
        if self.cons_lag == 0:
            self.applied_index = self.local_index

    def snapshot(self, t):
        return {
            "tokens": [{"id": k.id, "accessor": k.accessor, "policies": k.policies,
                        "ttl": k.remaining(t), "renewable": k.renewable, "orphan": k.orphan,
                        "parent": k.parent, "num_uses": k.num_uses, "renewals": k.renewals}
                       for k in self.tokens.values()],
            "leases": [{"id": l.id, "token": l.token, "ttl": max(0, math.ceil(l.expires - t)),
                        "renewals": l.renewals} for l in self.leases.values()],
            "kv": sorted(self.kv),
            "consistency": self.consistency_info(),
            "wraps": [{"token": k, "creation_path": w["info"]["creation_path"],
                       "ttl": max(0, math.ceil(w["expires"] - t))} for k, w in self.wraps.items()],
            "approles": [{"role_id": r["role_id"], "role_name": r["role_name"],
                          "bind_secret_id": r["bind_secret_id"], "secret_ids": len(r["secret_ids"]),
                          "logins": r["logins"]} for r in self.approles.values()],
            "kubernetes_roles": [{"role": k, "jwts": len(r["jwts"]), "logins": r["logins"]}
                                 for k, r in self.kube_roles.items()],
            "cert_roles": [{"name": r["name"], "cn": r["cn"], "fingerprint": r["fingerprint"],
                            "logins": r["logins"]} for r in self.cert_roles],
            "auth_mounts": dict(self.auth_mounts),
        }

    def consistency_info(self):
        return {"enabled": self.cons_enabled, "lag": self.cons_lag, "local_index": self.local_index,
                "applied_index": self.applied_index, "forwarded": self.forwarded}


# --------------------------------------------------------------------------
# request handling

class Request:
    """What the handler parsed from the wire, in a shape the routes can use."""

    def __init__(self, method, raw_path, headers, body, peer_cert=None):
        self.peer_cert = peer_cert  # {"cn", "sha256"} of a verified client certificate
        self.method = method
        self.raw_path = raw_path
        target = raw_path
        if "://" in target.split("?", 1)[0]:  # absolute-form: drop scheme and authority
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        path, _, self.query_string = target.partition("?")
        self.wire_path = path
        self.path = unquote(path)
        self.query = parse_qs(self.query_string, keep_blank_values=True)
        self.headers = headers  # [(name, value)] in wire order, original case
        self.body = body

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def token(self):
        tok = self.header("X-Vault-Token")
        if not tok:
            auth = self.header("Authorization") or ""
            if auth[:7].lower() == "bearer ":
                tok = auth[7:].strip()
        return tok or None

    def json(self):
        if not self.body.strip():
            return {}
        try:
            obj = json.loads(self.body)
        except ValueError as e:
            raise ApiError(400, f"failed to parse JSON input: {e}")
        if not isinstance(obj, dict):
            raise ApiError(400, "failed to parse JSON input: not a JSON object")
        return obj

    def json_any(self):
        """The body as any JSON value (unwrap clients send `null`); empty -> None."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise ApiError(400, f"failed to parse JSON input: {e}")

    def operation(self):
        m = self.method
        if m == "LIST" or (m in ("GET", "HEAD") and truthy((self.query.get("list") or [""])[0])):
            return "list"
        return {"GET": "read", "HEAD": "read", "POST": "write", "PUT": "write",
                "DELETE": "delete", "PATCH": "patch"}.get(m, "unsupported")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vaultsim/1"
    timeout = 300  # idle keep-alive connections are eventually dropped

    def setup(self):
        # Headers and body leave in separate writes; without TCP_NODELAY the
        # second one waits for a delayed ACK (40 ms per request).
        try:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        ctx = self.server.ssl_ctx
        if ctx is not None:
            # Handshake here, in the connection's own thread, so a silent
            # client cannot stall the accept loop.
            self.request.settimeout(10)
            self.request = ctx.wrap_socket(self.request, server_side=True)
        self.peer_cert = self._peer_cert()
        super().setup()

    def _peer_cert(self):
        """{"cn", "sha256"} of the client certificate this connection presented, or None.

        Only asked for with --tls-client-ca, and then already verified
        against that file by the handshake."""
        if not isinstance(self.request, ssl.SSLSocket):
            return None
        try:
            der = self.request.getpeercert(binary_form=True)
            info = self.request.getpeercert() or {}
        except (ValueError, ssl.SSLError):
            return None
        if not der:
            return None
        cn = None
        for rdn in info.get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    cn = v
        return {"cn": cn, "sha256": hashlib.sha256(der).hexdigest()}

    def __getattr__(self, name):
        # http.server looks up do_<METHOD>; one dispatcher serves every
        # method, so LIST, PATCH and invented methods all reach the routes.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        pass  # one line per request is written by _log_line instead

    def send_error(self, code, message=None, explain=None):
        # Called by http.server for malformed requests; keep the answers JSON.
        # An unparsable request line leaves request_version at HTTP/0.9, which
        # would suppress the status line; nobody speaks 0.9, so answer in 1.1.
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.1"
        self.close_connection = True
        self._send(code, {"errors": [message or self.responses.get(code, ("error",))[0]]})

    # -- wire helpers --------------------------------------------------------

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length)

    def _send(self, status, payload, headers=()):
        if payload is None:
            body = b""
        elif isinstance(payload, bytes):
            body = payload
        else:
            # Compact, newline-terminated: what Vault's Go encoder emits.
            body = (json.dumps(payload, separators=(",", ":")) + "\n").encode()
        self.send_response(status)
        # Vault sends application/json even on 204 (the proxy relies on it).
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        for k, v in headers:
            self.send_header(k, v)
        no_body = status in (204, 304) or status < 200
        if not no_body:  # RFC 9110 forbids Content-Length on 204/1xx
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not no_body and self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _log_line(self, req, status, t0):
        log = self.server.log
        if log is None:
            return
        # Path only (never the query or headers): keeps tokens out of the log.
        line = "%s %s:%s %s %s -> %s %.1fms\n" % (
            rfc3339(t0), self.client_address[0], self.client_address[1], req.method,
            req.wire_path, status, (time.time() - t0) * 1000)
        with self.server.log_lock:
            log.write(line)
            log.flush()

    # -- dispatch ------------------------------------------------------------

    def _dispatch(self):
        t0 = time.time()
        st = self.server.state
        try:
            body = self._read_body()
        except ValueError:
            return self.send_error(400, "bad request body framing")
        # self.path may have been rewritten by http.server ('//x' -> '/x');
        # the request line holds the target exactly as the client sent it.
        raw_path = self.requestline.split()[1]
        req = Request(self.command, raw_path, list(self.headers.items()), body, self.peer_cert)
        if req.path.startswith("/v1/sys/events/subscribe/"):
            return serve_event_stream(self, req, t0)

        if req.path.startswith("/_sim/"):
            try:
                status, payload = self._control(req)
            except ApiError as e:
                status, payload = e.status, {"errors": e.errors}
            self._send(status, payload)
            return self._log_line(req, status, t0)

        rec = {"seq": 0, "time": t0, "peer": "%s:%s" % self.client_address[:2],
               "method": req.method, "path": req.path,
               "raw_path": raw_path, "headers": [[k, v] for k, v in req.headers],
               "body": body.decode("utf-8", "replace"), "token": req.token(),
               "status": None, "forwarded": False,
               "client_cert": self.peer_cert is not None,
               "client_cn": self.peer_cert["cn"] if self.peer_cert else None}
        with st.lock:
            rec["seq"] = len(st.requests) + 1
            st.requests.append(rec)
            st.stats[req.path] = st.stats.get(req.path, 0) + 1
            delay = self._take_rule(st.delay_rules, req)
            fail = self._take_rule(st.fail_rules, req)
        if delay:
            time.sleep(delay["ms"] / 1000.0)
        if fail:
            if int(fail.get("status", 500)) == 0:
                # Simulate a dead upstream: drop the connection without a byte.
                self.close_connection = True
                rec["status"] = 0
                return self._log_line(req, 0, t0)
            status = int(fail["status"])
            rec["status"] = status  # before answering: the client may read the log next
            payload = fail.get("body", {"errors": ["sim injected failure"]})
            self._send(status, payload, list((fail.get("headers") or {}).items()))
            return self._log_line(req, status, t0)

        extra = []
        try:
            status, payload, extra = self._route(req, rec)
        except ApiError as e:
            status, payload = e.status, {"errors": e.errors}
        except Exception:  # a simulator bug should be visible, not a hang
            status, payload = 500, {"errors": ["sim internal error: " + traceback.format_exc()]}
        rec["status"] = status  # before answering: the client may read the log next
        self._send(status, payload, extra)
        self._log_line(req, status, t0)

    @staticmethod
    def _take_rule(rules, req):
        """Pop one use of the first rule whose prefix (and method, if given) matches."""
        for rule in rules:
            if not req.path.startswith(rule.get("path_prefix") or ""):
                continue
            if rule.get("method") and rule["method"].upper() != req.method:
                continue
            if rule.get("count") is not None and rule["count"] >= 0:
                rule["count"] -= 1
                if rule["count"] <= 0:
                    rules.remove(rule)
            return rule
        return None

    def _route(self, req, rec):
        """Returns (status, payload, extra_headers) for a /v1/ request."""
        st = self.server.state
        if not req.path.startswith("/v1/"):
            return 404, {"errors": []}, []
        p = req.path[4:]
        if p.startswith("sim/"):
            return self._sim_endpoint(req, p[4:])

        with st.lock:
            # Consistency emulation applies to the whole Vault API except health.
            cons = st.cons_enabled and p != "sys/health"
            wrote = False
            try:
                wrap_ttl = req.header("X-Vault-Wrap-TTL")
                # Health is not a logical request: Vault never wraps it.
                wrap_ttl = parse_wrap_ttl(wrap_ttl) if wrap_ttl and p != "sys/health" else 0
                if cons:
                    self._check_consistency(req, rec)  # may raise 412
                t = time.time()
                status, payload = Routes(st, req, t).dispatch(p)
                if (wrap_ttl > 0 and status == 200 and isinstance(payload, dict)
                        and p != "sys/wrapping/wrap"):
                    # Any answer can be response-wrapped, logins included.
                    acc = (payload.get("auth") or {}).get("accessor", "")
                    payload = st.wrap(payload, p, wrap_ttl, t, acc)
            except ApiError as e:
                status, payload = e.status, {"errors": e.errors}
            else:
                wrote = (st.kv_mount_of(p)[0] is not None and status < 400
                         and req.method in ("POST", "PUT", "DELETE", "PATCH"))
                if wrote and cons:
                    st.record_write()
                if wrote:
                    self.server.events.publish_kv(req.method, p)
            extra = [("X-Vault-Index", st.index_header(wrote))] if cons else []
            return status, payload, extra

    def _check_consistency(self, req, rec):
        """Emulate a performance standby that lags `lag` requests behind."""
        st = self.server.state
        wanted = [s for s in map(parse_index_state, req.header_all("X-Vault-Index"))
                  if s and s[0] == CLUSTER_ID]
        if not wanted or st.cons_lag <= 0:
            return
        if max(s[1] for s in wanted) <= st.applied_index:
            return
        st.cons_lag -= 1
        if st.cons_lag == 0:
            st.applied_index = st.local_index  # caught up
        if (req.header("X-Vault-Inconsistent") or "").strip() == "forward-active-node":
            st.forwarded += 1
            rec["forwarded"] = True
            return
        raise ApiError(412, "required index state not present")

    def _sim_endpoint(self, req, rest):
        """Unauthenticated test helpers under /v1/sim/."""
        kind, _, arg = rest.partition("/")
        if kind == "echo":
            return 200, {"method": req.method, "path": req.wire_path, "raw_path": req.raw_path,
                         "query": req.query_string, "headers": [[k, v] for k, v in req.headers],
                         "body": req.body.decode("utf-8", "replace")}, []
        try:
            n = int(arg.split("/")[0])
        except ValueError:
            raise ApiError(400, f"sim/{kind} needs a number")
        if kind == "status":
            code = min(max(n, 200), 599)
            extra = [("X-Sim", "yes")]
            loc = req.query.get("location")
            if loc:
                extra.append(("Location", loc[0]))
            return code, {"errors": [f"sim status {code}"]}, extra
        if kind == "slow":
            time.sleep(min(n, 120000) / 1000.0)
            return 200, {"slept": n}, []
        if kind == "big":
            pad = max(0, min(n, 256 << 20) - 12)  # 12 = len('{"data":""}\n')
            return 200, b'{"data":"' + b"x" * pad + b'"}\n', []
        raise ApiError(404, f"unknown sim endpoint {kind!r}")

    # -- control API ---------------------------------------------------------

    def _control(self, req):
        st = self.server.state
        name = req.path[len("/_sim/"):].strip("/")
        body = req.json() if req.method in ("POST", "PUT") else {}
        t = time.time()
        if name == "events":
            return events_control(self.server.events, req, body)
        with st.lock:
            if name == "requests":
                prefix = (req.query.get("path_prefix") or [""])[0]
                return 200, [r for r in st.requests if r["path"].startswith(prefix)]
            if name == "stats":
                return 200, {"total": sum(st.stats.values()), "paths": dict(st.stats)}
            if name == "state":
                st.sweep(t)
                return 200, st.snapshot(t)
            if name == "consistency" and req.method == "GET":
                return 200, st.consistency_info()
            if req.method not in ("POST", "PUT"):
                raise ApiError(405, "control endpoints other than requests/stats/state need POST")
            if name == "reset":
                if body.get("all"):
                    st.clear_all()
                st.clear_log()
                return 200, {"ok": True}
            if name == "fail":
                if int(body.get("count", 1)) == 0:
                    return 200, {"ok": True}  # zero uses: nothing to inject
                rule = {"count": int(body.get("count", 1)), "status": int(body.get("status", 500)),
                        "path_prefix": body.get("path_prefix", "/v1/"), "method": body.get("method"),
                        "headers": body.get("headers")}
                if "body" in body:
                    rule["body"] = body["body"]
                st.fail_rules.append(rule)
                return 200, {"ok": True}
            if name == "delay":
                count = body.get("count")
                st.delay_rules.append({"ms": int(body.get("ms", 0)),
                                       "path_prefix": body.get("path_prefix", "/v1/"),
                                       "method": body.get("method"),
                                       "count": None if count is None else int(count)})
                return 200, {"ok": True}
            if name == "token":
                tok = st.add_token(Token(
                    body.get("id") or "hvs." + rand_id(), body.get("policies") or ["default"],
                    int(body.get("ttl", 3600)), int(body.get("max_ttl", 0)),
                    bool(body.get("renewable", True)), bool(body.get("orphan", True)), None,
                    int(body.get("num_uses", 0)), body.get("display_name", "token")))
                return 200, {"id": tok.id, "accessor": tok.accessor}
            if name == "revoke":
                st.revoke_token(body.get("id", ""))
                return 200, {"ok": True}
            if name == "consistency":
                if "enabled" in body:
                    st.cons_enabled = bool(body["enabled"])
                if "lag" in body:
                    # A lag starting now freezes what the standby "has applied".
                    st.cons_lag = max(0, int(body["lag"]))
                    if st.cons_lag == 0:
                        st.applied_index = st.local_index
                if "applied" in body:
                    st.applied_index = int(body["applied"])
                return 200, st.consistency_info()
            if name == "lease_duration":
                st.lease_duration = int(body.get("seconds", st.lease_duration))
                st.lease_max_ttl = int(body.get("max_ttl", st.lease_max_ttl))
                return 200, {"seconds": st.lease_duration, "max_ttl": st.lease_max_ttl}
            if name == "approle":
                # Creates (or replaces) a role with one secret id.
                role = {"role_id": body.get("role_id") or str(uuid.uuid4()),
                        "role_name": body.get("role_name", "sim"),
                        "bind_secret_id": bool(body.get("bind_secret_id", True)),
                        "secret_id_num_uses": int(body.get("secret_id_num_uses", 0)),
                        "secret_ids": {}, "logins": 0}
                role.update(st.token_options(body))
                st.approles[role["role_id"]] = role
                sid = st.new_secret_id(role, body.get("secret_id") or rand_id())
                out = {"role_id": role["role_id"], "secret_id": sid,
                       "role_name": role["role_name"]}
                return 200, self._maybe_wrap(st, body, role, sid, out, t)
            if name == "approle/secret-id":
                role = (st.approles.get(body.get("role_id") or "")
                        or st.approle_by_name(body.get("role_name") or ""))
                if role is None:
                    raise ApiError(404, "no such approle role")
                sid = st.new_secret_id(role, body.get("secret_id"), body.get("num_uses"))
                out = {"role_id": role["role_id"], "secret_id": sid,
                       "secret_id_accessor": role["secret_ids"][sid]["accessor"]}
                return 200, self._maybe_wrap(st, body, role, sid, out, t)
            if name == "jwt":
                return control_jwt(st, body)
            if name == "kubernetes":
                role_name = body.get("role")
                if not role_name:
                    raise ApiError(400, "missing role")
                old = st.kube_roles.get(role_name)
                if old is None or body.get("replace"):
                    old = dict(st.token_options({}), jwts=[], logins=0)
                role = dict(old, **st.token_options(body, old))
                jwts = list(body.get("jwts") or []) + ([body["jwt"]] if body.get("jwt") else [])
                role["jwts"] = old["jwts"] + [j for j in jwts if j not in old["jwts"]]
                st.kube_roles[role_name] = role
                return 200, {"role": role_name, "jwts": role["jwts"]}
            if name == "cert":
                if not body.get("name"):
                    raise ApiError(400, "missing name")
                fp = (body.get("fingerprint") or "").replace(":", "").lower() or None
                role = {"name": body["name"], "cn": body.get("cn") or None, "fingerprint": fp,
                        "logins": 0}
                role.update(st.token_options(body))
                st.cert_roles = [r for r in st.cert_roles if r["name"] != role["name"]] + [role]
                return 200, {"name": role["name"], "cn": role["cn"], "fingerprint": fp}
            if name == "userpass":
                if not body.get("username") or not body.get("password"):
                    raise ApiError(400, "userpass needs username and password")
                user = {"password": body["password"], "logins": 0}
                user.update(st.token_options(body))
                st.userpass[body["username"].lower()] = user  # Vault lower-cases names
                return 200, {"username": body["username"].lower()}
            if name == "mount":
                path = (body.get("path") or "").strip("/")
                if not path.startswith("auth/") or body.get("type") not in (
                        "approle", "kubernetes", "cert", "userpass"):
                    raise ApiError(400, "mount needs path auth/... and type approle, "
                                        "kubernetes, cert or userpass")
                st.auth_mounts[path] = body["type"]
                return 200, {"mounts": dict(st.auth_mounts)}
            if name in ("policy", "token_policies", "kv_mount", "kv_mount_type"):
                return self._control_kv_acl(st, name, body)
            if name == "wrap":
                ttl = parse_duration(body.get("ttl", 300), "ttl") or 300
                return 200, st.wrap(envelope(body.get("data") or {}),
                                    body.get("creation_path") or "sys/wrapping/wrap", ttl, t)
        raise ApiError(404, f"unknown control endpoint {name!r}")

    @staticmethod
    def _control_kv_acl(st, name, body):
        """The static secret caching controls: policies, KV mounts, mount_type."""
        if name == "policy":
            if not body.get("name"):
                raise ApiError(400, "policy needs a name")
            if body.get("rules") is None:
                st.policies.pop(body["name"], None)
            else:
                st.policies[body["name"]] = {k: list(v) for k, v in body["rules"].items()}
            return 200, {"policies": sorted(st.policies)}
        if name == "token_policies":
            tok = st.tokens.get(body.get("id") or "")
            if tok is None:
                raise ApiError(404, "no such token")
            tok.policies = list(body.get("policies") or [])
            return 200, {"id": tok.id, "policies": tok.policies}
        if name == "kv_mount":
            path = (body.get("path") or "").strip("/")
            version = int(body.get("version", 2))
            if not path or version not in (1, 2):
                raise ApiError(400, "kv_mount needs a path and version 1 or 2")
            st.kv_mounts[path] = version
            st.kv_stores.setdefault(path, {})
            return 200, {"kv_mounts": dict(st.kv_mounts)}
        st.kv_mount_type = bool(body.get("enabled", True))
        return 200, {"enabled": st.kv_mount_type}

    @staticmethod
    def _maybe_wrap(st, body, role, sid, out, t):
        """With "wrap": the secret id also comes wrapped, as Vault's role API would."""
        if not body.get("wrap"):
            return out
        ttl = parse_duration(body.get("wrap_ttl", 300), "wrap_ttl") or 300
        entry = role["secret_ids"][sid]
        answer = envelope({"secret_id": sid, "secret_id_accessor": entry["accessor"],
                           "secret_id_ttl": 0, "secret_id_num_uses": entry["uses"]})
        wrapped = st.wrap(answer, "auth/approle/role/%s/secret-id" % role["role_name"], ttl, t)
        return dict(out, wrap_info=wrapped["wrap_info"],
                    wrapping_token=wrapped["wrap_info"]["token"])


def control_jwt(st, body):
    """Control "jwt": {role, jwt|jwts, token options, replace} adds JWTs a
    jwt role accepts; answers the role with its logins and the JWTs
    used, in order."""
    role_name = body.get("role")
    if not role_name:
        raise ApiError(400, "missing role")
    old = st.jwt_roles.get(role_name)
    if old is None or body.get("replace"):
        old = dict(st.token_options({}), jwts=[], logins=0, used=[])
    role = dict(old, **st.token_options(body, old))
    jwts = list(body.get("jwts") or []) + ([body["jwt"]] if body.get("jwt") else [])
    role["jwts"] = old["jwts"] + [j for j in jwts if j not in old["jwts"]]
    st.jwt_roles[role_name] = role
    return 200, {"role": role_name, "jwts": role["jwts"], "logins": role["logins"],
                 "used": role["used"]}


class Routes:
    """The Vault API proper.  Runs with the state lock held."""

    def __init__(self, st, req, t):
        self.st, self.req, self.t = st, req, t
        self.op = req.operation()

    def dispatch(self, p):
        st = self.st
        st.sweep(self.t)
        if p == "sys/health":
            return self.health()
        if p.startswith("sys/internal/ui/mounts/"):
            return self.ui_mount(p)
        if p in ("sys/wrapping/lookup", "sys/wrapping/unwrap"):
            return self.wrapping(p[len("sys/wrapping/"):])
        mount, kind, rest = self.auth_mount(p)
        if kind is not None and (rest == "login" or rest.startswith("login/")):
            # Login paths ignore X-Vault-Token: real clients send stale ones.
            self.need("write")
            return getattr(self, kind + "_login")(mount)
        self.tok = self.authenticate()
        if p == "sys/wrapping/wrap":
            self.need("write")
            return 200, self.st.wrap(envelope(self.req.json()), p,
                                     parse_wrap_ttl(self.req.header("X-Vault-Wrap-TTL") or "300"),
                                     self.t)
        if kind == "approle" and rest.startswith("role/"):
            return self.approle_role_api(mount, rest[len("role/"):])
        if p.startswith("auth/token/"):
            return self.token_api(p[len("auth/token/"):])
        if p == "sys/capabilities-self":
            return self.capabilities_self()
        mount, version, rest = self.st.kv_mount_of(p)
        if mount is not None:
            return self.kv_mount_route(mount, version, rest)
        if p.startswith("database/creds/") and self.op == "read":
            return self.db_creds(p[len("database/creds/"):])
        if p.startswith("pki/issue/"):
            return self.pki_issue(p[len("pki/issue/"):])
        if p.startswith("kv/"):
            return self.kv_v1(p[len("kv/"):])
        if p.startswith("sys/leases/") or p.startswith("sys/renew") or p.startswith("sys/revoke"):
            return self.leases(p[len("sys/"):])
        raise ApiError(404, f'no handler for route "{p}". route entry not found.')

    def need(self, *ops):
        if self.op not in ops:
            raise ApiError(405, "unsupported operation")

    def authenticate(self):
        tid = self.req.token()
        if tid is None:
            raise permission_denied()
        tok = self.st.tokens.get(tid)
        if tok is None:
            raise permission_denied(invalid=True)
        if tok.num_uses > 0:
            tok.num_uses -= 1
            if tok.num_uses == 0:
                self.st.revoke_token(tid)  # this request is its last use
        return tok

    # -- sys ---------------------------------------------------------------

    def health(self):
        return 200, {"initialized": True, "sealed": False, "standby": False,
                     "performance_standby": False, "replication_performance_mode": "disabled",
                     "replication_dr_mode": "disabled", "server_time_utc": int(self.t),
                     "version": "1.15.0-sim", "cluster_name": "sim", "cluster_id": CLUSTER_ID}

    def ui_mount(self, p):
        # Clients (vault kv, the MariaDB plugin, vaproxyd's static cache)
        # probe this to learn a path's mount and KV version.
        mount, version, _ = self.st.kv_mount_of(p[len("sys/internal/ui/mounts/"):])
        if mount is not None:
            return 200, envelope({"type": "kv", "path": mount + "/",
                                  "options": {"version": str(version)},
                                  "description": "sim kv", "config": {}})
        mount = p[len("sys/internal/ui/mounts/"):].split("/")[0]
        if mount != "secret":
            raise ApiError(400, f"preflight capability check returned 403, please ensure client's "
                                f"policies grant access to path \"{mount}/\"")
        return 200, envelope({"type": "kv", "path": "secret/", "options": {"version": "2"},
                              "description": "sim kv", "config": {}})

    # -- auth --------------------------------------------------------------

    def auth_mount(self, p):
        """(mount, type, rest of the path) of an auth mount p is under, else (None, None, "")."""
        for mount, kind in self.st.auth_mounts.items():
            if p.startswith(mount + "/"):
                return mount, kind, p[len(mount) + 1:]
        return None, None, ""

    def wrapping(self, op):
        body = self.req.json_any()
        token = (body.get("token") if isinstance(body, dict) else None) or self.req.token()
        if op == "lookup":
            self.need("read", "write")
            info = self.st.wrapped(token, self.t)["info"]
            return 200, envelope({"creation_path": info["creation_path"],
                                  "creation_ttl": info["ttl"],
                                  "creation_time": info["creation_time"]})
        self.need("write")
        w = self.st.wrapped(token, self.t)
        del self.st.wraps[token]  # single use
        return 200, w["response"]

    def approle_login(self, mount):
        body = self.req.json()
        if not body.get("role_id"):
            raise ApiError(400, "missing role_id")
        role = self.st.approles.get(body["role_id"])
        if role is None:
            raise ApiError(400, "invalid role or secret ID")
        if role["bind_secret_id"]:
            sid = body.get("secret_id")
            if not sid:
                raise ApiError(400, "missing secret_id")
            entry = role["secret_ids"].get(sid)
            if entry is None:
                raise ApiError(400, "invalid role or secret ID")
            if entry["uses"] > 0:
                entry["uses"] -= 1
                if entry["uses"] == 0:
                    del role["secret_ids"][sid]  # used up
        role["logins"] += 1
        tok = self.st.login_token(role, mount + "/login", "approle",
                                  {"role_name": role["role_name"]}, self.t)
        return 200, envelope(auth=tok.auth_block(self.t))

    def approle_role_api(self, mount, rest):
        name, _, what = rest.partition("/")
        role = self.st.approle_by_name(name)
        if role is None:
            raise ApiError(404, f"role {name!r} does not exist")
        if what == "role-id":
            self.need("read")
            return 200, envelope({"role_id": role["role_id"]})
        if what == "secret-id":
            self.need("write")
            body = self.req.json()
            sid = self.st.new_secret_id(role, None, body.get("num_uses"))
            entry = role["secret_ids"][sid]
            return 200, envelope({"secret_id": sid, "secret_id_accessor": entry["accessor"],
                                  "secret_id_ttl": 0, "secret_id_num_uses": entry["uses"]})
        raise ApiError(404, f'no handler for route "{mount}/role/{rest}". route entry not found.')

    def jwt_login(self, mount):
        """Vault's jwt auth method, reduced to what the sim needs: the role
        must exist and accept exactly this JWT (no signature checks); a JWT
        it does not accept is refused with 400, as Vault does for one it
        cannot validate."""
        body = self.req.json()
        if not body.get("role"):
            raise ApiError(400, "missing role")
        if not body.get("jwt"):
            raise ApiError(400, "missing token")
        role = self.st.jwt_roles.get(body["role"])
        if role is None:
            raise ApiError(400, f'role "{body["role"]}" could not be found')
        if body["jwt"] not in role["jwts"]:
            raise ApiError(400, "error validating token: invalid signature")
        role["logins"] += 1
        role["used"].append(body["jwt"])
        tok = self.st.login_token(role, mount + "/login", "jwt-" + body["role"],
                                  {"role": body["role"]}, self.t)
        return 200, envelope(auth=tok.auth_block(self.t))

    def kubernetes_login(self, mount):
        body = self.req.json()
        if not body.get("role"):
            raise ApiError(400, "missing role")
        if not body.get("jwt"):
            raise ApiError(400, "missing jwt")
        role = self.st.kube_roles.get(body["role"])
        if role is None or body["jwt"] not in role["jwts"]:
            raise permission_denied()
        role["logins"] += 1
        tok = self.st.login_token(role, mount + "/login", "kubernetes-sim",
                                  {"role": body["role"], "service_account_name": "sim",
                                   "service_account_namespace": "default"}, self.t)
        return 200, envelope(auth=tok.auth_block(self.t))

    def cert_login(self, mount):
        body = self.req.json()
        peer = self.req.peer_cert
        if peer is None:
            raise ApiError(400, "client certificate must be supplied")
        name = body.get("name") or None
        for role in self.st.cert_roles:
            if name is not None and role["name"] != name:
                continue
            if role["cn"] is not None and role["cn"] != peer["cn"]:
                continue
            if role["fingerprint"] is not None and role["fingerprint"] != peer["sha256"]:
                continue
            role["logins"] += 1
            tok = self.st.login_token(role, mount + "/login", "cert-" + role["name"],
                                      {"cert_name": role["name"], "common_name": peer["cn"]},
                                      self.t)
            return 200, envelope(auth=tok.auth_block(self.t))
        raise permission_denied()

    def userpass_login(self, mount):
        # PUT <mount>/login/<username> {"password"}: the user is in the path.
        name = self.req.path[len("/v1/" + mount + "/login/"):].lower()
        password = self.req.json().get("password")
        if not name or "/" in name or not password:
            raise ApiError(400, "missing username or password")
        user = self.st.userpass.get(name)
        if user is None or not hmac.compare_digest(str(password), user["password"]):
            raise ApiError(400, "invalid username or password")
        user["logins"] += 1
        tok = self.st.login_token(user, mount + "/login/" + name, "userpass-" + name,
                                  {"username": name}, self.t)
        return 200, envelope(auth=tok.auth_block(self.t))

    def token_api(self, op):
        st, t, body = self.st, self.t, None
        if self.op == "write":
            body = self.req.json()
        if op == "lookup-self":
            self.need("read", "write")
            return 200, envelope(self.tok.lookup_data(t))
        if op in ("lookup", "lookup-accessor"):
            self.need("write")
            if op == "lookup":
                target = st.tokens.get(body.get("token") or "")
            else:
                target = st.tokens.get(st.accessors.get(body.get("accessor") or "", ""))
            if target is None:
                raise ApiError(403, "bad token")
            data = target.lookup_data(t)
            if op == "lookup-accessor":
                data["id"] = ""
            return 200, envelope(data)
        if op in ("renew-self", "renew"):
            self.need("write")
            target = self.tok if op == "renew-self" else st.tokens.get(body.get("token") or "")
            if target is None:
                raise ApiError(400, "invalid token")
            warnings = st.renew_token(target, parse_duration(body.get("increment"), "increment"), t)
            return 200, envelope(auth=target.auth_block(t), warnings=warnings)
        if op in ("create", "create-orphan"):
            self.need("write")
            child = st.new_token(self.tok, body, t, orphan=(op == "create-orphan"),
                                 path="auth/token/" + op)
            return 200, envelope(auth=child.auth_block(t))
        if op in ("revoke", "revoke-orphan"):
            self.need("write")
            if not body.get("token"):
                raise ApiError(400, "missing token")
            st.revoke_token(body["token"], orphan_children=(op == "revoke-orphan"))
            return 204, None
        if op == "revoke-self":
            self.need("write")
            st.revoke_token(self.tok.id)
            return 204, None
        if op == "revoke-accessor":
            self.need("write")
            st.revoke_token(st.accessors.get(body.get("accessor") or "", ""))
            return 204, None
        raise ApiError(404, f'no handler for route "auth/token/{op}". route entry not found.')

    # -- KV v2 -------------------------------------------------------------

    # -- KV mounts, ACL and capabilities (static secret caching) -----------

    ACL_NEEDS = {"read": ("read",), "list": ("list",), "write": ("create", "update"),
                 "patch": ("patch", "update"), "delete": ("delete",)}

    def kv_mount_route(self, mount, version, rest):
        st = self.st
        path = mount + "/" + rest
        if st.acl_active(self.tok):
            caps = st.capabilities(self.tok, path)
            if "deny" in caps or not any(c in caps for c in self.ACL_NEEDS.get(self.op, ())):
                raise permission_denied()
        if version == 2:
            status, payload = self.kv(rest, st.kv_stores[mount], mount)
        else:
            status, payload = self.kv1(rest, st.kv_stores[mount], mount)
        if st.kv_mount_type and isinstance(payload, dict):
            payload["mount_type"] = "kv"
        return status, payload

    def kv1(self, path, store, mount):
        if self.op == "read":
            if path not in store:
                raise ApiError(404)
            return 200, envelope(store[path])
        if self.op == "list":
            prefix = path if path == "" or path.endswith("/") else path + "/"
            keys = {n[len(prefix):].partition("/")[0] + n[len(prefix):].partition("/")[1]
                    for n in store if n.startswith(prefix)}
            if not keys:
                raise ApiError(404)
            return 200, envelope({"keys": sorted(keys)})
        if self.op == "write":
            store[path] = self.req.json()
            return 204, None
        if self.op == "delete":
            store.pop(path, None)
            return 204, None
        self.need()

    def capabilities_self(self):
        self.need("write")
        body = self.req.json()
        paths = body.get("paths") or ([body["path"]] if body.get("path") else [])
        if isinstance(paths, str):
            paths = [paths]
        if not paths:
            raise ApiError(400, "'path' or 'paths' must be specified")
        out = {p: self.st.capabilities(self.tok, p) for p in paths}
        union = sorted({c for caps in out.values() for c in caps})
        data = dict(out, capabilities=union)
        answer = envelope(data)
        answer.update(data)  # Vault repeats the data at the top level
        return 200, answer

    def kv(self, rest, kv=None, mount="secret"):
        kind, _, path = rest.partition("/")
        kv, t = (self.st.kv if kv is None else kv), self.t
        sec = kv.get(path)
        if kind == "data":
            if self.op == "read":
                if sec is None or not sec.versions:
                    raise ApiError(404)
                try:
                    v = int((self.req.query.get("version") or ["0"])[0]) or sec.current
                except ValueError:
                    raise ApiError(400, "invalid version")
                ver = sec.versions.get(v)
                if ver is None:
                    raise ApiError(404)
                meta = sec.version_meta(v)
                if ver["deleted"] or ver["destroyed"]:
                    # Vault answers 404 but still shows the version's metadata.
                    return 404, envelope({"data": None, "metadata": meta})
                return 200, envelope({"data": ver["data"], "metadata": meta})
            if self.op in ("write", "patch"):
                body = self.req.json()
                data = body.get("data")
                if not isinstance(data, dict):
                    raise ApiError(400, "no data provided")
                cas = (body.get("options") or {}).get("cas")
                if cas is not None and int(cas) != (sec.current if sec else 0):
                    raise ApiError(400, "check-and-set parameter did not match the current version")
                if self.op == "patch":
                    live = sec and sec.versions.get(sec.current)
                    if not live or live["deleted"] or live["destroyed"]:
                        raise ApiError(404)
                    merged = dict(live["data"])
                    for k, v in data.items():
                        if v is None:
                            merged.pop(k, None)
                        else:
                            merged[k] = v
                    data = merged
                if sec is None:
                    sec = kv[path] = Secret()
                sec.current += 1
                sec.updated = t
                sec.versions[sec.current] = {"data": data, "created": t, "deleted": None,
                                             "destroyed": False}
                meta = sec.version_meta(sec.current)
                return 200, envelope(meta)
            if self.op == "delete":
                if sec and sec.current in sec.versions:
                    sec.versions[sec.current]["deleted"] = t
                return 204, None
            self.need()
        if kind in ("delete", "undelete", "destroy"):
            self.need("write")
            for v in self.req.json().get("versions") or []:
                ver = sec.versions.get(int(v)) if sec else None
                if ver is None:
                    continue
                if kind == "delete":
                    ver["deleted"] = ver["deleted"] or t
                elif kind == "undelete":
                    ver["deleted"] = None
                else:
                    ver["destroyed"], ver["data"] = True, None
            return 204, None
        if kind == "metadata":
            if self.op == "list":
                prefix = path if path == "" or path.endswith("/") else path + "/"
                keys = set()
                for name in kv:
                    if name.startswith(prefix):
                        head, sep, _ = name[len(prefix):].partition("/")
                        keys.add(head + sep)
                if not keys:
                    raise ApiError(404)
                return 200, envelope({"keys": sorted(keys)})
            if self.op == "read":
                if sec is None:
                    raise ApiError(404)
                versions = {str(v): {k: m[k] for k in ("created_time", "deletion_time", "destroyed")}
                            for v, m in ((v, sec.version_meta(v)) for v in sec.versions)}
                return 200, envelope({
                    "cas_required": False, "created_time": rfc3339(sec.created),
                    "current_version": sec.current, "custom_metadata": sec.custom_metadata,
                    "delete_version_after": "0s", "max_versions": 0,
                    "oldest_version": min(sec.versions) if sec.versions else 0,
                    "updated_time": rfc3339(sec.updated), "versions": versions})
            if self.op == "write":
                body = self.req.json()
                sec = kv.setdefault(path, sec or Secret())
                if "custom_metadata" in body:
                    sec.custom_metadata = body["custom_metadata"]
                return 204, None
            if self.op == "delete":
                kv.pop(path, None)
                return 204, None
            self.need()
        raise ApiError(404, f'no handler for route "{mount}/{rest}". route entry not found.')

    # -- dynamic secrets and leases -----------------------------------------

    def db_creds(self, role):
        st = self.st
        lease = Lease(f"database/creds/{role}/{rand_id()}", self.tok.id, st.lease_duration,
                      st.lease_max_ttl)
        st.leases[lease.id] = lease
        return 200, envelope({"username": f"v-sim-{role}-{rand_id(8)}", "password": rand_id(20)},
                             lease_id=lease.id, renewable=True, lease_duration=lease.duration)

    # -- PKI issue (agent templates: a write with key=value arguments) -----

    def pki_issue(self, role):
        """pki/issue/<role>: a fake certificate for common_name, valid ttl
        seconds (default 3600); no lease, as Vault issues them."""
        self.need("write")
        body = self.req.json()
        cn = body.get("common_name")
        if not cn:
            raise ApiError(400, "the common_name field is required")
        ttl = parse_duration(body.get("ttl"), "ttl") or 3600
        serial = ":".join(f"{b:02x}" for b in secrets.token_bytes(8))
        cert = f"-----BEGIN CERTIFICATE-----\n{role}:{cn}:{serial}\n-----END CERTIFICATE-----"
        ca = "-----BEGIN CERTIFICATE-----\nsim-ca\n-----END CERTIFICATE-----"
        return 200, envelope({"certificate": cert, "issuing_ca": ca, "ca_chain": [ca],
                              "private_key": f"-----BEGIN RSA PRIVATE KEY-----\n{serial}\n-----END RSA PRIVATE KEY-----",
                              "private_key_type": "rsa", "serial_number": serial,
                              "expiration": int(self.t + ttl)})

    # -- KV version 1 at kv/ (agent templates) -----------------------------

    def kv_v1(self, path):
        """kv/<path>: read, write (the body is the secret), list, delete;
        answers carry Vault's default KV v1 lease_duration (768h)."""
        store = self.st.__dict__.setdefault("kv1", {})
        if self.op == "list":
            prefix = path if path == "" or path.endswith("/") else path + "/"
            keys = sorted({k[len(prefix):].split("/")[0] + ("/" if "/" in k[len(prefix):] else "")
                           for k in store if k.startswith(prefix)})
            if not keys:
                raise ApiError(404)
            return 200, envelope({"keys": keys})
        if self.op == "read":
            if path not in store:
                raise ApiError(404)
            return 200, envelope(dict(store[path]), lease_duration=2764800)
        if self.op == "write":
            store[path] = self.req.json()
            self.st.record_write()
            return 204, None
        if self.op == "delete":
            store.pop(path, None)
            return 204, None
        raise ApiError(405)

    def leases(self, p):
        st, t = self.st, self.t
        # Accept both the current sys/leases/* paths and the legacy sys/renew, sys/revoke.
        p = p[len("leases/"):] if p.startswith("leases/") else p
        action, _, suffix = p.partition("/")
        body = self.req.json() if self.op == "write" else {}
        lid = suffix or body.get("lease_id") or ""
        if action == "renew":
            self.need("write")
            lease = st.renew_lease(lid, parse_duration(body.get("increment"), "increment"), t)
            return 200, envelope(lease_id=lease.id, renewable=True, lease_duration=lease.duration)
        if action == "revoke":
            self.need("write")
            st.leases.pop(lid, None)
            return 204, None
        if action in ("revoke-prefix", "revoke-force"):
            self.need("write")
            st.revoke_lease_prefix(suffix)
            return 204, None
        if action == "lookup":
            self.need("write")
            lease = st.leases.get(lid)
            if lease is None:
                raise ApiError(400, "invalid lease")
            return 200, envelope({"id": lease.id, "issue_time": rfc3339(lease.issued),
                                  "expire_time": rfc3339(lease.expires),
                                  "last_renewal": rfc3339(lease.last_renewal), "renewable": True,
                                  "ttl": max(0, math.ceil(lease.expires - t))})
        raise ApiError(404, f'no handler for route "sys/{p}". route entry not found.')


# --------------------------------------------------------------------------
# event stream (sys/events/subscribe over a WebSocket)
#
# Vault's event notifications, as the proxy's static secret cache consumes
# them: GET /v1/sys/events/subscribe/<pattern>?json=true with a valid token
# upgrades to a WebSocket (RFC 6455, server side) on which every KV write,
# delete, undelete, destroy and metadata change made afterwards arrives as
# one text message in Vault's CloudEvents JSON shape.  Control (/_sim/events):
# POST {enabled (false: subscribe answers 404), drop (cut every stream
# without a close frame), ping (payload), split (write frames in pieces of
# this many bytes, 0 whole), malformed (send a frame no server may send),
# close {code, reason}, send (an extra message, JSON), refuse (answer the
# next N subscribes 403)}; GET {enabled, subscribers, connects, pongs,
# closes, sent, split}.

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_frame(opcode, payload, fin=True):
    """One unmasked server frame."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


def kv_event(method, p):
    """(event type, metadata) for a successful KV write at /v1/<p>, or None."""
    mount, _, rest = p.partition("/")
    kind, _, name = rest.partition("/")
    data_path = "%s/data/%s" % (mount, name)
    table = {
        ("data", "POST"): "data-write", ("data", "PUT"): "data-write",
        ("data", "PATCH"): "data-patch", ("data", "DELETE"): "data-delete",
        ("delete", "POST"): "delete", ("delete", "PUT"): "delete",
        ("undelete", "POST"): "undelete", ("undelete", "PUT"): "undelete",
        ("destroy", "POST"): "destroy", ("destroy", "PUT"): "destroy",
        ("metadata", "POST"): "metadata-write", ("metadata", "PUT"): "metadata-write",
        ("metadata", "PATCH"): "metadata-patch", ("metadata", "DELETE"): "metadata-delete",
    }
    op = table.get((kind, method))
    if op is None or not name:
        return None
    meta = {"modified": "true", "operation": method.lower() if method != "POST" else "write",
            "path": "%s/%s/%s" % (mount, kind, name)}
    if op in ("data-write", "data-patch", "undelete", "metadata-write", "metadata-patch"):
        meta["data_path"] = data_path
    return "kv-v2/" + op, meta


class EventHub:
    """The subscribers and the stream knobs; its own lock (never the state's)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.enabled = True
        self.split = 0
        self.refuse = 0
        self.subs = []
        self.connects = 0
        self.sent = 0
        self.pongs = []
        self.closes = []

    def publish(self, event_type, metadata):
        msg = {"id": str(uuid.uuid4()), "source": "vault://vaultsim", "specversion": "1.0",
               "type": "*", "datacontentype": "application/cloudevents",
               "time": rfc3339(time.time()),
               "data": {"event": {"id": str(uuid.uuid4()), "metadata": metadata},
                        "event_type": event_type,
                        "plugin_info": {"mount_class": "secret", "mount_accessor": "kv_sim",
                                        "mount_path": metadata["path"].split("/")[0] + "/",
                                        "plugin": "kv"}}}
        frame = ws_frame(0x1, json.dumps(msg, separators=(",", ":")).encode())
        with self.lock:
            for sub in self.subs:
                if fnmatch_type(sub["pattern"], event_type):
                    sub["queue"].append(("frame", frame))
                    self.sent += 1

    def publish_kv(self, method, p):
        ev = kv_event(method, p)
        if ev:
            self.publish(*ev)

    def broadcast(self, action):
        with self.lock:
            for sub in self.subs:
                sub["queue"].append(action)


def fnmatch_type(pattern, event_type):
    return fnmatch.fnmatchcase(event_type, pattern)


def events_control(hub, req, body):
    """/_sim/events: the stream's knobs and what the streams saw."""
    if req.method == "GET":
        with hub.lock:
            return 200, {"enabled": hub.enabled, "subscribers": len(hub.subs),
                         "connects": hub.connects, "pongs": list(hub.pongs),
                         "closes": list(hub.closes), "sent": hub.sent, "split": hub.split}
    with hub.lock:
        if "enabled" in body:
            hub.enabled = bool(body["enabled"])
        if "split" in body:
            hub.split = max(0, int(body["split"]))
        if "refuse" in body:
            hub.refuse = max(0, int(body["refuse"]))
    if body.get("ping") is not None:
        hub.broadcast(("frame", ws_frame(0x9, str(body["ping"]).encode()[:125])))
    if body.get("malformed"):
        # A masked frame: only clients mask, so a client must fail the stream.
        hub.broadcast(("frame", bytes([0x81, 0x81, 1, 2, 3, 4, ord("x") ^ 1])))
    if body.get("send") is not None:
        hub.broadcast(("frame", ws_frame(0x1, json.dumps(body["send"]).encode())))
    if body.get("close"):
        c = body["close"]
        payload = int(c.get("code", 1000)).to_bytes(2, "big") + str(c.get("reason", "")).encode()
        hub.broadcast(("frame", ws_frame(0x8, payload[:125])))
    if body.get("drop"):
        hub.broadcast(("drop",))
    return 200, {"ok": True}


def _ws_read_frames(buf):
    """Client frames (masked) complete in buf: ([(opcode, payload)], rest)."""
    out = []
    while len(buf) >= 2:
        op, n, pos = buf[0] & 0x0F, buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, pos = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, pos = int.from_bytes(buf[2:10], "big"), 10
        masked = buf[1] & 0x80
        need = pos + (4 if masked else 0) + n
        if len(buf) < need:
            break
        key = buf[pos:pos + 4] if masked else b"\0\0\0\0"
        data = buf[need - n:need]
        out.append((op, bytes(b ^ key[i % 4] for i, b in enumerate(data)), bool(masked)))
        buf = buf[need:]
    return out, buf


def serve_event_stream(handler, req, t0):
    """GET /v1/sys/events/subscribe/<pattern>: the WebSocket, until it ends."""
    hub, st = handler.server.events, handler.server.state
    pattern = req.path[len("/v1/sys/events/subscribe/"):]
    rec = {"seq": 0, "time": t0, "method": req.method, "path": req.path,
           "raw_path": req.raw_path, "headers": [[k, v] for k, v in req.headers], "body": "",
           "token": req.token(), "status": None, "forwarded": False, "client_cert": False,
           "client_cn": None}
    with st.lock:
        rec["seq"] = len(st.requests) + 1
        st.requests.append(rec)
        tok = st.tokens.get(req.token() or "")
    with hub.lock:
        enabled = hub.enabled
        refuse = hub.refuse > 0
        if refuse:
            hub.refuse -= 1
    key = req.header("Sec-WebSocket-Key")
    if not enabled:
        status, payload = 404, {"errors": []}
    elif req.method != "GET":
        status, payload = 405, {"errors": ["unsupported operation"]}
    elif (req.header("Upgrade") or "").lower() != "websocket" or not key:
        status, payload = 400, {"errors": ["expected a websocket upgrade"]}
    elif tok is None or refuse:
        status, payload = 403, {"errors": ["permission denied"]}
    else:
        status, payload = 101, None
    rec["status"] = status
    if status != 101:
        handler._send(status, payload)
        return handler._log_line(req, status, t0)
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    handler.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                         % accept).encode())
    handler.wfile.flush()
    handler._log_line(req, 101, t0)
    handler.close_connection = True
    sock = handler.connection
    sub = {"pattern": pattern, "queue": []}
    with hub.lock:
        hub.subs.append(sub)
        hub.connects += 1
    buf = b""
    try:
        while True:
            with hub.lock:
                actions, sub["queue"] = sub["queue"], []
                split = hub.split
            for a in actions:
                if a[0] == "drop":
                    sock.shutdown(socket.SHUT_RDWR)
                    return
                data = a[1]
                if split:
                    for i in range(0, len(data), split):
                        sock.sendall(data[i:i + split])
                        time.sleep(0.002)
                else:
                    sock.sendall(data)
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
            if not pending and not select.select([sock], [], [], 0.02)[0]:
                continue
            chunk = sock.recv(65536)
            if not chunk:
                return
            frames, buf = _ws_read_frames(buf + chunk)
            for op, payload, masked in frames:
                if op == 0xA:
                    with hub.lock:
                        hub.pongs.append(payload.decode("utf-8", "replace"))
                elif op == 0x9:
                    sock.sendall(ws_frame(0xA, payload))
                elif op == 0x8:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                    with hub.lock:
                        hub.closes.append([code, payload[2:].decode("utf-8", "replace")])
                    sock.sendall(ws_frame(0x8, payload[:2]))
                    return
    except (OSError, ValueError):
        return
    finally:
        with hub.lock:
            if sub in hub.subs:
                hub.subs.remove(sub)


# --------------------------------------------------------------------------
# server

class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    # Do not join handler threads on close: idle keep-alive connections
    # would otherwise hold up shutdown on SIGTERM.
    block_on_close = False
    request_queue_size = 128

    def __init__(self, addr, state, ssl_ctx=None, log=None):
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        self.ssl_ctx = ssl_ctx
        self.log = log
        self.log_lock = threading.Lock()
        self.events = EventHub()
        super().__init__(addr, Handler)

    def server_bind(self):
        # HTTPServer.server_bind calls getfqdn(), a DNS lookup we neither
        # need nor want to wait for.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout)):
            return  # clients hanging up or failing TLS are part of the tests
        if self.log is not None:
            with self.log_lock:
                self.log.write(traceback.format_exc())
                self.log.flush()
        else:
            super().handle_error(request, client_address)


def write_port_file(path, port):
    # Atomic, so a poller never reads a half-written number.
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="In-memory Vault API simulator for vaproxy tests.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    # A random root token, shaped like the ones Vault issues, rather than a word
    # such as "root" that also occurs in paths (/root/...): tests look for every
    # token in the daemon's logs, and a path must never look like a leak.
    ap.add_argument("--root-token", default=None,
                    help="the root token (default: a random hvs. token per run)")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca", help="request (not require) client certificates and "
                                            "verify them against this CA file (cert auth)")
    ap.add_argument("--log", help="append one line per request to this file")
    args = ap.parse_args(argv)

    ssl_ctx = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            ap.error("--tls-cert and --tls-key go together")
        ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_ctx.load_cert_chain(args.tls_cert, args.tls_key)
    if args.tls_client_ca:
        if ssl_ctx is None:
            ap.error("--tls-client-ca needs --tls-cert and --tls-key")
        ssl_ctx.load_verify_locations(cafile=args.tls_client_ca)
        ssl_ctx.verify_mode = ssl.CERT_OPTIONAL

    log = open(args.log, "a", encoding="utf-8") if args.log else None
    root_token = args.root_token or "hvs." + rand_id()
    server = SimServer((args.host, args.port), State(root_token), ssl_ctx, log)

    def on_signal(signum, frame):
        raise SystemExit(0)  # unwinds serve_forever() in the main thread

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.port_file:
        write_port_file(args.port_file, server.server_address[1])
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if log is not None:
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
