-- wrk script: POST the reference write with a new entity_value on every request,
-- so that each request creates a record rather than replaying one.
-- The body template comes from the environment variable BENCH_BODY, with the text
-- ENTITY_VALUE where the entity value goes.

local template = os.getenv("BENCH_BODY")
local counter = 0
-- thread_id is a global that setup() sets in each thread's own Lua state.
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local value = string.format("bench-%d-%d-%d", os.time(), thread_id, counter)
  return wrk.format(nil, "/api/v1/items", nil, (template:gsub("ENTITY_VALUE", value)))
end

-- done() prints the RESULT line that scripts/bench.py reads.
dofile(os.getenv("BENCH_LUA_DIR") .. "/result.lua")
