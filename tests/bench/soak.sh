#!/usr/bin/env bash
# `make bench-soak`: `candor serve` (release build, embedded store, durable spool) under a steady
# beacon load for SOAK_SECONDS (default 1800), sampling its RSS, open files and threads every
# SOAK_SAMPLE seconds (default 60); SOAK_RATE beacons per second (default 1000). The load and the
# sampling are `tests/bench/src/bin/soak.rs`; it fails unless every 202 reached the store.
# Figures: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_="${SOAK_SECONDS:-1800}"
RATE="${SOAK_RATE:-1000}"
SAMPLE="${SOAK_SAMPLE:-60}"
TOKEN=soak-admin-token-0123456789abcdefghijkl
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release --bin candor -p candor -p candor-bench --bins >/dev/null

. tests/bench/lib.sh
start_candor "$work/data" 127.0.0.1:8093 "$work/candor.log" CANDOR_SITES=soak.example \
  CANDOR_ADMIN_TOKEN="$TOKEN" CANDOR_TRUSTED_PROXIES=127.0.0.1/32
pid=$CANDOR_PID

echo "soak: $SECONDS_ s at $RATE beacons/s, sampled every $SAMPLE s; $(git log -1 --format='%h %s' | cut -c1-80)"
SOAK_TOKEN="$TOKEN" ./target/release/soak 127.0.0.1:8093 "$pid" "$SECONDS_" "$RATE" "$SAMPLE"
echo "data directory at the end: $(du -sh "$work/data" | cut -f1) (store $(du -sh "$work/data/clickhouse" | cut -f1))"
kill -TERM "$pid"; wait "$pid" || true; pid=""
if grep -q ' ERROR ' "$work/candor.log"; then echo "errors in the server's log:"; grep ' ERROR ' "$work/candor.log" | head -20; fi
