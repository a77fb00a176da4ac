-- wrk script: the beacons of post.lua at a paced rate. Each connection waits PACE_MS
-- milliseconds (environment) between its requests, so the rate is about connections * 1000 /
-- (PACE_MS + latency): under-load.sh sets it to half of what Candor took unpaced.
dofile("tests/bench/post.lua")
local pace = tonumber(os.getenv("PACE_MS") or "10")

function delay()
  return pace
end
