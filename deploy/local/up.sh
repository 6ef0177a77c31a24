#!/usr/bin/env bash
# The production topology on one machine, on loopback: the local
# PostgreSQL and Redis, three Switchboard nodes and HAProxy in front.
#
#   deploy/local/up.sh          # start (prints the endpoints)
#   deploy/local/restart.sh 2   # drain node 2 and start it again
#   deploy/local/down.sh        # stop everything it started, by PID
#
# Settings (environment): SB_LOCAL_DIR (state, logs, PID files; default
# ${TMPDIR:-/tmp}/switchboard-local), SB_BASE_PORT (HAProxy; nodes on the
# next three; default 7000), SB_BIN (a built binary; default: build one),
# SB_DATABASE (default switchboard_local), SB_REDIS_PREFIX (default
# sblocal:), SB_NODE_ARGS (extra flags for every node).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

mkdir -p "$dir"
[ -e "$dir/haproxy.pid" ] && die "already up ($dir); run down.sh first"
command -v haproxy >/dev/null || die "haproxy is not installed (apt-get install haproxy)"
pg_isready -h 127.0.0.1 -p 5432 -q || die "PostgreSQL is not up on 127.0.0.1:5432"
[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ] || die "Redis is not up on 127.0.0.1:6379"

if [ -z "${SB_BIN:-}" ]; then
  (cd "$here/../.." && go build -o "$dir/switchboard" ./cmd/switchboard)
  bin=$dir/switchboard
fi
[ -s "$dir/secret-key" ] || head -c 32 /dev/urandom | base64 > "$dir/secret-key"
psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE \"$db\""
[ -s "$dir/apps.json" ] || cat > "$dir/apps.json" <<JSON
[{"id": "local", "key": "local-key", "secret": "local-secret", "name": "local",
  "enable_client_messages": true, "max_backend_events_per_second": -1,
  "history_max_events": 1000}]
JSON

for n in 1 2 3; do start_node "$n"; done
cat > "$dir/haproxy.cfg" <<CFG
global
  # Two descriptors per proxied connection, under the 20,000 open files
  # a process may hold here.
  maxconn 9000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  # An upgraded WebSocket is a tunnel: idle for up to an hour.
  timeout tunnel 1h
  # A node that closed its listener (draining) refuses the connection:
  # try another one instead of failing the request.
  retries 3
  option redispatch
frontend switchboard
  bind 127.0.0.1:$base
  default_backend nodes
backend nodes
  balance leastconn
  # /readyz turns 503 while a node drains or cannot reach Redis.
  option httpchk GET /readyz
  default-server check inter 500ms fall 1 rise 2
  server n1 127.0.0.1:$((base + 1))
  server n2 127.0.0.1:$((base + 2))
  server n3 127.0.0.1:$((base + 3))
CFG
haproxy -f "$dir/haproxy.cfg" -D -p "$dir/haproxy.pid" 2>>"$dir/haproxy.log" ||
  die "HAProxy did not start (log: $dir/haproxy.log): $(tail -n 5 "$dir/haproxy.log")"
wait_ready "$base" || die "HAProxy does not answer on $base"
echo "switchboard-local: HAProxy on 127.0.0.1:$base, nodes on $((base + 1))-$((base + 3)); app local / local-key / local-secret; state in $dir"
