#!/usr/bin/env bash
# The whole test suite: once on the embedded default (SQLite + embedded queue),
# once on Postgres + Redis. Starts Postgres and Redis first if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

infra/services.sh
infra/browser.sh

# Test databases of earlier runs are of no use; drop them so the disk does not fill.
psql -h 127.0.0.1 -U postgres -d postgres -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'connect_test_%'" 2>/dev/null \
  | while read -r db; do psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db" || true; done || true

# Sage's Intacct JS SDK, pinned by infra/sdk-compat/package-lock.json, for tests/intacct_sdk.rs.
if ! command -v npm >/dev/null 2>&1; then
  as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
(cd infra/sdk-compat && npm ci --no-audit --no-fund)

echo "== embedded default: SQLite + embedded queue =="
CONNECT_TEST_BACKEND=embedded cargo test --workspace --all-targets

echo "== Postgres + Redis =="
CONNECT_TEST_BACKEND=postgres \
CONNECT_TEST_POSTGRES_URL="${CONNECT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}" \
CONNECT_TEST_REDIS_URL="${CONNECT_TEST_REDIS_URL:-redis://127.0.0.1:6379}" \
  cargo test --workspace --all-targets
