#!/usr/bin/env bash
# End-to-end check of README command one: starts scripts/run-local.sh on free ports, drives the real
# routes over HTTP with curl, then sends SIGINT to its process group (what Ctrl-C does) and checks
# that everything it started has stopped.
set -euo pipefail
set -m # background jobs get their own process group and keep SIGINT, as under a terminal
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_curl

API_PORT=$(free_port)
DYNAMODB_PORT=$(free_port)
DATA=$(mktemp -d)
LOG="$LOCAL/smoke-local.log"
PLAYBACK_LOCAL_PORT=$API_PORT PLAYBACK_LOCAL_DYNAMODB_PORT=$DYNAMODB_PORT PLAYBACK_LOCAL_DATA=$DATA \
  bash scripts/run-local.sh >"$LOG" 2>&1 &
GROUP=$!
trap 'kill -TERM -- -$GROUP 2>/dev/null || true; rm -rf "$DATA"' EXIT

fail() { echo "smoke-local: $*" >&2; echo "--- run-local.sh output:" >&2; tail -40 "$LOG" >&2; exit 1; }

deadline=$((SECONDS + 600))
until port_open "$API_PORT"; do
  kill -0 "$GROUP" 2>/dev/null || fail "run-local.sh exited before serving"
  [ $SECONDS -lt $deadline ] || fail "nothing listened on $API_PORT"
  sleep 0.5
done

BASE="http://127.0.0.1:$API_PORT"
request() { # method path [body] -> prints "STATUS BODY"
  curl -sS --max-time 300 -o "$LOCAL/smoke-body" -w '%{http_code}' -X "$1" "$BASE$2" \
    -H 'content-type: application/json' ${3:+--data "$3"} && printf ' ' && cat "$LOCAL/smoke-body"
}
json_field() { # json key... (numeric keys index arrays)
  python3 -c 'import json,sys; v=json.loads(sys.argv[1]); [v := v[int(k) if isinstance(v, list) else k] for k in sys.argv[2:]]; print(v)' "$@"
}

out=$(request POST /playback/update '{"account_id":"acct-1","profile_id":"alice","video_id":"v1","position":1200,"device_id":"tv","seq":1}')
[ "${out%% *}" = 200 ] || fail "update: $out"
[ "$(json_field "${out#* }" applied)" = True ] || fail "update not applied: $out"

out=$(request GET '/playback/resume?account_id=acct-1&profile_id=alice&video_id=v1')
[ "${out%% *}" = 200 ] || fail "resume: $out"
[ "$(json_field "${out#* }" playback position)" = 1200.0 ] || fail "resume position: $out"

out=$(request GET '/playback/resume?account_id=acct-1&profile_id=alice')
[ "${out%% *}" = 200 ] || fail "continue watching: $out"
[ "$(json_field "${out#* }" items 0 video_id)" = v1 ] || fail "continue watching items: $out"

out=$(request POST /playback/resume/batch '{"account_id":"acct-1","profile_id":"alice","video_ids":["v1","v2"]}')
[ "${out%% *}" = 200 ] || fail "batch: $out"
[ "$(json_field "${out#* }" missing 0)" = v2 ] || fail "batch missing: $out"

out=$(request POST /playback/remove '{"account_id":"acct-1","profile_id":"alice","video_id":"v1","device_id":"phone","seq":1}')
[ "${out%% *}" = 200 ] || fail "remove: $out"
[ "$(json_field "${out#* }" playback hidden)" = True ] || fail "remove hidden: $out"

out=$(request GET '/playback/resume?account_id=acct-1&profile_id=bob&video_id=v1')
[ "${out%% *}" = 404 ] || fail "other profile: $out"

out=$(request POST /playback/update '{"account_id":"acct-1","profile_id":"alice","video_id":"v1","position":-1,"device_id":"tv","seq":2}')
[ "${out%% *}" = 400 ] || fail "invalid update: $out"
[ "$(json_field "${out#* }" error field)" = position ] || fail "invalid update field: $out"

kill -INT -- -"$GROUP"
for _ in $(seq 1 150); do pgrep -g "$GROUP" >/dev/null || break; sleep 0.2; done
pgrep -g "$GROUP" >/dev/null && fail "processes still running after Ctrl-C: $(pgrep -g "$GROUP" -a)"
port_open "$API_PORT" && fail "port $API_PORT still open after Ctrl-C"
port_open "$DYNAMODB_PORT" && fail "DynamoDB Local still listening after Ctrl-C"
echo "smoke-local: update, resume, continue watching, batch, remove, 404 and 400 over HTTP, clean stop on Ctrl-C"
