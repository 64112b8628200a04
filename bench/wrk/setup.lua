-- Gives every wrk thread its number, so the scripts can split one-time resources.
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
