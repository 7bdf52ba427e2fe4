#!/usr/bin/env bash
# Property-based API testing: schemathesis generates requests from docs/openapi.yaml (and
# follows its links statefully) against the live service on PostgreSQL + Redis, and fails on
# any 5xx, any response that breaks the schema, any other check it knows, and any warning that
# the run did not reach what it claims to test (scripts/api-fuzz/schemathesis.toml). The hooks in
# scripts/api-fuzz/hooks.py sign every case in with a live session of a fuzzing account (the
# operators' routes with the run's ADMIN_TOKEN) and put real passwords, codes, session and account
# ids and mailed tokens into part of the cases; at the end they print each operation's answers by
# status to stderr.
#   scripts/api-fuzz.sh [examples-per-operation] [more schemathesis run options...]
#                                                   (default 100 examples)
# ASM_BIN (default target/release/asm) and ASM_COMPONENT (read by the host; default
# target/wasm32-wasip2/wasm/asm_guest.wasm) choose what runs; API_FUZZ_RUST_LOG (default warn)
# the host's log level, e.g. info to log every request.
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-100}
shift $(($# > 0 ? 1 : 0))
SCHEMATHESIS_VERSION=4.32.5
venv=target/venv
host=${ASM_BIN:-target/release/asm}

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

stamp=$(date +%s)$$
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/asm_fuzz_$stamp"
export REDIS_ADDR=127.0.0.1:6379 REDIS_KEY_PREFIX="asm-fuzz-$stamp:" ARGON2_MEMORY_KIB=256 ARGON2_ITERATIONS=1
# Without ADMIN_TOKEN every /admin path is 404; one of this run's own opens the operators' routes.
ADMIN_TOKEN="asm-fuzz-$stamp-$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
export ADMIN_TOKEN
# The hooks read the mailed tokens from the mails the host logs (there is no SMTP_URL). A record
# is complete once the next one starts: the outbox worker's "delivered" line follows each mail.
export RUST_LOG="${API_FUZZ_RUST_LOG:-warn},asm_host::mail=info,asm_host::outbox=info"
# The hooks send the right password or code to the same accounts again and again, between
# thousands of wrong ones, all from one address: with the production limits every account would
# soon be locked out and every mail refused, and the right answers would only ever meet 429.
export LOGIN_MAX_ATTEMPTS=1000000 LOGIN_IP_MAX_ATTEMPTS=1000000 \
  RECOVERY_MAX_PER_EMAIL=1000000 RECOVERY_MAX_PER_MAILBOX=1000000 RECOVERY_MAX_PER_ADDRESS=1000000
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
log=$(mktemp)
out=$(mktemp)

"$host" migrate up >/dev/null
"$host" serve --host 127.0.0.1 --port "$port" --metrics-addr off >"$log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS \"asm_fuzz_$stamp\" WITH (FORCE)" >/dev/null 2>&1 || true
  redis-cli -h 127.0.0.1 --scan --pattern "asm-fuzz-$stamp:*" | xargs -r redis-cli -h 127.0.0.1 del >/dev/null || true
  # A failed run keeps the host's log (every request, and every mail it would have sent).
  if [ "${status:-1}" != 0 ] && [ -s "$log" ]; then
    mkdir -p target && cp "$log" target/api-fuzz-host.log && echo "the host's log: target/api-fuzz-host.log"
  fi
  rm -f "$log" "$out"
}
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done
curl -fs "$base/readyz" >/dev/null || { echo "error: the service did not become ready"; cat "$log"; exit 1; }

# positive_data_acceptance is left out: the schema cannot express rules that need the data
# (common passwords, names already taken), so valid-looking requests are rightly refused.
status=0
API_FUZZ_BASE_URL="$base" API_FUZZ_HOST_LOG="$log" API_FUZZ_ADMIN_TOKEN="$ADMIN_TOKEN" SCHEMATHESIS_HOOKS="$PWD/scripts/api-fuzz/hooks.py" \
  "$venv/bin/schemathesis" --config-file scripts/api-fuzz/schemathesis.toml run docs/openapi.yaml \
  --url "$base" -n "$examples" --checks all --exclude-checks positive_data_acceptance \
  --generation-deterministic "$@" | tee "$out" || status=$?
# The warnings fail the run through the config file; this catches them should it not be read.
if grep -qE "^ *⚠️ +(Authentication failed|Missing test data|Schema validation mismatch)" "$out"; then
  echo "error: schemathesis warned that part of the API was not reached (see WARNINGS above)"
  status=1
fi
if grep -qiE "panicked|internal error" "$log"; then
  echo "error: the server logged a failure during the run:"; grep -iE "panicked|internal error" "$log" | head
  status=1
fi
exit "$status"
