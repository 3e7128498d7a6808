#!/usr/bin/env bash
# Backfills Binance one-minute klines locally: starts moto's S3 server and PostgreSQL
# (as run-local.sh does) and, unless BINANCE_ARCHIVE_URL is given, a stand-in of Binance's
# archive serving generated data; then runs `coinlake backfill`, which writes one object
# per pair and day and replays the days into the coinlake_local database.
#
# Usage: scripts/backfill-local.sh [coinlake backfill options]
#   default: --symbols BTCUSDT,ETHUSDT --from 2024-12-30 --to 2025-01-02
#   BINANCE_ARCHIVE_URL=https://data.binance.vision scripts/backfill-local.sh --symbols BTCUSDT --from 2024-06-01 --to 2024-06-30
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

start_local_stack

bin="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
say "building the coinlake command"
cargo build --quiet -p coinlake-cli --bin coinlake
if [ -z "${BINANCE_ARCHIVE_URL:-}" ]; then
  say "BINANCE_ARCHIVE_URL is not set: starting the archive stand-in (generated klines)"
  start_standin binance-archive-standin "the archive stand-in"
  BINANCE_ARCHIVE_URL="$STANDIN_URL"
fi

args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--symbols BTCUSDT,ETHUSDT --from 2024-12-30 --to 2025-01-02)

export BUCKET_NAME="$bucket" AWS_ENDPOINT_URL_S3="$S3_ENDPOINT" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local BINANCE_ARCHIVE_URL \
  DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/$database"
say "coinlake backfill ${args[*]}  (archive: $BINANCE_ARCHIVE_URL)"
status=0
"$bin/coinlake" backfill "${args[@]}" || status=$?

say "objects under raw/klines/ in s3://$bucket:"
written="$(s3 keys "$bucket" | grep '^raw/klines/' || true)"
[ -z "$written" ] || printf '%s\n' "$written"
first="$(head -n1 <<<"$written")"
if [ -n "$first" ]; then
  say "the first lines of $first:"
  s3 head "$bucket" "$first" 3
fi
exit "$status"
