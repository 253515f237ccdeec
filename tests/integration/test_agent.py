#!/usr/bin/python3
"""Agent mode against the simulator: templates rendered to files (KV v1 and
v2, leased and PKI secrets), refresh, renewal, perms and ownership, commands,
one-shot mode; the process supervisor (env vars, restart with the stop
signal, the child's exit status, TERM forwarded)."""

import grp
import os
import pwd
import signal
import stat
import sys
import time

from harness import *

AUTH = """
vault { address = "{sim}" }
auto_auth {
  method "token_file" { config = { token_file_path = "{tokfile}" } }
}
"""

sim = Sim()


def setup(extra, **subst):
    d = tmpdir("agent-")
    tokfile = os.path.join(d, "token")
    with open(tokfile, "w") as f:
        f.write(sim.root_token)
    cfg = template(AUTH + extra, sim=sim.addr, tokfile=tokfile, dir=d, **subst)
    return d, cfg


def put_kv2(path, data):
    r = sim.api("POST", "secret/data/" + path, {"data": data})
    check(r.status in (200, 204), f"kv2 write {path}: {r.status}")


def put_kv1(path, data):
    r = sim.api("POST", "kv/" + path, data)
    check(r.status in (200, 204), f"kv1 write {path}: {r.status}")


def text(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def reads_of(prefix, method=None):
    return [r for r in sim.requests("/v1/" + prefix)
            if method is None or r.get("method") == method]


@test("KV v1, KV v2 and a leased secret are rendered, with perms and owner", timeout=30)
def _():
    sim.reset()
    put_kv2("app", {"password": "p1", "user": "u1"})
    put_kv1("legacy", {"key": "v1-value"})
    owner = "nobody" if os.geteuid() == 0 else str(os.geteuid())
    group = grp.getgrgid(os.getegid()).gr_name
    d, cfg = setup("""
template {
  contents = "{{ with secret \\"secret/data/app\\" }}{{ .Data.data.user }}:{{ .Data.data.password }}{{ end }}"
  destination = "{dir}/out/kv2.txt"
  perms = "0640"
  user = "{owner}"
  group = "{group}"
}
template {
  contents = "{{ with secret \\"kv/legacy\\" }}{{ .Data.key }}{{ end }}"
  destination = "{dir}/kv1.txt"
}
template {
  contents = "{{ with secret \\"database/creds/ro\\" }}{{ .Data.username }}{{ end }}"
  destination = "{dir}/db.txt"
}
""", owner=owner, group=group)
    p = Proxy(cfg)
    out = os.path.join(d, "out", "kv2.txt")
    wait_until(lambda: text(out) == "u1:p1", timeout=10, msg="kv2.txt rendered")
    wait_until(lambda: text(os.path.join(d, "kv1.txt")) == "v1-value", timeout=10,
               msg="kv1.txt rendered")
    wait_until(lambda: (text(os.path.join(d, "db.txt")) or "").startswith("v-sim-ro-"),
               timeout=10, msg="db.txt rendered")
    st = os.stat(out)
    eq(stat.S_IMODE(st.st_mode), 0o640, "perms")
    eq(st.st_uid, pwd.getpwnam(owner).pw_uid if not owner.isdigit() else int(owner), "owner")
    eq(st.st_gid, grp.getgrnam(group).gr_gid, "group")
    eq(stat.S_IMODE(os.stat(os.path.join(d, "kv1.txt")).st_mode), 0o644, "default perms")
    p.stop()


@test("a changed secret is re-rendered within the interval; the command runs once per change",
      timeout=40)
def _():
    sim.reset()
    put_kv2("rot", {"v": "one"})
    d, cfg = setup("""
template_config { static_secret_render_interval = "1s" }
template {
  contents = "{{ with secret \\"secret/data/rot\\" }}{{ .Data.data.v }}{{ end }}"
  destination = "{dir}/rot.txt"
  command = "echo ran >> {dir}/cmd.log"
}
""")
    p = Proxy(cfg)
    dest, log = os.path.join(d, "rot.txt"), os.path.join(d, "cmd.log")
    wait_until(lambda: text(dest) == "one", timeout=10, msg="first render")
    wait_until(lambda: text(log) == "ran\n", timeout=10, msg="command ran once")
    time.sleep(2.5)  # unchanged refreshes: no write, no command
    eq(text(log), "ran\n", "no command without a change")
    check(len(reads_of("secret/data/rot", "GET")) >= 3, "re-read every interval")
    put_kv2("rot", {"v": "two"})
    wait_until(lambda: text(dest) == "two", timeout=3, msg="re-rendered within the interval")
    wait_until(lambda: text(log) == "ran\nran\n", timeout=10, msg="command ran again")
    time.sleep(1.5)
    eq(text(log), "ran\nran\n", "once per change")
    p.stop()


@test("a renewable lease is renewed, not fetched again", timeout=30)
def _():
    sim.reset()
    sim.lease_duration(3)
    try:
        d, cfg = setup("""
template {
  contents = "{{ with secret \\"database/creds/app\\" }}{{ .Data.username }}{{ end }}"
  destination = "{dir}/db.txt"
}
""")
        p = Proxy(cfg)
        wait_until(lambda: text(os.path.join(d, "db.txt")), timeout=10, msg="rendered")
        wait_until(lambda: len(reads_of("sys/leases/renew")) >= 2, timeout=10,
                   msg="two renewals")
        eq(len(reads_of("database/creds/app")), 1, "read once")
        p.stop()
    finally:
        sim.lease_duration(30)


@test("a PKI-style write with arguments, through secret and pkiCert", timeout=30)
def _():
    sim.reset()
    d, cfg = setup("""
template {
  contents = "{{ with secret \\"pki/issue/web\\" \\"common_name=a.example.com\\" \\"ttl=2h\\" }}{{ .Data.certificate }}{{ end }}"
  destination = "{dir}/cert.pem"
}
template {
  contents = "{{ with pkiCert \\"pki/issue/web\\" \\"common_name=b.example.com\\" }}{{ .Cert }}{{ .Key }}{{ end }}"
  destination = "{dir}/both.pem"
}
""")
    p = Proxy(cfg)
    wait_until(lambda: "web:a.example.com:" in (text(os.path.join(d, "cert.pem")) or ""),
               timeout=10, msg="cert.pem rendered")
    wait_until(lambda: "web:b.example.com:" in (text(os.path.join(d, "both.pem")) or ""),
               timeout=10, msg="both.pem rendered")
    contains(text(os.path.join(d, "both.pem")), "PRIVATE KEY")
    issued = reads_of("pki/issue/web")
    eq(len(issued), 2, "one write per distinct argument set")
    check(all(r.get("method") in ("PUT", "POST") for r in issued), "writes")
    p.stop()


@test("one-shot mode (exit_after_auth) renders everything, runs commands and exits 0",
      timeout=30)
def _():
    sim.reset()
    put_kv2("once", {"a": "1"})
    d, cfg = setup("""
exit_after_auth = true
template {
  contents = "{{ with secret \\"secret/data/once\\" }}{{ .Data.data.a }}{{ end }}"
  destination = "{dir}/deep/dir/once.txt"
  exec { command = ["/bin/sh", "-c", "touch {dir}/done"] }
}
""")
    p = Proxy(cfg)
    eq(p.wait_exit(timeout=15), 0, "exit status")
    eq(text(os.path.join(d, "deep", "dir", "once.txt")), "1", "file in place")
    check(os.path.exists(os.path.join(d, "done")), "command ran before exit")


@test("a template error is reported by --check-config with its position", timeout=20)
def _():
    d, cfg = setup("""
template {
  contents = "{{ nosuchfunction }}"
  destination = "{dir}/x"
}
""")
    path = os.path.join(d, "bad.hcl")
    with open(path, "w") as f:
        f.write(cfg)
    import subprocess
    r = subprocess.run([os.environ["VAPROXYD"], "--plugin-dir", os.environ["VAPROXY_PLUGIN_DIR"],
                        "--check-config", "--config", path], capture_output=True, text=True)
    check(r.returncode != 0, "refused")
    contains(r.stderr, path + ":")
    contains(r.stderr, "template")


CHILD = """#!/bin/sh
# Reports the signals it gets, writes its environment (the sign that it is
# ready: the traps are set and the file is whole), then waits.
out={dir}/child.$$
trap 'echo INT >> {dir}/signals; exit 0' INT
trap 'echo TERM >> {dir}/signals; exit 3' TERM
env > "$out.tmp" && mv "$out.tmp" "$out.env"
echo $$ >> {dir}/pids
if [ -n "$EXIT_WITH" ]; then exit "$EXIT_WITH"; fi
while :; do sleep 0.1; done
"""


def child_setup(extra):
    d, cfg = setup(extra)
    script = os.path.join(d, "child.sh")
    with open(script, "w") as f:
        f.write(template(CHILD, dir=d))
    os.chmod(script, 0o755)
    return d, cfg.replace("CHILD", script)


def env_files(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".env"))


