-- Shared by the wrk scripts: each thread loads its lines of a sample file (thread i of n
-- takes lines i, i+n, ...), so one-time resources (codes to register, patients to convert)
-- are never used twice.
local M = {}

function M.lines(path, thread, threads)
  local out, i = {}, 0
  for line in io.lines(path) do
    if i % threads == thread then out[#out + 1] = line end
    i = i + 1
  end
  return out
end

function M.uuid()
  return string.format("%04x%04x-%04x-4%03x-8%03x-%06x%06x", math.random(0, 0xffff),
    math.random(0, 0xffff), math.random(0, 0xffff), math.random(0, 0xfff),
    math.random(0, 0xfff), math.random(0, 0xffffff), math.random(0, 0xffffff))
end

return M
