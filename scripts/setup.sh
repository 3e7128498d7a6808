#!/usr/bin/env bash
# Installs what coinlake's scripts and tests need (Rust tools, a .venv with cargo-lambda,
# zig and moto) and makes sure PostgreSQL answers on 127.0.0.1. Safe to run again.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_tools
ensure_postgres
say "set-up complete"
