#!/usr/bin/env bash
# Orders into the Intacct simulator at its limits, with Intacct writes
# shared between concurrent jobs (CONNECT_INTACCT_WRITE_BATCH) and without.
# The simulator keeps to 2 concurrent requests per company and answers each
# request after LATENCY_MS, so the ceiling is 2 requests per LATENCY_MS:
# 2 × BATCH / latency orders a second batched, 2 / latency unbatched. One
# `connect` binary, a fresh data folder per round, signed order webhooks from
# ../shared/bench/ours-driver.js; 127.0.0.1 only, each round bounded by the
# driver's count and drain timeout.
#
#   infra/bench-intacct-batch.sh BIN     (N=1000 N1=60 LATENCY_MS=1000 WORKERS=128 W1=8 C=64)
#
# The unbatched round runs W1 jobs at once: enough to keep both request
# slots busy without queueing past the simulator's 30 s wait.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DRIVER="${DRIVER:-$HERE/../../shared/bench/ours-driver.js}"
BIN="$(realpath "${1:?connect binary}")"
N="${N:-1000}"; N1="${N1:-60}"; LATENCY_MS="${LATENCY_MS:-1000}"; WORKERS="${WORKERS:-128}"; W1="${W1:-8}"; C="${C:-64}"
RES="$(mktemp -d)"
pid=""
cleanup() { if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
json_field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

# One round: $1 writes per request, $2 orders, $3 jobs at once.
round() {
  local batch=$1 n=$2 workers=$3 label="batch$1" data port base token pair
  data="$RES/$label"; mkdir -p "$data"
  port=$(( 20000 + RANDOM % 20000 )); base="http://127.0.0.1:$port"
  CONNECT_BIND="127.0.0.1:$port" CONNECT_DATA_DIR="$data" CONNECT_WORKER_CONCURRENCY="$workers" \
    CONNECT_INTACCT_WRITE_BATCH="$batch" CONNECT_HTTP_TIMEOUT_MS=120000 RUST_LOG=warn \
    "$BIN" serve >"$data/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do curl -sf -o /dev/null "$base/readyz" && break; sleep 0.1; done
  curl -sf "$base/api/v1/signup" -H 'content-type: application/json' \
    -d '{"company":"Bench","email":"bench@bench.test","password":"correct horse battery"}' >/dev/null
  token=$(curl -sf "$base/api/v1/auth/token" -H 'content-type: application/json' \
    -d '{"email":"bench@bench.test","password":"correct horse battery"}' | json_field token)
  pair=$(curl -sf "$base/api/v1/pairs" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"name":"Bench","erp":"intacct","environment":"sandbox"}' | sed 's/.*"id":"\(pair_[^"]*\)".*/\1/')
  curl -sf "$base/api/v1/pairs/$pair/sandbox/orders" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"count":1}' >/dev/null
  sleep 2
  python3 - "$data/connect.db" "$RES/event.json" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
p = c.execute("select payload from inbox where event_type='order.created' limit 1").fetchone()[0]
open(sys.argv[2], 'w').write(p if isinstance(p, str) else p.decode())
PY
  # The simulator at its limits: 2 requests at once, each answered after LATENCY_MS.
  curl -sf -X PUT "$base/api/v1/pairs/$pair/sandbox/faults" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' \
    -d "{\"system\":\"intacct\",\"latency_ms\":$LATENCY_MS,\"concurrency_limit\":2}" >/dev/null
  node "$DRIVER" --base "$base" --token "$token" --pair "$pair" --event "$RES/event.json" -c "$C" -n "$n" \
    --pid "$pid" --label "$label" --drain-timeout 900 --out "$data/result.json" >/dev/null
  node -e '
    const j = require(process.argv[1]); const batch = +process.argv[2], lat = +process.argv[3] / 1000;
    const ceiling = 2 * batch / lat;
    console.log([j.label, j.acked, j.delivered, j.lost, j.duplicates, j.delivered_per_s,
      ceiling.toFixed(1), (100 * j.delivered_per_s / ceiling).toFixed(0) + "%"].join("\t"));
  ' "$data/result.json" "$batch" "$LATENCY_MS"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

printf 'label\tacked\tdelivered\tlost\tdup\tdelivered_per_s\tceiling_per_s\tof_ceiling\n'
round 1 "$N1" "$W1"
round 50 "$N" "$WORKERS"
