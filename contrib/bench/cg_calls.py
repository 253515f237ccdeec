#!/usr/bin/env python3
"""Calls per proxied request, read from a callgrind dump.

    python3 contrib/bench/cg_calls.py DUMP REQUESTS [FUNCTION...]

DUMP is a callgrind output file (profile.sh keeps them in its temp dir
with KEEP_TMP=1: cg/<scenario>.cg.<n>), REQUESTS the number of answers
wrk counted over the dumped interval.  Prints the instructions per request
and, for each FUNCTION (default: the allocator's entry points and the
libuv timer calls), how many times it was called per request, summed over
every caller.  This is how the per-request allocation count is measured
without ltrace: callgrind already records every call edge.
"""
import re
import sys

DEFAULT = ["malloc", "calloc", "realloc", "free", "uv_timer_start",
           "uv_timer_stop", "uv_read_start", "uv_read_stop", "__vsnprintf_internal"]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, n = sys.argv[1], int(sys.argv[2])
    want = sys.argv[3:] or DEFAULT
    names, calls, total, callee = {}, {}, 0, None
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
                continue
            m = re.match(r"(c?)fn=\((\d+)\)(?: (.*))?", line)
            if m:
                if m.group(3):
                    names[m.group(2)] = m.group(3).strip()
                callee = names.get(m.group(2)) if m.group(1) else None
                continue
            if line.startswith("calls=") and callee:
                base = callee.split("'")[0]
                if base in want:
                    calls[base] = calls.get(base, 0) + int(line[6:].split()[0])
                callee = None
    if not n:
        sys.exit("no requests")
    print(f"{total / n:.0f} instructions per request over {n} requests")
    for w in want:
        print(f"  {w}: {calls.get(w, 0) / n:.2f} calls per request")


if __name__ == "__main__":
    main()
