#!/usr/bin/env bash
# The one test command: installs what the tests need when it is missing, runs clippy over
# everything with warnings as errors, builds every binary, then runs all unit and end-to-end
# tests. Extra arguments go to `cargo test`,
# e.g.  scripts/test.sh -p e2e-tests -- --test-threads=2
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# as_root, apt_install, need, need_pip, pg_start/pg_stop and redis_start/redis_stop.
. scripts/services.sh

need ffmpeg ffmpeg
need python3 python3
need supervisord supervisor
need_pip openapi-spec-validator openapi-spec-validator
# The player page in a real browser (tests/tests/e2e/browser.rs): Debian's Chromium, driven by
# playwright-core, and the page's libraries, all from web/package-lock.json.
need chromium chromium
need node nodejs
need npm npm
if [ ! -d web/node_modules/playwright-core ] || [ ! -d web/node_modules/mpegts.js ] ||
    [ ! -d web/node_modules/hls.js ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    (cd web && npm ci --no-audit --no-fund)
fi
CHROMIUM=$(command -v chromium)
export CHROMIUM
pg_start
redis_start
trap 'pg_stop; redis_stop' EXIT

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo not found (install Rust from https://rustup.rs)" >&2
    exit 1
fi

# The end-to-end tests run target/<profile>/cloud and edge: build them first, in the profile
# the tests will be built in. Every package is tested unless some are named (-p relay-rooms):
# cargo would take --workspace over them.
build_args=()
scope=(--workspace)
prev=""
for arg in "$@"; do
    [ "$arg" = "--" ] && break
    case "$arg" in
        --release) build_args+=(--release) ;;
        --profile=*) build_args+=("$arg") ;;
        -p | --package | -p* | --package=*) scope=() ;;
    esac
    [ "$prev" = "--profile" ] && build_args+=(--profile "$arg")
    prev=$arg
done
# Lints first: any clippy or compiler warning (a missing doc on a library crate included) fails
# the run, for every target of every package.
if ! cargo clippy --version >/dev/null 2>&1; then
    echo "test.sh: clippy not found, installing it with rustup" >&2
    rustup component add clippy
fi
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --bins ${build_args[@]+"${build_args[@]}"}
cargo test ${scope[@]+"${scope[@]}"} "$@"
