# Helpers shared by coinlake's scripts. Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
# Runtime state of local runs: logs, the env file, a PostgreSQL cluster if one was needed.
LOCAL="$ROOT/.local"
PGPORT="${PGPORT:-5432}"
mkdir -p "$LOCAL"

# Prefixed with the seconds since the script started, so a run's log shows where time goes.
say() { printf '==> [%4ss] %s\n' "$SECONDS" "$*" >&2; }

# A TCP port nothing listens on right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for_port PORT NAME [SECONDS]
wait_for_port() {
  local port=$1 name=$2 limit=${3:-60} waited=0
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if (( waited >= limit * 10 )); then
      say "$name did not start listening on 127.0.0.1:$port within ${limit}s"
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

# Processes started with `background` are stopped when the script exits.
BACKGROUND_PIDS=()
background() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  BACKGROUND_PIDS+=("$!")
}
stop_background() {
  local pid
  for pid in "${BACKGROUND_PIDS[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${BACKGROUND_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  BACKGROUND_PIDS=()
}
trap stop_background EXIT

# start_standin BINARY NAME: builds one of testkit's stand-in binaries and starts it on a
# free port (log in .local/BINARY.log); its address is left in STANDIN_URL.
start_standin() {
  local binary=$1 name=$2 port
  cargo build --quiet -p testkit --bin "$binary"
  port="$(free_port)"
  background "$LOCAL/$binary.log" "${CARGO_TARGET_DIR:-$ROOT/target}/debug/$binary" "$port"
  wait_for_port "$port" "$name" 30
  STANDIN_URL="http://127.0.0.1:$port"
}

apt_install() {
  say "installing Debian packages: $*"
  if [ "$(id -u)" -ne 0 ]; then
    sudo apt-get update -qq && sudo apt-get install -y -qq "$@"
  else
    apt-get update -qq && apt-get install -y -qq "$@"
  fi
}

# The Rust and Python tools the project needs. Idempotent: reinstalls the .venv only when
# requirements-dev.txt changes.
ensure_tools() {
  ensure_rust_tools
  ensure_python_tools
}

# cargo-hakari, pinned: scripts/test.sh checks functions/workspace-hack is in step with the
# dependencies (.config/hakari.toml). Only the checks need it, not running the pipeline.
CARGO_HAKARI_VERSION=0.9.39
ensure_hakari() {
  if ! cargo hakari --version 2>/dev/null | grep -q " $CARGO_HAKARI_VERSION\$"; then
    say "installing cargo-hakari $CARGO_HAKARI_VERSION"
    cargo install cargo-hakari --version "$CARGO_HAKARI_VERSION" --locked
  fi
}

ensure_rust_tools() {
  command -v cargo >/dev/null || { say "Rust is required: install it with rustup (https://rustup.rs)"; return 1; }
  if ! cargo nextest --version >/dev/null 2>&1; then
    say "installing cargo-nextest"
    cargo install cargo-nextest --locked
  fi
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
  # sam build cross-compiles for arm64 (the template's default architecture).
  rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu' \
    || rustup target add aarch64-unknown-linux-gnu
}

ensure_python_tools() {
  # pyspark (scripts/athena_reader.py: Hive's OpenCSVSerde, as Athena reads) needs Java 17+.
  command -v java >/dev/null || apt_install default-jre-headless
  local stamp="$VENV/.requirements.sha256" want
  want="$(sha256sum "$ROOT/requirements-dev.txt" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  say "installing the Python tools of requirements-dev.txt into .venv (cargo-lambda, zig, moto, SAM CLI, cfn-lint, duckdb, pyspark, pyarrow)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r "$ROOT/requirements-dev.txt"
  echo "$want" >"$stamp"
}

