-- One wrk script for every scenario, set through the environment by bench/run:
--   BENCH_METHOD  GET (default) or POST
--   BENCH_BODY    request body (POST)
--   BENCH_CTYPE   its Content-Type
--   BENCH_COOKIE  a Cookie header to send with every request (the hot / logged-in session)
-- At the end it prints one machine-readable line:
--   BENCH requests=N duration_us=N bytes=N p50_us=N p99_us=N errors=N non2xx=N socket=N
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then wrk.body = body end
local ctype = os.getenv("BENCH_CTYPE")
if ctype and ctype ~= "" then wrk.headers["Content-Type"] = ctype end
local cookie = os.getenv("BENCH_COOKIE")
if cookie and cookie ~= "" then wrk.headers["Cookie"] = cookie end

function done(summary, latency, requests)
  local e = summary.errors
  local socket = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d errors=%d non2xx=%d socket=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99),
    socket + e.status, e.status, socket))
end
