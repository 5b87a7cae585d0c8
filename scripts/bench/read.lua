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

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "RESULT {\"requests\": %d, \"seconds\": %f, \"p50_ms\": %f, \"p99_ms\": %f, " ..
    "\"status_errors\": %d, \"socket_errors\": %d}\n",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
