#!/usr/bin/env bash
# Benchmarks against the local stack (release builds, loopback only): CPU cost of the codec
# (criterion), one 5,000-row file loaded end to end (criterion), replay throughput of
# 30 days × 100 coins, both functions' release binaries under a local Lambda Runtime API
# (cold start, warm p50/p99, peak RSS), the compact binary on a day of 5 and of 5,000
# coins (time, peak RSS, what a 30-day query reads), the load's peak memory for growing files,
# instruction counts of the hot paths (callgrind), the deployable bootstraps' sizes for
# arm64 and x86_64, a klines slot of 5 pairs end to end, and the monthly cost those figures
# imply (scripts/cost.py). Figures go into the results table of docs/benchmarks.md by hand,
# with the machine and date.
#   scripts/bench.sh            everything
#   scripts/bench.sh quick      shorter criterion runs, a 2-day replay
#   scripts/bench.sh klines     only a klines slot of 5 pairs: fetch and write, load, both
#                               (criterion), and the release binaries as Lambda runs them
#                               (cold start, p50/p99, peak RSS, object size)
#   scripts/bench.sh backfill   only the backfill: a month of 5 pairs from the archive
#                               stand-in into moto (time, rows/s, peak RSS);
#                               BACKFILL_CONCURRENCY pairs at once (default 4)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_tools
ensure_postgres
start_s3
export COINLAKE_TEST_S3_ENDPOINT="$S3_ENDPOINT"

# The release `coinlake backfill` of June 2024 for 5 pairs (5 monthly zips, 150 objects,
# 216,000 rows) from the archive stand-in into moto, without the replay.
bench_backfill() {
  say "backfill: a month of 5 pairs (216,000 rows) from the archive stand-in into moto (release)"
  cargo build --release --quiet -p coinlake-cli --bin coinlake -p testkit --bin binance-archive-standin
  local release="${CARGO_TARGET_DIR:-$ROOT/target}/release" port bucket="coinlake-bench-backfill"
  port="$(free_port)"
  background "$LOCAL/bench-archive.log" "$release/binance-archive-standin" "$port"
  wait_for_port "$port" "the archive stand-in" 30
  s3 create-bucket "$bucket"
  BUCKET_NAME="$bucket" AWS_ENDPOINT_URL_S3="$S3_ENDPOINT" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local BINANCE_ARCHIVE_URL="http://127.0.0.1:$port" \
    /usr/bin/time -f '%e %M' -o "$LOCAL/bench-backfill.time" \
    "$release/coinlake" backfill --symbols BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT,ADAUSDT \
    --from 2024-06-01 --to 2024-06-30 --no-load --concurrency "${BACKFILL_CONCURRENCY:-4}"
  read -r seconds rss_kib <"$LOCAL/bench-backfill.time"
  say "backfill: ${seconds} s, $(python3 -c "print(round(216000 / $seconds))") rows/s, peak RSS $(( rss_kib / 1024 )) MiB"
}
criterion=(--warm-up-time 2 --measurement-time 10)
days=30
runs=(20 50)
if [ "${1:-}" = quick ]; then
  criterion=(--warm-up-time 1 --measurement-time 3)
  days=2
  runs=(5 20)
fi

# One slot of 5 pairs x 5 minutes: the klines handler against the Binance stand-in writing
# to moto, then load into PostgreSQL; in process (criterion), then the release binaries.
bench_klines() {
  say "klines: one slot of 5 pairs (25 rows), Binance stand-in -> moto -> PostgreSQL (criterion)"
  cargo bench --quiet -p klines --bench slot -- "${criterion[@]}" 2>&1 | grep -E '^[0-9a-z_/]+|time:|thrpt:'
  say "klines: the slot as Lambda runs it (release klines and load binaries)"
  cargo build --release --quiet -p klines -p load
  cargo bench --quiet -p klines --bench lambda -- "${runs[@]}" | tee "$LOCAL/bench-klines.txt"
}
case "${1:-}" in
  backfill) bench_backfill; exit 0 ;;
  klines) bench_klines; exit 0 ;;
esac

say "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
say "codec: CMC JSON -> rows -> CSV -> rows, 5,000 coins"
cargo bench --quiet -p coinlake --bench codec -- "${criterion[@]}" 2>&1 | grep -E '^[0-9a-z_/]+|time:|thrpt:'
say "load: one 5,000-row file end to end (S3 GET, parse, COPY, insert, commit)"
cargo bench --quiet -p load --bench load_file -- "${criterion[@]}" 2>&1 | grep -E '^[0-9a-z_/]+|time:|thrpt:'
say "replay: $days days x 288 slots x 100 coins"
cargo bench --quiet -p load --bench replay -- "$days" 100
say "functions as Lambda runs them: cold start, warm latency, peak RSS (release binaries)"
cargo build --release --quiet -p ingest -p load
cargo bench --quiet -p load --bench lambda -- "${runs[@]}" | tee "$LOCAL/bench-lambda.txt"
say "compaction as Lambda runs it: a day of 5 coins, and a listings day of 5,000 (1.44 million rows)"
cargo build --release --quiet -p compact
cargo bench --quiet -p compact --bench day -- 5 | tee "$LOCAL/bench-compact.txt"
cargo bench --quiet -p compact --bench day -- 5000
bench_klines
read -r -a cost_inputs <<<"$(sed -n 's/^cost inputs: //p' "$LOCAL/bench-lambda.txt" "$LOCAL/bench-compact.txt" "$LOCAL/bench-klines.txt" | tr '\n' ' ')"
say "monthly cost at the 5-minute schedule from these figures (scripts/cost.py ${cost_inputs[*]})"
python3 scripts/cost.py "${cost_inputs[@]}"
say "the same with CoinMarketCap's and S3's real latency instead of loopback's (300 ms ingest, 40 ms load)"
python3 scripts/cost.py "${cost_inputs[@]}" --ingest-ms 300 --load-ms 40
bench_backfill
say "memory: peak RSS of one load as the file grows (streaming keeps it flat)"
for rows in 5000 50000 200000; do
  cargo bench --quiet -p load --bench replay -- memory "$rows"
done

say "instruction counts (valgrind --tool=callgrind): a path's count minus the setup's"
command -v valgrind >/dev/null || apt_install valgrind
instructions="$(cargo bench --quiet -p coinlake --bench instructions --no-run --message-format json \
  | "$VENV/bin/python" -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message["target"]["name"] == "instructions" and message.get("executable"):
        print(message["executable"])')"
collected() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$instructions" "$1" 2>&1 \
    | awk '/Collected :/ { print $NF }'
}
setup="$(collected setup)"
ingest_ir=$(( $(collected ingest) - setup ))
load_ir=$(( $(collected load) - setup ))
say "ingest path, 5,000-coin CMC reply -> rows -> CSV: $ingest_ir instructions"
say "load path, 5,000-row CSV -> rows -> COPY text: $load_ir instructions"

say "bootstrap sizes: cargo lambda build --release, stripped, zipped"
for arch in arm64 x86-64; do
  out="$LOCAL/lambda-$arch"
  PATH="$VENV/bin:$PATH" cargo-lambda lambda build --quiet --release "--$arch" -p ingest -p load -p compact -p api -p klines \
    --output-format zip --lambda-dir "$out"
  for function in ingest load compact api klines; do
    zipped="$(stat -c %s "$out/$function/bootstrap.zip")"
    stripped="$("$VENV/bin/python" -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).getinfo("bootstrap").file_size)' "$out/$function/bootstrap.zip")"
    say "$function $arch: $(( stripped / 1024 )) KiB stripped, $(( zipped / 1024 )) KiB zipped"
  done
done
