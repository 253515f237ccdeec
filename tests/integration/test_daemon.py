#!/usr/bin/python3
"""TAP integration tests of vaproxyd as a program: command line (vaproxyd(8)),
config files, directories and JSON, validation errors (vaproxyd.hcl(5)),
environment overrides, plugin refusal, --dump-chain, and log
secrecy.
"""

import glob
import json
import os
import re
import subprocess
import sys

from harness import PLAIN_CONFIG
from harness import (Proxy, Sim, TestFailure, check, contains, diag, eq, free_port, request,
                     run, skip, test, tmpdir, wait_until)

sim = Sim()

BINARY = os.environ.get("VAPROXYD", "")
PLUGIN_DIR = os.environ.get("VAPROXY_PLUGIN_DIR", "")
TEST_PLUGIN_DIR = os.environ.get("VAPROXY_TEST_PLUGIN_DIR", "")
SRCDIR = os.environ.get("VAPROXY_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BASIC = PLAIN_CONFIG


class Daemon(Proxy):
    """vaproxyd with exactly the given arguments (no --config/--plugin-dir
    added), under the harness's process management."""

    def __init__(self, args, env=None, **subst):
        self.dir = tmpdir("vaproxyd-")
        self.subst = subst
        full_env = dict(os.environ)
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = str(v)
        self._start([BINARY] + list(args), env=full_env, cwd=self.dir)


def cli(*args, env=None, timeout=15):
    """Runs vaproxyd to completion -> CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([BINARY] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=full_env, stdin=subprocess.DEVNULL)


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def config_file(text, name="config.hcl", d=None, **subst):
    d = d or tmpdir("cfg-")
    for k, v in subst.items():
        text = text.replace("{" + k + "}", str(v))
    return write_file(os.path.join(d, name), text)


def check_config(path, *extra, env=None):
    return cli("--check-config", "--config", path, "--plugin-dir", PLUGIN_DIR, *extra, env=env)


def one_line_error(res, path, line, key, what):
    check(res.returncode != 0, f"{what}: exit status {res.returncode} must be non-zero")
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    eq(len(lines), 1, f"{what}: exactly one line on stderr, got {res.stderr!r}")
    msg = lines[0]
    contains(msg, f"{path}:{line}", f"{what}: names file and line")
    contains(msg, key, f"{what}: names the key")
    return msg


def served(port, path="/v1/sim/echo/x"):
    r = request(port, "GET", path)
    eq(r.status, 200, f"request through the daemon (body {r.body[:200]!r})")
    return r


# --------------------------------------------------------------------------
# command line

@test("--version, -version, --help, unknown option, no config")
def _():
    for flag in ("--version", "-version"):
        r = cli(flag)
        eq(r.returncode, 0, f"{flag} exit status")
        check(re.match(r"^vaproxyd \d+\.\d+\.\d+", r.stdout), f"{flag} output: {r.stdout!r}")
    r = cli("--help")
    eq(r.returncode, 0, "--help exit status")
    for word in ("Usage", "--config", "--plugin-dir", "--check-config", "--log-level"):
        contains(r.stdout, word, "--help text")
    r = cli("--no-such-flag")
    check(r.returncode != 0, "unknown option refused")
    contains(r.stderr, "no-such-flag", "the unknown option is named")
    r = cli(env={"BAO_PROXY_CONFIG_PATH": "", "VAULT_PROXY_CONFIG_PATH": ""})
    check(r.returncode != 0, "no config path: non-zero")
    contains(r.stderr, "config", "no config path: message")


@test("-config=FILE (Vault's form) starts and serves")
def _():
    port = free_port()
    path = config_file(BASIC, sim=sim.addr, port=port)
    p = Daemon([f"-config={path}", f"-plugin-dir={PLUGIN_DIR}"], port=port)
    p.wait_ready()
    sim.reset()
    served(port, "/v1/sim/echo/vault-form")
    eq(len(sim.requests("/v1/sim/echo/vault-form")), 1, "reached the simulator")
    # BAO_PROXY_CONFIG_PATH when no flag names a config.
    port2 = free_port()
    path2 = config_file(BASIC, sim=sim.addr, port=port2)
    p2 = Daemon([f"--plugin-dir={PLUGIN_DIR}"], env={"BAO_PROXY_CONFIG_PATH": path2}, port=port2)
    p2.wait_ready()
    served(port2)


@test("--check-config: valid exits 0; unknown key and wrong type: one line with file:line:key")
def _():
    good = config_file(BASIC, sim=sim.addr, port=8100)
    r = check_config(good)
    eq(r.returncode, 0, f"valid config: {r.stderr!r}")
    bad = config_file("""vault {
  address = "http://127.0.0.1:8200"
}
listener "tcp" {
  addres = "127.0.0.1:8100"
  tls_disable = true
}
""")
    msg = one_line_error(check_config(bad), bad, 5, "addres", "unknown key")
    diag(msg)
    wrong = config_file("""listener "tcp" {
  address = "127.0.0.1:8100"
  tls_disable = true

  require_request_header = [1, 2]
}
""")
    one_line_error(check_config(wrong), wrong, 5, "require_request_header", "wrong type")
    retry = config_file("""vault {
  address = "http://127.0.0.1:8200"
  retry {
    num_retries = "many"
  }
}
listener "tcp" {
  address = "127.0.0.1:8100"
  tls_disable = true
}
""")
    one_line_error(check_config(retry), retry, 4, "num_retries", "wrong type in retry")
    # The same errors stop a real start, with a non-zero status.
    p = Daemon(["--config", bad, "--plugin-dir", PLUGIN_DIR])
    rc = p.wait_exit(timeout=10)
    check(rc not in (0, None), f"start with a bad config: status {rc}")
    contains(p.log(), "addres", "start error names the key")


@test("validation rules after merge and bad values are refused")
def _():
    cases = [
        ("api_proxy { use_auto_auth_token = true }\n"
         'listener "tcp" {\n address = "127.0.0.1:8100"\n tls_disable = true\n}\n',
         "auto_auth"),
        ('vault { address = "http://127.0.0.1:8200" }\n', "listener"),
        ("api_proxy { use_auto_auth_token = \"x\" }\n"
         'listener "tcp" {\n address = "127.0.0.1:8100"\n tls_disable = true\n}\n',
         "use_auto_auth_token"),
        ('api_proxy { enforce_consistency = "sometimes" }\n'
         'listener "tcp" {\n address = "127.0.0.1:8100"\n tls_disable = true\n}\n',
         "enforce_consistency"),
        ('api_proxy {\n enforce_consistency = "always"\n when_inconsistent = "panic"\n}\n'
         'listener "tcp" {\n address = "127.0.0.1:8100"\n tls_disable = true\n}\n',
         "when_inconsistent"),
        ('listener "tcp" {\n address = "127.0.0.1:8100"\n tls_disable = true\n'
         ' role = "admin"\n}\n', "role"),
        ('listener "udp" {\n address = "127.0.0.1:8100"\n}\n', "udp"),
    ]
    for text, word in cases:
        path = config_file(text)
        r = check_config(path)
        check(r.returncode != 0, f"refused: {text!r} (stdout {r.stdout!r})")
        contains(r.stderr, word, f"message for {text!r}")
        eq(len([l for l in r.stderr.splitlines() if l.strip()]), 1, f"one line for {text!r}")


@test("a config directory: .hcl and .json merged, editor files and sub-directories skipped")
def _():
    d = tmpdir("cfgdir-")
    port1, port2 = free_port(), free_port()
    config_file('vault {\n  address = "{sim}"\n  retry { num_retries = -1 }\n}\n'
                'listener "tcp" {\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}\n',
                "a.hcl", d, sim=sim.addr, port=port1)
    config_file(json.dumps({"listener": [{"tcp": {"address": f"127.0.0.1:{port2}",
                                                  "tls_disable": True}}]}), "b.json", d)
    for junk in ("c.hcl~", ".#d.hcl", "#e.hcl#", "notes.txt"):
        write_file(os.path.join(d, junk), "this is { not a config\n")
    os.mkdir(os.path.join(d, "sub.hcl"))
    write_file(os.path.join(d, "sub.hcl", "x.hcl"), "garbage {{{\n")
    r = check_config(d)
    eq(r.returncode, 0, f"directory config valid: {r.stderr!r}")
    p = Daemon(["--config", d, "--plugin-dir", PLUGIN_DIR], port=port1)
    p.wait_ready(port1)
    p.wait_ready(port2)
    served(port1)
    served(port2)


@test("JSON config form starts and serves")
def _():
    port = free_port()
    p = Proxy(json.dumps({
        "vault": {"address": "{sim}", "retry": {"num_retries": -1}},
        "api_proxy": {"enforce_consistency": "never"},
        "listener": {"tcp": {"address": "127.0.0.1:{port}", "tls_disable": "true",
                             "proxy_api": {"enable_quit": True}}},
    }), sim=sim.addr, port=port)
    check(p.config_path.endswith(".json"), "written as JSON")
    p.wait_ready()
    served(port)
    eq(request(port, "GET", "/proxy/v1/quit").status, 405, "proxy_api from JSON applied")
    eq(request(port, "POST", "/proxy/v1/quit").status, 200, "quit")
    eq(p.wait_exit(), 0, "exit status")


@test("the seed config (tests/data/config/seed) passes --check-config")
def _():
    seed = os.path.join(SRCDIR, "tests", "data", "config", "seed")
    if not os.path.isdir(seed):
        skip(f"{seed} not present")
    r = check_config(seed)
    eq(r.returncode, 0, f"seed config: {r.stderr!r}")
    r = cli("--dump-chain", "--config", seed, "--plugin-dir", PLUGIN_DIR)
    eq(r.returncode, 0, f"--dump-chain on the seed: {r.stderr!r}")
    contains(r.stdout, 'consistency "always"', "seed's enforce_consistency in the chain")
    for name in ("full.hcl", "full.json"):
        path = os.path.join(SRCDIR, "tests", "data", "config", name)
        if os.path.exists(path):
            # approle is not shipped as a plugin here; the file itself must parse.
            r = check_config(path)
            check(r.returncode == 0 or "approle" in r.stderr,
                  f"{name}: {r.returncode} {r.stderr!r}")


@test("VAULT_ADDR and BAO_ADDR override vault.address")
def _():
    dead = "http://127.0.0.1:1"
    for env in ({"VAULT_ADDR": sim.addr, "BAO_ADDR": None},
                {"BAO_ADDR": sim.addr, "VAULT_ADDR": dead}):
        port = free_port()
        p = Proxy(BASIC, sim=dead, port=port, env=env)
        p.wait_ready()
        sim.reset()
        served(port, "/v1/sim/echo/env")
        eq(len(sim.requests("/v1/sim/echo/env")), 1, f"{sorted(env)}: reached the simulator")
        p.kill()
    # Without the variables the config's address is used (and is dead: 502).
    port = free_port()
    p = Proxy(BASIC, sim=dead, port=port, env={"VAULT_ADDR": None, "BAO_ADDR": None})
    p.wait_ready()
    eq(request(port, "GET", "/v1/sim/echo/env", timeout=20).status, 502, "config address used")


@test("VAULT_MAX_RETRIES overrides vault.retry.num_retries")
def _():
    port = free_port()
    p = Proxy(BASIC, sim=sim.addr, port=port,
              env={"VAULT_MAX_RETRIES": "2", "BAO_MAX_RETRIES": None,
                   "VAPROXY_RETRY_WAIT_MS": "20,30"})
    p.wait_ready()
    sim.reset()
    sim.fail(count=2, status=500, path_prefix="/v1/sim/echo/mr")
    eq(request(port, "GET", "/v1/sim/echo/mr").status, 200,
       "two retries although the config says num_retries = -1")
    eq(len(sim.requests("/v1/sim/echo/mr")), 3, "attempts")


@test("several --config files are merged: listeners append, later vault block wins")
def _():
    d = tmpdir("multi-")
    port1, port2 = free_port(), free_port()
    a = config_file('vault { address = "http://127.0.0.1:1" }\n'
                    'listener "tcp" {\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}\n',
                    "a.hcl", d, port=port1)
    b = config_file('vault {\n  address = "{sim}"\n  retry { num_retries = -1 }\n}\n'
                    'listener "tcp" {\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}\n',
                    "b.hcl", d, sim=sim.addr, port=port2)
    p = Daemon(["--config", a, "--config", b, "--plugin-dir", PLUGIN_DIR],
               env={"VAULT_ADDR": None, "BAO_ADDR": None})
    p.wait_ready(port1)
    p.wait_ready(port2)
    served(port1)
    served(port2)


@test("log level and format: flag > environment > config; json lines")
def _():
    def start(args=(), env=None, cfg_level="error"):
        port = free_port()
        e = {"BAO_LOG_LEVEL": None, "VAULT_LOG_LEVEL": None, "BAO_LOG_FORMAT": None,
             "VAULT_LOG_FORMAT": None}
        e.update(env or {})
        p = Proxy(f'log_level = "{cfg_level}"\n' + BASIC, sim=sim.addr, port=port, args=args,
                  env=e)
        p.wait_ready()
        served(port)
        p.stop()
        return p.log()

    eq(start().count("[debug]"), 0, "config error level: no debug lines")
    check(start(env={"VAULT_LOG_LEVEL": "debug"}).count("[debug]") > 0, "env beats config")
    check(start(env={"BAO_LOG_LEVEL": "debug", "VAULT_LOG_LEVEL": "error"}).count("[debug]") > 0,
          "BAO_ beats VAULT_")
    eq(start(args=["--log-level", "error"], env={"VAULT_LOG_LEVEL": "debug"}).count("[debug]"),
       0, "flag beats env")
    log = start(args=["--log-format", "json"], cfg_level="debug")
    lines = [l for l in log.splitlines() if l.strip()]
    check(len(lines) >= 3, f"json log has lines: {log!r}")
    for l in lines:
        try:
            obj = json.loads(l)
        except ValueError:
            raise TestFailure(f"not a JSON line: {l!r}")
        check(isinstance(obj, dict) and "@level" in obj and "@message" in obj,
              f"JSON log line shape: {l!r}")
    check(any(json.loads(l)["@level"] == "debug" for l in lines), "debug level in JSON")
    log = start(env={"VAULT_LOG_FORMAT": "json"})
    check(all(l.startswith("{") for l in log.splitlines() if l.strip()),
          f"VAULT_LOG_FORMAT=json: {log[:300]!r}")
    r = cli("--check-config", "--config", config_file(BASIC, sim=sim.addr, port=8100),
            "--plugin-dir", PLUGIN_DIR, "--log-level", "loud")
    check(r.returncode != 0 and "loud" in r.stderr, f"bad level refused: {r.stderr!r}")


def plugin_sos(directory):
    found = sorted(glob.glob(os.path.join(directory, "*.so")))
    return found or sorted(glob.glob(os.path.join(directory, ".libs", "*.so")))


@test("a bad plugin (bad magic, ABI major/minor, init, symbols, duplicate) is refused, naming its path")
def _():
    shipped = plugin_sos(PLUGIN_DIR)
    check(shipped, f"shipped plugins found under {PLUGIN_DIR}")
    for bad, words in (("bad_magic", ["bad magic"]), ("abi_major", ["ABI"]),
                       ("abi_minor", ["ABI", "newer"]),
                       ("init_fails", ["init failed", "the test plugin always fails"]),
                       ("no_descriptor", ["no descriptor"]),
                       ("undefined_symbol", ["vp_symbol_nobody_defines"]),
                       ("dup_never", ["already provided"])):
        src = [s for s in plugin_sos(TEST_PLUGIN_DIR) if os.path.basename(s) == bad + ".so"]
        if not src:
            skip(f"test plugin {bad}.so not built (make check builds check_LTLIBRARIES)")
        d = tmpdir("plugins-")
        for so in shipped + src:
            os.symlink(so, os.path.join(d, os.path.basename(so)))
        port = free_port()
        path = config_file(BASIC, sim=sim.addr, port=port)
        p = Daemon(["--config", path, "--plugin-dir", d], port=port)
        rc = p.wait_exit(timeout=10)
        check(rc not in (0, None), f"{bad}: exit status {rc} must be non-zero")
        log = p.log()
        contains(log, os.path.join(d, bad), f"{bad}: the plugin's path is named")
        for w in words:
            contains(log, w, f"{bad}: the reason")
        # And the same directory fails --check-config.
        r = cli("--check-config", "--config", path, "--plugin-dir", d)
        check(r.returncode != 0, f"{bad}: --check-config refuses too")
        contains(r.stderr, os.path.join(d, bad), f"{bad}: --check-config names the path")
    # Control: the shipped plugins alone are fine.
    d = tmpdir("plugins-")
    for so in shipped:
        os.symlink(so, os.path.join(d, os.path.basename(so)))
    r = cli("--check-config", "--config", config_file(BASIC, sim=sim.addr, port=8100),
            "--plugin-dir", d)
    eq(r.returncode, 0, f"shipped plugins only: {r.stderr!r}")


@test("a listener address already in use: non-zero exit naming the address")
def _():
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        p = Proxy(BASIC, sim=sim.addr, port=port)
        rc = p.wait_exit(timeout=10)
        check(rc not in (0, None), f"exit status {rc}")
        contains(p.log(), f"127.0.0.1:{port}", "the address is named")


@test("--dump-chain lists the consistency policy")
def _():
    for enforce, when in (("always", "retry"), ("never", None), (None, None)):
        api = ""
        if enforce:
            api = f'api_proxy {{\n  enforce_consistency = "{enforce}"\n'
            if when:
                api += f'  when_inconsistent = "{when}"\n'
            api += "}\n"
        path = config_file(api + BASIC, sim=sim.addr, port=8100)
        r = cli("--dump-chain", "--config", path, "--plugin-dir", PLUGIN_DIR)
        eq(r.returncode, 0, f"--dump-chain: {r.stderr!r}")
        contains(r.stdout, f'consistency "{enforce or "never"}"', "policy in the chain")
        contains(r.stdout, "consistency_vault", "the providing plugin")


@test("--dump-chain shows the lease cache as a phase: lookup last in the request phase, store last in the response phase")
def _():
    path = config_file("cache {}\n" + BASIC, sim=sim.addr, port=8100)
    r = cli("--dump-chain", "--config", path, "--plugin-dir", PLUGIN_DIR)
    eq(r.returncode, 0, f"--dump-chain: {r.stderr!r}")
    request_phase, _, rest = r.stdout.partition("forward: upstream")
    response_phase = rest.partition("response phase:")[2]
    contains(request_phase, '2. cache lookup: lease cache over cache "memory"',
             "the lookup after the consistency policy")
    contains(request_phase, "cache_memory", "the providing plugin")
    contains(response_phase, '2. cache store: lease cache over cache "memory"',
             "the store after the response hooks")
    path = config_file(BASIC, sim=sim.addr, port=8100)
    r = cli("--dump-chain", "--config", path, "--plugin-dir", PLUGIN_DIR)
    eq(r.returncode, 0, f"--dump-chain: {r.stderr!r}")
    # Not the bare word: the plugin paths printed may hold it (~/.cache).
    check("cache lookup" not in r.stdout and "cache store" not in r.stdout,
          f"no cache phase without a cache block: {r.stdout!r}")


@test("an unknown auth method type: clear error naming the file and the method")
def _():
    path = config_file("""vault {
  address = "http://127.0.0.1:8200"
}
auto_auth {
  method "frobnicate" {
    config = { x = "y" }
  }
  sink "file" {
    config = { path = "/tmp/unused-sink" }
  }
}
listener "tcp" {
  address = "127.0.0.1:8100"
  tls_disable = true
}
""")
    r = check_config(path)
    check(r.returncode != 0, "refused")
    eq(len([l for l in r.stderr.splitlines() if l.strip()]), 1, f"one line: {r.stderr!r}")
    contains(r.stderr, path, "names the file")
    contains(r.stderr, "frobnicate", "names the method")
    p = Daemon(["--config", path, "--plugin-dir", PLUGIN_DIR])
    rc = p.wait_exit(timeout=10)
    check(rc not in (0, None), f"start refused: {rc}")
    contains(p.log(), "frobnicate", "start error names the method")


@test("log secrecy: no token value appears in a debug log")
def _():
    sim.reset()
    aa = sim.make_token(ttl=4, renewable=True)["id"]
    client = sim.make_token(ttl=600)["id"]
    d = tmpdir("secret-")
    tf = write_file(os.path.join(d, "token"), aa + "\n")
    port = free_port()
    p = Proxy("""
vault {
  address = "{sim}"
  retry { num_retries = 1 }
}
log_level = "debug"
auto_auth {
  method "token_file" {
    min_backoff = "100ms"
    max_backoff = "300ms"
    config = { token_file_path = "{tf}" }
  }
  sink "file" {
    config = { path = "{sink}" }
  }
}
api_proxy { use_auto_auth_token = true }
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
""", sim=sim.addr, port=port, tf=tf, sink=os.path.join(d, "sink"),
              args=["--log-level", "debug"], env={"VAPROXY_RETRY_WAIT_MS": "20,30"})
    p.wait_ready()
    wait_until(lambda: [q for q in sim.requests("/v1/auth/token/renew-self")
                        if q["token"] == aa], timeout=5, msg="auto-auth renewal")
    secrets = [aa, client]
    eq(request(port, "GET", "/v1/auth/token/lookup-self").status, 200, "auto-auth token used")
    eq(request(port, "GET", "/v1/auth/token/lookup-self", {"X-Vault-Token": client}).status,
       200, "client token")
    r = request(port, "POST", "/v1/auth/token/create", {"X-Vault-Token": client},
                {"ttl": "60s"})
    eq(r.status, 200, "token created through the proxy")
    secrets.append(r.json()["auth"]["client_token"])
    r = request(port, "POST", "/v1/auth/token/lookup", {"X-Vault-Token": client},
                {"token": secrets[-1]})
    eq(r.status, 200, "lookup with a token in the body")
    request(port, "GET", "/v1/sim/echo/bearer", {"Authorization": f"Bearer {client}"})
    request(port, "GET", "/v1/sim/status/403", {"X-Vault-Token": client})
    sim.fail(count=1, status=500, path_prefix="/v1/sim/echo/retry")
    request(port, "GET", "/v1/sim/echo/retry", {"X-Vault-Token": client})
    # Revoke the auto-auth token: a failed renewal and a re-login with a new one.
    new = sim.make_token(ttl=600)["id"]
    secrets.append(new)
    write_file(tf, new)
    sim.revoke(aa)
    wait_until(lambda: [q for q in sim.requests("/v1/auth/token/lookup-self")
                        if q["token"] == new], timeout=8, msg="re-login with the new token")
    eq(p.stop(), 0, "clean exit")
    log = p.log()
    check(log.count("[debug]") >= 5 or log.count('"@level":"debug"') >= 5,
          f"the log is at debug level:\n{log[-2000:]}")
    diag(f"{len(log.splitlines())} log lines checked")
    for s in secrets:
        for form in (s, s[4:] if s.startswith("hvs.") else s):
            check(form not in log, f"token {s[:8]}... appears in the log:\n" +
                  "\n".join(l for l in log.splitlines() if form in l)[:2000])


if __name__ == "__main__":
    sys.exit(run())
