#!/usr/bin/env bash
# Checks that PostgreSQL and Redis answer on localhost.
#   scripts/services.sh check   fail with the fix when one is down
#   scripts/services.sh start   start a stopped one with this machine's own commands, then check
set -euo pipefail
mode=${1:-check}
PGHOST_=${PGHOST_CHECK:-127.0.0.1}
REDIS_HOST_=${REDIS_HOST_CHECK:-127.0.0.1}

pg_up() { pg_isready -h "$PGHOST_" -p 5432 -q 2>/dev/null; }
redis_up() { [ "$(redis-cli -h "$REDIS_HOST_" -p 6379 ping 2>/dev/null)" = "PONG" ]; }

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "error: '$1' is not installed. Install it with: apt-get install -y $2" >&2
    exit 1
  }
}
need pg_isready postgresql-client
need redis-cli redis-tools

if [ "$mode" = start ]; then
  if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  if ! redis_up && command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  for _ in $(seq 1 30); do pg_up && redis_up && break; sleep 1; done
fi

ok=1
if ! pg_up; then
  echo "error: PostgreSQL does not answer on $PGHOST_:5432." >&2
  echo "  start it: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
  echo "  or install it: apt-get install -y postgresql" >&2
  ok=0
fi
if ! redis_up; then
  echo "error: Redis does not answer on $REDIS_HOST_:6379." >&2
  echo "  start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no" >&2
  echo "  or install it: apt-get install -y redis-server" >&2
  ok=0
fi
[ "$ok" = 1 ] && echo "PostgreSQL and Redis answer"
[ "$ok" = 1 ]
