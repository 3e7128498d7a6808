#!/usr/bin/env bash
# Benchmarks against the local stack (release builds, loopback only): CPU cost of the codec
# (criterion), one 5,000-row file loaded end to end (criterion), replay throughput of
# 30 days × 100 coins, both functions' release binaries under a local Lambda Runtime API
# (cold start, warm p50/p99, peak RSS), and the load's peak memory for growing files. Figures go into the
# README's results table by hand, with the machine and date.
#   scripts/bench.sh            everything
#   scripts/bench.sh quick      shorter criterion runs, a 2-day replay
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_tools
ensure_postgres
start_s3
export COINLAKE_TEST_S3_ENDPOINT="$S3_ENDPOINT"
criterion=(--warm-up-time 2 --measurement-time 10)
days=30
if [ "${1:-}" = quick ]; then
  criterion=(--warm-up-time 1 --measurement-time 3)
  days=2
fi

say "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
say "codec: CMC JSON -> rows -> CSV -> rows, 5,000 coins"
cargo bench --quiet -p coinlake --bench codec -- "${criterion[@]}" 2>&1 | grep -E '^[0-9a-z_/]+|time:|thrpt:'
say "load: one 5,000-row file end to end (S3 GET, parse, COPY, insert, commit)"
cargo bench --quiet -p load --bench load_file -- "${criterion[@]}" 2>&1 | grep -E '^[0-9a-z_/]+|time:|thrpt:'
say "replay: $days days x 288 slots x 100 coins"
cargo bench --quiet -p load --bench replay -- "$days" 100
say "functions as Lambda runs them: cold start, warm latency, peak RSS (release binaries)"
cargo build --release --quiet -p ingest -p load
if [ "${1:-}" = quick ]; then
  cargo bench --quiet -p load --bench lambda -- 5 20
else
  cargo bench --quiet -p load --bench lambda -- 20 50
fi
say "memory: peak RSS of one load as the file grows (streaming keeps it flat)"
for rows in 5000 50000 200000; do
  cargo bench --quiet -p load --bench replay -- memory "$rows"
done
