#!/usr/bin/env bash
# Sets up and runs every check coinlake has: formatting, clippy, the whole test suite
# against real servers (PostgreSQL, an S3-compatible server, CMC stand-ins), and a smoke
# test of the functions under `cargo lambda watch` + `cargo lambda invoke` (ingest, load,
# the api's Function URL, compact, then klines), the dashboard end to end in headless Chromium,
# the SAM template validated offline (cfn-lint, sam validate --lint, the SAM transform of every
# supported parameter set, checkov on the template and on those, sam build), and each fuzz
# target run for 20 seconds.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# A fresh clone in CI compiles once and never again: incremental state would only cost disk.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

ensure_rust_tools
ensure_hakari
ensure_postgres
# The Python tools (a minute or more of unpacking wheels into fresh venvs) install while
# clippy compiles; nothing before the tests needs them.
say "installing the Python tools in the background (log: $LOCAL/python-tools.log)"
(ensure_python_tools && ensure_checkov) >"$LOCAL/python-tools.log" 2>&1 &
python_tools=$!

say "cargo fmt --check"
cargo fmt --all --check
say "cargo hakari: functions/workspace-hack unifies every dependency's features"
cargo hakari generate --diff >/dev/null || { say "functions/workspace-hack is out of date: run cargo hakari generate && cargo hakari manage-deps"; exit 1; }
case "$(cargo hakari manage-deps --dry-run 2>&1)" in
  *"no operations to perform"*) ;;
  *) say "a member does not depend on workspace-hack: run cargo hakari manage-deps"; exit 1 ;;
esac
say "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

wait "$python_tools" || { cat "$LOCAL/python-tools.log" >&2; say "installing the Python tools failed"; exit 1; }
say "Python tools ready"
start_s3
# One S3 server for the whole run; each test makes (and removes) its own bucket on it.
export COINLAKE_TEST_S3_ENDPOINT="$S3_ENDPOINT"
say "cargo nextest run"
cargo nextest run --workspace

say "cfn-lint template.yaml, with the serverless rules"
"$VENV/bin/cfn-lint" template.yaml --append-rules cfn_lint_serverless.rules
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
say "sam validate --lint"
PATH="$VENV/bin:$PATH" sam validate --lint --template template.yaml
say "the template as CloudFormation deploys it, for every supported parameter set (scripts/sam_transform.py)"
transformed="$LOCAL/transformed"
rm -rf "$transformed"
"$VENV/bin/python" scripts/sam_transform.py --all-sets "$transformed"
"$VENV/bin/python" scripts/sam_transform.py --raw >"$transformed/raw.json"
say "checkov on template.yaml and on the transformed templates (skips are justified beside each resource)"
"$CHECKOV" --quiet --compact --skip-download --framework cloudformation -f template.yaml
"$CHECKOV" --quiet --compact --skip-download --framework cloudformation -d "$transformed"
say "sam build (cargo lambda build for every function, SAM_BUILD_MODE=debug)"
# What this checks is that SAM finds every function, cross-compiles it for arm64 against
# Lambda's glibc and packages its bootstrap. SAM's debug mode runs the same `cargo lambda
# build` without --release: the optimised, link-time-optimised build is what `sam build`
# gives a deploy and what scripts/bench.sh measures, and here it would spend ten minutes
# optimising code nothing runs.
SAM_BUILD_MODE=debug PATH="$VENV/bin:$PATH" \
  sam build --beta-features --template template.yaml >"$LOCAL/sam-build.log" 2>&1 \
  || { tail -n 40 "$LOCAL/sam-build.log"; exit 1; }
for function in IngestFunction KlinesFunction LoadFunction ApiFunction CompactFunction; do
  [ -s ".aws-sam/build/$function/bootstrap" ] || { say "sam build produced no bootstrap for $function"; exit 1; }
done
say "sam build produced every bootstrap: $(du -h .aws-sam/build/*/bootstrap | tr '\n' ' ')"

say "fuzzing, short bounded mode (scripts/fuzz.sh for longer runs)"
bash scripts/fuzz.sh short

say "dashboard end to end in headless Chromium (scripts/dashboard-e2e.sh)"
bash scripts/dashboard-e2e.sh

