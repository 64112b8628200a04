-- GET /api/referrals/{code}/click with a code drawn uniformly from a sample.
package.path = "bench/wrk/?.lua;" .. package.path
local common = require("common")
dofile("bench/wrk/setup.lua")
local codes
function init(args)
  math.randomseed(os.time() + id)
  codes = common.lines(os.getenv("BENCH_SAMPLES") .. "/codes.txt", 0, 1)
end
function request()
  return wrk.format("GET", "/api/referrals/" .. codes[math.random(#codes)] .. "/click")
end
