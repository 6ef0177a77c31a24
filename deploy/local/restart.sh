#!/usr/bin/env bash
# restart.sh N: drain node N (SIGTERM: 4200 to its clients, which reconnect
# through HAProxy to the others), wait for it to exit, start it again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
n=${1:?usage: restart.sh 1|2|3}
stop_pid "$dir/node$n.pid"
start_node "$n"
