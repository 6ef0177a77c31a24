#!/usr/bin/env bash
# down.sh: stop HAProxy and the nodes up.sh started, by their PID files.
# The database and the Redis keys are left (SB_LOCAL_PURGE=1 drops them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
stop_pid "$dir/haproxy.pid"
for n in 1 2 3; do stop_pid "$dir/node$n.pid"; done
if [ "${SB_LOCAL_PURGE:-}" = 1 ]; then
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
  redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "${prefix}*" | xargs -r redis-cli -h 127.0.0.1 -p 6379 DEL >/dev/null
  rm -rf "$dir"
fi
