#!/usr/bin/env bash
# Before/after CPU per delivered order, in one run: two `connect` binaries
# (e.g. the commit before a change and after it) each serve on a fresh data
# folder, embedded default, and take the same signed order webhooks from
# ../shared/bench/ours-driver.js, interleaved A B A B so that background load
# hits both alike. Everything talks to 127.0.0.1 only; each round is bounded
# by the driver's count and drain timeout.
#
#   infra/bench-engine.sh BIN_A BIN_B        (C=32 N=2000 REPEAT=2)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DRIVER="${DRIVER:-$HERE/../../shared/bench/ours-driver.js}"
A="$(realpath "${1:?first binary}")"; B="$(realpath "${2:?second binary}")"
C="${C:-32}"; N="${N:-2000}"; REPEAT="${REPEAT:-2}"
RES="$(mktemp -d)"
pid=""
cleanup() { if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; }
trap cleanup EXIT
json_field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

# One round: start $1 on a fresh folder, make a sandbox Intacct pair and
# drive N orders. The template event is the first round's first simulator
# order, kept for every later round: the sample catalog is the same for every
# pair, and a random order's line count changes the work per order.
round() {
  local bin=$1 label=$2 data port base token pair
  data="$RES/$label"; mkdir -p "$data"
  port=$(( 20000 + RANDOM % 20000 )); base="http://127.0.0.1:$port"
  CONNECT_BIND="127.0.0.1:$port" CONNECT_DATA_DIR="$data" RUST_LOG=warn "$bin" serve >"$data/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do curl -sf -o /dev/null "$base/readyz" && break; sleep 0.1; done
  curl -sf "$base/api/v1/signup" -H 'content-type: application/json' \
    -d '{"company":"Bench","email":"bench@bench.test","password":"correct horse battery"}' >/dev/null
  token=$(curl -sf "$base/api/v1/auth/token" -H 'content-type: application/json' \
    -d '{"email":"bench@bench.test","password":"correct horse battery"}' | json_field token)
  pair=$(curl -sf "$base/api/v1/pairs" -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"name":"Bench","erp":"intacct","environment":"sandbox"}' | sed 's/.*"id":"\(pair_[^"]*\)".*/\1/')
  curl -s -X PUT "$base/api/v1/plan" -H "authorization: Bearer $token" -H 'content-type: application/json' -d '{"plan":"connect"}' >/dev/null || true
  curl -sf "$base/api/v1/pairs/$pair/sandbox/orders" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"count":1}' >/dev/null
  sleep 2
  if [ ! -s "$RES/event.json" ]; then
    python3 - "$data/connect.db" "$RES/event.json" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
p = c.execute("select payload from inbox where event_type='order.created' limit 1").fetchone()[0]
open(sys.argv[2], 'w').write(p if isinstance(p, str) else p.decode())
PY
  fi
  node "$DRIVER" --base "$base" --token "$token" --pair "$pair" --event "$RES/event.json" -c "$C" -n "$N" \
    --pid "$pid" --label "$label" --out "$data/result.json" >/dev/null
  node -e 'const j=require(process.argv[1]);console.log([j.label,j.acked,j.delivered??"",j.lost??"",j.duplicates??"",j.cpu_ms_per_acked,j.cpu_ms_per_delivered].join("\t"))' "$data/result.json"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""
}

printf 'label\tacked\tdelivered\tlost\tdup\tcpu_ms_per_acked\tcpu_ms_per_delivered\n'
for r in $(seq 1 "$REPEAT"); do
  round "$A" "A-r$r"
  round "$B" "B-r$r"
done
echo "results in $RES" >&2
