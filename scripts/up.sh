#!/usr/bin/env bash
# Runs a cloud and an edge locally from the repository's config.yaml.
#
#   scripts/up.sh [-f CONFIG] [--demo]
#
#   -f CONFIG   config file (default: config.yaml at the repository root, whose placeholder
#               secrets bind it to loopback; written with defaults and fresh secrets by the
#               binaries if it does not exist)
#   --demo      also publish a generated test stream (testsrc2 + sine, H.264 high with
#               B-frames, AAC) to live/demo with ffmpeg, installing ffmpeg if missing
#
# Prints the push and play URLs and runs until Ctrl-C, which stops everything it started.
# The nodes run in target/up: logs go to target/up/{cloud,edge,demo}.log, and relative paths
# in the config (e.g. the repair server's certificate) resolve there.
set -euo pipefail

caller_dir=$(pwd)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

config="$root/config.yaml"
demo=0
while [ $# -gt 0 ]; do
    case "$1" in
        -f | --config)
            [ $# -ge 2 ] || { echo "up.sh: $1 needs a path" >&2; exit 2; }
            config=$2
            shift 2
            ;;
        --demo)
            demo=1
            shift
            ;;
        -h | --help)
            sed -n '2,14p' "$root/scripts/up.sh" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "up.sh: unknown argument $1 (try --help)" >&2
            exit 2
            ;;
    esac
