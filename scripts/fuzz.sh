#!/usr/bin/env bash
# Fuzzes coinlake's parsers with cargo-fuzz (libFuzzer), each target for a bounded time:
#   cmc_response  a CMC HTTP body -> parse_reply -> coins -> normalize -> CSV -> load's reader
#   events        any JSON as the ingest, load and compact Lambda events
#   csv_file      any bytes as a quotes CSV object, as load reads it
#
#   scripts/fuzz.sh                    every target, 60 s each
#   scripts/fuzz.sh short              every target, 20 s each
#   scripts/fuzz.sh [short] TARGET...  only these targets
#   FUZZ_SECONDS=600 scripts/fuzz.sh   any other duration per target
#
# Only the stable toolchain is needed: RUSTC_BOOTSTRAP=1 lets it take cargo-fuzz's -Z
# flags. The build lives in fuzz/target, apart from the workspace's target/. Each run
# starts from a copy of the committed seeds (fuzz/corpus/TARGET, copied to
# fuzz/target/corpus-run/TARGET), so new inputs libFuzzer finds do not dirty the repo.
# A crash is saved under fuzz/artifacts/TARGET/; rerun it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-…
# Exits non-zero if any target crashed (a panic, a failed property, a timeout or OOM).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '==> %s\n' "$*" >&2; }

CARGO_FUZZ_VERSION=0.13.2
ALL_TARGETS=(cmc_response events csv_file)

secs="${FUZZ_SECONDS:-60}"
if [ "${1:-}" = short ]; then
  secs="${FUZZ_SECONDS:-20}"
  shift
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=("${ALL_TARGETS[@]}")
fi
for target in "${targets[@]}"; do
  if [ ! -f "fuzz/fuzz_targets/$target.rs" ]; then
    say "unknown target $target; the targets are: ${ALL_TARGETS[*]}"
    exit 2
  fi
done

export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  say "cargo-fuzz is not installed; installing $CARGO_FUZZ_VERSION from crates.io"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
say "using $(cargo fuzz --version) with $(rustc --version) (RUSTC_BOOTSTRAP=1)"

say "building the fuzz targets (instrumented release build in fuzz/target)"
build_start=$(date +%s)
if [ ${#targets[@]} -eq ${#ALL_TARGETS[@]} ]; then
  cargo fuzz build
else
  for target in "${targets[@]}"; do
    cargo fuzz build "$target"
  done
fi
say "built in $(($(date +%s) - build_start)) s"

logs=fuzz/target/logs
mkdir -p "$logs"
failed=()
for target in "${targets[@]}"; do
  run_corpus="fuzz/target/corpus-run/$target"
  rm -rf "$run_corpus"
  mkdir -p "$run_corpus" "fuzz/artifacts/$target"
  cp -R "fuzz/corpus/$target/." "$run_corpus/"
  log="$logs/$target.log"
  say "fuzzing $target for ${secs} s from $(find "$run_corpus" -type f | wc -l) seeds (log: $log)"
  start=$(date +%s)
  if cargo fuzz run "$target" "$run_corpus" -- \
    -max_total_time="$secs" -rss_limit_mb=1024 -timeout=5 -print_final_stats=1 \
    >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1)
    say "$target: no crash in $(($(date +%s) - start)) s, ${runs:-?} inputs ($cov)"
  else
    failed+=("$target")
    say "$target: CRASHED after $(($(date +%s) - start)) s (full log: $log)"
    # The panic message, or libFuzzer's own report for a timeout, OOM or sanitizer error.
    if grep -q 'panicked at' "$log"; then
      grep -m1 -A6 'panicked at' "$log" | sed 's/^/    /' >&2
    else
      grep -m1 -A10 -E '^(==[0-9]+== *)?ERROR: ' "$log" | sed 's/^/    /' >&2 || tail -n 30 "$log" >&2
    fi
    sed -n 's/.*Test unit written to \(.*\)$/    input: \1/p' "$log" >&2
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  say "crashes in: ${failed[*]} (inputs under fuzz/artifacts/)"
  exit 1
fi
say "all targets ran ${secs} s without a crash: ${targets[*]}"
