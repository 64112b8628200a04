-- POST /api/events/batch with 100 consultation events a request, each for a registered
-- referee converting once (a pool of its own: the single-event run has another). Counts
-- the events answered `converted`, and prints their number when the run is done, so that
-- the rate compared with the single requests is converted events a second.
package.path = "bench/wrk/?.lua;" .. package.path
local common = require("common")
local BATCH = 100
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
local patients, n, token
function init(args)
  math.randomseed(os.time() + id * 7919)
  patients = common.lines(os.getenv("BENCH_SAMPLES") .. "/registered_batch.txt", id, tonumber(os.getenv("BENCH_THREADS")))
  token = os.getenv("BENCH_SERVICE_TOKEN")
  -- The warm-up run starts half way through, so the measured run finds its own.
  n = os.getenv("BENCH_WARMUP") and math.floor(#patients / 2) or 0
  converted, sent = 0, 0
end
function request()
  local events = {}
  for i = 1, BATCH do
    n = n + 1
    events[i] = string.format('{"type":"consultation","patient_id":"%s","consultation_id":"%s"}',
      patients[(n - 1) % #patients + 1], common.uuid())
  end
  sent = sent + BATCH
  return wrk.format("POST", "/api/events/batch",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" },
    '{"events":[' .. table.concat(events, ",") .. ']}')
end
function response(status, headers, body)
  for _ in body:gmatch('"result":"converted"') do converted = converted + 1 end
end
function done(summary, latency, requests)
  local total, events = 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("converted")
    events = events + thread:get("sent")
  end
  io.write(string.format("Converted events: %d of %d sent\n", total, events))
end
