-- contrib/stress/count.lua: a wrk script for the stress scenarios.  It
-- counts answers and non-2xx answers, and stops after COUNT_STOP answers, so
-- that a soak is a number of requests rather than a duration.  Use -t1.
--
--   COUNT_STOP=1000000 COUNT_OUT=/tmp/x wrk -t1 -c64 -d900s -s count.lua URL
--
-- After COUNT_STOP answers the thread writes COUNT_OUT.reached and stops
-- (wrk itself still sleeps out its -d: send it SIGINT).  At exit wrk writes
-- "answers non2xx" to COUNT_OUT.

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

stop_at = tonumber(os.getenv("COUNT_STOP")) or 0
out = os.getenv("COUNT_OUT")
got, bad = 0, 0

function response(status, headers, body)
    got = got + 1
    if status < 200 or status > 299 then bad = bad + 1 end
    if got == stop_at then
        if out then
            local f = io.open(out .. ".reached", "w")
            if f then f:close() end
        end
        wrk.thread:stop()
    end
end

function done(summary, latency, requests)
    local g, b = 0, 0
    for _, t in ipairs(threads) do
        g = g + (t:get("got") or 0)
        b = b + (t:get("bad") or 0)
    end
    if out then
        local f = io.open(out, "w")
        if f then
            f:write(g, " ", b, "\n")
            f:close()
        end
    end
end
