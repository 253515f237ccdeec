#!/usr/bin/python3
"""TAP test of the KV event subscription (core/cache/kv_events) against the
simulator's WebSocket event stream.

The subscription runs in tests/tools/kv_events_probe, which prints one line
per callback the static cache would get (connected, event, unavailable,
disconnected, reauth).  Covered: writes made directly at the server arrive
within a second, every KV v2 operation names its path, frames split across
reads, pings answered, a malformed frame closes the stream with 1002 and it
resumes, a dropped stream resumes after 10 s, a server without events is
reported once, a refused token asks for re-authentication once, and the
vault block's TLS settings apply.
"""

import os
import sys
import time

from harness import (Sim, TestFailure, _Process, check, contains, eq, make_cert, run,
                     test, tmpdir, wait_until)

BUILDDIR = os.environ.get("VAPROXY_BUILDDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "_build")
PROBE = os.path.join(BUILDDIR, "tests", "tools", "kv_events_probe")

sim = Sim()  # shared; each test resets what it touches


class Probe(_Process):
    """kv_events_probe subscribed to a sim with the token in a file."""

    name = "kv_events_probe"

    def __init__(self, s, token=None, reconnect_ms=300, env=None):
        self.dir = tmpdir("kvprobe-")
        self.token_file = os.path.join(self.dir, "token")
        self.set_token(token or s.root_token)
        argv = [PROBE, s.addr, self.token_file, str(reconnect_ms)]
        e = dict(os.environ)
        e.update(env or {})
        self._start(argv, env=e)

    def set_token(self, token):
        tmp = self.token_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(token)
        os.replace(tmp, self.token_file)

    def lines(self, prefix=""):
        return [l for l in self.log().splitlines() if l.startswith(prefix)]

    def wait_count(self, prefix, n, timeout=5.0):
        wait_until(lambda: len(self.lines(prefix)) >= n, timeout=timeout,
                   msg=f"{n} x {prefix!r} from the probe; output:\n{self.log_tail()}")


def events_state(s=sim):
    return s.control("GET", "events")


def events_set(s=sim, **knobs):
    return s.control("POST", "events", knobs)


def reset_stream(s=sim):
    events_set(s, enabled=True, split=0, refuse=0)


def subscribes(s=sim):
    return [r for r in s.requests("/v1/sys/events/subscribe/")]


@test("a write made at the server arrives as an event within a second")
def _():
    reset_stream()
    with Probe(sim) as p:
        p.wait_count("connected", 1)
        t0 = time.monotonic()
        eq(sim.api("POST", "secret/data/app/db", {"data": {"pw": "1"}}).status, 200, "write")
        p.wait_count("event ", 1, timeout=1.0)
        check(time.monotonic() - t0 < 1.0, "event within a second")
        eq(p.lines("event "), ["event |secret/data/app/db|1"], "event line")
        contains(p.log(), "stats connected=1 events=1", "stats count the event")
        # The subscription asked for KV events in JSON, with the token.
        reqs = subscribes()
        eq(len(reqs), 1, "one subscribe")
        eq(reqs[0]["raw_path"], "/v1/sys/events/subscribe/kv*?json=true", "target")
        eq(reqs[0]["token"], sim.root_token, "auto-auth token")


@test("every KV v2 operation names its own path")
def _():
    reset_stream()
    with Probe(sim) as p:
        p.wait_count("connected", 1)
        sim.api("POST", "secret/data/k", {"data": {"a": "1"}})
        sim.api("PATCH", "secret/data/k", {"data": {"b": "2"}},
                headers={"Content-Type": "application/merge-patch+json"})
        sim.api("POST", "secret/delete/k", {"versions": [1]})
        sim.api("POST", "secret/undelete/k", {"versions": [1]})
        sim.api("POST", "secret/destroy/k", {"versions": [1]})
        sim.api("POST", "secret/metadata/k", {"max_versions": 3})
        sim.api("DELETE", "secret/data/k")
        sim.api("DELETE", "secret/metadata/k")
        p.wait_count("event ", 8)
        eq(p.lines("event "), [
            "event |secret/data/k|1", "event |secret/data/k|1", "event |secret/delete/k|1",
            "event |secret/undelete/k|1", "event |secret/destroy/k|1",
            "event |secret/metadata/k|1", "event |secret/data/k|1",
            "event |secret/metadata/k|1"], "paths in order")
        # Reads are not events.
        sim.api("GET", "secret/data/k")
        time.sleep(0.3)
        eq(len(p.lines("event ")), 8, "no event for a read")


@test("frames split across reads and a message that is not an event")
def _():
    reset_stream()
    with Probe(sim) as p:
        p.wait_count("connected", 1)
        events_set(split=1)
        sim.api("POST", "secret/data/split", {"data": {"x": "y" * 300}})
        p.wait_count("event ", 1, timeout=5)
        events_set(split=7)
        events_set(send={"data": {"event": {"metadata": {"modified": "false",
                                                          "path": "secret/data/m"}}}})
        events_set(send={"not": "an event"})
        sim.api("POST", "secret/data/after-odd", {"data": {"x": "y"}})
        p.wait_count("event ", 3)
        eq(p.lines("event "), ["event |secret/data/split|1", "event |secret/data/m|0",
                               "event |secret/data/after-odd|1"], "events")
        contains(p.lines("stats")[-1], "bad=1", "the odd message counted")
        check(p.alive(), "probe alive")
        eq(len(p.lines("connected")), 1, "the stream stayed up")
        events_set(split=0)


@test("a ping is answered with a pong")
def _():
    reset_stream()
    with Probe(sim) as p:
        p.wait_count("connected", 1)
        events_set(ping="are-you-there")
        wait_until(lambda: "are-you-there" in events_state()["pongs"], msg="pong")
        events_set(split=1)
        events_set(ping="split-ping")
        wait_until(lambda: "split-ping" in events_state()["pongs"], msg="pong to a split ping")
        events_set(split=0)
        eq(len(p.lines("connected")), 1, "the stream stayed up")


@test("a malformed frame closes the stream with 1002 and it resumes")
def _():
    reset_stream()
    with Probe(sim) as p:
        p.wait_count("connected", 1)
        before = len(events_state()["closes"])
        events_set(malformed=True)
        wait_until(lambda: len(events_state()["closes"]) > before, msg="close frame")
        eq(events_state()["closes"][-1][0], 1002, "protocol error code")
        p.wait_count("disconnected", 1)
        p.wait_count("connected", 2)
        check(p.alive(), "probe alive")
        sim.api("POST", "secret/data/after", {"data": {"a": "b"}})
        p.wait_count("event ", 1)
        eq(p.lines("event ")[-1], "event |secret/data/after|1", "events flow again")


@test("a dropped stream is subscribed again after 10 s", timeout=40)
def _():
    reset_stream()
    with Probe(sim, reconnect_ms=0) as p:  # the module's own delay
        p.wait_count("connected", 1)
        t0 = time.monotonic()
        events_set(drop=True)
        p.wait_count("disconnected", 1)
        # Written while the stream is down: lost, which is why the cache
        # re-reads everything on the next "connected".
        sim.api("POST", "secret/data/while-down", {"data": {"a": "b"}})
        p.wait_count("connected", 2, timeout=20)
        waited = time.monotonic() - t0
        check(9.0 <= waited <= 15.0, f"reconnected after {waited:.1f}s, not ~10s")
        contains(p.log(), "disconnects=1", "counted")
        sim.api("POST", "secret/data/resumed", {"data": {"a": "b"}})
        p.wait_count("event ", 1)
        eq(p.lines("event "), ["event |secret/data/resumed|1"], "only events after resuming")


@test("a server without events is reported once and not asked again")
def _():
    reset_stream()
    sim.reset()
    events_set(enabled=False)
    try:
        with Probe(sim) as p:
            p.wait_count("unavailable", 1)
            time.sleep(1.0)  # three reconnect delays
            eq(len(p.lines("unavailable")), 1, "once")
            eq(len(subscribes()), 1, "no retry")
            eq(p.lines("connected"), [], "never connected")
    finally:
        events_set(enabled=True)


@test("a refused token asks auto-auth for a new one, once per token")
def _():
    reset_stream()
    sim.reset()
    with Probe(sim, token="hvs.not-a-token") as p:
        p.wait_count("reauth", 1)
        wait_until(lambda: len(subscribes()) >= 3, msg="still trying")
        eq(len(p.lines("reauth")), 1, "once for the same token")
        good = sim.make_token()["id"]
        p.set_token(good)
        p.wait_count("connected", 1)
        eq(subscribes()[-1]["token"], good, "the new token")
        # A close that says the token is no longer good: re-auth, resume.
        events_set(close={"code": 1008, "reason": "invalid token"})
        p.wait_count("reauth", 2)
        p.wait_count("connected", 2)


@test("the vault block's TLS settings apply to the stream")
def _():
    d = tmpdir("kvtls-")
    cert, key = make_cert(d)
    with Sim(tls=(cert, key)) as s:
        with Probe(s, env={"KV_PROBE_CA_CERT": cert}) as p:
            p.wait_count("connected", 1)
            s.api("POST", "secret/data/tls", {"data": {"a": "b"}})
            p.wait_count("event ", 1)
            eq(p.lines("event "), ["event |secret/data/tls|1"], "event over TLS")
            events_set(s, ping="tls-ping")
            wait_until(lambda: "tls-ping" in events_state(s)["pongs"], msg="pong over TLS")
        # Without the CA the certificate is refused: no connection.
        with Probe(s, env={"KV_PROBE_CA_CERT": ""}) as p:
            time.sleep(1.0)
            eq(p.lines("connected"), [], "unverified server refused")
            check(p.alive(), "probe alive")


if __name__ == "__main__":
    sys.exit(run())
