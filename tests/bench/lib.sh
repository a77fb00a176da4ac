# Shared by the benchmark scripts (sourced, not run): starting `candor serve` for a load, and
# waiting for a server to answer or for a process to go quiet.

# The admin token every benchmark's server is started with (not a secret: a local test server).
BENCH_ADMIN_TOKEN="${BENCH_ADMIN_TOKEN:-bench-admin-token-0123456789abcdefghij}"

# start_candor <data dir> <address> <log file> [VAR=value ...]
# Starts `candor serve` (BIN, by default ./target/release/candor) in the background with the
# benchmarks' settings — one site, bench.example; no rate limits; BENCH_ADMIN_TOKEN; warnings
# only in the log — plus any VAR=value given, which override them. Sets CANDOR_PID and returns
# once /readyz answers (or fails, having stopped the server, if it never does).
start_candor() {
  local data="$1" addr="$2" log="$3"
  shift 3
  env CANDOR_DATA_DIR="$data" CANDOR_LISTEN="$addr" CANDOR_SITES=bench.example CANDOR_RATE_LIMIT=0 \
    CANDOR_SITE_RATE_LIMIT=0 CANDOR_ADMIN_TOKEN="$BENCH_ADMIN_TOKEN" CANDOR_LOG=warn "$@" \
    "${BIN:-./target/release/candor}" serve >/dev/null 2>"$log" &
  CANDOR_PID=$!
  wait_ready "$addr" "$CANDOR_PID" || { kill "$CANDOR_PID" 2>/dev/null; return 1; }
}

# wait_ready <address> [pid]: until http://<address>/readyz answers 2xx, or (for a server
# without /readyz, such as the ceiling) anything answers at all; at most 60 s. Fails at once if
# the process <pid> has exited.
wait_ready() {
  for _ in $(seq 1 600); do
    curl -fs "http://$1/readyz" >/dev/null 2>&1 && return 0
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$1/readyz" 2>/dev/null)" = 404 ] && return 0
    if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
      echo "the server for $1 exited before it was ready" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "no server on $1 after 60 s" >&2
  return 1
}

# wait_quiet <pid> <ticks> <seconds>: until the process has used at most <ticks> clock ticks of
# CPU in each of <seconds> consecutive seconds (its merges and rollups done); at most 10 min.
wait_quiet() {
  local quiet=0 before after
  for _ in $(seq 1 600); do
    before=$(awk '{print $14 + $15}' "/proc/$1/stat")
    sleep 1
    after=$(awk '{print $14 + $15}' "/proc/$1/stat")
    if [ $((after - before)) -le "$2" ]; then
      quiet=$((quiet + 1))
      [ "$quiet" -ge "$3" ] && return 0
    else
      quiet=0
    fi
  done
}
