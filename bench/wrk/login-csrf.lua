-- Scenario d for step 5: a login needs the CSRF token of a session, so every login is two
-- requests, as in a browser: GET /login (a new session, its cookie, and the token in the
-- form's hidden `_csrf` field), then POST /login with that cookie, the token in
-- `X-CSRF-Token` and JSON credentials (the session gets a new id and is logged in).
--
-- All connections of a wrk thread share this script's state, so the pairs go through a
-- queue: a GET's response puts its (cookie, token) in; the next request to be sent takes
-- one out and becomes its POST, or, if the queue is empty, another GET. Set through the
-- environment by bench/run: BENCH_BODY (the JSON credentials). Prints the same BENCH line
-- as scenario.lua, plus logins=N (POSTs answered "Logged in successfully").
local body = os.getenv("BENCH_BODY")
local queue, head, tail = {}, 1, 0
-- A global, not a local: done() reads it from each thread with thread:get().
logins = 0

function request()
  if head <= tail then
    local pair = queue[head]
    queue[head] = nil
    head = head + 1
    return wrk.format("POST", "/login", {
      ["Cookie"] = pair.cookie,
      ["X-CSRF-Token"] = pair.token,
      ["Content-Type"] = "application/json",
    }, body)
  end
  return wrk.format("GET", "/login")
end

function response(status, headers, resp_body)
  if resp_body:find("Logged in successfully", 1, true) then
    logins = logins + 1
    return
  end
  local set_cookie = headers["Set-Cookie"] or headers["set-cookie"]
  local token = resp_body:match('name="_csrf" value="([^"]+)"')
  if set_cookie and token then
    tail = tail + 1
    queue[tail] = { cookie = set_cookie:match("^([^;]+)"), token = token }
  end
end

-- wrk runs request()/response() in each thread's own Lua state; done() runs in the main
-- one, so the count is fetched from the threads.
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local total_logins = 0
  for _, thread in ipairs(threads) do
    total_logins = total_logins + (thread:get("logins") or 0)
  end
  local e = summary.errors
  local socket = e.connect + e.read + e.write + e.timeout
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d errors=%d non2xx=%d socket=%d logins=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99),
    socket + e.status, e.status, socket, total_logins))
end
