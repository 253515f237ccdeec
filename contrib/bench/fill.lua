-- contrib/bench/fill.lua: a wrk script for cache.sh.  It walks
-- /v1/database/creds/app-1 .. app-N over and over (N distinct lease paths),
-- one GET each, and counts the answers.  Use one thread (-t1).
--
--   FILL_N=100000 FILL_OUT=/tmp/x [FILL_STOP=100000] \
--       wrk -t1 -c16 -d120s -s fill.lua http://127.0.0.1:PORT
--
-- FILL_STOP=k: after k answers the thread writes FILL_OUT.reached and stops
-- (wrk itself still sleeps out its -d: send it SIGINT).  Without it the walk
-- goes on until wrk is stopped.  At exit wrk writes "answers non200 hits" to
-- FILL_OUT, where hits counts answers carrying "X-Cache: HIT".
--
-- Walking in a cycle also covers the path of the request() call wrk makes
-- once to check the script, which is never sent.

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

-- Per thread (globals, so that done() can read them with thread:get()).
n = tonumber(os.getenv("FILL_N")) or 100000
stop_at = tonumber(os.getenv("FILL_STOP")) or 0
out = os.getenv("FILL_OUT")
sent, got, bad, hits = 0, 0, 0, 0

function request()
    sent = sent + 1
    return wrk.format("GET", "/v1/database/creds/app-" .. ((sent - 1) % n + 1))
end

function response(status, headers, body)
    got = got + 1
    if status ~= 200 then bad = bad + 1 end
    if headers["X-Cache"] == "HIT" then hits = hits + 1 end
    if got == stop_at then
        if out then
            local f = io.open(out .. ".reached", "w")
            if f then f:close() end
        end
        wrk.thread:stop()
    end
end

function done(summary, latency, requests)
    local g, b, h = 0, 0, 0
    for _, t in ipairs(threads) do
        g = g + (t:get("got") or 0)
        b = b + (t:get("bad") or 0)
        h = h + (t:get("hits") or 0)
    end
    if out then
        local f = io.open(out, "w")
        if f then
            f:write(g, " ", b, " ", h, "\n")
            f:close()
        end
    end
end
