#!/usr/bin/python3
"""The plugin author kit works end to end, the way a third party uses it.

Only the SDK is installed (headers, vaproxy-sdk.pc, vaproxy-sdk.m4, the mock
host and the template project) into a staging directory; the installed
template is copied out of every tree and built with autoreconf, configure
(the VAPROXY_CHECK_SDK macro finding the SDK through PKG_CONFIG_PATH and
ACLOCAL_PATH), make, make check (its unit tests against the mock host) and
make install.  Then a real vaproxyd loads the installed plugin and logs in
through it against the simulator.

Needs autoconf, automake, libtool and pkg-config; every test is skipped
(not failed) when one of them is missing.  Nothing is written outside
temporary directories, so it also runs from a read-only source tree (make
distcheck).
"""

import os
import re
import shutil
import subprocess
import sys

from harness import (Proxy, Sim, TestFailure, check, contains, eq, find_named, need_binary,
                     read_text, rec_body, run, test, tmpdir, wait_until)

BUILD = os.environ.get("VAPROXY_BUILDDIR", "")
SRC = os.environ.get("VAPROXY_SRCDIR", "")
STAGE_TOOLS = ("make", "pkg-config")
BUILD_TOOLS = STAGE_TOOLS + ("autoreconf", "autoconf", "aclocal", "automake", "libtoolize")
# Strict C11 proves the SDK headers and the mock host need no GNU extensions.
# -Werror only at make time: configure's own probes are not warning-free.
CFLAGS = "-O2 -g -std=c11 -pedantic"
STEP_TIMEOUT = 240
state = {}


def need_tools(tools=BUILD_TOOLS):
    for t in tools:
        need_binary(t)


def sh(argv, cwd, env, what, timeout=STEP_TIMEOUT):
    """Runs one build step; a failure shows the step and its output."""
    try:
        r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"{what} ({' '.join(argv)}) did not finish within {timeout}s")
    if r.returncode != 0:
        raise TestFailure(f"{what} failed ({' '.join(argv)}, exit {r.returncode}):\n"
                          + (r.stdout + r.stderr)[-4000:])
    return r


def once(key, build):
    """Shared, expensive set-up, done by the first test that needs it; a
    failure is remembered so later tests report it at once."""
    if key not in state:
        try:
            state[key] = ("ok", build())
        except TestFailure as e:
            state[key] = ("failed", str(e))
    kind, value = state[key]
    if kind == "failed":
        raise TestFailure(f"(set-up step {key!r} failed before)\n{value}")
    return value


