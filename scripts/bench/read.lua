-- wrk script: GET one of the records the benchmark wrote, chosen in turn.
-- BENCH_READ_COUNT records named read-0 ... read-(N-1) exist before the run.

local count = tonumber(os.getenv("BENCH_READ_COUNT"))
local counter = 0

function request()
  counter = counter + 1
  local path = string.format(
    "/api/v1/items?entity_type=bench&entity_value=read-%d&category=d0",
    counter % count)
  return wrk.format("GET", path)
end

-- done() prints the RESULT line that scripts/bench.py reads.
dofile(os.getenv("BENCH_LUA_DIR") .. "/result.lua")
