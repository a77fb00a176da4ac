#!/usr/bin/env bash
# `make bench`: ingest throughput of `candor serve` (durable spool on) against a bare actix-web
# ceiling measured in the same run, with 256 connections; then chDB batch insert rate; then
# ingest throughput again with 10 million events stored. Prints a Markdown summary.
# (The batch insert rate is measured as the batcher inserts — RowBinary events and sessions
# rows — and, for comparison, as JSONEachRow events rows, the format used before.)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS="${BENCH_ROWS:-10000000}"
DURATION="${BENCH_DURATION:-15s}"
CONNS="${BENCH_CONNECTIONS:-256}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release --bin candor -p candor -p candor-bench --bins >/dev/null

wait_port() { for _ in $(seq 1 300); do curl -fs "http://$1/readyz" >/dev/null 2>&1 && return 0; curl -s -o /dev/null "http://$1/" 2>/dev/null && return 0; sleep 0.1; done; echo "no server on $1" >&2; exit 1; }

load() { # address label
  local out; out="$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s tests/bench/post.lua "http://$1/api/event")"
  local rps; rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
  local p99; p99="$(echo "$out" | awk '/ 99%/ {print $2}')"
  local statuses; statuses="$(echo "$out" | sed -n 's/^statuses: //p')"
  echo "$2|$rps|$p99|$statuses"
}

./target/release/ceiling 127.0.0.1:8091 & pids+=($!)
sleep 1
ceiling="$(load 127.0.0.1:8091 "bare actix-web 202 (ceiling)")"
kill "${pids[-1]}"; unset 'pids[-1]'

start_candor() {
  CANDOR_DATA_DIR="$work/data" CANDOR_LISTEN=127.0.0.1:8092 CANDOR_SITES=bench.example CANDOR_RATE_LIMIT=0 \
    CANDOR_SITE_RATE_LIMIT=0 CANDOR_ADMIN_TOKEN=bench-admin-token-0123456789abcdefghij CANDOR_LOG=warn \
    ./target/release/candor serve >/dev/null 2>"$work/candor.log" & pids+=($!)
  wait_port 127.0.0.1:8092
}
stop_candor() { kill -TERM "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }

start_candor
empty="$(load 127.0.0.1:8092 "candor POST /api/event, empty store")"
stop_candor

insert="$(./target/release/store-bench insert "$work/insert" 500000)"
insert_json="$(./target/release/store-bench insert-json "$work/insert-json" 500000)"
seed="$(./target/release/store-bench seed "$work/data" "$ROWS")"

start_candor
full="$(load 127.0.0.1:8092 "candor POST /api/event, $ROWS events stored")"
stored="$(curl -s -XPOST http://127.0.0.1:8092/api/v1/sql -H 'Authorization: Bearer bench-admin-token-0123456789abcdefghij' -H 'Content-Type: application/json' -d '{"query":"SELECT count() FROM events"}')"
stop_candor

ratio() { awk -v a="$(echo "$1" | cut -d'|' -f2)" -v b="$(echo "$ceiling" | cut -d'|' -f2)" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "machine: $(nproc) cores, $(uname -r); wrk -t2 -c$CONNS -d$DURATION; $(date -u +%Y-%m-%d)"
echo
echo "| run | requests/s | p99 latency | statuses | ratio to ceiling |"
echo "|---|---|---|---|---|"
for r in "$ceiling" "$empty" "$full"; do
  IFS='|' read -r label rps p99 st <<<"$r"
  echo "| $label | $rps | $p99 | $st | $(ratio "$r") |"
done
echo
echo "- chDB batch insert: $insert"
echo "- chDB batch insert, the JSONEachRow format used before: $insert_json"
echo "- seeding: $seed"
echo "- events stored after the last run: $stored"
