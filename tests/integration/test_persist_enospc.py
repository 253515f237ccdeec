#!/usr/bin/python3
"""TAP integration test of the persistent lease cache on a full disk (the
persist block of vaproxyd.hcl(5), "Failed writes" in core/cache/persist.h):
the persist directory is a small tmpfs that the test mounts and fills;
vaproxyd keeps serving and caching while it is full, writes the whole cache
once there is space again, and a restart restores every entry -- also one
cached right after a failed rewrite.

Mounting needs root (CI runs as root); without it, or where mount is not
permitted, the test says so with a TAP SKIP.
"""

import os
import sys
import subprocess
import tempfile

from harness import (Proxy, Sim, check, contains, eq, free_port, request, run, skip, test,
                     tmpdir, wait_until)

sim = Sim()

CONFIG = """
log_level = "debug"
vault {
  address = "{sim}"
  retry { num_retries = -1 }
}
auto_auth {
  method "token_file" {
    config = { token_file_path = "{token_file}" }
  }
}
api_proxy {
  use_auto_auth_token = true
}
cache {
  persist "file" {
    path = "{pdir}"
    key_file = "{key_file}"
    keep_after_import = true
    exit_on_err = true
  }
}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
"""

EPISODE_WARN = "the cache keeps serving"
WHOLE_AGAIN = "is whole again"
FAILED_RETRY = "cannot compact the persistent cache"


def write(path, data, mode=0o600):
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(path, mode)


def creds(port, role):
    return request(port, "GET", "/v1/database/creds/" + role, [], None, timeout=10.0)


def cache_lease(port, role):
    """Read a lease twice (MISS, HIT: it is cached); returns its lease_id."""
    r = creds(port, role)
    eq((r.status, r.header("X-Cache")), (200, "MISS"), f"{role}: first read")
    r2 = creds(port, role)
    eq((r2.status, r2.header("X-Cache")), (200, "HIT"), f"{role}: second read")
    return r.json()["lease_id"]


def fill(path):
    """Writes into path until the file system is full."""
    chunk = b"\0" * 4096
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
    # What is left is below a page: one more try with single bytes.
    with open(path, "ab", buffering=0) as f:
        try:
            for _ in range(4096):
                f.write(b"\0")
        except OSError:
            pass


def mount_tmpfs(size):
    """A fresh tmpfs of `size` on a new directory; skips when that cannot be done."""
    if os.geteuid() != 0:
        skip("mounting a tmpfs needs root")
    mnt = tempfile.mkdtemp(prefix="vaproxy-enospc-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", mnt],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        os.rmdir(mnt)
        skip(f"cannot mount a tmpfs: {r.stderr.strip() or r.returncode}")
    return mnt


def unmount(mnt):
    if subprocess.run(["umount", mnt], capture_output=True, timeout=30).returncode != 0:
        subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=30)
    os.rmdir(mnt)


@test("a full persist directory loses nothing: cached while full, written when space "
      "returns, every entry restored after a restart", timeout=120)
def _():
    mnt = mount_tmpfs("64k")
    proxies = []
    try:
        sim.reset(all=True)
        token = sim.make_token(ttl=3600, renewable=True)["id"]
        d = tmpdir("persist-enospc-")
        token_file = os.path.join(d, "token")
        write(token_file, token + "\n")
        key_file = os.path.join(d, "key")
        write(key_file, (b"\x00" + os.urandom(31)).hex() + "\n", 0o400)
        pdir = os.path.join(mnt, "cache")
        os.mkdir(pdir, 0o700)
        port = free_port()

        def start():
            p = Proxy(CONFIG, sim=sim.addr, port=port, token_file=token_file, pdir=pdir,
                      key_file=key_file)
            proxies.append(p)
            p.wait_ready()
            wait_until(lambda: "authenticated with" in p.log() or not p.alive(), timeout=8,
                       msg="auto-auth login")
            check(p.alive(), f"vaproxyd died during start-up:\n{p.log_tail()}")
            return p

        p = start()
        leases = {}
        for i in range(2):
            leases[f"before-{i}"] = cache_lease(port, f"before-{i}")

        filler = os.path.join(mnt, "filler")
        fill(filler)
        for i in range(20):
            leases[f"full-{i}"] = cache_lease(port, f"full-{i}")
        wait_until(lambda: EPISODE_WARN in p.log(), timeout=5, msg="the full-disk warning")
        log = p.log()
        eq(log.count(EPISODE_WARN), 1, "the failure episode is logged once")
        contains(log.lower(), "no space left on device", "the warning says why")
        check(WHOLE_AGAIN not in log, "the store is not whole while the disk is full")

        # A write right after a failed rewrite (the old code refused writes
        # for 2 s after one, silently) is kept like the others.
        failed = log.count(FAILED_RETRY)
        wait_until(lambda: p.log().count(FAILED_RETRY) > failed, timeout=10,
                   msg="a failed rewrite while the disk is full")
        leases["after-a-failed-rewrite"] = cache_lease(port, "after-a-failed-rewrite")
        for role in leases:
            r = creds(port, role)
            eq(r.header("X-Cache"), "HIT", f"{role}: still served from the cache while full")

        os.unlink(filler)
        wait_until(lambda: WHOLE_AGAIN in p.log(), timeout=30,
                   msg="the store written whole once there is space")
        eq(p.stop(), 0, "exit status after SIGTERM")
        log = p.log()
        eq(log.count(WHOLE_AGAIN), 1, "the end of the episode is logged once")
        check("are lost" not in log, "nothing was lost at the stop")
        check(token not in log, "the auto-auth token is not in the log")

        sim.reset()  # the request log only
        p = start()
        for role, lease_id in leases.items():
            r = creds(port, role)
            eq((r.status, r.header("X-Cache")), (200, "HIT"), f"{role}: restored")
            eq(r.json()["lease_id"], lease_id, f"{role}: the same lease")
        eq(len([q for q in sim.requests("/v1/database/creds/")
                if q["path"].startswith("/v1/database/creds/")]), 0,
           "no upstream read of a restored lease")
    finally:
        for p in proxies:
            p.kill()
        unmount(mnt)


if __name__ == "__main__":
    sys.exit(run())
