-- wrk script for scripts/bench. One script for every scenario, set by environment:
--   BENCH_MODE         get (default): GET wrk's URL, or a random id from BENCH_IDS
--                      put: PUT / with a BENCH_BODY_BYTES body
--                      mixed: BENCH_PUT_PERCENT % PUTs (default 10), the rest random GETs
--   BENCH_IDS          file of paste ids, one per line (random GETs)
--   BENCH_BODY_BYTES   size of each uploaded paste (default 1024)
--   BENCH_DELAY_MS     pause of each connection between requests (default 0: closed loop)
-- done() prints one line "BENCH_RESULT {json}" that scripts/bench.d/bench.py reads.

local mode = os.getenv("BENCH_MODE") or "get"
local ids_file = os.getenv("BENCH_IDS")
local body_bytes = tonumber(os.getenv("BENCH_BODY_BYTES") or "1024")
local put_percent = tonumber(os.getenv("BENCH_PUT_PERCENT") or "10")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

-- Runs in wrk's setup environment: numbers each thread, so threads draw different ids.
local threads_set_up = 0
function setup(thread)
  threads_set_up = threads_set_up + 1
  thread:set("bench_thread", threads_set_up)
end

local ids = {}
local puts = {}
local gets = {}
local put_cursor = 1
local plain_get

-- A log-like body of exactly `size` bytes; `variant` makes bodies differ.
local function log_body(size, variant)
  local line = string.format(
    "2025-01-01T00:00:%02dZ INFO worker-%d request handled status=200 latency_ms=%d\n",
    variant % 60, variant, variant * 7 % 1000)
  local parts, length = {}, 0
  while length < size do
    parts[#parts + 1] = line
    length = length + #line
  end
  return string.sub(table.concat(parts), 1, size)
end

function init(args)
  local thread = bench_thread or 0
  math.randomseed(os.time() * 1000 + thread)
  if ids_file then
    for id in io.lines(ids_file) do
      if #id > 0 then ids[#ids + 1] = id end
    end
    assert(#ids > 0, "no ids in " .. ids_file)
  end
  if mode == "put" or mode == "mixed" then
    -- A few different bodies, built once: building one per request would load wrk, not us.
    for variant = 1, 16 do
      puts[variant] = wrk.format("PUT", "/", nil, log_body(body_bytes, variant + 16 * thread))
    end
  end
  -- Every GET formatted once, as the PUTs are: formatting one per request cost wrk a sixth
  -- more CPU per request (15.4 against 13.2 us), taken from the server on the same cores.
  for i = 1, #ids do
    gets[i] = wrk.format("GET", "/" .. ids[i])
  end
  -- Without ids, GET wrk's own URL.
  plain_get = wrk.format()
end

local function next_put()
  put_cursor = put_cursor % #puts + 1
  return puts[put_cursor]
end

local function random_get()
  return gets[math.random(#gets)]
end

function request()
  if mode == "put" then
    return next_put()
  elseif mode == "mixed" then
    if math.random(100) <= put_percent then return next_put() end
    return random_get()
  elseif #ids > 0 then
    return random_get()
  end
  return plain_get
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

-- Share of requests at or above `threshold_us`, from the latency percentiles.
local function share_at_or_above(latency, threshold_us)
  if latency.max < threshold_us then return 0 end
  local low, high = 0.0, 100.0
  for _ = 1, 40 do
    local middle = (low + high) / 2
    if latency:percentile(middle) >= threshold_us then high = middle else low = middle end
  end
  return (100.0 - high) / 100.0
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},' ..
    '"share_at_or_above_40ms":%.6f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, share_at_or_above(latency, 40000)))
end
