#!/usr/bin/env bash
# Reproducible benchmarks (numbers in the README, "Benchmarks"):
#  1. criterion: CPU cost of one invocation in the functions' own code (event parsing, validation,
#     domain, JSON), with the in-memory reference store;
#  2. playback-load: the real handlers against a fresh in-memory DynamoDB Local on this machine.
# Builds in the `bench` profile (release, thin LTO): the first run compiles for several minutes.
# Environment: BENCH_SECONDS (20), BENCH_CONCURRENCY (8), BENCH_SKIP_CRITERION=1 (load runs only).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_cargo
ensure_dynamodb_local
ensure_redis

if [ -z "${BENCH_SKIP_CRITERION:-}" ]; then
  log "criterion: cargo bench -p playback-bench --bench handlers"
  cargo bench -p playback-bench --bench handlers
fi

PORT=$(free_port)
start_dynamodb_local "$PORT"
REDIS_PORT=$(free_port)
start_redis "$REDIS_PORT"
trap 'for pid in $DYNAMODB_PID $REDIS_PID; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done' EXIT
export_local_aws_env "http://127.0.0.1:$PORT"

# DynamoDB Local on a shared 2-core machine is far slower than DynamoDB: the budgets are raised so
# the run measures latency instead of counting 503s. The defaults (150/500/300 ms) apply in AWS.
load() {
  cargo run --quiet --profile bench -p playback-bench --bin playback-load -- \
    --seconds "${BENCH_SECONDS:-20}" --concurrency "${BENCH_CONCURRENCY:-8}" \
    --read-timeout-ms 2000 --write-timeout-ms 2000 --list-timeout-ms 2000 "$@"
}
# DynamoDB Local's JVM answers slowly until its JIT has warmed up: a short run first, not reported,
# so the two measured runs below start from the same warm state.
log "warm-up (not reported)"
load --table playback-warm-up --seconds 8 >/dev/null
log "playback-load against DynamoDB Local (in memory) on 127.0.0.1:$PORT, no cache"
load --table playback-load
log "playback-load with the read cache (redis-server on 127.0.0.1:$REDIS_PORT)"
load --table playback-load-cached --cache-url "redis://127.0.0.1:$REDIS_PORT"