done
case "$config" in
    /*) ;;
    *) config="$caller_dir/$config" ;; # -f is relative to where up.sh was started
esac

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "up.sh: need root (or sudo) to run: $*" >&2
        return 1
    fi
}

if [ "$demo" -eq 1 ] && ! command -v ffmpeg >/dev/null 2>&1; then
    echo "up.sh: installing ffmpeg for --demo" >&2
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg
fi

cargo build --release -p cloud -p edge
bin="$root/target/release"
logs="$root/target/up"
mkdir -p "$logs"

# The player page's libraries (mpegts.js, hls.js) from the npm registry, pinned in
# web/package-lock.json; the edge serves them from player_dir ("web", linked below).
if ! command -v npm >/dev/null 2>&1; then
    echo "up.sh: installing Node.js and npm for the player page" >&2
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm
fi
if [ ! -d "$root/web/node_modules/mpegts.js" ] || [ ! -d "$root/web/node_modules/hls.js" ]; then
    (cd "$root/web" && npm ci --no-audit --no-fund --omit=dev)
fi
ln -sfn "$root/web" "$logs/web"

# yaml_get SECTION KEY: the scalar value of KEY in the top-level SECTION, quotes removed.
yaml_get() {
    [ -f "$config" ] || return 0
    awk -v sec="$1" -v key="$2" '
        /^[^[:space:]#][^:]*:/ { cur = $0; sub(/:.*/, "", cur) }
        cur == sec && $0 ~ "^[[:space:]]+" key ":" {
            v = $0
            sub("^[[:space:]]+" key ":[[:space:]]*", "", v)
            sub(/[[:space:]]+#.*$/, "", v)
            gsub(/["\047]/, "", v)
            print v
            exit
        }' "$config"
}

# port_of ADDR DEFAULT: the port of ":port" / "host:port", or DEFAULT.
port_of() {
    local p=${1##*:}
    case "$p" in
        '' | *[!0-9]*) echo "$2" ;;
        *) echo "$p" ;;
    esac
}

pids=()
demo_pid=""
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$demo_pid" ]; then
        # The restart loop first (so it starts nothing new), then its ffmpeg.
        local children
        children=$(pgrep -P "$demo_pid" || true)
        kill "$demo_pid" 2>/dev/null || true
        for pid in $children; do
            kill -TERM "$pid" 2>/dev/null || true
        done
    fi
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    echo "up.sh: stopped" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_port NAME PID PORT: until 127.0.0.1:PORT accepts a TCP connection (30 s max).
wait_port() {
    local name=$1 pid=$2 port=$3
    for _ in $(seq 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "up.sh: $name exited during start-up; last log lines:" >&2
            tail -n 30 "$logs/$name.log" >&2
            exit 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "up.sh: $name did not open port $port within 30 s; see $logs/$name.log" >&2
    exit 1
}

# The nodes run in target/up, so files the config names relatively (the repair server's
# certificate and key, log files) land there and not in the source tree.
cd "$logs"
"$bin/cloud" -f "$config" >"$logs/cloud.log" 2>&1 &
pids+=($!)
cloud_pid=$!
# A missing config is written by the cloud; let it finish before the edge reads it.
for _ in $(seq 100); do
    [ -s "$config" ] && break
    kill -0 "$cloud_pid" 2>/dev/null || break
    sleep 0.1
done
"$bin/edge" -f "$config" >"$logs/edge.log" 2>&1 &
pids+=($!)
edge_pid=$!

# Ports from the config (the binaries have just written it if it was missing).
rtmp_port=$(port_of "$(yaml_get cloud rtmp_addr)" 1935)
api_port=$(port_of "$(yaml_get cloud api_addr)" 8090)
flv_port=$(port_of "$(yaml_get edge flv_addr)" 7001)

wait_port cloud "$cloud_pid" "$rtmp_port"
wait_port cloud "$cloud_pid" "$api_port"
wait_port edge "$edge_pid" "$flv_port"

echo "cloud and edge are up (config: $config, logs: $logs)"
echo "  push:  rtmp://127.0.0.1:$rtmp_port/live/demo   (any name: rtmp://127.0.0.1:$rtmp_port/live/NAME)"
echo "  play:  http://127.0.0.1:$flv_port/live/demo.flv   (ffplay, VLC, mpegts.js; ws:// the same)"
echo "         http://127.0.0.1:$flv_port/live/demo.m3u8  (HLS and LL-HLS: Safari, iOS, hls.js, ffplay)"
echo "  page:  http://127.0.0.1:$flv_port/   (the live streams; a player at /play/live/NAME)"
echo "  api:   http://127.0.0.1:$api_port/api/v1/streams   (cloud; edge: http://127.0.0.1:$flv_port/api/v1/streams)"
echo "  docs:  http://127.0.0.1:$api_port/api/openapi.json   (livego: /stat/livestat, POST /control/get?room=live/NAME)"
api_token=$(yaml_get cloud api_token)
if [ -n "$api_token" ]; then
    echo "  keys:  curl -X POST -H 'Authorization: Bearer $api_token' 'http://127.0.0.1:$api_port/control/get?room=live/NAME'"
fi
echo "  metrics: http://127.0.0.1:$api_port/metrics and http://127.0.0.1:$flv_port/metrics (unless metrics_addr moves them)"

if [ "$demo" -eq 1 ]; then
    (
        # lavfi sources never end; the loop restarts the encoder if the cloud drops it.
        while :; do
            ffmpeg -nostdin -hide_banner -loglevel warning -re \
                -f lavfi -i "testsrc2=size=1280x720:rate=30" \
                -f lavfi -i "sine=frequency=440:sample_rate=48000" \
                -c:v libx264 -profile:v high -bf 2 -g 60 -keyint_min 60 -sc_threshold 0 \
                -pix_fmt yuv420p -preset veryfast -b:v 2500k -maxrate 2500k -bufsize 5000k \
                -c:a aac -ar 48000 -ac 2 -b:a 128k \
                -f flv "rtmp://127.0.0.1:$rtmp_port/live/demo" || true
            sleep 1
        done
    ) >"$logs/demo.log" 2>&1 &
    demo_pid=$!
    echo "  demo:  publishing a test stream to live/demo (log: $logs/demo.log)"
    echo "         try: ffplay http://127.0.0.1:$flv_port/live/demo.flv"
fi

echo "Ctrl-C stops everything."
# Run until a node exits or we are interrupted.
while kill -0 "$cloud_pid" 2>/dev/null && kill -0 "$edge_pid" 2>/dev/null; do
    sleep 1
done
echo "up.sh: a node exited; last log lines:" >&2
tail -n 20 "$logs/cloud.log" "$logs/edge.log" >&2
exit 1
