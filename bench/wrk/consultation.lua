-- POST /api/events/consultations for registered referees, each converting once.
package.path = "bench/wrk/?.lua;" .. package.path
local common = require("common")
dofile("bench/wrk/setup.lua")
local patients, n, token
function init(args)
  math.randomseed(os.time() + id * 7919)
  patients = common.lines(os.getenv("BENCH_SAMPLES") .. "/registered.txt", id, tonumber(os.getenv("BENCH_THREADS")))
  token = os.getenv("BENCH_SERVICE_TOKEN")
  -- The warm-up run starts half way through, so the measured run finds its own.
  n = os.getenv("BENCH_WARMUP") and math.floor(#(codes or patients) / 2) or 0
end
function request()
  n = n + 1
  local body = string.format('{"patient_id":"%s","consultation_id":"%s"}', patients[(n - 1) % #patients + 1], common.uuid())
  return wrk.format("POST", "/api/events/consultations",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
