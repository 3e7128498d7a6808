#!/usr/bin/env bash
# End-to-end test of the dashboard in headless Chromium: a database of its own filled with
# thirty days of five coins (functions/testkit/fixtures/sql/market_30d.sql), the api
# function served by `cargo lambda watch` as a Function URL, the page loaded from it.
# Checks what a person would see (the prices table in rank order, a drawn price chart, a
# fresh-data indicator, no error) and saves a screenshot to .local/dashboard.png; then adds a
# day of Binance BTCUSDT minutes and checks the 1d chart draws them with its moving average
# (.local/dashboard-klines.png). The alerts panel is driven over the DevTools protocol
# (scripts/dashboard-alerts.py): it must list the fired alerts of
# functions/testkit/fixtures/sql/alerts.sql with their delivery, show the API's 400 message
# for a bad rule and create a good one; a full-page screenshot goes to
# .local/dashboard-alerts.png. The API runs with a shared token, as a public dashboard
# whose rules may be edited would.
# Run by scripts/test.sh; by hand it needs scripts/setup.sh first.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_tools
ensure_postgres
if ! command -v chromium >/dev/null; then
  apt_install chromium
fi

database="coinlake_e2e_$$"
cleanup() {
  stop_background
  local_psql -d postgres -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
ensure_database "$database"
url="postgres://postgres@127.0.0.1:$PGPORT/$database"
say "migrating $database and loading 30 days of five coins"
cargo build --quiet -p load --bin migrate
DATABASE_URL="$url" "${CARGO_TARGET_DIR:-$ROOT/target}/debug/migrate" >/dev/null
end="$(date -u +%FT%TZ)"
local_psql -d "$database" -v end="$end" -f functions/testkit/fixtures/sql/market_30d.sql >/dev/null
local_psql -d "$database" -v end="$end" -f functions/testkit/fixtures/sql/alerts.sql >/dev/null
token="e2e-token-$$-$(date +%s)"

env_file="$LOCAL/e2e.env"
cat >"$env_file" <<ENV
DATABASE_URL=$url
AWS_REGION=us-east-1
API_TOKEN=$token
ENV
start_watch "$env_file"
api_base="http://127.0.0.1:$WATCH_PORT/lambda-url/api/"
page="${api_base}#token=$token"
# The first request builds and starts the function; Chromium's clock should not wait on it.
say "warming the api function up at $api_base"
for attempt in $(seq 1 120); do
  if http_get "$api_base" >/dev/null 2>&1; then break; fi
  [ "$attempt" = 120 ] && { say "the api function did not answer (see $LOCAL/watch.log)"; exit 1; }
  sleep 2
done

chrome() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --run-all-compositor-stages-before-draw --window-size=1280,900 \
    --virtual-time-budget=8000 --user-data-dir="$(mktemp -d)" "$@" 2>/dev/null
}
check() {
  "$VENV/bin/python" - "$@" <<'PY'
import re, sys
dom, source = open(sys.argv[1]).read(), sys.argv[2]
problems = []
if 'data-ready="true"' not in dom:
    problems.append("the page never finished its first render (body data-ready)")
rows = re.findall(r'<tr[^>]*data-symbol="([A-Z]+)"', dom)
if rows != ["BTC", "ETH", "BNB", "SOL", "ADA"]:
    problems.append(f"prices table rows are {rows}, expected BTC ETH BNB SOL ADA (rank order)")
for name in ["Bitcoin", "Ethereum", "Cardano"]:
    if name not in dom:
        problems.append(f"{name} is not on the page")
# The drawing only: the page's script holds the same markup as templates.
chart = re.search(r'<svg[^>]*id="chart".*?</svg>', dom, re.S)
chart = chart.group(0) if chart else ""
line = re.search(r'<path[^>]*class="price-line"[^>]*d="([^"]+)"', chart) or re.search(r'<path[^>]*d="([^"]+)"[^>]*class="price-line"', chart)
points = len(re.findall(r"[ML]", line.group(1))) if line else 0
sma = re.search(r'<path[^>]*class="sma-line"[^>]*d="([^"]+)"', chart)
meta = re.search(r'id="chart-meta"[^>]*>([^<]*)<', dom)
meta = meta.group(1) if meta else ""
if source == "cmc":
    if not 250 <= points <= 300:
        problems.append(f"the 1-day price line has {points} points, expected one per five-minute candle (~288)")
    if sma:
        problems.append("a moving-average line is drawn without Binance minutes")
else:
    if not 1400 <= points <= 1440:
        problems.append(f"the 1-day price line has {points} points, expected one per Binance minute (~1440)")
    if not sma or len(re.findall(r"[ML]", sma.group(1))) < 1350:
        problems.append("the SMA 25 line is missing or short")
    if "Binance BTCUSDT" not in meta:
        problems.append(f"the chart does not name its source: {meta!r}")
freshness = re.search(r'id="freshness"[^>]*class="([^"]*)"|class="([^"]*)"[^>]*id="freshness"', dom)
if not freshness or "ok" not in (freshness.group(1) or freshness.group(2) or ""):
    problems.append("the freshness indicator does not show fresh data")
status = re.search(r'id="status"[^>]*>(.*?)</', dom, re.S)
if status and status.group(1).strip():
    problems.append(f"the page shows an error: {status.group(1).strip()[:200]}")
if problems:
    print("dashboard end-to-end test failed:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"dashboard end-to-end test passed ({source}): 5 assets in rank order, a {points}-point price line, fresh data")
PY
}

say "loading the page in headless Chromium"
chrome --dump-dom "$page" >"$LOCAL/dashboard.html"
chrome --screenshot="$LOCAL/dashboard.png" "$page" >/dev/null
check "$LOCAL/dashboard.html" cmc
[ -s "$LOCAL/dashboard.png" ] || { say "no screenshot was written"; exit 1; }
say "screenshot: $LOCAL/dashboard.png"

say "driving the alerts panel and its rule form"
"$VENV/bin/python" scripts/dashboard-alerts.py "$(command -v chromium)" "$page" "$api_base" "$token" "$LOCAL/dashboard-alerts.png"
say "screenshot: $LOCAL/dashboard-alerts.png"

say "adding a day of BTCUSDT minutes and loading the page again"
local_psql -d "$database" >/dev/null <<'SQL'
INSERT INTO klines_1m (symbol, open_time, close_time, open, high, low, close, volume,
                       quote_volume, trades, taker_buy_base_volume, taker_buy_quote_volume, s3_key)
SELECT 'BTCUSDT', t, t + interval '59.999 seconds', p, p + 20, p - 20, p, 1, p, 10, 0, 0, 'e2e'
FROM generate_series(date_trunc('minute', now()) - interval '1439 minutes',
                     date_trunc('minute', now()) - interval '1 minute', interval '1 minute') t,
     LATERAL (SELECT round(CAST(67000 + 400 * sin(extract(epoch FROM t) / 5400) AS numeric), 2) AS p) price;
SQL
chrome --dump-dom "$page" >"$LOCAL/dashboard-klines.html"
chrome --screenshot="$LOCAL/dashboard-klines.png" "$page" >/dev/null
check "$LOCAL/dashboard-klines.html" klines
say "screenshot: $LOCAL/dashboard-klines.png"
