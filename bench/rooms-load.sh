#!/usr/bin/env bash
# Load on the live-room API: builds the release cloud and bench/src/bin/rooms_load, starts
# a cloud (SQLite, its own data dir under target/) pinned to core 0, and runs the load tool pinned
# to core 1: heartbeats, then room info. Extra arguments go to the load tool, e.g.
#   bench/rooms-load.sh --connections 128 --seconds 20
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release -p cloud -p relay-bench --bin cloud --bin rooms_load
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
case "$bin" in /*) ;; *) bin=$PWD/$bin ;; esac
work=$PWD/target/rooms-load
rm -rf "$work" && mkdir -p "$work"
# port, start_cloud, stop_clouds.
. bench/cloud.sh
trap stop_clouds EXIT
api=$(port)
start_cloud cloud "$api"
echo "cloud on core 0 (SQLite in $work/cloud/data), load on core 1; $(nproc) cores"
for endpoint in heartbeat info; do
    taskset -c 1 "$bin/rooms_load" --api "127.0.0.1:$api" --endpoint "$endpoint" "$@"
done
