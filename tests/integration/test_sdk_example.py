#!/usr/bin/python3
"""The SDK works for a third party: the example plugin in sdk/example builds
out of tree against the installed headers with nothing but pkg-config, and
a running vaproxyd loads it and puts it in the chain."""

import os
import shutil
import subprocess
import sys

from harness import *

BUILD = os.environ.get("VAPROXY_BUILDDIR", "")
SRC = os.environ.get("VAPROXY_SRCDIR", "")
state = {}


def staged_sdk():
    """Installs only the SDK (headers + .pc) into a DESTDIR and returns the
    pkg-config environment that finds it there."""
    if "env" in state:
        return state["env"]
    need_binary("make")
    need_binary("pkg-config")
    stage = tmpdir("vaproxy-sdk-stage-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    env.pop("MFLAGS", None)
    r = subprocess.run(["make", "-C", BUILD, "install-vaproxyincludeHEADERS",
                        "install-pkgconfigDATA", "DESTDIR=" + stage],
                       env=env, capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "staging the SDK failed:\n" + r.stdout + r.stderr)
    pcs = find_named(stage, "vaproxy-sdk.pc")
    check(len(pcs) == 1, f"expected one installed vaproxy-sdk.pc, found {pcs}")
    env["PKG_CONFIG_PATH"] = os.path.dirname(pcs[0])
    env["PKG_CONFIG_SYSROOT_DIR"] = stage
    env.pop("PKG_CONFIG_LIBDIR", None)
    state["env"] = env
    state["stage"] = stage
    return env


def built_example():
    if "dir" in state:
        return state["dir"]
    env = staged_sdk()
    work = tmpdir("vaproxy-example-")
    for f in ("Makefile", "example_hello.c"):
        shutil.copy(os.path.join(SRC, "sdk", "example", f), work)
    r = subprocess.run(["make", "-C", work], env=env, capture_output=True,
                       text=True, timeout=120)
    check(r.returncode == 0, "building the example failed:\n" + r.stdout + r.stderr)
    state["dir"] = work
    return work


@test("pkg-config vaproxy-sdk points at the installed headers only")
def _():
    env = staged_sdk()
    r = subprocess.run(["pkg-config", "--cflags", "vaproxy-sdk"], env=env,
                       capture_output=True, text=True)
    eq(r.returncode, 0, "pkg-config exit status")
    flags = r.stdout.split()
    check(all(f.startswith("-I" + state["stage"]) for f in flags if f.startswith("-I")),
          f"include flags must point into the staged install: {flags}")
    r = subprocess.run(["pkg-config", "--libs", "vaproxy-sdk"], env=env,
                       capture_output=True, text=True)
    eq(r.stdout.strip(), "", "plugins link against nothing of ours")


@test("the example builds out of tree and exports only its descriptor")
def _():
    work = built_example()
    so = os.path.join(work, "example_hello.so")
    check(os.path.exists(so), "example_hello.so was not built")
    if shutil.which("nm"):
        r = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True)
        syms = [l.split()[-1] for l in r.stdout.splitlines() if l.split()[-2:-1] in (["D"], ["R"], ["T"])]
        eq(syms, ["example_hello_LTX_vaproxy_plugin"], "exported symbols")


@test("a running vaproxyd loads the example and puts it in the chain")
def _():
    work = built_example()
    sim = Sim()
    port = free_port()
    p = Proxy('''
vault { address = "{sim}" }
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
plugin "consistency" "hello" {
  config = { greeting = "hi there" }
}
''', args=["--plugin-dir", work], sim=sim.addr, port=port)
    p.wait_ready()
    r = request(port, "GET", "/v1/example/hello")
    eq(r.status, 200, "answered by the plugin")
    eq(r.json(), {"data": {"greeting": "hi there"}}, "body from the plugin")
    check(not [q for q in sim.requests("/v1/example")], "the plugin's answer never went upstream")
    r = request(port, "GET", "/v1/sys/health")
    eq(r.status, 200, "forwarded request")
    eq(r.header("X-Example"), "hi there", "the plugin tagged the upstream answer")


@test("--dump-chain lists the example after the built-in policy")
def _():
    work = built_example()
    cfg = os.path.join(tmpdir(), "p.hcl")
    with open(cfg, "w") as f:
        f.write('listener "tcp" {\n address = "127.0.0.1:1"\n tls_disable = true\n}\n'
                'plugin "consistency" "hello" {}\n')
    r = subprocess.run([os.environ["VAPROXYD"], "--config", cfg, "--plugin-dir",
                        os.environ["VAPROXY_PLUGIN_DIR"], "--plugin-dir", work,
                        "--dump-chain"], capture_output=True, text=True, timeout=20)
    eq(r.returncode, 0, "exit status\n" + r.stderr)
    contains(r.stdout, '1. consistency "never"', "built-in policy first")
    contains(r.stdout, '2. consistency "hello"', "example second")


@test("an unknown key in the example's config names file, line and key")
def _():
    work = built_example()
    cfg = os.path.join(tmpdir(), "p.hcl")
    with open(cfg, "w") as f:
        f.write('listener "tcp" {\n address = "127.0.0.1:1"\n tls_disable = true\n}\n'
                'plugin "consistency" "hello" {\n  config = {\n    greting = "x"\n  }\n}\n')
    r = subprocess.run([os.environ["VAPROXYD"], "--config", cfg, "--plugin-dir",
                        os.environ["VAPROXY_PLUGIN_DIR"], "--plugin-dir", work,
                        "--check-config"], capture_output=True, text=True, timeout=20)
    check(r.returncode != 0, "an unknown key must fail the check")
    contains(r.stderr, cfg + ":7:", "file and line")
    contains(r.stderr, 'unknown key "greting" (did you mean "greeting"?)', "key and suggestion")


if __name__ == "__main__":
    sys.exit(run())
