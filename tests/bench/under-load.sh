#!/usr/bin/env bash
# `make bench-under-load`: the dashboard's reports while ingest runs, on a store of BENCH_EVENTS
# (10 million) events seeded as `make bench-reports` seeds it (BENCH_STORE reuses a directory
# `reports-bench` seeded before). `candor serve` (release, embedded store, durable spool):
#   1. ingest alone: wrk unpaced for UL_SECONDS (20) -> the rate Candor takes on this store;
#   2. reports alone: `under-load` loads the dashboard's 30-day view (18 queries in one batch
#      request, as the dashboard sends them; BENCH_ONE_BY_ONE=1: one request each, 6 in
#      flight) again and again for UL_SECONDS, unfiltered and filtered by one source;
#   3. both at once: wrk sending at half the rate of step 1 (tests/bench/paced.lua: a fixed
#      schedule, not a pause after each answer) while the views load again.
# Prints each step's figures with the server's peak resident size in that step, and the highest.
# Figures: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS="${BENCH_EVENTS:-10000000}"
SECS="${UL_SECONDS:-20}"
CONNS=512
. tests/bench/lib.sh
TOKEN=$BENCH_ADMIN_TOKEN
ADDR=127.0.0.1:8094
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release --bin candor -p candor -p candor-bench --bins >/dev/null
store="${BENCH_STORE:-$work/store}"
if [ ! -d "$store/clickhouse" ]; then
  mkdir -p "$store"
  BENCH_SEED_ONLY=1 ./target/release/reports-bench "$store" "$EVENTS"
fi

start_candor "$store" $ADDR "$work/candor.log"
pid=$CANDOR_PID
# Rolling up the seeded days runs in the background after start: wait until the process has
# been nearly idle for two seconds in a row.
wait_quiet "$pid" 5 2
# Each step's own peak: the kernel's high-water mark is reset before the step (clear_refs 5)
# and read after it; the run's peak is the highest of them.
mb() { awk -v f="$1:" '$1 == f {print int($2/1024)}' "/proc/$pid/status"; }
peak_reset() { echo 5 >"/proc/$pid/clear_refs"; }
highest=0
step_peak() { PEAK=$(mb VmHWM); if [ "$PEAK" -gt "$highest" ]; then highest=$PEAK; fi; }
echo "under load: $(git log -1 --format='%h' ) $(date -u +%Y-%m-%d), $(nproc) cores, store of $(curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "http://$ADDR/api/v2/query" -d '{"site_id":"bench.example","metrics":["events"],"date_range":"all"}' | sed 's/.*"metrics":\[\([0-9]*\)\].*/\1/') events, RSS $(mb VmRSS) MB at rest (peak $(mb VmHWM) MB so far, start-up included)"

peak_reset
rate="$(wrk -t2 -c$CONNS -d${SECS}s -s tests/bench/post.lua "http://$ADDR/api/event" | tee "$work/wrk1" | awk '/Requests\/sec/ {print int($2)}')"
step_peak
echo "1. ingest alone: $rate beacons/s ($(sed -n 's/^statuses: //p' "$work/wrk1")); peak RSS $PEAK MB"

src='[["is","visit:source",["Google"]]]'
peak_reset
r="$(BENCH_TOKEN=$TOKEN ./target/release/under-load $ADDR "$SECS")"
step_peak
echo "2. reports alone, unfiltered: $r; peak RSS $PEAK MB"
peak_reset
r="$(BENCH_TOKEN=$TOKEN ./target/release/under-load $ADDR "$SECS" "$src")"
step_peak
echo "   reports alone, one source: $r; peak RSS $PEAK MB"

half=$(( rate / 2 ))
for filters in "" "$src"; do
  peak_reset
  RATE=$half WRK_THREADS=2 wrk -t2 -c$CONNS -d$((SECS + 5))s -s tests/bench/paced.lua "http://$ADDR/api/event" >"$work/wrk2" &
  wp=$!
  sleep 2
  if [ -z "$filters" ]; then label="unfiltered"; r="$(BENCH_TOKEN=$TOKEN ./target/release/under-load $ADDR "$SECS")"
  else label="one source"; r="$(BENCH_TOKEN=$TOKEN ./target/release/under-load $ADDR "$SECS" "$filters")"; fi
  wait $wp
  step_peak
  echo "3. both ($label): reports $r; wrk at ${half} beacons/s (half of step 1): $(awk '/Requests\/sec/ {print int($2)}' "$work/wrk2") beacons/s ($(sed -n 's/^statuses: //p' "$work/wrk2")); peak RSS $PEAK MB"
done
echo "peak RSS of candor serve under load: $highest MB (the highest step's)"
kill -TERM "$pid"; wait "$pid" || true; pid=""
if grep -q ' ERROR ' "$work/candor.log"; then echo "errors in the server's log:"; grep ' ERROR ' "$work/candor.log" | head -20; fi
