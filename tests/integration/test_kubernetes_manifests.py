#!/usr/bin/python3
"""contrib/kubernetes/: the manifests parse (a YAML subset read with the
standard library), hold the pieces the two patterns need (one-shot init
container, sidecar with a socket, probes, limits, non-root, read-only
root), and the vaproxyd config embedded in each passes --check-config."""

import glob
import os
import re
import subprocess
import sys

from harness import *

SRCDIR = os.environ.get("VAPROXY_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANIFESTS = os.path.join(SRCDIR, "contrib", "kubernetes")


# -- a YAML subset: block mappings and sequences, "|" block scalars, flow
# lists of scalars, plain and quoted scalars, comments, "---" documents.

def _scalar(s):
    s = s.strip()
    if s.startswith("[") and s.endswith("]"):
        return [_scalar(x) for x in s[1:-1].split(",") if x.strip()]
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return s[1:-1]
    if s in ("true", "false"):
        return s == "true"
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    return s


def _strip_comment(line):
    out, quote = [], None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            break
        out.append(c)
    return "".join(out).rstrip()


class _Lines:
    def __init__(self, text):
        self.raw = text.split("\n")
        self.i = 0

    def peek(self):
        while self.i < len(self.raw):
            s = _strip_comment(self.raw[self.i])
            if s.strip():
                return len(s) - len(s.lstrip(" ")), s.strip()
            self.i += 1
        return None

    def block_scalar(self, parent_indent):
        lines, indent = [], None
        while self.i < len(self.raw):
            line = self.raw[self.i]
            if line.strip():
                n = len(line) - len(line.lstrip(" "))
                if n <= parent_indent:
                    break
                indent = n if indent is None else indent
                lines.append(line[indent:])
            else:
                lines.append("")
            self.i += 1
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines) + "\n"


def _parse_node(ls, indent):
    head = ls.peek()
    if head is None:
        return None
    n, s = head
    if s.startswith("- ") or s == "-":
        return _parse_seq(ls, n)
    return _parse_map(ls, n)


def _value(ls, indent, rest):
    if rest == "|":
        ls.i += 1
        return ls.block_scalar(indent)
    ls.i += 1
    if rest:
        return _scalar(rest)
    nxt = ls.peek()
    if nxt is None or nxt[0] <= indent and not nxt[1].startswith("- "):
        return None
    return _parse_node(ls, nxt[0])


def _parse_map(ls, indent):
    out = {}
    while True:
        head = ls.peek()
        if head is None or head[0] != indent or head[1].startswith("- "):
            return out
        key, sep, rest = head[1].partition(":")
        check(sep, f"line {ls.i + 1}: expected key: value, got {head[1]!r}")
        out[key.strip()] = _value(ls, indent, rest.strip())


def _parse_seq(ls, indent):
    out = []
    while True:
        head = ls.peek()
        if head is None or head[0] != indent or not head[1].startswith("-"):
            return out
        item = head[1][1:].strip()
        if ":" in item and not item.startswith(("[", "\"", "'")):
            # "- key: value" opens a mapping indented past the dash.
            ls.raw[ls.i] = " " * (indent + 2) + item
            out.append(_parse_map(ls, indent + 2))
        else:
            ls.i += 1
            out.append(_scalar(item))


def load_yaml(text):
    docs = []
    for part in re.split(r"^---\s*$", text, flags=re.M):
        ls = _Lines(part)
        if ls.peek() is not None:
            docs.append(_parse_node(ls, 0))
    return docs


def manifests():
    paths = sorted(glob.glob(os.path.join(MANIFESTS, "*.yaml")))
    check(len(paths) >= 2, f"manifests in {MANIFESTS}")
    with_docs = []
    for p in paths:
        with open(p) as f:
            with_docs.append((os.path.basename(p), load_yaml(f.read())))
    return with_docs


def kind(docs, k):
    found = [d for d in docs if d.get("kind") == k]
    check(found, f"a {k}")
    return found[0]


def pod_spec(docs):
    for d in docs:
        if d.get("kind") == "Pod":
            return d["spec"]
        if d.get("kind") == "Deployment":
            return d["spec"]["template"]["spec"]
    raise TestFailure("no Pod or Deployment")


def vaproxyd_container(spec, init):
    cs = spec.get("initContainers" if init else "containers") or []
    found = [c for c in cs if "vaproxyd" in c.get("image", "")]
    check(found, "a vaproxyd container")
    return found[0]


@test("the YAML subset reader reads what it should")
def _():
    docs = load_yaml("a: 1\nb:\n  - x: \"y\"\n    z: [p, q]\n  - w\nc: |\n  l1\n    l2\n# c\n---\nd: true\n")
    eq(docs, [{"a": 1, "b": [{"x": "y", "z": ["p", "q"]}, "w"], "c": "l1\n  l2\n"},
              {"d": True}])


@test("both patterns are there: a one-shot init container and a sidecar")
def _():
    ms = dict(manifests())
    check("init-container.yaml" in ms and "sidecar.yaml" in ms, f"files: {sorted(ms)}")
    init = ms["init-container.yaml"]
    cfg = kind(init, "ConfigMap")["data"]["vaproxyd.hcl"]
    contains(cfg, "exit_after_auth = true")
    contains(cfg, 'method "kubernetes"')
    vaproxyd_container(pod_spec(init), init=True)
    side = ms["sidecar.yaml"]
    cfg = kind(side, "ConfigMap")["data"]["vaproxyd.hcl"]
    contains(cfg, 'listener "unix"')
    contains(cfg, 'persist "kubernetes"')
    contains(cfg, 'role        = "metrics_only"')
    c = vaproxyd_container(pod_spec(side), init=False)
    for probe in ("livenessProbe", "readinessProbe"):
        contains(c[probe]["httpGet"]["path"], "/metrics")
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    app = [x for x in pod_spec(side)["containers"] if x is not c][0]
    check("/vault/socket" in mounts and "/vault/socket" in
          {m["mountPath"] for m in app["volumeMounts"]}, "the socket directory is shared")


@test("every vaproxyd container runs as non-root with a read-only root and limits")
def _():
    for name, docs in manifests():
        spec = pod_spec(docs)
        eq(spec["securityContext"]["runAsNonRoot"], True, f"{name}: runAsNonRoot")
        check(spec["securityContext"]["runAsUser"] != 0, f"{name}: a non-root uid")
        c = vaproxyd_container(spec, init="init" in name)
        eq(c["securityContext"]["readOnlyRootFilesystem"], True, f"{name}: read-only root")
        eq(c["securityContext"]["allowPrivilegeEscalation"], False, f"{name}: no escalation")
        lim = c["resources"]["limits"]
        check(lim.get("memory") and lim.get("cpu"), f"{name}: limits {lim}")


@test("the embedded configs pass vaproxyd --check-config")
def _():
    binary = os.environ.get("VAPROXYD")
    if not binary:
        skip("VAPROXYD is not set")
    d = tmpdir("k8s-")
    for name, docs in manifests():
        cfg = kind(docs, "ConfigMap")["data"]["vaproxyd.hcl"]
        path = os.path.join(d, name + ".hcl")
        with open(path, "w") as f:
            f.write(cfg)
        argv = [binary, "--check-config", "--config", path]
        if os.environ.get("VAPROXY_PLUGIN_DIR"):
            argv += ["--plugin-dir", os.environ["VAPROXY_PLUGIN_DIR"]]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        eq((r.returncode, r.stderr), (0, ""), f"{name}: --check-config")


if __name__ == "__main__":
    sys.exit(run())
