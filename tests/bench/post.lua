-- wrk script: POST one beacon per request and tally status codes, so the run can prove that
-- every answer was a 202.
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/plain"
wrk.headers["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
wrk.body = '{"site":"bench.example","name":"pageview","url":"https://bench.example/pricing?utm_source=newsletter","referrer":"https://www.google.com/search?q=x","screen_width":1440}'

local threads = {}
function setup(thread)
  thread:set("counts", {})
  table.insert(threads, thread)
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("counts")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(total) do
    table.insert(parts, status .. "=" .. n)
  end
  io.write("statuses: " .. table.concat(parts, " ") .. "\n")
end
