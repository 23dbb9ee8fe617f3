#!/usr/bin/env bash
# Load driver for docs/benchmarks.md: cold start to ready, idle RSS, and the time
# from `POST …/sandbox/orders {count}` to the last order visible in each ERP
# simulator. Everything runs against 127.0.0.1 only, on the release binary.
#
#   infra/bench-orders.sh [embedded|postgres] [runs]     (COUNT=100 by default)
#   BIN=/path/to/connect infra/bench-orders.sh …        (another build, e.g. the
#                                                        commit before a change)
#
# Each run starts the binary on a fresh data folder (and a fresh Postgres
# database and Redis namespace for `postgres`), so "cold" includes migrations
# and, on the embedded default, generating the master key.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-embedded}
runs=${2:-3}
count=${COUNT:-100}
pg=${CONNECT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
redis=${CONNECT_TEST_REDIS_URL:-redis://127.0.0.1:6379}
if [ -n "${BIN:-}" ]; then
  bin=$BIN
else
  bin=target/release/connect
  cargo build --release -q -p connect
fi
now_ms() { date +%s%3N; }
pid=""
cleanup() { if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

# Starts the binary; sets $pid and $ready_ms (milliseconds until /readyz answered 200).
start() {
  local t0
  t0=$(now_ms)
  "$bin" serve >>"$data/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 3000); do
    if curl -sf -o /dev/null "$base/readyz"; then ready_ms=$(( $(now_ms) - t0 )); return; fi
    kill -0 "$pid" 2>/dev/null || { echo "the server exited; see $data/server.log" >&2; exit 1; }
    sleep 0.01
  done
  echo "not ready after 30 s" >&2; exit 1
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=""; }
json_field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
api() { curl -sf "$base$2" -X "$1" -H "authorization: Bearer $token" -H 'content-type: application/json' ${3:+-d "$3"}; }

# Sends $count orders to a new sandbox pair and prints the ms until the ERP holds them all.
orders_to_erp() {
  local erp=$1 key=$2 pair t0 held
  pair=$(api POST /api/v1/pairs "{\"name\":\"bench $erp\",\"erp\":\"$erp\",\"environment\":\"sandbox\"}" | json_field id)
  t0=$(now_ms)
  api POST "/api/v1/pairs/$pair/sandbox/orders" "{\"count\":$count}" >/dev/null
  for _ in $(seq 1 2400); do
    held=$(api GET "/api/v1/pairs/$pair/sandbox/erp/sales-orders" | grep -o "\"$key\"" | wc -l)
    if [ "$held" -ge "$count" ]; then echo $(( $(now_ms) - t0 )); return; fi
    sleep 0.05
  done
  echo "only $held of $count orders arrived in 120 s" >&2; exit 1
}

echo "backend run cold_ms warm_ms idle_rss_kib intacct_ms sagepro_ms"
for run in $(seq 1 "$runs"); do
  data=$(mktemp -d)
  port=$(( 20000 + RANDOM % 20000 ))
  base="http://127.0.0.1:$port"
  unset CONNECT_DATABASE_URL CONNECT_REDIS_URL CONNECT_QUEUE_NAMESPACE
  export CONNECT_BIND="127.0.0.1:$port" CONNECT_DATA_DIR="$data" RUST_LOG=warn
  if [ "$backend" = postgres ]; then
    db="connect_bench_$$_$run"
    psql "$pg" -qc "CREATE DATABASE $db"
    export CONNECT_DATABASE_URL="${pg%/*}/$db" CONNECT_REDIS_URL="$redis" CONNECT_QUEUE_NAMESPACE="bench-$$-$run"
  fi
  start; cold=$ready_ms
  sleep 3
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  email="bench$run-$$@bench.test"
  curl -sf "$base/api/v1/signup" -H 'content-type: application/json' \
    -d "{\"company\":\"Bench\",\"email\":\"$email\",\"password\":\"correct horse battery\"}" >/dev/null
  token=$(curl -sf "$base/api/v1/auth/token" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"correct horse battery\"}" | json_field token)
  intacct=$(orders_to_erp intacct DOCNO)
  sagepro=$(orders_to_erp sagepro CustomerPO)
  stop
  start; warm=$ready_ms
  stop
  echo "$backend $run $cold $warm $rss $intacct $sagepro"
  [ "$backend" = postgres ] && psql "$pg" -qc "DROP DATABASE $db"
  rm -rf "$data"
done
