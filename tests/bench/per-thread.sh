#!/usr/bin/env bash
# Where `candor serve` spends its CPU per beacon, by thread group: starts the binary (BIN, by
# default ./target/release/candor) on an empty store in a temporary directory, drives
# `wrk -t2 -c256 -d15s` with tests/bench/post.lua, and reads every thread's CPU ticks from
# /proc/<pid>/task/*/stat before, right after, and 10 s after the load (the store's inserts and
# merges finish after wrk stops). Prints one line: requests/s and microseconds of CPU per
# beacon for the HTTP workers, the store's inserts, its merges, the spool writer, the rest, and
# all threads. For A/B comparisons, alternate two binaries:
#   BIN=/tmp/before bash tests/bench/per-thread.sh before; bash tests/bench/per-thread.sh after
# Not part of `make test`; figures in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
label="${1:-candor}"
bin="${BIN:-./target/release/candor}"
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

. tests/bench/lib.sh
BIN="$bin" start_candor "$work/data" 127.0.0.1:8093 "$work/log"
pid=$CANDOR_PID

ticks() { # -> JSON {thread name: user+system ticks}
  python3 - "$pid" <<'PY'
import json, os, sys
pid, acc = sys.argv[1], {}
for t in os.listdir(f"/proc/{pid}/task"):
    try:
        s = open(f"/proc/{pid}/task/{t}/stat").read()
    except OSError:
        continue
    name = s[s.index("(") + 1:s.rindex(")")]
    fields = s[s.rindex(")") + 2:].split()
    acc[name] = acc.get(name, 0) + int(fields[11]) + int(fields[12])
print(json.dumps(acc))
PY
}
t0="$(ticks)"
rps="$(wrk -t2 -c256 -d15s -s tests/bench/post.lua http://127.0.0.1:8093/api/event | awk '/Requests\/sec/ {print $2}')"
t1="$(ticks)"
sleep 10
t2="$(ticks)"
python3 - "$label" "$rps" "$(getconf CLK_TCK)" "$t0" "$t1" "$t2" <<'PY'
import json, sys
label, rps, hz = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
t0, t1, t2 = (json.loads(a) for a in sys.argv[4:7])
def group(name):
    if name.startswith("actix"):
        return "http"
    if name in ("ThreadPool", "RuntimeData", "chdb-main", "QueryPipeline", "QueryPullPipe", "QueryPullPipeEx"):
        return "insert"
    return {"MergeMutate": "merge", "spool-writer": "spool"}.get(name, "other")
beacons = rps * 15
out = {}
for name in set(t0) | set(t1) | set(t2):
    out[group(name)] = out.get(group(name), 0) + t2.get(name, 0) - t0.get(name, 0)
us = lambda ticks: ticks / hz * 1e6 / beacons
print(f"{label} requests/s={rps:.0f} µs per beacon: " + " ".join(f"{k}={us(v):.2f}" for k, v in sorted(out.items())) + f" all={us(sum(out.values())):.2f}")
PY
