#!/usr/bin/env bash
# The cloud's send path under load, the cloud pinned to core 0 (taskset), everything else on
# core 1: (1) one 2.8 Mb/s publish (the source bench/fanout.sh encodes) sent to 1, 8 and 32
# unicast destinations (UDP sinks that count what arrives); (2) N concurrent publishes of it to
# one destination. Prints the cloud's CPU seconds per second and, from them, datagrams per CPU
# second and per destination, publishers per core, and (where perf's syscall tracepoints work)
# the sendmsg + sendmmsg calls per second.
#
#   bench/cloud-fanout.sh ["DESTINATION_COUNTS" ["PUBLISHER_COUNTS" [SECONDS]]]
#                                                      (default "1 8 32" "1 8 16" 20)
#   BASELINE_CLOUD=/path/to/older/cloud bench/cloud-fanout.sh   (each row against that cloud
#                                                      binary first, in the same run)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
destination_counts=${1:-1 8 32}
publisher_counts=${2:-1 8 16}
seconds=${3:-20}
cargo build --release -p cloud >&2
target=${CARGO_TARGET_DIR:-$PWD/target}
work=$target/fanout
source_flv=$work/source-2800k.flv
[ -s "$source_flv" ] || { echo "cloud-fanout.sh: run bench/fanout.sh once first (it encodes $source_flv)" >&2; exit 1; }
source bench/relay-config.sh
cpu_seconds() { awk '{ sub(/.*\) /, ""); print ($12 + $13) / 100 }' "/proc/$1/stat"; }
# The send system calls of the window are counted with perf's tracepoints where they work.
send_calls='syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendmmsg'
perf_works=false
command -v perf >/dev/null && perf stat -e "$send_calls" true >/dev/null 2>&1 && perf_works=true
# One measurement: CLOUD_BINARY DESTINATIONS PUBLISHERS -> "cpu_s/s datagrams_received calls".
measure() {
    local cloud_bin=$1 destinations=$2 publishers=$3 ports=() list=""
    # Distinct free UDP ports, all bound at once so none is picked twice.
    read -r -a ports < <(python3 -c '
import socket, sys
sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(int(sys.argv[1]))]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))' "$destinations")
    for p in "${ports[@]}"; do list+="\"127.0.0.1:$p\","; done
    rtmp=$(port)
    cat >"$work/cloud-fanout.yaml" <<YAML
cloud:
  rtmp_addr: "127.0.0.1:$rtmp"
  api_addr: "127.0.0.1:$(port)"
  quic_addr: "127.0.0.1:$(port)"
  client_addr_list: [${list%,}]
  log_level: warn
YAML
    (cd "$work" && exec taskset -c 0 "$cloud_bin" -f cloud-fanout.yaml >cloud-fanout.log 2>&1) &
    local cloud=$! run=()
    # measure runs in a subshell (its caller reads its output): whatever ends it, even a failed
    # step under set -e, takes this row's cloud and publishers with it.
    trap 'for pid in "$cloud" "${run[@]}"; do kill "$pid" 2>/dev/null || true; done' EXIT
    sleep 1
    for i in $(seq "$publishers"); do
        taskset -c 1 ffmpeg -nostdin -hide_banner -loglevel error -re -stream_loop -1 -i "$source_flv" \
            -c copy -f flv "rtmp://127.0.0.1:$rtmp/live/bench$i" >>"$work/ffmpeg.log" 2>&1 &
        run+=($!)
    done
    sleep 5
    local before after received calls=-
    before=$(cpu_seconds "$cloud")
    if $perf_works; then
        perf stat -x, -e "$send_calls" -p "$cloud" -o "$work/send-calls.csv" -- sleep "$seconds" &
        local counting=$!
    fi
    received=$(taskset -c 1 python3 - "$seconds" "${ports[@]}" <<'PY'
import selectors, socket, sys, time
seconds, ports = float(sys.argv[1]), [int(p) for p in sys.argv[2:]]
sel = selectors.DefaultSelector()
for p in ports:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", p))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
count, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    for key, _ in sel.select(0.1):
        try:
            while True:
                key.fileobj.recv(2048)
                count += 1
        except BlockingIOError:
            pass
print(count)
PY
)
    after=$(cpu_seconds "$cloud")
    if $perf_works; then
        wait "$counting" || true
        calls=$(awk -F, '/sys_enter/ { n += $1 } END { print n + 0 }' "$work/send-calls.csv")
    fi
    for pid in "${run[@]}" "$cloud"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    python3 -c "print(f'{($after - $before) / $seconds:.4f} $received $calls')"
}
echo "# cloud send path, ${seconds} s windows, load: $(uptime | sed 's/.*load/load/')"
printf '%-9s%12s %10s %9s %14s %18s %16s %12s\n' server destinations publishers cpu_s/s datagrams/s datagrams/cpu_s per_destination send_calls/s
clouds=("cloud $target/release/cloud")
[ -n "${BASELINE_CLOUD:-}" ] && clouds=("baseline $BASELINE_CLOUD" "${clouds[@]}")
for d in $destination_counts; do
    for entry in "${clouds[@]}"; do
        read -r label cloud_bin <<<"$entry"
        read -r cpu received calls < <(measure "$cloud_bin" "$d" 1)
        python3 -c "
cpu, n, d, s, calls = $cpu, $received, $d, $seconds, '$calls'
rate = n / s
calls = f'{int(calls) / s:.0f}' if calls.isdigit() else calls
print(f'{\"$label\":9s}{d:12d} {1:10d} {cpu:9.4f} {rate:14.0f} {rate / cpu if cpu else 0:18.0f} {rate / cpu / d if cpu else 0:16.0f} {calls:>12s}')"
    done
done
for p in $publisher_counts; do
    for entry in "${clouds[@]}"; do
        read -r label cloud_bin <<<"$entry"
        read -r cpu received _ < <(measure "$cloud_bin" 1 "$p")
        python3 -c "
cpu, n, p, s = $cpu, $received, $p, $seconds
print(f'{\"$label\":9s}{1:12d} {p:10d} {cpu:9.4f} {n / s:14.0f} {n / s / cpu if cpu else 0:18.0f}   publishers/core {p / cpu if cpu else 0:.0f}')"
    done
done
