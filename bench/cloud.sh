# Clouds for the room benches (sourced by bench/chat-load.sh and bench/rooms-load.sh, not
# run): each in $work/NAME with its own config, pinned to core 0, its pid in $clouds, and
# every API connection allowed from one address (the load comes from one).
#   bin   the directory of the release cloud binary
#   work  where the clouds' directories go

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
clouds=()
stop_clouds() {
    for pid in ${clouds[@]+"${clouds[@]}"}; do kill "$pid" 2>/dev/null || true; done
    for pid in ${clouds[@]+"${clouds[@]}"}; do wait "$pid" 2>/dev/null || true; done
    clouds=()
}

# start_cloud NAME API_PORT [EXTRA YAML LINES]: a cloud on core 0 in $work/NAME.
start_cloud() {
    local name=$1 api=$2 extra=${3:-}
    mkdir -p "$work/$name"
    cat >"$work/$name/config.yaml" <<YAML
cloud:
  rtmp_addr: "127.0.0.1:$(port)"
  api_addr: "127.0.0.1:$api"
  quic_addr: "127.0.0.1:$(port)"
  client_addr_list: ["127.0.0.1:9"]
  log_level: warn
  # The load comes from one address: allow it all of the API's connections.
  http_max_connections: 16384
  http_max_connections_per_ip: 16384
$extra
YAML
    (cd "$work/$name" && exec taskset -c 0 "$bin/cloud" -f config.yaml >cloud.log 2>&1) &
    clouds+=($!)
    for _ in $(seq 200); do
        (echo >/dev/tcp/127.0.0.1/"$api") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "${0##*/}: cloud $name did not listen on $api" >&2
    cat "$work/$name/cloud.log" >&2
    return 1
}