# checkov in a venv of its own (.local/checkov): its pinned dependencies would fight the SAM
# CLI's and cfn-lint's in .venv. Reinstalled only when CHECKOV_VERSION changes.
CHECKOV_VERSION=3.3.30
CHECKOV="$LOCAL/checkov/bin/checkov"
ensure_checkov() {
  local stamp="$LOCAL/checkov/.version"
  if [ -x "$CHECKOV" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$CHECKOV_VERSION" ]; then
    return 0
  fi
  say "installing checkov $CHECKOV_VERSION into $LOCAL/checkov"
  python3 -m venv "$LOCAL/checkov"
  "$LOCAL/checkov/bin/pip" install -q --upgrade pip
  "$LOCAL/checkov/bin/pip" install -q "checkov==$CHECKOV_VERSION"
  echo "$CHECKOV_VERSION" >"$stamp"
}

# A PostgreSQL server on 127.0.0.1:$PGPORT: the one already running, or a cluster of our
# own under .local/pg (created on first use, left running for later runs).
ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p "$PGPORT"; then
    say "PostgreSQL answers on 127.0.0.1:$PGPORT"
    return 0
  fi
  local bindir
  bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  if [ -z "$bindir" ]; then
    apt_install postgresql
    bindir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
  fi
  local data="$LOCAL/pg/data" as=()
  # PostgreSQL refuses to run as root; run it as the postgres user instead.
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$LOCAL/pg" postgres
    as=(runuser -u postgres --)
  fi
  mkdir -p "$LOCAL/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres "$LOCAL/pg"
  if [ ! -f "$data/PG_VERSION" ]; then
    say "creating a local PostgreSQL cluster in $data"
    "${as[@]}" "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 >/dev/null
  fi
  say "starting PostgreSQL on 127.0.0.1:$PGPORT (stop it with: scripts/postgres-stop.sh)"
  "${as[@]}" "$bindir/pg_ctl" -D "$data" -l "$LOCAL/pg/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $LOCAL/pg" start >/dev/null
}

# psql against the local server as postgres.
local_psql() {
  psql -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -X -q "$@"
}

# ensure_database NAME: creates the database unless it exists.
# The local stack both run-local.sh and backfill-local.sh use: the tools, PostgreSQL with
# the `coinlake_local` database, and moto's S3 server with the `coinlake-local` bucket
# (sets `database` and `bucket`).
start_local_stack() {
  ensure_tools
  ensure_postgres
  database="coinlake_local"
  ensure_database "$database"
  start_s3
  bucket="coinlake-local"
  s3 create-bucket "$bucket"
}

ensure_database() {
  if [ -z "$(local_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'")" ]; then
    say "creating database $1"
    local_psql -d postgres -c "CREATE DATABASE $1"
  fi
}

# s3_event BUCKET KEY: an S3 ObjectCreated notification (events/s3-put.json with this
# bucket and key, URL-encoded as S3 sends it) written to a file; prints the file's path.
s3_event() {
  local out="$LOCAL/s3-event.json"
  "$VENV/bin/python" - "$ROOT/events/s3-put.json" "$1" "$2" "$out" <<'PY'
import json, sys, urllib.parse
template, bucket, key, out = sys.argv[1:]
event = json.load(open(template))
record = event["Records"][0]["s3"]
record["bucket"]["name"] = bucket
record["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
record["object"]["key"] = urllib.parse.quote_plus(key, safe="/")
json.dump(event, open(out, "w"), indent=2)
PY
  echo "$out"
}

# Starts moto's S3-compatible server on a free loopback port; sets S3_ENDPOINT.
start_s3() {
  local port
  port="$(free_port)"
  background "$LOCAL/s3.log" "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port"
  wait_for_port "$port" "the S3 server (moto)" 30
  S3_ENDPOINT="http://127.0.0.1:$port"
  say "S3-compatible server (moto) at $S3_ENDPOINT"
}

# s3 COMMAND ARGS…: a tiny boto3 client against $S3_ENDPOINT (create-bucket, keys, head).
s3() {
  "$VENV/bin/python" "$ROOT/scripts/s3.py" --endpoint "$S3_ENDPOINT" "$@"
}

# Starts `cargo lambda watch` with the environment in $1 (an env file); sets WATCH_PORT.
start_watch() {
  WATCH_PORT="$(free_port)"
  say "building and serving the functions with cargo lambda watch on 127.0.0.1:$WATCH_PORT"
  background "$LOCAL/watch.log" "$VENV/bin/cargo-lambda" lambda watch \
    --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" --ignore-changes --env-file "$1"
  wait_for_port "$WATCH_PORT" "cargo lambda watch" 300
}

# http_get URL: prints the body; fails on an error status or no answer.
http_get() {
  "$VENV/bin/python" -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' "$1"
}

# invoke FUNCTION EVENT_FILE: prints the function's JSON response.
invoke() {
  "$VENV/bin/cargo-lambda" lambda invoke "$1" --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" \
    --data-file "$2" --output-format json
}
