-- wrk script of scripts/bench.sh.
--   BENCH_POST_BYTES=N  send POST requests with an N-byte body
-- done() prints one machine-readable line that bench.py parses.
local post = tonumber(os.getenv("BENCH_POST_BYTES") or "0")
if post > 0 then
    wrk.method = "POST"
    wrk.body = string.rep("x", post)
    wrk.headers["Content-Type"] = "application/octet-stream"
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        "BENCH requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d max_us=%d " ..
        "connect=%d read=%d write=%d status=%d timeout=%d\n",
        summary.requests, summary.duration, summary.bytes,
        latency:percentile(50), latency:percentile(99), latency.max,
        e.connect, e.read, e.write, e.status, e.timeout))
end
