-- wrk script of the proxy benchmarks: PUT a valid JSON lead, the uuid varied over 65536
-- visitors, each request with an update id of its own (?updateId=, as the companion sends:
-- the run's start second, the thread's number and a counter, so no two requests of a run or
-- of the runs after it share one, and none is answered from the proxy's memory of delivered
-- ids); prints "RESULT req/s p50_ms p99_ms requests errors" when done.
local n = 0
local path = os.getenv("LEAD_PATH") or "/lead"
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
  thread:set("started", os.time())
end
request = function()
  n = n + 1
  local id = string.format("%08x%08x%016x", started or 0, thread_number or 0, n)
  local body = string.format(
    '{"uuid":"7e88d192-9b20-4035-9b68-%012x","botId":"benchbot","customerId":"benchcustomer",' ..
    '"name":"Ada Lovelace","email":"Ada@Example.com","phone":"+44 20 7946 0958","tags":["bench"],' ..
    '"attributes":{"plan":"pro"}}', n % 65536)
  return wrk.format("PUT", path .. "?updateId=" .. id, {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.2f %.2f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read +
      summary.errors.write + summary.errors.timeout))
end
