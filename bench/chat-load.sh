#!/usr/bin/env bash
# Chat load on the live-room API: one room, SUBSCRIBERS event-stream clients and chat at RATE
# messages a second for SECONDS, first on one cloud (SQLite, in-memory live state), then on two
# clouds sharing a throwaway PostgreSQL and Redis (subscribers and senders spread over both).
# The clouds run pinned to core 0, the load tool (bench/src/bin/rooms_load, --endpoint chat) to
# core 1, so both runs have the same CPU for the nodes.
#   bench/chat-load.sh [SUBSCRIBERS [RATE [SECONDS]]]     (default 5000 200 20)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
subscribers=${1:-5000}
rate=${2:-200}
seconds=${3:-20}

# need, pg_start/pg_stop, redis_start/redis_stop.
. scripts/services.sh
need redis-server redis-server
need taskset util-linux

cargo build --release -p cloud -p relay-bench --bin cloud --bin rooms_load
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
case "$bin" in /*) ;; *) bin=$PWD/$bin ;; esac
work=$PWD/target/chat-load
rm -rf "$work" && mkdir -p "$work"
# port, start_cloud, stop_clouds.
. bench/cloud.sh
trap 'stop_clouds; pg_stop; redis_stop' EXIT
services_dir=$work
# Each subscriber holds a socket in the tool and one in a cloud.
ulimit -n "$(ulimit -Hn)"

# The senders go as fast as the load asks.
no_rate_limit="  chat_rate_per_10s: 0"

load() {
    taskset -c 1 "$bin/rooms_load" --endpoint chat --subscribers "$subscribers" --rate "$rate" \
        --seconds "$seconds" "$@"
}

echo "== one cloud (SQLite, live state in memory), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
a=$(port)
start_cloud one "$a" "$no_rate_limit"
load --api "127.0.0.1:$a" --pid "${clouds[0]}"
stop_clouds

pg_start
redis_start
echo "== two clouds (PostgreSQL + Redis), load $(cut -d' ' -f1-3 /proc/loadavg)"
shared="$no_rate_limit
  database_url: \"$LIVERELAY_TEST_POSTGRES_URL\"
  redis_url: \"$LIVERELAY_TEST_REDIS_URL\""
a=$(port)
b=$(port)
start_cloud a "$a" "$shared"
start_cloud b "$b" "$shared"
load --api "127.0.0.1:$a" --api "127.0.0.1:$b" --pid "${clouds[0]}" --pid "${clouds[1]}"
