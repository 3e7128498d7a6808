#!/usr/bin/env bash
# Stops the local PostgreSQL cluster the scripts started under .local/pg, if any.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
data="$LOCAL/pg/data"
if [ ! -f "$data/postmaster.pid" ]; then
  say "no local cluster is running under $data"
  exit 0
fi
bindir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
as=()
[ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
"${as[@]}" "$bindir/pg_ctl" -D "$data" -w stop