say "smoke test: cargo lambda invoke ingest, then load, then compact, then klines, against cargo lambda watch"
smoke_db="coinlake_smoke_$$"
cleanup() {
  stop_background
  local_psql -d postgres -c "DROP DATABASE IF EXISTS $smoke_db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
ensure_database "$smoke_db"
cargo build --quiet -p testkit --bin cmc-standin
standin_port="$(free_port)"
background "$LOCAL/smoke-cmc.log" "$ROOT/target/debug/cmc-standin" "$standin_port"
wait_for_port "$standin_port" "the CoinMarketCap stand-in" 30
cargo build --quiet -p testkit --bin binance-standin
binance_port="$(free_port)"
background "$LOCAL/smoke-binance.log" "$ROOT/target/debug/binance-standin" "$binance_port"
wait_for_port "$binance_port" "the Binance stand-in" 30
bucket="coinlake-smoke-$$"
s3 create-bucket "$bucket"
env_file="$LOCAL/smoke.env"
cat >"$env_file" <<ENV
BUCKET_NAME=$bucket
CMC_API_KEY=smoke-test-key
CMC_BASE_URL=http://127.0.0.1:$standin_port
BINANCE_BASE_URL=http://127.0.0.1:$binance_port
DATABASE_URL=postgres://postgres@127.0.0.1:$PGPORT/$smoke_db
AWS_ENDPOINT_URL_S3=$S3_ENDPOINT
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
ENV
start_watch "$env_file"
summary="$(invoke ingest events/schedule-v2.json)"
expected_key="raw/quotes/year=2024/month=06/day=01/quotes_2024-06-01_12-35-00.csv"
printf '%s' "$summary" | "$VENV/bin/python" -c '
import json, sys
summary = json.load(sys.stdin)
assert summary["key"] == sys.argv[1], summary
assert summary["rows"] == 5 and summary["skipped"] == 0, summary
' "$expected_key"
[ "$(s3 keys "$bucket")" = "$expected_key" ] || { say "smoke test: expected exactly $expected_key in the bucket"; exit 1; }
invoke load "$(s3_event "$bucket" "$expected_key")" >/dev/null
stored="$(local_psql -d "$smoke_db" -tAc "SELECT count(*) FROM quotes WHERE s3_key = '$expected_key'")"
[ "$stored" = 5 ] || { say "smoke test: expected 5 rows in PostgreSQL, found $stored"; exit 1; }
latest="$(http_get "http://127.0.0.1:$WATCH_PORT/lambda-url/api/api/latest")"
printf '%s' "$latest" | "$VENV/bin/python" -c '
import json, sys
latest = json.load(sys.stdin)
assert [a["symbol"] for a in latest["assets"]] == ["BTC", "ETH", "BNB", "SOL", "ADA"], latest
'
compacted="$(invoke compact events/compact-range.json)"
printf '%s' "$compacted" | "$VENV/bin/python" -c '
import json, sys
day = json.load(sys.stdin)["days"][0]
assert day["rows"] == 5 and day["objects"] == 1, day
assert day["key"] == "curated/quotes/year=2024/month=06/day=01/quotes_2024-06-01.parquet", day
'
klines_key="raw/klines/interval=1m/year=2024/month=06/day=01/klines_2024-06-01_12-35-00.csv"
klines_summary="$(invoke klines events/klines-scheduled.json)"
printf '%s' "$klines_summary" | "$VENV/bin/python" -c '
import json, sys
summary = json.load(sys.stdin)
assert summary["key"] == sys.argv[1], summary
assert summary["rows"] == 25 and summary["written"] and summary["gaps"] == [] and summary["skipped"] == [], summary
' "$klines_key"
# The listing is read whole first: `grep -q` stops reading at its match, and under
# pipefail the lister's broken pipe would fail the check.
smoke_keys="$(s3 keys "$bucket")"
grep -qxF "$klines_key" <<<"$smoke_keys" || { say "smoke test: $klines_key is not in the bucket"; exit 1; }
[ "$(s3 head "$bucket" "$klines_key" 1)" = "symbol,open_time,close_time,open,high,low,close,volume,quote_volume,trades,taker_buy_base_volume,taker_buy_quote_volume" ] \
  || { say "smoke test: $klines_key does not start with the klines header"; exit 1; }
say "smoke test passed: $expected_key, 5 rows in S3, in PostgreSQL, in the api function's answer and in the day's compacted Parquet; $klines_key, 25 klines in S3"
