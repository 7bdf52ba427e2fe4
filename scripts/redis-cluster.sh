#!/usr/bin/env bash
# A local Redis Cluster for the tests: three masters and three replicas on loopback ports
# (Debian's redis-server in cluster mode, nothing kept on disk between runs).
#   scripts/redis-cluster.sh start   start it (or check the running one); prints the seed nodes
#   scripts/redis-cluster.sh stop    stop it and remove its files
#   scripts/redis-cluster.sh nodes   print the seed nodes (host:port,...)
# REDIS_CLUSTER_BASE_PORT (default 7301) is the first of six ports.
set -euo pipefail
mode=${1:-start}
base=${REDIS_CLUSTER_BASE_PORT:-7301}
dir=${REDIS_CLUSTER_DIR:-/tmp/asm-redis-cluster-$base}
ports=$(seq "$base" $((base + 5)))
nodes=$(for p in $ports; do printf '127.0.0.1:%s,' "$p"; done | sed 's/,$//')

command -v redis-server >/dev/null || { echo "error: redis-server is not installed: apt-get install -y redis-server" >&2; exit 1; }

healthy() {
  [ "$(redis-cli -p "$base" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state://p')" = ok ] &&
    [ "$(redis-cli -p "$base" cluster nodes 2>/dev/null | grep -c master)" -ge 3 ]
}

case "$mode" in
  nodes) echo "$nodes" ;;
  stop)
    for p in $ports; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
    rm -rf "$dir"
    ;;
  start)
    if healthy; then echo "$nodes"; exit 0; fi
    for p in $ports; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
    rm -rf "$dir"
    for p in $ports; do
      mkdir -p "$dir/$p"
      # A short node timeout, so a failover in the tests takes seconds, not the default 15.
      redis-server --port "$p" --bind 127.0.0.1 --daemonize yes --cluster-enabled yes \
        --cluster-config-file "$dir/$p/nodes.conf" --cluster-node-timeout 1000 \
        --save "" --appendonly no --dir "$dir/$p" --logfile "$dir/$p/redis.log" >/dev/null
    done
    for p in $ports; do
      for _ in $(seq 1 50); do [ "$(redis-cli -p "$p" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
    done
    # shellcheck disable=SC2046
    redis-cli --cluster create $(echo "$nodes" | tr ',' ' ') --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 || {
      cat "$dir/create.log" >&2
      exit 1
    }
    for _ in $(seq 1 100); do healthy && break; sleep 0.1; done
    healthy || { echo "error: the cluster on $nodes did not become healthy (logs in $dir)" >&2; exit 1; }
    echo "$nodes"
    ;;
  *) echo "usage: $0 start|stop|nodes" >&2; exit 2 ;;
esac
