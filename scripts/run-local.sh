#!/usr/bin/env bash
# Sets up everything and runs the pipeline once, locally, end to end:
#   local S3 server (moto) + PostgreSQL + `cargo lambda watch`, then
#   `cargo lambda invoke ingest` with a manual event, shows the snapshot it wrote,
#   `cargo lambda invoke load` with that object's S3 notification, and shows the rows;
#   `cargo lambda invoke klines` for the current slot's Binance one-minute klines, and shows
#   the object it wrote;
#   compacts a past day into the curated Parquet layer and shows its candles; then serves
#   the dashboard and HTTP API (the api function as a Function URL) until Ctrl-C.
# With CMC_API_KEY set it polls the real CoinMarketCap API (CMC_BASE_URL to override);
# without, a local stand-in serves a recorded-shape response. Binance klines come from a
# local stand-in unless BINANCE_BASE_URL names a host (Binance refuses US locations).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

start_local_stack

if [ -n "${CMC_API_KEY:-}" ]; then
  cmc_base_url="${CMC_BASE_URL:-https://pro-api.coinmarketcap.com}"
  say "polling the real CoinMarketCap API at $cmc_base_url"
else
  say "CMC_API_KEY is not set: starting the local CoinMarketCap stand-in"
  start_standin cmc-standin "the CoinMarketCap stand-in"
  cmc_base_url="$STANDIN_URL"
  CMC_API_KEY="local-stand-in-key"
fi

if [ -n "${BINANCE_BASE_URL:-}" ]; then
  binance_base_url="$BINANCE_BASE_URL"
  say "fetching klines from Binance at $binance_base_url"
else
  say "BINANCE_BASE_URL is not set: starting the local Binance stand-in"
  start_standin binance-standin "the Binance stand-in"
  binance_base_url="$STANDIN_URL"
fi

# The functions' environment; the key stays in this file (in .local/, git-ignored) and in
# the function's process, never on a command line.
env_file="$LOCAL/functions.env"
umask 077
cat >"$env_file" <<ENV
BUCKET_NAME=$bucket
CMC_API_KEY=$CMC_API_KEY
CMC_BASE_URL=$cmc_base_url
CMC_SYMBOLS=${CMC_SYMBOLS:-BTC,ETH,SOL,BNB,ADA}
CMC_CONVERT=${CMC_CONVERT:-USD}
CMC_MODE=${CMC_MODE:-quotes}
BINANCE_BASE_URL=$binance_base_url
KLINES_SYMBOLS=${KLINES_SYMBOLS:-BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT,ADAUSDT}
DATABASE_URL=postgres://postgres@127.0.0.1:$PGPORT/$database
AWS_ENDPOINT_URL_S3=$S3_ENDPOINT
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
RUST_LOG=${RUST_LOG:-info}
ENV
umask 022

start_watch "$env_file"
say "cargo lambda invoke ingest --data-file events/manual.json"
summary="$(invoke ingest events/manual.json)"
echo "$summary"
key="$(printf '%s' "$summary" | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["key"])')"

say "snapshot written to s3://$bucket/$key; its first lines:"
s3 head "$bucket" "$key" 4

event="$(s3_event "$bucket" "$key")"
say "cargo lambda invoke load --data-file ${event#"$ROOT/"}"
invoke load "$event"
echo

say "the snapshot's rows in PostgreSQL ($database):"
local_psql -d "$database" -c "SELECT cmc_id, symbol, quote_currency, price, last_updated, slot_at FROM quotes WHERE s3_key = '$key' ORDER BY cmc_rank NULLS LAST, cmc_id"
local_psql -d "$database" -c "SELECT slot_at, status, rows_in_file, rows_inserted, rows_replaced, rows_present, credits FROM ingest_runs ORDER BY id DESC LIMIT 3"
say "latest_quotes (one of the analytics views; run again in five minutes for OHLC and changes):"
local_psql -d "$database" -c "SELECT symbol, quote_currency, price, percent_change_24h, last_updated FROM latest_quotes ORDER BY cmc_rank NULLS LAST"
say "cargo lambda invoke klines --data-file events/klines-manual.json"
klines_summary="$(invoke klines events/klines-manual.json)"
echo "$klines_summary"
klines_key="$(printf '%s' "$klines_summary" | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["key"])')"
say "klines written to s3://$bucket/$klines_key; its first lines:"
s3 head "$bucket" "$klines_key" 4
klines_event="$(s3_event "$bucket" "$klines_key")"
say "cargo lambda invoke load --data-file ${klines_event#"$ROOT/"}"
invoke load "$klines_event"
echo
say "the slot's minutes in klines_1m, with the 1-minute indicators (klines_1m_indicators):"
local_psql -d "$database" -c "SELECT symbol, open_time, close, volume, vwap, sma_7, day_vwap FROM klines_1m_indicators WHERE open_time >= (SELECT min(open_time) FROM klines_1m WHERE s3_key = '$klines_key') ORDER BY symbol, open_time LIMIT 10"

say "the curated layer: a past day's slot (events/schedule-v2.json, 2024-06-01 12:35), then that day compacted"
invoke ingest events/schedule-v2.json >/dev/null
say "cargo lambda invoke compact --data-file events/compact-range.json"
invoke compact events/compact-range.json
echo
say "the day's candles, as DuckDB reads curated/ohlc_1d/year=2024/month=06/day=01/ohlc_1d_2024-06-01.parquet:"
s3 parquet "$bucket" "curated/ohlc_1d/year=2024/month=06/day=01/ohlc_1d_2024-06-01.parquet" \
  "SELECT symbol, quote_currency, bucket_start, open, high, low, close, samples FROM t"
dashboard="http://127.0.0.1:$WATCH_PORT/lambda-url/api/"
say "the api function: GET ${dashboard}api/latest"
http_get "${dashboard}api/latest"
echo
say "function logs: $LOCAL/watch.log"
say "dashboard: $dashboard  (API: api/latest, api/history?symbol=BTC&interval=5m, api/history.csv?symbol=BTC, api/health)"
# A person at a terminal gets the dashboard until Ctrl-C; scripts and CI end here.
if [ -t 0 ] && [ "${KEEP_SERVING:-1}" != 0 ]; then
  say "serving the dashboard until Ctrl-C (KEEP_SERVING=0 to exit at once)"
  wait
fi
