-- wrk script: the beacons of post.lua at a fixed rate, RATE beacons a second in all (environment;
-- WRK_THREADS must be wrk's -t). Each wrk thread keeps a schedule of RATE / WRK_THREADS sends a
-- second: a connection whose answer came back waits for the thread's next free slot, so the
-- rate does not fall when answers slow down (as it would with a fixed pause after each answer),
-- as long as enough connections are free. A schedule that fell more than a second behind
-- restarts from now instead of sending the backlog in a burst. under-load.sh sets RATE to half
-- of what Candor took unpaced.
dofile("tests/bench/post.lua")
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } paced_timespec;
  int clock_gettime(int clock, paced_timespec *ts);
]]
local ts = ffi.new("paced_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local rate = tonumber(os.getenv("RATE") or "1000")
local threads = tonumber(os.getenv("WRK_THREADS") or "2")
local interval = 1000 * threads / rate -- ms between two sends of this thread
local slot = nil

function delay()
  local now = now_ms()
  if slot == nil or slot < now - 1000 then
    slot = now
  end
  slot = slot + interval
  local wait = slot - now
  if wait < 0 then
    return 0
  end
  return math.floor(wait)
end