def env_of(d, name):
    with open(os.path.join(d, name)) as f:
        return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)


@test("supervisor: env vars reach the child; a change restarts it with the stop signal",
      timeout=40)
def _():
    sim.reset()
    put_kv2("sup", {"password": "first", "user": "app"})
    d, cfg = child_setup("""
template_config { static_secret_render_interval = "1s" }
env_template "DB_PASSWORD" {
  contents = "{{ with secret \\"secret/data/sup\\" }}{{ .Data.data.password }}{{ end }}"
}
env_template "DB_USER" {
  contents = "{{ with secret \\"secret/data/sup\\" }}{{ .Data.data.user }}{{ end }}"
}
exec {
  command = ["CHILD"]
  restart_on_secret_changes = "always"
  restart_stop_signal = "SIGINT"
}
""")
    p = Proxy(cfg, env={"KEEP_ME": "yes"})
    wait_until(lambda: len(env_files(d)) == 1, timeout=10, msg="child started")
    env = env_of(d, env_files(d)[0])
    eq(env.get("DB_PASSWORD"), "first", "DB_PASSWORD")
    eq(env.get("DB_USER"), "app", "DB_USER")
    eq(env.get("KEEP_ME"), "yes", "vaproxyd's own environment")
    put_kv2("sup", {"password": "second", "user": "app"})
    wait_until(lambda: len(env_files(d)) == 2, timeout=10, msg="child restarted")
    eq(text(os.path.join(d, "signals")), "INT\n", "stopped with SIGINT")
    second = [f for f in env_files(d) if env_of(d, f).get("DB_PASSWORD") == "second"]
    eq(len(second), 1, "the new child has the new value")
    check(p.alive(), "vaproxyd still runs")
    p.stop()


@test("supervisor: TERM is forwarded and the child's exit status becomes vaproxyd's",
      timeout=30)
def _():
    sim.reset()
    put_kv2("sup2", {"v": "x"})
    d, cfg = child_setup("""
env_template "V" {
  contents = "{{ with secret \\"secret/data/sup2\\" }}{{ .Data.data.v }}{{ end }}"
}
exec { command = ["CHILD"] }
""")
    p = Proxy(cfg)
    wait_until(lambda: len(env_files(d)) == 1, timeout=10, msg="child started")
    p.send_signal(signal.SIGTERM)
    eq(p.wait_exit(timeout=10), 3, "the child's status")
    eq(text(os.path.join(d, "signals")), "TERM\n", "the child got TERM")


@test("supervisor: a child that exits on its own ends vaproxyd with its status", timeout=30)
def _():
    sim.reset()
    put_kv2("sup3", {"v": "x"})
    d, cfg = child_setup("""
env_template "EXIT_WITH" {
  contents = "{{ with secret \\"secret/data/sup3\\" }}7{{ end }}"
}
exec { command = ["CHILD"] }
""")
    p = Proxy(cfg)
    eq(p.wait_exit(timeout=10), 7, "the child's status")


if __name__ == "__main__":
    sys.exit(run())
