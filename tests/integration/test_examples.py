#!/usr/bin/python3
"""The shipped configurations and manual pages never rot: every example in
contrib/examples and the packaged default (contrib/systemd/proxy.hcl) passes
--check-config with the plugins of this build, the default one really
starts and proxies, the systemd unit template starts the daemon on that
default file, every key the config parser and the shipped plugins accept,
every command-line option and every environment variable the daemon reads
is in the man pages, and the man pages render without warnings.

--check-config reads no file a configuration names (token, certificate and
key files are read when used), so the examples keep their production paths.
"""

import glob
import os
import re
import shutil
import subprocess
import sys

from harness import Proxy, Sim, check, contains, eq, free_port, request, run, skip, test

BINARY = os.environ.get("VAPROXYD", "")
PLUGIN_DIR = os.environ.get("VAPROXY_PLUGIN_DIR", "")
SRCDIR = os.environ.get("VAPROXY_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(SRCDIR, "contrib", "examples")
DEFAULT_CONFIG = os.path.join(SRCDIR, "contrib", "systemd", "proxy.hcl")
UNIT = os.path.join(SRCDIR, "contrib", "systemd", "vaproxyd.service.in")
MAN = os.path.join(SRCDIR, "contrib", "man")
MAN_PAGES = ["vaproxyd.8", "vaproxyd.hcl.5", "vaproxy-plugin.3"]

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


# --------------------------------------------------------------------------
# the manual pages against the code

def read(*parts):
    with open(os.path.join(SRCDIR, *parts)) as f:
        return f.read()


def man_text(name):
    """The page's source with roff's escaped dashes plain."""
    return read("contrib", "man", name).replace("\\-", "-")


@test("vaproxyd.hcl(5) names every key of the key table, persist_config.c, sinks and plugins accept")
def _():
    keys = set(re.findall(r'K[DX]\("([a-z_]+)"', read("core", "config", "config_keys.c")))
    persist = re.search(r"persist_keys\[\] = \{(.*?)\};", read("core", "cache", "persist", "persist_config.c"), re.S)
    check(persist, "persist_keys found in core/cache/persist/persist_config.c")
    keys |= set(re.findall(r'"([a-z_]+)"', persist.group(1)))
    keys |= set(re.findall(r'strcmp\(m->key, "([a-z_]+)"\)', read("core", "auth", "sink_file.c")))
    for path in glob.glob(os.path.join(SRCDIR, "plugins", "*", "*.c")):
        with open(path) as f:
            keys |= set(re.findall(r'\{"([a-z_]+)", VP_CONF_', f.read()))
    check(len(keys) > 100, f"found the key tables ({len(keys)} keys)")
    words = set(re.findall(r"[a-z_]+\*?", man_text("vaproxyd.hcl.5")))
    prefixes = [w[:-1] for w in words if w.endswith("*")]
    missing = sorted(k for k in keys
                     if k not in words and not any(k.startswith(p) for p in prefixes))
    eq(missing, [], "keys the parser accepts but vaproxyd.hcl(5) does not name")


@test("vaproxyd(8) names every option of main.c and every variable the daemon reads")
def _():
    page = man_text("vaproxyd.8")
    opts = re.findall(r'\{"([a-z-]+)", (?:no|required|optional)_argument', read("core", "app", "main.c"))
    check(len(opts) >= 9, f"found the option table ({opts})")
    eq([o for o in opts if "--" + o not in page], [], "options missing from vaproxyd(8)")
    names = set()
    for path in glob.glob(os.path.join(SRCDIR, "core", "**", "*.c"), recursive=True):
        with open(path) as f:
            text = f.read()
        # getenv("X"), env_either("BAO_X", "VAULT_X"), lookup_env(.., "X", ..)
        # and the suffix table of vpd_config_apply_env.
        names |= set(re.findall(r'getenv\("([A-Za-z_]+)"\)', text))
        names |= set(re.findall(r'env_either\("([A-Z_]+)"', text))
        names |= {"BAO_" + s for s in re.findall(r'lookup_env\(getenv_fn, "([A-Z_]+)"', text)}
        names |= {"BAO_" + s for s in re.findall(r'\{"([A-Z_]+)", offsetof\(vpd_vault_config', text)}
        for lst in re.findall(r"static const char \*const env_[a-z]+\[\] = \{(.*?)\};", text, re.S):
            names |= set(re.findall(r'"([A-Za-z_]+)"', lst))
    check(len(names) > 15, f"found the variables ({sorted(names)})")
    eq(sorted(n for n in names if n not in page), [], "variables missing from vaproxyd(8)")


@test("the man pages render without warnings (groff -ww, mandoc -Tlint)")
def _():
    groff = shutil.which("groff")
    if not groff:
        skip("groff is not installed")
    for name in MAN_PAGES:
        path = os.path.join(MAN, name)
        r = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", path],
                           capture_output=True, text=True, timeout=30)
        eq((r.returncode, r.stderr), (0, ""), f"groff on {name}")
        mandoc = shutil.which("mandoc")
        if mandoc:
            r = subprocess.run([mandoc, "-Tlint", "-Wall", path],
                               capture_output=True, text=True, timeout=30)
            eq((r.returncode, r.stdout + r.stderr), (0, ""), f"mandoc -Tlint on {name}")


if __name__ == "__main__":
    sys.exit(run())
