-- contrib/bench/static_fill.lua: a wrk script for static.sh.  It walks
-- /v1/secret/data/app-1 .. app-N (N distinct KV paths) with the token in
-- FILL_TOKEN, one GET each, and counts the answers.  Use one thread (-t1).
--
--   FILL_N=100000 FILL_TOKEN=t FILL_OUT=/tmp/x [FILL_STOP=100000] \
--       wrk -t1 -c16 -d120s -s static_fill.lua http://127.0.0.1:PORT
--
-- As fill.lua: FILL_STOP=k writes FILL_OUT.reached after k answers and
-- stops the thread; at exit "answers non200 hits" goes to FILL_OUT.

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

n = tonumber(os.getenv("FILL_N")) or 100000
stop_at = tonumber(os.getenv("FILL_STOP")) or 0
out = os.getenv("FILL_OUT")
token = os.getenv("FILL_TOKEN") or ""
sent, got, bad, hits = 0, 0, 0, 0

function request()
    sent = sent + 1
    return wrk.format("GET", "/v1/secret/data/app-" .. ((sent - 1) % n + 1),
                      { ["X-Vault-Token"] = token })
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
