#!/usr/bin/env bash
# Applies pending database migrations by hand, with the load function's settings:
#   DATABASE_URL=postgres://user:password@host:5432/coinlake scripts/migrate.sh
#   DB_HOST=... DB_NAME=... DB_SECRET_ARN=... scripts/migrate.sh   (AWS credentials in the environment)
# The load function also applies them itself on its first connection (unless DB_MIGRATE=false).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
say "applying migrations from migrations/"
cargo run --quiet -p load --bin migrate
