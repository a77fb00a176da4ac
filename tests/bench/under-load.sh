#!/usr/bin/env bash
# `make bench-under-load`: the dashboard's reports while ingest runs, on a store of BENCH_EVENTS
# (10 million) events seeded as `make bench-reports` seeds it (BENCH_STORE reuses a directory
# `reports-bench` seeded before). `candor serve` (release, embedded store, durable spool):
#   1. ingest alone: wrk unpaced for UL_SECONDS (20) -> the rate Candor takes on this store;
#   2. reports alone: `under-load` loads the dashboard's 30-day view (18 queries in one batch
#      request, as the dashboard sends them; BENCH_ONE_BY_ONE=1: one request each, 6 in
#      flight) again and again for UL_SECONDS, unfiltered and filtered by one source;
#   3. both at once: wrk paced to about half the rate of step 1 while the views load again.
# Prints each step's figures and the server's peak resident size. Figures: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS="${BENCH_EVENTS:-10000000}"
SECS="${UL_SECONDS:-20}"
CONNS=512
TOKEN=bench-admin-token-0123456789abcdefghij
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

CANDOR_DATA_DIR="$store" CANDOR_LISTEN=$ADDR CANDOR_SITES=bench.example CANDOR_RATE_LIMIT=0 \
  CANDOR_SITE_RATE_LIMIT=0 CANDOR_ADMIN_TOKEN=$TOKEN CANDOR_LOG=warn \
  ./target/release/candor serve >/dev/null 2>"$work/candor.log" &
pid=$!
for _ in $(seq 1 600); do curl -fs "http://$ADDR/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
# Rolling up the seeded days runs in the background after start: wait until the process has
# been nearly idle for two seconds in a row.
idle=0
for _ in $(seq 1 600); do
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat"); sleep 1; after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  if [ $((after - before)) -le 5 ]; then idle=$((idle + 1)); [ $idle -ge 2 ] && break; else idle=0; fi
done
echo "under load: $(git log -1 --format='%h' ) $(date -u +%Y-%m-%d), $(nproc) cores, store of $(curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "http://$ADDR/api/v2/query" -d '{"site_id":"bench.example","metrics":["events"],"date_range":"all"}' | sed 's/.*"metrics":\[\([0-9]*\)\].*/\1/') events, RSS $(awk '/VmRSS/ {print int($2/1024)}' /proc/$pid/status) MB at rest (peak $(awk '/VmHWM/ {print int($2/1024)}' /proc/$pid/status) MB so far, start-up included)"

rate="$(wrk -t2 -c$CONNS -d${SECS}s -s tests/bench/post.lua "http://$ADDR/api/event" | tee "$work/wrk1" | awk '/Requests\/sec/ {print int($2)}')"
echo "1. ingest alone: $rate beacons/s ($(sed -n 's/^statuses: //p' "$work/wrk1"))"

src='[["is","visit:source",["Google"]]]'
echo "2. reports alone, unfiltered: $(BENCH_TOKEN=$TOKEN ./target/release/under-load $ADDR "$SECS")"
echo "   reports alone, one source: $(BENCH_TOKEN=$TOKEN ./target/release/under-load $ADDR "$SECS" "$src")"

pace=$(( CONNS * 1000 * 2 / (rate > 0 ? rate : 1) ))
for filters in "" "$src"; do
  PACE_MS=$pace wrk -t2 -c$CONNS -d$((SECS + 5))s -s tests/bench/paced.lua "http://$ADDR/api/event" >"$work/wrk2" &
  wp=$!
  sleep 2
  if [ -z "$filters" ]; then label="unfiltered"; r="$(BENCH_TOKEN=$TOKEN ./target/release/under-load $ADDR "$SECS")"
  else label="one source"; r="$(BENCH_TOKEN=$TOKEN ./target/release/under-load $ADDR "$SECS" "$filters")"; fi
  wait $wp
  echo "3. both ($label): reports $r; wrk paced at ${pace} ms per connection: $(awk '/Requests\/sec/ {print int($2)}' "$work/wrk2") beacons/s ($(sed -n 's/^statuses: //p' "$work/wrk2"))"
done
echo "peak RSS of candor serve: $(awk '/VmHWM/ {print int($2/1024)}' /proc/$pid/status) MB"
kill -TERM "$pid"; wait "$pid" || true; pid=""
if grep -q ' ERROR ' "$work/candor.log"; then echo "errors in the server's log:"; grep ' ERROR ' "$work/candor.log" | head -20; fi
