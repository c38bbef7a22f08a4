#!/usr/bin/env bash
# Load on the live-room API: builds the release cloud and bench/src/bin/rooms_load, starts
# a cloud (SQLite, its own data dir under target/) pinned to core 0, and runs the load tool pinned
# to core 1: heartbeats, then room info. Extra arguments go to the load tool, e.g.
#   bench/rooms-load.sh --connections 128 --seconds 20
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release -p cloud -p relay-bench --bin cloud --bin rooms_load
work=target/rooms-load
rm -rf "$work" && mkdir -p "$work"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api=$(port)
cat >"$work/config.yaml" <<YAML
cloud:
  rtmp_addr: "127.0.0.1:$(port)"
  api_addr: "127.0.0.1:$api"
  quic_addr: "127.0.0.1:$(port)"
  client_addr_list: ["127.0.0.1:9"]
  log_level: warn
  # The load comes from one address: allow it all of the API's connections.
  http_max_connections: 4096
  http_max_connections_per_ip: 4096
YAML
pin() { if command -v taskset >/dev/null 2>&1; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }
(cd "$work" && exec_cloud() { pin 0 ../release/cloud -f config.yaml; }; exec_cloud >cloud.log 2>(cd "$work" && exec_cloud() { pin 0 ../release/cloud -f config.yaml; }; exec_cloud >cloud.log 2>&1) &1) &
cloud=$!
trap 'kill $cloud 2>/dev/null; wait $cloud 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    (echo >/dev/tcp/127.0.0.1/"$api") 2>/dev/null && break
    sleep 0.1
done
echo "cloud on core 0 (SQLite in $work/data), load on core 1; $(nproc) cores"
for endpoint in heartbeat info; do
    pin 1 target/release/rooms_load --api "127.0.0.1:$api" --endpoint "$endpoint" "$@"
done
