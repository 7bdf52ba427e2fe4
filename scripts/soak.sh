#!/usr/bin/env bash
# Soak: a fixed mix (80% /auth/user/me, 10% sessions, 5% login, 5% register) at a fixed
# concurrency against the release host on PostgreSQL + Redis. Fails on any unexpected status
# or socket error, on RSS after warm-up growing by 10% or more, or on open descriptors growing.
#   scripts/soak.sh SECONDS [CONNECTIONS]      (make soak: 600 s; CI: 60 s)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
conns=${2:-16}
host=target/release/asm
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }

stamp=$(date +%s)$$
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/asm_soak_$stamp"
export REDIS_ADDR=127.0.0.1:6379 REDIS_KEY_PREFIX="asm-soak-$stamp:" RUST_LOG=warn
# Cheap hashes keep the mix about the service, not the hash; the cap bounds one user's sessions.
export ARGON2_MEMORY_KIB=256 ARGON2_ITERATIONS=1 MAX_SESSIONS_PER_USER=50 LOGIN_IP_MAX_ATTEMPTS=1000000
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
out=${SOAK_OUT:-target/soak}
mkdir -p "$out"
"$host" migrate up >/dev/null
"$host" serve --host 127.0.0.1 --port "$port" --metrics-addr off >"$out/server.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS \"asm_soak_$stamp\" WITH (FORCE)" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "asm-soak-$stamp:*" | xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done

export SOAK_EMAIL="soak$stamp@example.com" SOAK_PASSWORD="a soak passphrase"
curl -fs -X POST "$base/auth/register" -H 'content-type: application/json' \
  -d "{\"email\":\"$SOAK_EMAIL\",\"username\":\"soak$stamp\",\"password\":\"$SOAK_PASSWORD\",\"full_name\":\"Soak\"}" >/dev/null
SOAK_TOKEN=$(curl -fsi -X POST "$base/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"$SOAK_EMAIL\",\"password\":\"$SOAK_PASSWORD\"}" | sed -n 's/^set-cookie: session_token=\([^;]*\);.*/\1/ip' | tr -d '\r')
export SOAK_TOKEN
export SOAK_LOGIN_PREFIX="soak-login$stamp-"
for i in $(seq 1 10); do
  curl -fs -X POST "$base/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$SOAK_LOGIN_PREFIX$i@example.com\",\"username\":\"soaklogin$stamp-$i\",\"password\":\"$SOAK_PASSWORD\",\"full_name\":\"Soak\"}" >/dev/null
done

# Samples every 5 s: elapsed seconds, RSS (KiB), open descriptors.
samples="$out/samples.tsv"
printf 'seconds\trss_kib\tfds\n' >"$samples"
(
  start=$(date +%s)
  while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
    printf '%s\t%s\t%s\n' "$(( $(date +%s) - start ))" "$rss" "$fds" >>"$samples"
    sleep 5
  done
) &
sampler=$!

wrk -t2 -c"$conns" -d"${seconds}s" --timeout 10s -s scripts/soak/mix.lua "$base" | tee "$out/wrk.txt"
kill "$sampler" 2>/dev/null || true

python3 - "$samples" "$out/wrk.txt" <<'PY'
import sys
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n')[1:] if l.strip()]
rows = [(int(s), int(r), int(f)) for s, r, f in rows]
wrk = open(sys.argv[2]).read()
line = next(l for l in wrk.splitlines() if l.startswith('soak:') and 'unexpected' in l)
requests, unexpected, errors = [int(w) for w in line.replace(',', ' ').split() if w.isdigit()]
warm = [r for r in rows if r[0] >= max(10, rows[-1][0] // 6)] or rows
rss0, rss1 = warm[0][1], max(r[1] for r in warm)
fds0, fds1 = warm[0][2], max(r[2] for r in warm)
growth = (rss1 - rss0) * 100.0 / rss0
print(f"soak: RSS after warm-up {rss0} KiB -> peak {rss1} KiB ({growth:+.1f}%); descriptors {fds0} -> peak {fds1}")
ok = unexpected == 0 and errors == 0 and growth < 10.0 and fds1 <= fds0 + 8
print("soak: " + ("passed" if ok else "FAILED"))
sys.exit(0 if ok else 1)
PY
