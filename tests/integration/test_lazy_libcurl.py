#!/usr/bin/python3
"""TAP test that vaproxyd does not carry libcurl until a plugin fetches:
the binary does not name libcurl (nor libm, whose one use is gone) among
the libraries it needs, a daemon
proxying requests has not mapped it, and the Debian package depends on
libcurl4 by name (shlibdeps cannot see a library loaded at run time).
That fetch still works once loaded is test_sdk_fetch_example.py's job."""

import os
import re
import subprocess
import sys

from harness import Proxy, Sim, check, eq, free_port, need_binary, read_text, request, run, test

SRC = os.environ.get("VAPROXY_SRCDIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONFIG = """
vault {
  address = "{sim}"
}
listener "tcp" {
  address = "127.0.0.1:{port}"
  tls_disable = true
}
"""


def needed(binary):
    """The DT_NEEDED entries of an ELF file."""
    out = subprocess.run([need_binary("readelf"), "-d", binary], capture_output=True,
                         text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def sanitized(binary):
    """Whether the binary carries a sanitizer runtime (which needs libm)."""
    out = subprocess.run([need_binary("readelf"), "-W", "-s", binary], capture_output=True,
                         text=True, check=True).stdout
    return "__asan_init" in out or "__ubsan_handle_" in out


@test("vaproxyd's binary needs neither libcurl nor libm (it needs libuv, as a control)")
def _():
    binary = os.environ["VAPROXYD"]
    libs = needed(binary)
    check(any(lib.startswith("libuv.so") for lib in libs), f"libuv among {libs}")
    eq([lib for lib in libs if lib.startswith("libcurl")], [], "libcurl in DT_NEEDED")
    # A sanitizer's runtime brings libm along; only our own code is judged.
    if not sanitized(binary):
        eq([lib for lib in libs if lib.startswith("libm.")], [], "libm in DT_NEEDED")


@test("a proxying daemon has not mapped libcurl")
def _():
    sim = Sim()
    with sim:
        port = free_port()
        with Proxy(CONFIG, sim=sim.addr, port=port) as p:
            p.wait_ready()
            r = request(f"127.0.0.1:{port}", "GET", "/v1/sys/health")
            check(r.status in (200, 429, 472, 473, 501, 503), f"proxied: {r.status}")
            maps = read_text(f"/proc/{p.pid}/maps")
            check("libuv.so" in maps, "libuv is mapped (the control)")
            eq([line for line in maps.splitlines() if "libcurl" in line], [],
               "libcurl mappings")


@test("the Debian package depends on libcurl4 by name")
def _():
    control = read_text(os.path.join(SRC, "contrib", "debian", "control"))
    stanza = control.split("\nPackage: vaproxyd\n", 1)[1].split("\n\n", 1)[0]
    depends = re.search(r"^Depends:(.*(?:\n .*)*)", stanza, re.M)
    check(depends is not None, "a Depends field for vaproxyd")
    check(re.search(r"(^|[\s,])libcurl4([\s,(]|$)", depends.group(1)) is not None,
          f"libcurl4 in {depends.group(1).strip()!r}")


if __name__ == "__main__":
    sys.exit(run())