def clean_env():
    """The environment of the test minus make's and automake's own
    variables, which must not leak into another project's build."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MAKE") and k not in ("MFLAGS", "srcdir", "top_srcdir",
                                                     "PKG_CONFIG_SYSROOT_DIR")}
    return env


def relocate_pc(pc, stage):
    """Points the staged vaproxy-sdk.pc into the stage, as if vaproxy had
    been configured with --prefix=<stage><prefix>: every absolute value
    gets the stage in front (the others are ${...} references)."""
    text = read_text(pc)
    out = []
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_.]*)=(/.*)$", line)
        out.append(f"{m.group(1)}={stage}{m.group(2)}" if m else line)
    with open(pc, "w") as f:
        f.write("\n".join(out) + "\n")


def staged():
    """`make install-sdk DESTDIR=stage`, then the environment a plugin
    author would have with that SDK: PKG_CONFIG_PATH and ACLOCAL_PATH."""
    def build():
        stage = tmpdir("vaproxy-sdk-stage-")
        env = clean_env()
        sh(["make", "-C", BUILD, "install-sdk", "DESTDIR=" + stage], BUILD, env,
           "staging the SDK")
        pcs = find_named(stage, "vaproxy-sdk.pc")
        check(len(pcs) == 1, f"expected one installed vaproxy-sdk.pc, found {pcs}")
        m4s = find_named(stage, "vaproxy-sdk.m4", parent="aclocal")
        check(len(m4s) == 1, f"expected one installed aclocal/vaproxy-sdk.m4, found {m4s}")
        pc_dir = os.path.dirname(pcs[0])
        # What the .pc says before relocation: where the real install goes.
        orig = {}
        for var in ("prefix", "plugindir", "mockhostdir", "abi_major", "abi_minor"):
            r = sh(["pkg-config", "--variable=" + var, "vaproxy-sdk"], stage,
                   dict(env, PKG_CONFIG_PATH=pc_dir), "reading vaproxy-sdk.pc")
            orig[var] = r.stdout.strip()
        relocate_pc(pcs[0], stage)
        env["PKG_CONFIG_PATH"] = pc_dir
        env["ACLOCAL_PATH"] = os.path.dirname(m4s[0]) + (
            ":" + env["ACLOCAL_PATH"] if env.get("ACLOCAL_PATH") else "")
        return {"dir": stage, "env": env, "orig": orig,
                "share": os.path.dirname(os.path.dirname(m4s[0]))}
    need_tools(STAGE_TOOLS)
    return once("stage", build)


def pkg_var(var):
    st = staged()
    r = sh(["pkg-config", "--variable=" + var, "vaproxy-sdk"], st["dir"], st["env"],
           "pkg-config")
    return r.stdout.strip()


def built():
    """The installed template, copied out of tree and taken through
    autoreconf, configure, make, make check and make install."""
    def build():
        st = staged()
        env = st["env"]
        work = os.path.join(tmpdir("vaproxy-template-"), "auth-example")
        shutil.copytree(os.path.join(st["share"], "vaproxy-sdk", "template"), work)
        out = {"dir": work}
        sh(["autoreconf", "-fi"], work, env, "autoreconf of the template")
        out["configure"] = sh(["./configure", "CFLAGS=" + CFLAGS], work, env,
                              "configure of the template").stdout
        strict = "CFLAGS=" + CFLAGS + " -Werror"
        sh(["make", strict], work, env, "make of the template")
        # make check's failure is a test result, not a set-up error.
        r = subprocess.run(["make", "check", strict], cwd=work, env=env,
                           capture_output=True, text=True, timeout=STEP_TIMEOUT)
        out["check_rc"] = r.returncode
        out["check_out"] = r.stdout + r.stderr
        sh(["make", "install"], work, env, "make install of the template")
        return out
    need_tools()
    return once("template", build)


def installed_plugin_dir():
    built()
    return pkg_var("plugindir")


@test("the SDK installs its macro, the mock host and the template")
def _():
    st = staged()
    share = st["share"]
    for f in ("aclocal/vaproxy-sdk.m4", "vaproxy-sdk/mock_host.c", "vaproxy-sdk/mock_host.h",
              "vaproxy-sdk/template/configure.ac", "vaproxy-sdk/template/Makefile.am",
              "vaproxy-sdk/template/README.md", "vaproxy-sdk/template/src/auth_example.c",
              "vaproxy-sdk/template/tests/test_auth_example.c",
              "vaproxy-sdk/template/tests/mock_host_build.c"):
        check(os.path.isfile(os.path.join(share, f)), f"{f} is not installed under {share}")
    # One source of truth: the installed mock host is the in-tree one.
    for f in ("mock_host.c", "mock_host.h"):
        eq(read_text(os.path.join(share, "vaproxy-sdk", f)),
           read_text(os.path.join(SRC, "tests", "host", f)), f"installed {f} vs tests/host/{f}")
    for f, src in (("base/duration.c", "core/base/duration.c"),
                   ("plugin/file_read.c", "core/plugin/file_read.c")):
        eq(read_text(os.path.join(share, "vaproxy-sdk", f)),
           read_text(os.path.join(SRC, src)), f"installed {f} vs {src}")
    eq(pkg_var("mockhostdir"), os.path.join(share, "vaproxy-sdk"), "mockhostdir")


@test("vaproxy-sdk.pc: plugindir is vaproxyd's default and the ABI is version.h's")
def _():
    st = staged()
    r = subprocess.run([os.environ["VAPROXYD"], "--help"], capture_output=True, text=True,
                       timeout=20)
    m = re.search(r"--plugin-dir DIR.*?\(default: ([^)]+)\)", r.stdout + r.stderr, re.S)
    check(m is not None, "vaproxyd --help names its default plugin directory:\n" + r.stdout)
    eq(st["orig"]["plugindir"], m.group(1), "pkg-config plugindir vs vaproxyd's default")
    version_h = read_text(os.path.join(SRC, "include", "vaproxy", "version.h"))
    for var, macro in (("abi_major", "VP_ABI_MAJOR"), ("abi_minor", "VP_ABI_MINOR")):
        m = re.search(r"#define\s+" + macro + r"\s+(\d+)", version_h)
        eq(st["orig"][var], m.group(1), f"{var} in vaproxy-sdk.pc vs {macro} in version.h")


@test("the template configures against the staged SDK through VAPROXY_CHECK_SDK",
      timeout=600)
def _():
    b = built()
    st = staged()
    contains(b["configure"], "checking for the vaproxy SDK's ABI version... 1.",
             "ABI read from the headers")
    contains(b["configure"], "checking for the vaproxy SDK's mock host... "
             + os.path.join(st["share"], "vaproxy-sdk"), "mock host found")
    makefile = read_text(os.path.join(b["dir"], "Makefile"))
    m = re.search(r"^VAPROXY_SDK_CFLAGS = (.*)$", makefile, re.M)
    check(m is not None, "VAPROXY_SDK_CFLAGS is substituted")
    contains(m.group(1), "-I" + st["dir"], "SDK headers from the stage, not the tree")
    m = re.search(r"^vaproxy_plugindir = (.*)$", makefile, re.M)
    eq(m and m.group(1), pkg_var("plugindir"), "vaproxy_plugindir from pkg-config")


@test("the template's plugin builds strict C11 and exports only its descriptor", timeout=600)
def _():
    b = built()
    so = os.path.join(b["dir"], ".libs", "auth_example.so")
    check(os.path.isfile(so), "auth_example.so was not built")
    if shutil.which("nm"):
        r = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True)
        syms = [l.split()[-1] for l in r.stdout.splitlines() if l.split()[-2:-1] in (["D"], ["R"], ["T"], ["B"])]
        eq(syms, ["auth_example_LTX_vaproxy_plugin"], "exported symbols")


@test("the template's make check runs its unit tests against the mock host", timeout=600)
def _():
    b = built()
    log = read_text(os.path.join(b["dir"], "tests", "test_auth_example.log")) or ""
    eq(b["check_rc"], 0, "make check of the template; the unit test said:\n" + log[-3000:])
    m = re.search(r"^(\d+) checks, (\d+) failed$", log, re.M)
    check(m is not None, "the unit test ran to its summary:\n" + log)
    check(int(m.group(1)) >= 20, f"the unit test made too few checks: {m.group(0)}")
    eq(m.group(2), "0", "failed checks\n" + log)
    contains(read_text(os.path.join(b["dir"], "test-suite.log")) or "", "# PASS:  1",
             "automake's summary")


@test("make install puts auth_example.so in pkg-config's plugindir, without the .la",
      timeout=600)
def _():
    d = installed_plugin_dir()
    eq(sorted(os.listdir(d)) if os.path.isdir(d) else None, ["auth_example.so"],
       f"files in {d}")


@test("VAPROXY_CHECK_SDK refuses an SDK of another ABI, or none, and says why", timeout=120)
def _():
    st = staged()
    need_tools()
    work = tmpdir("vaproxy-m4-")
    with open(os.path.join(work, "configure.ac"), "w") as f:
        f.write("AC_INIT([abi-probe], [1])\nVAPROXY_CHECK_SDK([2.0])\nAC_OUTPUT\n")
    sh(["aclocal"], work, st["env"], "aclocal")
    sh(["autoconf"], work, st["env"], "autoconf")
    r = subprocess.run(["./configure"], cwd=work, env=st["env"], capture_output=True,
                       text=True, timeout=120)
    check(r.returncode != 0, "configure must fail for ABI 2.0")
    contains(r.stderr, "the vaproxy SDK speaks ABI 1.", "the reason")
    contains(r.stderr, "this plugin needs ABI 2.0", "what was asked for")
    env = dict(st["env"], PKG_CONFIG_PATH=work, PKG_CONFIG_LIBDIR=work)
    r = subprocess.run(["./configure"], cwd=work, env=env, capture_output=True,
                       text=True, timeout=120)
    check(r.returncode != 0, "configure must fail without the SDK")
    contains(r.stderr, "the vaproxy SDK was not found by pkg-config", "the reason")
    contains(r.stderr, "libvaproxy-sdk-dev", "what to install")


CONFIG = '''
vault { address = "{sim}" }
auto_auth {
  method "example" {
    mount_path = "auth/userpass"
    min_backoff = "200ms"
    max_backoff = "1s"
    config = {
      username = "{user}"
      password_file_path = "{pwfile}"
    }
  }
  sink "file" {
    config = { path = "{sink}" }
  }
}
'''


@test("vaproxyd loads the installed template plugin and logs in through it", timeout=600)
def _():
    plugins = installed_plugin_dir()
    sim = Sim()
    sim.control("POST", "userpass", {"username": "alice", "password": "pw-from-file"})
    d = tmpdir()
    pwfile, sink = os.path.join(d, "password"), os.path.join(d, "token")
    with open(pwfile, "w") as f:
        f.write("pw-from-file\n")
    p = Proxy(CONFIG, args=["--plugin-dir", plugins], sim=sim.addr, user="alice",
              pwfile=pwfile, sink=sink)
    token = wait_until(lambda: read_text(sink), timeout=10, msg="a token in the sink")
    logins = [q for q in sim.requests("/v1/auth/userpass/login") if q["status"] is not None]
    check(logins, "no login reached the simulator")
    eq(logins[0]["method"], "PUT", "login method")
    eq(logins[0]["path"], "/v1/auth/userpass/login/alice", "login path")
    eq(rec_body(logins[0]), {"password": "pw-from-file"}, "login body")
    eq(logins[0]["status"], 200, "login answer")
    r = sim.api("GET", "auth/token/lookup-self", token=token)
    eq(r.status, 200, "the sink's token is a live token")
    eq(r.json()["data"]["meta"], {"username": "alice"}, "it belongs to alice")
    check("pw-from-file" not in p.log(), "the password never reaches the log")


@test("vaproxyd --check-config shows the template plugin's own refusal", timeout=600)
def _():
    plugins = installed_plugin_dir()
    d = tmpdir()
    cfg = os.path.join(d, "p.hcl")
    with open(cfg, "w") as f:
        f.write(CONFIG.replace("{sim}", "http://127.0.0.1:1").replace("{user}", "../sys/x")
                .replace("{pwfile}", os.path.join(d, "pw")).replace("{sink}", os.path.join(d, "t")))
    r = subprocess.run([os.environ["VAPROXYD"], "--config", cfg, "--plugin-dir",
                        os.environ["VAPROXY_PLUGIN_DIR"], "--plugin-dir", plugins,
                        "--check-config"], capture_output=True, text=True, timeout=20)
    check(r.returncode != 0, "a user name that would change the login path must be refused")
    contains(r.stderr, cfg, "the config file is named")
    contains(r.stderr, 'username must be a non-empty name of letters, digits and . _ - @ '
             '(got "../sys/x")', "the plugin's message")


if __name__ == "__main__":
    sys.exit(run())
