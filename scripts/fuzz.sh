#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), one at a time, and prints
# executions and crashes per target. Exits 1 if any target crashed; its input is kept in
# fuzz/artifacts/<target>/ (copy it to fuzz/regressions/<target>/ once fixed, so the normal
# `cargo test` replays it).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs the nightly toolchain; installs cargo-fuzz from crates.io when it is missing. New
# inputs the fuzzer finds go to fuzz/target/corpus/<target>/ (not committed); the committed
# seeds in fuzz/corpus/<target>/ and the crash inputs in fuzz/regressions/<target>/ are read.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-60}
shift || true

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz not found, installing it" >&2
    cargo install cargo-fuzz
fi

cd fuzz
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# No sanitizer: the code under test is safe Rust, so AddressSanitizer would only halve the
# executions; panics, overflow checks and debug assertions are on either way.
cargo +nightly fuzz build --sanitizer none

mkdir -p target/fuzz-logs
failed=0
rows=()
for target in "${targets[@]}"; do
    scratch=target/corpus/$target
    mkdir -p "$scratch" "artifacts/$target"
    corpora=("$scratch" "corpus/$target")
    [ -d "regressions/$target" ] && corpora+=("regressions/$target")
    log=target/fuzz-logs/$target.log
    status=0
    cargo +nightly fuzz run --sanitizer none "$target" "${corpora[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    crashes=0
    if [ "$status" -ne 0 ]; then
        crashes=1
        failed=1
        echo "fuzz.sh: $target failed (exit $status); see fuzz/$log and fuzz/artifacts/$target/" >&2
    fi
    rows+=("$(printf '%-18s %14s %10s %8s' "$target" "${execs:-?}" "${rate:-?}" "$crashes")")
done

printf '%-18s %14s %10s %8s\n' target executions exec/s crashes
printf '%s\n' "${rows[@]}"
exit "$failed"
