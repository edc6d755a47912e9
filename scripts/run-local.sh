#!/usr/bin/env bash
# Runs the service locally: DynamoDB Local on 127.0.0.1:8642 (data kept in .local/dynamodb) and
# `cargo lambda watch` serving the real routes on 127.0.0.1:9000, rebuilding on every code change:
#   POST http://127.0.0.1:9000/playback/update    GET http://127.0.0.1:9000/playback/resume?...
# Installs what is missing first. Ctrl-C stops everything it started.
#
# Environment: PLAYBACK_LOCAL_PORT (9000), PLAYBACK_LOCAL_DYNAMODB_PORT (8642),
# PLAYBACK_LOCAL_DATA (.local/dynamodb), RUST_LOG (info).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

API_PORT=${PLAYBACK_LOCAL_PORT:-9000}
DYNAMODB_PORT=${PLAYBACK_LOCAL_DYNAMODB_PORT:-8642}
DATA_DIR=${PLAYBACK_LOCAL_DATA:-$LOCAL/dynamodb}
TABLE=playback-local

ensure_cargo
ensure_dynamodb_local
ensure_cargo_lambda
port_open "$API_PORT" && die "port $API_PORT is already in use (set PLAYBACK_LOCAL_PORT)"

cleanup() {
  trap - EXIT INT TERM
  log "stopping"
  [ -n "${WATCH_PID:-}" ] && kill "$WATCH_PID" 2>/dev/null
  [ -n "${DYNAMODB_PID:-}" ] && kill "$DYNAMODB_PID" 2>/dev/null
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_dynamodb_local "$DYNAMODB_PORT" "$DATA_DIR"
log "DynamoDB Local on 127.0.0.1:$DYNAMODB_PORT, data in ${DATA_DIR#"$ROOT"/}"

export_local_aws_env "http://127.0.0.1:$DYNAMODB_PORT"
# Local budgets are generous: a cold JVM and a disk-backed DynamoDB Local are slower than DynamoDB.
# No API Gateway here, so no JWT authorizer: local-dev mode takes account_id from the request.
# Deployed functions never run in this mode (template.yaml sets PLAYBACK_AUTH_MODE=jwt).
export PLAYBACK_AUTH_MODE=local-dev
export PLAYBACK_TABLE=$TABLE PLAYBACK_READ_TIMEOUT_MS=2000 PLAYBACK_WRITE_TIMEOUT_MS=2000
cargo run --quiet -p playback --bin create-table

# The functions' environment; RUST_LOG goes only to them, not to cargo-lambda itself.
{ env | grep -E '^(PLAYBACK_|AWS_)'; echo "RUST_LOG=${RUST_LOG:-info}"; } >"$LOCAL/watch.env"
unset RUST_LOG
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$API_PORT" --env-file "$LOCAL/watch.env" &
WATCH_PID=$!
wait_for_port "$API_PORT" 600 "cargo lambda watch"

cat >&2 <<MSG

playback-resume is running on http://127.0.0.1:$API_PORT (Ctrl-C stops it)

  curl -X POST http://127.0.0.1:$API_PORT/playback/update -H 'content-type: application/json' \\
       -d '{"account_id":"acct-1","profile_id":"alice","video_id":"v1","position":1200,"device_id":"tv","seq":1}'
  curl 'http://127.0.0.1:$API_PORT/playback/resume?account_id=acct-1&profile_id=alice&video_id=v1'

MSG
wait "$WATCH_PID"
