-- POST /api/referrals/{code}/register: every request registers a different pending code,
-- as a platform service does (at once; a visitor's registration is two steps since #22).
package.path = "bench/wrk/?.lua;" .. package.path
local common = require("common")
dofile("bench/wrk/setup.lua")
local codes, n, token
function init(args)
  token = os.getenv("BENCH_SERVICE_TOKEN")
  codes = common.lines(os.getenv("BENCH_SAMPLES") .. "/pending.txt", id, tonumber(os.getenv("BENCH_THREADS")))
  -- The warm-up run starts half way through, so the measured run finds its own.
  n = os.getenv("BENCH_WARMUP") and math.floor(#(codes or patients) / 2) or 0
end
function request()
  n = n + 1
  local code = codes[(n - 1) % #codes + 1]
  local body = string.format('{"email":"reg-%s@bench.example.com"}', string.lower(code))
  return wrk.format("POST", "/api/referrals/" .. code .. "/register", { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
