#!/usr/bin/env bash
# The edge's memory with many players of one stream: builds the release cloud and edge, starts
# them with a config of their own under target/players-memory, publishes a generated 1.5 Mb/s
# H.264 (high, B-frames, 1 s GOP) + AAC stream with ffmpeg, then runs bench/players.mjs (FLV and
# LL-HLS players in one Node.js process) and samples the edge's VmRSS every 5 s. Arguments:
#   bench/players-memory.sh [FLV_PLAYERS [HLS_PLAYERS [SECONDS]]]    (default 200 200 60)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
flv_players=${1:-200}
hls_players=${2:-200}
seconds=${3:-60}
for tool in ffmpeg node python3; do
    command -v "$tool" >/dev/null || { echo "players-memory.sh: $tool is needed" >&2; exit 1; }
done
cargo build --release -p cloud -p edge
work=target/players-memory
rm -rf "$work" && mkdir -p "$work"
source bench/relay-config.sh
# The players come from one address.
relay_config "$work/config.yaml" 8192
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null || true' EXIT
(cd "$work" && exec ../release/cloud -f config.yaml >cloud.log 2>&1) &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/cloud-cert.pem" ] && break; sleep 0.1; done
(cd "$work" && exec ../release/edge -f config.yaml >edge.log 2>&1) &
edge=$!
pids+=($edge)
sleep 1
ffmpeg -nostdin -hide_banner -loglevel error -re \
    -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 \
    -t $((seconds + 30)) -c:v libx264 -profile:v high -bf 2 -g 30 -preset veryfast -b:v 1500k \
    -pix_fmt yuv420p -c:a aac -b:a 128k -f flv "rtmp://127.0.0.1:$rtmp/live/bench" \
    >"$work/ffmpeg.log" 2>&1 &
pids+=($!)
rss() { awk '/VmRSS/ {print $2}' "/proc/$edge/status"; }
for _ in $(seq 200); do
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$flv/live/bench.m3u8', timeout=5)" \
        2>/dev/null && break
    sleep 0.1
done
sleep 5
base=$(rss)
echo "edge VmRSS with the stream and no player: $base KiB"
node bench/players.mjs --base "http://127.0.0.1:$flv" --stream live/bench \
    --flv "$flv_players" --hls "$hls_players" --seconds "$seconds" >"$work/players.json" &
players=$!
peak=$base
for _ in $(seq $((seconds / 5))); do
    sleep 5
    now=$(rss)
    [ "$now" -gt "$peak" ] && peak=$now
    echo "edge VmRSS: $now KiB"
done
wait $players
cat "$work/players.json"
total=$((flv_players + hls_players))
echo "peak VmRSS $peak KiB: $(( (peak - base) )) KiB over the idle edge for $total players ($(( (peak - base) / (total > 0 ? total : 1) )) KiB each)"
