#!/usr/bin/env bash
# Runs every check: formatting, the template lint, all Rust tests (unit, DynamoDB Local integration,
# in-process API Gateway events), clippy, and an end-to-end run of the local stack over HTTP.
# Installs what is missing and stops everything it started.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_cargo
ensure_dynamodb_local
ensure_cargo_lambda
ensure_cfn_lint
ensure_openapi_validator
ensure_curl
ensure_redis

log "cargo fmt --check"
cargo fmt --all -- --check

log "cfn-lint template.yaml, then the template against the code"
cfn-lint template.yaml
python tests/check_template.py

log "openapi.yaml is a valid OpenAPI 3 document"
openapi-spec-validator openapi.yaml

stop_services() {
  for pid in ${DYNAMODB_PID:-} ${REDIS_PID:-}; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
}
trap stop_services EXIT
PORT=$(free_port)
start_dynamodb_local "$PORT"
export PLAYBACK_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$PORT"
log "DynamoDB Local on 127.0.0.1:$PORT (in memory)"
REDIS_PORT=$(free_port)
start_redis "$REDIS_PORT"
export PLAYBACK_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
log "redis-server on 127.0.0.1:$REDIS_PORT"

log "cargo test --workspace"
cargo test --workspace --color never 2>&1 | tee "$LOCAL/cargo-test.log"

log "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

log "local stack end to end (scripts/run-local.sh over HTTP)"
bash scripts/smoke-local.sh

# One closing line over all test binaries (cargo prints one summary per binary).
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$LOCAL/cargo-test.log"
