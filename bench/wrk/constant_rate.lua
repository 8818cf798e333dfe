-- wrk script: open-loop constant request rate with latency measured from the intended send time
-- (as wrk2 does), so a slow response also counts against the requests it delayed.
-- Run with as many threads as connections (-t N -c N): each thread then owns one connection and
-- paces it at RATE / N requests per second.
-- Usage: wrk -t N -c N -d SECONDS -s constant_rate.lua URL -- RATE N BODIES_FILE WARMUP_SECONDS
-- Prints one line: CONSTANT_RATE rate=... sent=... errors=... p50_ms=... p99_ms=... ...
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1e6 + tonumber(clock.tv_nsec) / 1e3
end

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
  threads[#threads + 1] = thread
end

local bodies, next_body = {}, 0
local interval, intended, started, measure_from
local previous_done = 0
lat_us, errors, sent = {}, 0, 0

function init(args)
  local rate, count = tonumber(args[1]), tonumber(args[2])
  local file, warmup = args[3], tonumber(args[4] or "1")
  for line in io.lines(file) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  -- each thread paces its one connection; threads start staggered over one interval
  interval = 1e6 * count / rate
  local start = now_us() + 100000 + interval * thread_index / count
  intended = start
  measure_from = start + warmup * 1e6
end

function delay()
  local wait = (intended - now_us()) / 1000
  if wait < 0 then return 0 end
  return math.floor(wait)
end

function request()
  next_body = next_body % #bodies + 1
  started = now_us()
  return wrk.format(nil, nil, nil, bodies[next_body])
end

function response(status, headers, body)
  local done = now_us()
  -- coordinated omission: when the previous answer came after this request's intended start,
  -- the request was held back by the server, so its latency counts from the intended time
  local from = started
  if previous_done > intended then from = intended end
  if intended >= measure_from then
    lat_us[#lat_us + 1] = done - from
    sent = sent + 1
    if status ~= 200 then errors = errors + 1 end
  end
  previous_done = done
  intended = intended + interval
end

function done(summary, latency, requests)
  local all, total_errors, total_sent = {}, 0, 0
  for _, thread in ipairs(threads) do
    for _, value in ipairs(thread:get("lat_us")) do all[#all + 1] = value end
    total_errors = total_errors + thread:get("errors")
    total_sent = total_sent + thread:get("sent")
  end
  table.sort(all)
  local function pct(p)
    if #all == 0 then return 0 end
    local index = math.max(1, math.ceil(#all * p))
    return all[index] / 1000
  end
  io.write(string.format(
    "CONSTANT_RATE sent=%d errors=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
    total_sent, total_errors, pct(0.5), pct(0.9), pct(0.99), pct(0.999), pct(1.0)))
end
