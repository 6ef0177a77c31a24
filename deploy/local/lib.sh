# Shared by up.sh, restart.sh and down.sh.
dir=${SB_LOCAL_DIR:-${TMPDIR:-/tmp}/switchboard-local}
base=${SB_BASE_PORT:-7000}
db=${SB_DATABASE:-switchboard_local}
prefix=${SB_REDIS_PREFIX:-sblocal:}
bin=${SB_BIN:-$dir/switchboard}

die() { echo "switchboard-local: $*" >&2; exit 1; }

wait_ready() {
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz")" = 200 ] && return 0
    sleep 0.1
  done
  return 1
}

# start_node N starts node N on base+N and waits until it is ready.
start_node() {
  local n=$1 port=$((base + $1))
  local migrate=()
  [ "$n" = 1 ] && migrate=(--migrate)
  # shellcheck disable=SC2086 # SB_NODE_ARGS is a list of flags
  SWITCHBOARD_SECRET_KEY=$(cat "$dir/secret-key") "$bin" serve --host 127.0.0.1 --port "$port" \
    --database-url "postgres://postgres@127.0.0.1:5432/$db" "${migrate[@]}" \
    --redis-url redis://127.0.0.1:6379/0 --redis-prefix "$prefix" \
    --apps-file "$dir/apps.json" ${SB_NODE_ARGS:-} >>"$dir/node$n.log" 2>&1 &
  echo $! > "$dir/node$n.pid"
  wait_ready "$port" || die "node $n did not become ready (log: $dir/node$n.log)"
}

# stop_pid FILE sends SIGTERM to the PID in FILE and waits for it to exit.
stop_pid() {
  [ -s "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$1"
}
