-- POST /api/patients/me/referrals as one of many referrers, a new friend each time.
package.path = "bench/wrk/?.lua;" .. package.path
local common = require("common")
dofile("bench/wrk/setup.lua")
local tokens, n
local program = os.getenv("BENCH_PROGRAM_ID")
function init(args)
  math.randomseed(os.time() + id)
  tokens = common.lines(os.getenv("BENCH_SAMPLES") .. "/tokens.txt", 0, 1)
  n = 0
end
function request()
  n = n + 1
  local body = string.format('{"referee_email":"bench-%d-%d-%d@bench.example.com","referral_source":"direct_link","program_id":"%s"}', os.time(), id, n, program)
  return wrk.format("POST", "/api/patients/me/referrals",
    { ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)], ["Content-Type"] = "application/json" }, body)
end
