#!/usr/bin/python3
"""The shipped configurations never rot: every example in contrib/examples
and the packaged default (contrib/systemd/proxy.hcl) passes --check-config
with the plugins of this build, the default one really starts and proxies,
and the systemd unit template starts the daemon on that default file.

--check-config reads no file a configuration names (token, certificate and
key files are read when used), so the examples keep their production paths.
"""

import glob
import os
import re
import subprocess
import sys

from harness import Proxy, Sim, check, contains, eq, free_port, request, run, test

BINARY = os.environ.get("VAPROXYD", "")
PLUGIN_DIR = os.environ.get("VAPROXY_PLUGIN_DIR", "")
SRCDIR = os.environ.get("VAPROXY_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(SRCDIR, "contrib", "examples")
DEFAULT_CONFIG = os.path.join(SRCDIR, "contrib", "systemd", "proxy.hcl")
UNIT = os.path.join(SRCDIR, "contrib", "systemd", "vaproxyd.service.in")

# The examples the documentation promises (vaproxyd.hcl(5), README); any
# other file in the directory is checked as well.
PROMISED = ["approle-cache.hcl", "approle-cache.json", "kubernetes-sidecar.hcl",
            "cert-auth.hcl", "unix-socket.hcl"]


def check_config(path):
    """vaproxyd --check-config with Vault's flag spelling, as the docs show it."""
    argv = [BINARY, "--check-config", "-config", path]
    if PLUGIN_DIR:
        argv += ["--plugin-dir", PLUGIN_DIR]
    # The environment must not change what the files say.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VAULT_", "BAO_"))}
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env,
                          stdin=subprocess.DEVNULL)


def assert_valid(path):
    r = check_config(path)
    eq(r.returncode, 0, f"{os.path.basename(path)}: --check-config failed: {r.stderr.strip()!r}")
    contains(r.stdout, "configuration is valid", f"{os.path.basename(path)}: stdout")
    eq(r.stderr.strip(), "", f"{os.path.basename(path)}: no warnings")


@test("contrib/examples holds every promised example")
def _():
    present = sorted(os.path.basename(p) for p in glob.glob(os.path.join(EXAMPLES, "*")))
    for name in PROMISED:
        check(name in present, f"{name} missing from {EXAMPLES} (found {present})")


def _example_test(path):
    @test(f"example {os.path.basename(path)} passes --check-config")
    def _():
        assert_valid(path)
        with open(path) as f:
            text = f.read()
        if path.endswith(".hcl"):
            check(text.lstrip().startswith("#"), "an HCL example starts with a comment "
                  "saying what it is for")


for _path in sorted(glob.glob(os.path.join(EXAMPLES, "*.hcl"))
                    + glob.glob(os.path.join(EXAMPLES, "*.json"))):
    _example_test(_path)


@test("the packaged default config passes --check-config")
def _():
    assert_valid(DEFAULT_CONFIG)


@test("the packaged default config starts and proxies (address and port swapped)")
def _():
    with open(DEFAULT_CONFIG) as f:
        text = f.read()
    eq(text.count('"http://127.0.0.1:8200"'), 1, "the default names the local Vault once")
    eq(text.count('"127.0.0.1:8100"'), 1, "the default listens on 127.0.0.1:8100")
    sim = Sim()
    port = free_port()
    conf = (text.replace('"http://127.0.0.1:8200"', '"' + sim.addr + '"')
                .replace('"127.0.0.1:8100"', f'"127.0.0.1:{port}"'))
    p = Proxy(conf, port=port)
    p.wait_ready(port)
    r = request(port, "GET", "/v1/sys/health")
    eq(r.status, 200, "a request through the default config")


@test("the unit template runs the daemon on the default config")
def _():
    with open(UNIT) as f:
        unit = f.read()
    contains(unit, "ExecStart=@sbindir@/vaproxyd -config @sysconfdir@/vaproxy/proxy.hcl\n",
             "ExecStart")
    contains(unit, "Type=notify\n", "Type")
    contains(unit, "ExecReload=/bin/kill -HUP $MAINPID\n", "ExecReload")
    for d in ("RuntimeDirectory", "StateDirectory", "ConfigurationDirectory", "LogsDirectory"):
        check(re.search(rf"^{d}=vaproxy$", unit, re.M), f"{d}=vaproxy")
    check(re.search(r"^CapabilityBoundingSet=$", unit, re.M), "empty capability bounding set")


if __name__ == "__main__":
    sys.exit(run())
