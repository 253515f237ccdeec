#!/usr/bin/python3
"""TAP integration tests of how vaproxyd finds, checks and shows plugins
(vaproxyd(8), vaproxy-plugin(3)): immediate binding, permissions, the
search order of --plugin-dir, --describe-plugins, --dump-chain, redaction
by schema in --check-config -v, and the cache block with a third-party
store.  Needs no simulator: nothing here serves a request.
"""

import json
import os
import shutil
import subprocess
import sys

from harness import PLAIN_CONFIG
from harness import check, contains, eq, run, template, test, tmpdir

BINARY = os.environ.get("VAPROXYD", "")
PLUGIN_DIR = os.environ.get("VAPROXY_PLUGIN_DIR", "")
TEST_PLUGIN_DIR = os.environ.get("VAPROXY_TEST_PLUGIN_DIR", "")

BASIC = template(PLAIN_CONFIG, sim="http://127.0.0.1:1", port=8100)


def cli(*args, timeout=15):
    return subprocess.run([BINARY] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def config(text):
    path = os.path.join(tmpdir("cfg-"), "config.hcl")
    with open(path, "w") as f:
        f.write(text)
    return path


def plugin_copy(*names, src=None):
    """A fresh directory (mode 0755) holding copies of the named modules."""
    d = tmpdir("plugins-")
    os.chmod(d, 0o755)
    for name in names:
        shutil.copy(os.path.join(src or TEST_PLUGIN_DIR, ".libs", name + ".so"), d)
        os.chmod(os.path.join(d, name + ".so"), 0o755)
    return d


@test("a plugin with an unresolved symbol is refused at start, naming its path and the symbol")
def _():
    d = plugin_copy("undefined_symbol")
    r = cli("--check-config", "--config", config(BASIC), "--plugin-dir", PLUGIN_DIR,
            "--plugin-dir", d, "--no-default-plugin-dir")
    check(r.returncode != 0, f"must be refused: {r.stdout!r} {r.stderr!r}")
    contains(r.stderr, os.path.join(d, "undefined_symbol") + " refused", "the plugin's path")
    contains(r.stderr, "vp_symbol_nobody_defines", "the missing symbol")


@test("a world-writable plugin file or directory is refused with a clear message")
def _():
    d = plugin_copy("trace")
    os.chmod(d, 0o777)
    r = cli("--check-config", "--config", config(BASIC), "--plugin-dir", PLUGIN_DIR,
            "--plugin-dir", d)
    check(r.returncode != 0, "a world-writable directory must be refused")
    contains(r.stderr, f"directory {d} is writable by every user (mode 0777)", "says why")
    os.chmod(d, 0o755)
    os.chmod(os.path.join(d, "trace.so"), 0o757)
    r = cli("--check-config", "--config", config(BASIC), "--plugin-dir", PLUGIN_DIR,
            "--plugin-dir", d)
    check(r.returncode != 0, "a world-writable file must be refused")
    contains(r.stderr, "trace.so is writable by every user (mode 0757)", "says why")
    os.chmod(os.path.join(d, "trace.so"), 0o755)
    r = cli("--check-config", "--config", config(BASIC), "--plugin-dir", PLUGIN_DIR,
            "--plugin-dir", d)
    eq(r.returncode, 0, f"once fixed it loads: {r.stderr!r}")


@test("--plugin-dir adds directories searched before the default one; the first module "
      "of a name wins; --help says so")
def _():
    d = plugin_copy("consistency_vault", src=PLUGIN_DIR)
    r = cli("--describe-plugins", "--plugin-dir", d, "--plugin-dir", PLUGIN_DIR)
    eq(r.returncode, 0, f"same module in two directories: {r.stderr!r}")
    contains(r.stdout, os.path.join(d, "consistency_vault"), "the earlier directory's copy")
    check(os.path.join(PLUGIN_DIR, "consistency_vault") not in r.stdout,
          "the later copy is skipped")
    contains(r.stdout, 'auth "token_file"', "the later directory's other plugins")
    r = cli("--help")
    contains(r.stdout, "searched in order, then the default", "--help gives the order")
    contains(r.stdout, "--no-default-plugin-dir", "--help names the opt-out")


@test("--describe-plugins: every loaded plugin with kind, name, version, ABI and schema")
def _():
    r = cli("--describe-plugins", "--plugin-dir", PLUGIN_DIR, "--no-default-plugin-dir")
    eq(r.returncode, 0, f"--describe-plugins: {r.stderr!r}")
    contains(r.stdout, "auth_token_file 1.0 (ABI 1.", "module, version and ABI")
    contains(r.stdout, 'auth "token_file"', "kind and name")
    contains(r.stdout, "token_file_path: path, required", "a key, its type and flag")
    contains(r.stdout, 'cache "memory"', "a cache")
    contains(r.stdout, 'consistency "always"', "a consistency policy")
    d = plugin_copy("abi_target")
    r = cli("--describe-plugins", "--plugin-dir", d, "--no-default-plugin-dir")
    eq(r.returncode, 0, f"--describe-plugins: {r.stderr!r}")
    contains(r.stdout, "abi_target test (ABI 1.1)", "the minor the plugin declares")
    contains(r.stdout, "(no configuration keys)", "an empty schema")


@test("--dump-chain names the auth method and the cache store")
def _():
    tok = os.path.join(tmpdir(), "token")
    path = config('cache {}\napi_proxy { use_auto_auth_token = true }\n'
                  'auto_auth {\n  method "token_file" {\n'
                  f'    config = {{ token_file_path = "{tok}" }}\n  }}\n}}\n' + BASIC)
    r = cli("--dump-chain", "--config", path, "--plugin-dir", PLUGIN_DIR)
    eq(r.returncode, 0, f"--dump-chain: {r.stderr!r}")
    contains(r.stdout, 'auto-auth: auth "token_file" (' + os.path.join(PLUGIN_DIR,
                                                                        "auth_token_file"),
             "the auth method and its plugin")
    contains(r.stdout, 'cache: lease cache over cache "memory" (', "the cache store")
    r = cli("--dump-chain", "--config", config(BASIC), "--plugin-dir", PLUGIN_DIR)
    contains(r.stdout, "auto-auth: none", "no auth method")


KEYED = BASIC + """
plugin "consistency" "keyed" {
  config = { label = "shown-label", pin = "pin-1234", blob = "blob-b10b" }
}
"""


@test("--check-config -v redacts plugin keys the schema flags VP_CONF_SECRET, whatever "
      "their names")
def _():
    d = plugin_copy("keyed")
    path = config(KEYED + 'plugin "cache" "keyed_store" { config = { passphrase = "pp-one" } }\n'
                  'cache {\n  slots = 2\n}\n')
    r = cli("--check-config", "-v", "--config", path, "--plugin-dir", PLUGIN_DIR,
            "--plugin-dir", d)
    eq(r.returncode, 0, f"--check-config -v: {r.stderr!r}")
    dump = json.loads(r.stdout)
    keyed = [p for p in dump["plugin"] if p["name"] == "keyed"][0]["config"]
    eq(keyed, {"label": "shown-label", "pin": "<redacted>", "blob": "<redacted>"},
       "flagged keys redacted, the others shown")
    store = [p for p in dump["plugin"] if p["name"] == "keyed_store"][0]["config"]
    eq(store, {"passphrase": "<redacted>"}, "the cache store's plugin block")
    for secret in ("pin-1234", "blob-b10b", "pp-one"):
        check(secret not in r.stdout + r.stderr, f"{secret} printed")
    # The store's keys in the cache block, by the same schema.
    path = config(KEYED + 'plugin "cache" "keyed_store" {}\n'
                  'cache {\n  slots = 2\n  passphrase = "pp-two"\n}\n')
    r = cli("--check-config", "-v", "--config", path, "--plugin-dir", PLUGIN_DIR,
            "--plugin-dir", d)
    eq(r.returncode, 0, f"--check-config -v: {r.stderr!r}")
    eq(json.loads(r.stdout)["cache"], {"slots": 2, "passphrase": "<redacted>"},
       "the cache block")
    check("pp-two" not in r.stdout + r.stderr, "the passphrase printed")


@test("with a third-party cache store, the cache block is checked against its schema and "
      "handed to it; a plugin \"cache\" block alone leaves the cache off")
def _():
    d = plugin_copy("keyed")
    store = KEYED + 'plugin "cache" "keyed_store" {}\n'
    text = store + 'cache {\n  slots = 3\n  bogus_key = 1\n}\n'
    line = text.split("\n").index("  bogus_key = 1") + 1
    path = config(text)
    r = cli("--check-config", "--config", path, "--plugin-dir", PLUGIN_DIR, "--plugin-dir", d)
    check(r.returncode != 0, "an unknown key in the cache block must be refused")
    contains(r.stderr, f'{path}:{line}: cache "keyed_store": unknown key "bogus_key"',
             "file, line, store and key")
    path = config(store + "cache {}\n")
    r = cli("--check-config", "--config", path, "--plugin-dir", PLUGIN_DIR, "--plugin-dir", d)
    check(r.returncode != 0, "the store's required key is missing")
    contains(r.stderr, "slots", "names the missing key")
    path = config(store + "cache {\n  slots = 3\n}\n")
    r = cli("--dump-chain", "--config", path, "--plugin-dir", PLUGIN_DIR, "--plugin-dir", d,
            "--log-level", "info")
    eq(r.returncode, 0, f"--dump-chain: {r.stderr!r}")
    contains(r.stderr, "keyed_store: 3 slots", "the store got the cache block's key")
    contains(r.stdout, 'cache lookup: lease cache over cache "keyed_store"', "the store")
    path = config(store.replace("{}", '{ config = { slots = 4 } }') + "cache {\n  slots = 3\n}\n")
    r = cli("--check-config", "--config", path, "--plugin-dir", PLUGIN_DIR, "--plugin-dir", d)
    check(r.returncode != 0, "one key given twice must be refused")
    contains(r.stderr, 'cache store key "slots" is given both in the cache block and in '
             'plugin "cache" "keyed_store"', "says where")
    path = config(store.replace("{}", '{ config = { slots = 4 } }'))
    r = cli("--dump-chain", "--config", path, "--plugin-dir", PLUGIN_DIR, "--plugin-dir", d)
    eq(r.returncode, 0, f"--dump-chain: {r.stderr!r}")
    # Line by line, not the bare word: plugin paths may hold it (~/.cache).
    phases = [ln.split("(")[0] for ln in r.stdout.splitlines()]
    check(not any("cache" in ln for ln in phases),
          f"no cache without a cache block: {r.stdout!r}")
    contains(r.stderr, 'plugin "cache" "keyed_store" has no effect without a cache block',
             "a warning says so")
    # The shipped store still refuses what it does not know.
    path = config(BASIC + "cache {\n  bogus_key = 1\n}\n")
    r = cli("--check-config", "--config", path, "--plugin-dir", PLUGIN_DIR)
    check(r.returncode != 0, "an unknown key for the memory store")
    contains(r.stderr, 'unknown key "bogus_key"', "names the key")


@test("a login the auth method declines (VP_DECLINED) is retried, never logged as a failure "
      "nor fatal under exit_on_err")
def _():
    d = plugin_copy("keyed")
    sink = os.path.join(tmpdir(), "sink")
    path = config(BASIC + 'auto_auth {\n  method "keyed_wait" {\n    exit_on_err = true\n'
                  '    min_backoff = "200ms"\n  }\n'
                  f'  sink "file" {{\n    config = {{ path = "{sink}" }}\n  }}\n}}\n')
    p = subprocess.Popen([BINARY, "--config", path, "--plugin-dir", PLUGIN_DIR, "--plugin-dir", d,
                          "--log-level", "info"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    try:
        p.wait(timeout=2)
    except subprocess.TimeoutExpired:
        pass
    alive = p.poll() is None
    p.terminate()
    out = p.communicate(timeout=15)[0]
    check(alive, f"vaproxyd exited ({p.returncode}): {out[-2000:]}")
    contains(out, "[warn] proxy.auth.handler: the auth method cannot log in yet: "
             "waiting for the credential",
             "the method's reason, as a warning")
    check(out.count("cannot log in yet") >= 2, f"retried: {out[-2000:]}")
    check("login failed" not in out, f"no failure logged: {out[-2000:]}")


MOCK_CHECK = os.path.join(os.environ.get("VAPROXY_BUILDDIR", ""), "tests", "host",
                          "mock_check_config")


def schema_config(module, body):
    """A configuration with consistency `module` configured by `body`, its
    path and the line of the config object."""
    text = BASIC + f'plugin "consistency" "{module}" {{\n  config = {{ {body} }}\n}}\n'
    return config(text), text.split("\n").index(f"  config = {{ {body} }}") + 1


@test("a bad plugin configuration gets the same message on the SDK's mock host as from "
      "vaproxyd --check-config, byte for byte")
def _():
    d = plugin_copy("schema12")
    so = os.path.join(d, "schema12.so")
    cases = [
        [("address", "a"), ("retries", "many")],
        [("address", "a"), ("verify", "maybe")],
        [("address", "a"), ("interval", "soon")],
        [("address", "a"), ("file_mode", "0999")],
        [("address", "a"), ("api_kee", "k")],
        [("address", "a"), ("bogus_key", "1")],
        [("retries", "2")],
    ]
    for pairs in cases:
        body = ", ".join(f'{k} = "{v}"' for k, v in pairs)
        path, line = schema_config("schema12", body)
        r = cli("--check-config", "--config", path, "--plugin-dir", PLUGIN_DIR,
                "--plugin-dir", d)
        check(r.returncode != 0, f"{body}: must be refused: {r.stderr!r}")
        said = [ln[ln.index(path):] for ln in r.stderr.splitlines() if path + ":" in ln]
        m = subprocess.run([MOCK_CHECK, so, "schema12"] + [x for kv in pairs for x in kv],
                           capture_output=True, text=True, timeout=15,
                           stdin=subprocess.DEVNULL)
        eq(m.returncode, 1, f"{body}: the mock must refuse it: {m.stdout!r} {m.stderr!r}")
        mock = m.stdout[:-1] if m.stdout.endswith("\n") else m.stdout
        eq(said, [f'{path}:{line}: consistency "schema12": {mock}'],
           f"{body}: the daemon's line is the mock's message after file, line and instance")
    m = subprocess.run([MOCK_CHECK, so, "schema12", "address", "a", "retries", "4"],
                       capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL)
    eq((m.returncode, m.stdout), (0, "ok\n"), f"a good configuration: {m.stderr!r}")


@test("a plugin built with the 1.0 layouts and one built with 1.2's show the same schema, "
      "and the daemon hands every key of either to its create")
def _():
    d = plugin_copy("schema10", "schema12")
    r = cli("--describe-plugins", "--plugin-dir", d, "--no-default-plugin-dir")
    eq(r.returncode, 0, f"--describe-plugins: {r.stderr!r}")
    blocks = {}
    for block in r.stdout.split("\n\n"):
        blocks[block.split(" ", 1)[0]] = [ln.strip() for ln in block.splitlines()
                                          if ln.startswith("    ")]
    eq(len(blocks.get("schema10", [])), 8, f"seven keys and the narrow one: {r.stdout!r}")
    eq(blocks.get("schema10"), blocks.get("schema12"), "the same keys, types, flags, defaults")
    contains(r.stdout, 'file_mode: mode, default "0640" -- mode of what is written',
             "the last-but-one field, whole")
    for module in ("schema10", "schema12"):
        path, _ = schema_config(module, 'address = "h", retries = 7, verify = "false", '
                                'interval = "2m", file_mode = "0600", api_key = "k"')
        r = cli("--dump-chain", "--config", path, "--plugin-dir", PLUGIN_DIR,
                "--plugin-dir", d, "--log-level", "info")
        eq(r.returncode, 0, f"{module}: {r.stderr!r}")
        contains(r.stderr, f"{module}: address=h ca_file=/etc/ssl/ca.pem retries=7 verify=0 "
                 "interval_ms=120000", f"{module}: every key as configured or by default")
        path, line = schema_config(module, 'address = "h", file_mode = "0999"')
        r = cli("--check-config", "--config", path, "--plugin-dir", PLUGIN_DIR,
                "--plugin-dir", d)
        contains(r.stderr, f'{path}:{line}: consistency "{module}": file_mode: expected a '
                 'file mode', f"{module}: the last typed field is checked")


if __name__ == "__main__":
    sys.exit(run())
