#!/usr/bin/env bash
# Profiles the release host under load with perf: one route at a time, the component's
# functions named (WASM_PROFILER=perfmap). Writes a flat profile per route to $OUT.
#   scripts/profile.sh [host binary] [component]
# Needs perf and wrk (Debian: linux-perf, wrk), PostgreSQL and Redis on localhost. Nothing else
# may run meanwhile: the figures are shares of this machine's CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${1:-target/release/asm}
COMPONENT=${2:-target/wasm32-wasip2/wasm/asm_guest.wasm}
OUT=${OUT:-/tmp/asm-profile}
SECONDS_PER_ROUTE=${SECONDS_PER_ROUTE:-8}
PORT=${PORT:-3917}
command -v perf >/dev/null || { echo "error: perf is not installed (apt-get install -y linux-perf)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "error: wrk is not installed (apt-get install -y wrk)" >&2; exit 1; }
mkdir -p "$OUT"
stamp=$(date +%s)
db="asm_profile_$stamp"
createdb -h 127.0.0.1 -U postgres "$db"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" REDIS_ADDR=127.0.0.1:6379 \
  REDIS_KEY_PREFIX="asm-profile-$stamp:" RUST_LOG=warn METRICS_ADDR=off PORT WASM_PROFILER=perfmap \
  ASM_SECRET_KEY="$(head -c 32 /dev/urandom | base64)"
"$HOST" migrate up >/dev/null
"$HOST" serve --component "$COMPONENT" >"$OUT/host.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  dropdb -h 127.0.0.1 -U postgres --if-exists "$db" || true
  redis-cli --scan --pattern "asm-profile-$stamp:*" | xargs -r redis-cli del >/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$PORT"
curl -sf -H 'content-type: application/json' -d '{"email":"p@example.com","username":"profiler","password":"a long enough password","full_name":"P"}' "$base/auth/register" >/dev/null
token=$(curl -si -H 'content-type: application/json' -d '{"email":"p@example.com","password":"a long enough password"}' "$base/auth/login" |
  tr -d '\r' | sed -n 's/^set-cookie: session_token=\([^;]*\).*/\1/Ip')
[ -n "$token" ] || { echo "error: no session token from the login" >&2; exit 1; }

profile() { # name path [header]
  local name=$1 path=$2
  shift 2
  wrk -t2 -c32 -d3s "$@" "$base$path" >/dev/null # warm-up
  wrk -t2 -c32 -d$((SECONDS_PER_ROUTE + 2))s --latency "$@" "$base$path" >"$OUT/$name.wrk" &
  local load=$!
  sleep 1
  local before after
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  perf record -F 1999 -g -p "$pid" -o "$OUT/$name.data" -- sleep "$SECONDS_PER_ROUTE" 2>/dev/null
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  wait "$load"
  perf report -i "$OUT/$name.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9]' >"$OUT/$name.flat" || true
  local rps
  rps=$(sed -n 's/^Requests\/sec: *//p' "$OUT/$name.wrk")
  echo "$name: $rps req/s, host CPU $(((after - before) * 10)) ms in ${SECONDS_PER_ROUTE} s (profiled at 1999 Hz)" | tee -a "$OUT/summary.txt"
}

profile healthz /healthz
profile me /auth/user/me -H "authorization: Bearer $token"
echo "flat profiles in $OUT/*.flat"
