#!/usr/bin/env bash
# Fan-out at the physical limit: how many HTTP-FLV players of one 2.8 Mb/s stream one edge core
# serves. Builds the release cloud, edge and load tool (src/bin/fanout.rs), encodes a 30 s
# 1280x720 H.264 (high, B-frames, 2 s GOP) + AAC source once, publishes it in a loop with ffmpeg
# (-c copy), and for each player count starts a fresh edge pinned to core 0 (taskset), runs the
# tool pinned to core 1 and prints one row: kept-up players, the edge's CPU seconds per second,
# players per core at that load, VmRSS per player over the idle edge, relay-added delay.
#
#   bench/fanout.sh [PLAYER_COUNTS [SECONDS]]          (default "100 1000 2000 3000" 20)
#   XIU=/path/to/xiu bench/fanout.sh "1000 2000"       (each count against xiu's HTTP-FLV too,
#                                                       in the same run, fed the same source)
#   BASELINE_EDGE=/path/to/older/edge bench/fanout.sh  (each count against that edge binary
#                                                       too, in the same run: before/after ratios)
#
# Environment: SOURCES (loopback addresses the players connect from, default 8: 127.0.0.1..8),
# MERGE_WRITE_MS (the edge key, when set). Logs of every run go to the work directory
# ($CARGO_TARGET_DIR or target, then fanout/): fanout.log, edge.log, cloud.log, ffmpeg.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
counts=${1:-100 1000 2000 3000}
seconds=${2:-20}
sources=${SOURCES:-8}
for tool in ffmpeg ffprobe taskset python3; do
    command -v "$tool" >/dev/null || { echo "fanout.sh: $tool is needed" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "fanout.sh: needs two cores (edge and players apart)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"
cargo build --release -p cloud -p edge -p relay-bench --bins >&2
target=${CARGO_TARGET_DIR:-$PWD/target}
bin=$target/release
work=$target/fanout
mkdir -p "$work"
source_flv=$work/source-2800k.flv
if [ ! -s "$source_flv" ]; then
    echo "encoding the 30 s source once ($source_flv)" >&2
    ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc2=size=1280x720:rate=30 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 -t 30 \
        -c:v libx264 -profile:v high -bf 2 -g 60 -preset veryfast -b:v 2700k -maxrate 2700k \
        -bufsize 2700k -pix_fmt yuv420p -c:a aac -b:a 128k -f flv "$source_flv.tmp"
    mv "$source_flv.tmp" "$source_flv"
fi
duration=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$source_flv")
rate_kbps=$(python3 -c "import os; print(round(os.path.getsize('$source_flv') * 8 / $duration / 1000))")
addresses=$(python3 -c "print(','.join(f'127.0.0.{i}' for i in range(1, $sources + 1)))")
source bench/relay-config.sh
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
# Waits until the stream answers 200 with bytes.
wait_live() {
    for _ in $(seq 300); do
        code=$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$1" || true)
        [ "$code" = 200 ] && return 0
        sleep 0.2
    done
    echo "fanout.sh: $1 never went live" >&2
    return 1
}
publish() {
    taskset -c 1 ffmpeg -nostdin -hide_banner -loglevel error -re -stream_loop -1 -i "$source_flv" \
        -c copy -f flv "$1" >"$work/ffmpeg.log" 2>&1 &
    pids+=($!)
}
if [ -n "${XIU:-}" ]; then
    xiu_rtmp=$(port) xiu_flv=$(port)
    xiu_url=http://127.0.0.1:$xiu_flv/live/bench.flv
fi
extra=""
[ -n "${MERGE_WRITE_MS:-}" ] && extra="  merge_write_ms: $MERGE_WRITE_MS"
relay_config "$work/config.yaml" 16384 "$extra"
edge_url=http://127.0.0.1:$flv/live/bench.flv
(cd "$work" && exec taskset -c 1 "$bin/cloud" -f config.yaml >cloud.log 2>&1) &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/cloud-cert.pem" ] && break; sleep 0.1; done
publish "rtmp://127.0.0.1:$rtmp/live/bench"
echo "# stream $rate_kbps kb/s, ${seconds} s windows, load: $(uptime | sed 's/.*load/load/')"
printf '%-9s%8s %8s %9s %9s %10s %10s %8s %8s %9s %9s %8s\n' server players kept_up malformed cpu_s/s players/core kept/core KiB/pl kbps_min delay_p50 delay_p99 tool_cpu
# One row: LABEL COUNT SERVER_BINARY; xiu (LABEL xiu) gets its own publish, the edges the cloud's.
run() {
    local label=$1 count=$2 server_bin=$3 url=$edge_url publisher=""
    if [ "$label" = xiu ]; then
        url=$xiu_url
        (cd "$work" && exec taskset -c 0 "$server_bin" -r "$xiu_rtmp" -f "$xiu_flv" -l warn >xiu.log 2>&1) &
        server_pid=$!
        pids+=($server_pid)
        sleep 1
        publish "rtmp://127.0.0.1:$xiu_rtmp/live/bench"
        publisher=${pids[-1]}
    else
        (cd "$work" && exec taskset -c 0 "$server_bin" -f config.yaml >edge.log 2>&1) &
        server_pid=$!
        pids+=($server_pid)
    fi
    wait_live "$url"
    sleep 2
    result=$(taskset -c 1 "$bin/fanout" --url "$url" --players "$count" --seconds "$seconds" \
        --sources "$addresses" --edge-pid "$server_pid" --rate-kbps "$rate_kbps" \
        2>>"$work/fanout.log" | tee -a "$work/fanout.log" | grep '^RESULT' | tr '\n' ' ' || true)
    [ -n "$result" ] || result="RESULT failed=1"
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    if [ -n "$publisher" ]; then
        kill "$publisher" 2>/dev/null || true
        wait "$publisher" 2>/dev/null || true
    fi
    python3 - "$label" "$result" <<'PY'
import sys
label = sys.argv[1]
f = dict(kv.split("=", 1) for kv in sys.argv[2].split() if "=" in kv)
if "failed" in f:
    print(f"{label:<9}run failed, see fanout.log")
    sys.exit()
cpu = float(f.get("edge_cpu", "nan"))
players, kept = int(f["players"]), int(f["kept_up"])
print(f'{label:<9}{players:8d} {kept:8d} {f["malformed"]:>9} {cpu:9.3f} {players / cpu if cpu > 0 else 0:10.0f} '
      f'{kept / cpu if cpu > 0 else 0:10.0f} '
      f'{float(f.get("kib_per_player", "nan")):8.1f} {f["kbps_min"]:>8} {f["delay_p50_ms"]:>9} {f["delay_p99_ms"]:>9} '
      f'{f.get("tool_cpu", "?"):>8}')
PY
    sleep 1
}
for count in $counts; do
    [ -n "${XIU:-}" ] && run xiu "$count" "$XIU"
    [ -n "${BASELINE_EDGE:-}" ] && run baseline "$count" "$BASELINE_EDGE"
    run edge "$count" "$bin/edge"
done
