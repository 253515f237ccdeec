#!/usr/bin/python3
"""TAP test that keeps core/'s layering true (core/README.md).

The layers, lowest first: base < config < http < upstream < plugin < auth <
cache < proxy < agent < app.  A file may depend on its own layer or a lower one,
never on a higher one, and no two files may depend on each other, however
indirectly.  Checked two ways: on the objects of the build (nm: which object
references a symbol which object defines) and on the sources (every
#include "layer/file.h" in core/).  Every violation is printed.
"""

import os
import re
import subprocess
import sys

from harness import check, diag, eq, need_binary, run, skip, test

LAYERS = ["base", "config", "http", "upstream", "plugin", "auth", "cache", "proxy", "agent", "app"]
RANK = {name: i for i, name in enumerate(LAYERS)}

# Pairs of files allowed to depend on each other, in the cycle checks only
# (never in the layer rule): each pair (a, b) allows a -> b and b -> a.  An
# entry whose two files no longer form a cycle fails the test, so the list
# cannot hide a new cycle behind an old one.  Empty, and meant to stay so.
ALLOWED_SYMBOL_CYCLES = set()
ALLOWED_INCLUDE_CYCLES = set()

SRC = os.environ.get("VAPROXY_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("VAPROXY_BUILDDIR", "")

OBJECT = re.compile(r"^libvpcore_la-(.+)\.o$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(path):
    """The layer of a path written from the tree's top ("core/http/tls.c"),
    or None for a file outside core/'s layer directories."""
    parts = path.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "core" and parts[1] in RANK else None


def upward(edges):
    """The edges (from, to, why) that go from a lower layer to a higher one."""
    return [(a, b, why) for a, b, why in edges if RANK[layer_of(b)] > RANK[layer_of(a)]]


def cycles(edges, allowed=frozenset()):
    """One cycle (a list of nodes, first repeated last) for each strongly
    connected component of more than one node, leaving out the edges between
    the allowed pairs of files (either way)."""
    graph = graph_of(edges, allowed)
    return sorted(cycle_in(graph, comp) for comp in components(graph))


def graph_of(edges, allowed=frozenset()):
    graph = {}
    for a, b, _ in edges:
        if a != b and (a, b) not in allowed and (b, a) not in allowed:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    return graph


def components(graph):
    """The strongly connected components of more than one node."""
    index, low, on_stack, stack, comps = {}, {}, set(), [], []

    def strongconnect(v):  # Tarjan, iterative so deep graphs cannot overflow
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    comps.append(set(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return comps


def cycle_in(graph, comp):
    """A cycle through the smallest node of a strongly connected component:
    the shortest way back to it, found breadth first inside the component."""
    start = min(comp)
    prev = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & comp):
            if nxt == start:
                path = [node]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if nxt not in prev:
                prev[nxt] = node
                queue.append(nxt)
    return sorted(comp)


def stale(allowed, edges):
    """Allowed pairs of files that are no longer in one cycle."""
    comps = components(graph_of(edges))
    return sorted((a, b) for a, b in allowed if not any(a in c and b in c for c in comps))


def report(what, lines):
    for line in lines:
        diag(f"{what}: {line}")
    check(not lines, f"{len(lines)} {what}(s), listed above")


# --------------------------------------------------------------------------
# the sources

def core_sources():
    """Every .c and .h under core/ (llhttp's wrappers aside), as "core/..."."""
    found = []
    top = os.path.join(SRC, "core")
    for d, dirs, files in os.walk(top):
        dirs[:] = sorted(x for x in dirs if x != "llhttp")
        for f in files:
            if f.endswith((".c", ".h")):
                found.append(os.path.relpath(os.path.join(d, f), SRC).replace(os.sep, "/"))
    return sorted(found)


def include_edges():
    """(file, included file, the #include line) for every #include naming a layer."""
    edges = []
    for path in core_sources():
        with open(os.path.join(SRC, path), encoding="utf-8") as f:
            text = f.read()
        for name in INCLUDE.findall(text):
            if name.split("/")[0] in RANK:
                edges.append((path, "core/" + name, f'#include "{name}"'))
    return edges


# --------------------------------------------------------------------------
# the objects

def core_objects():
    """{source path: object path} for libvpcore's objects in the build
    directory, found by the directory they were built in."""
    objects = {}
    top = os.path.join(BUILD, "core")
    for d, dirs, files in os.walk(top):  # os.walk: .libs is a dot-directory
        dirs.sort()
        rel = os.path.relpath(d, top).split(os.sep)
        rel = [p for p in rel if p not in (".", ".libs")]
        for f in sorted(files):
            m = OBJECT.match(f)
            if m and rel:  # core/<layer>/[<room>/]<file>.c
                src = "/".join(["core"] + rel + [m.group(1) + ".c"])
                objects.setdefault(src, os.path.join(d, f))
    return objects


def listed_sources():
    """The .c files core/*/local.mk put into libvpcore."""
    listed = set()
    for name in os.listdir(os.path.join(SRC, "core")):
        mk = os.path.join(SRC, "core", name, "local.mk")
        if os.path.isfile(mk):
            with open(mk, encoding="utf-8") as f:
                text = f.read().replace("\\\n", " ")
            for line in text.splitlines():
                if line.startswith("core_libvpcore_la_SOURCES"):
                    listed.update(w for w in line.split() if w.endswith(".c"))
    return listed


def symbols(path):
    """(defined, referenced) global symbol names of one object file."""
    r = subprocess.run(["nm", "-P", path], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"nm {path}: {r.stderr.strip()}")
    defined, referenced = set(), set()
    for line in r.stdout.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        name, kind = fields[0], fields[1]
        if kind in ("U", "w", "v"):
            referenced.add(name)
        elif kind.isupper():
            defined.add(name)
    return defined, referenced


def symbol_edges():
    """(object's source, defining object's source, symbol) for every reference
    from one core object to a symbol another core object defines."""
    need_binary("nm")
    if not BUILD:
        skip("VAPROXY_BUILDDIR is not set (run through make check)")
    objects = core_objects()
    listed = listed_sources()
    missing = sorted(listed - set(objects))
    eq(missing, [], "every libvpcore source has an object in the build directory")
    # Objects of sources no longer listed (a build directory that outlived a
    # rename) are not part of the daemon.
    table = {src: symbols(obj) for src, obj in sorted(objects.items()) if src in listed}
    definer = {}
    for src, (defined, _) in table.items():
        for name in defined:
            definer.setdefault(name, src)
    edges = []
    for src, (_, referenced) in table.items():
        for name in sorted(referenced):
            to = definer.get(name)
            if to and to != src:
                edges.append((src, to, name))
    return edges


_cache = {}


def once(key, fn):
    if key not in _cache:
        _cache[key] = fn()
    return _cache[key]


# --------------------------------------------------------------------------

@test("the checks find what they look for (upward edges, cycles, stale allowances)")
def _():
    edges = [("core/base/log.c", "core/app/daemon.c", "vpd_daemon_x"),
             ("core/app/daemon.c", "core/base/log.c", "vpd_log_x"),
             ("core/http/a.c", "core/http/b.c", "b"),
             ("core/http/b.c", "core/http/c.c", "c"),
             ("core/http/c.c", "core/http/a.c", "a")]
    eq([(a, b) for a, b, _ in upward(edges)], [("core/base/log.c", "core/app/daemon.c")],
       "the upward edge")
    eq(cycles(edges), [["core/app/daemon.c", "core/base/log.c", "core/app/daemon.c"],
                       ["core/http/a.c", "core/http/b.c", "core/http/c.c", "core/http/a.c"]],
       "both cycles")
    eq(cycles(edges, {("core/http/c.c", "core/http/a.c"),
                      ("core/base/log.c", "core/app/daemon.c")}), [],
       "allowed pairs break them")
    eq(stale({("core/http/a.c", "core/http/b.c"), ("core/x/y.c", "core/x/z.c"),
              ("core/http/a.c", "core/base/log.c")}, edges),
       [("core/http/a.c", "core/base/log.c"), ("core/x/y.c", "core/x/z.c")],
       "the stale allowances: no longer, or never, in one cycle")
    eq(layer_of("core/http/llhttp/x.c"), "http", "a subdirectory belongs to its layer")
    eq(layer_of("plugins/x.c"), None, "outside core/")


@test("every directory under core/ is a layer in the order")
def _():
    dirs = sorted(d for d in os.listdir(os.path.join(SRC, "core"))
                  if os.path.isdir(os.path.join(SRC, "core", d)))
    eq([d for d in dirs if d not in RANK], [], "directories that are not in LAYERS")
    eq([l for l in LAYERS if l not in dirs], [], "layers without a directory")


@test("every #include \"layer/file.h\" in core/ names its own layer or a lower one")
def _():
    edges = once("includes", include_edges)
    check(len(edges) > 50, f"found the includes: {len(edges)}")
    bad = [f"{a} ({layer_of(a)}) {why} ({layer_of(b)})" for a, b, why in upward(edges)]
    missing = [f"{a}: {why}: no such file" for a, b, why in edges
               if not os.path.isfile(os.path.join(SRC, b))]
    report("upward include", bad + missing)


@test("no include cycle between core files")
def _():
    edges = once("includes", include_edges)
    found = [" -> ".join(c) for c in cycles(edges, ALLOWED_INCLUDE_CYCLES)]
    found += [f"{a} <-> {b} is no longer a cycle: remove it from ALLOWED_INCLUDE_CYCLES"
              for a, b in stale(ALLOWED_INCLUDE_CYCLES, edges)]
    report("include cycle", found)


@test("no core object references a symbol defined in a higher layer (nm)")
def _():
    edges = once("symbols", symbol_edges)
    check(len(edges) > 50, f"found the references: {len(edges)}")
    bad = [f"{a} ({layer_of(a)}) uses {sym} from {b} ({layer_of(b)})"
           for a, b, sym in upward(edges)]
    report("upward reference", bad)


@test("no symbol-reference cycle between core objects")
def _():
    edges = once("symbols", symbol_edges)
    found = [" -> ".join(c) for c in cycles(edges, ALLOWED_SYMBOL_CYCLES)]
    found += [f"{a} <-> {b} is no longer a cycle: remove it from ALLOWED_SYMBOL_CYCLES"
              for a, b in stale(ALLOWED_SYMBOL_CYCLES, edges)]
    for a, b in sorted(ALLOWED_SYMBOL_CYCLES):
        for x, y in ((a, b), (b, a)):
            used = sorted(sym for f, t, sym in edges if (f, t) == (x, y))
            diag(f"allowed for now: {x} -> {y} ({', '.join(used) or 'nothing'})")
    report("symbol cycle", found)


if __name__ == "__main__":
    sys.exit(run())
