#!/usr/bin/env bash
# The one test command: installs what the tests need when it is missing, builds every
# binary, then runs all unit and end-to-end tests. Extra arguments go to `cargo test`,
# e.g.  scripts/test.sh -p e2e-tests -- --test-threads=2
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

apt_updated=0

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        echo "test.sh: need root (or sudo) to run: $*" >&2
        return 1
    fi
}

# need TOOL PACKAGE...: install PACKAGE... with apt-get when TOOL is not on PATH.
need() {
    local tool=$1
    shift
    if command -v "$tool" >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: $tool is missing and apt-get is not available; install: $*" >&2
        return 1
    fi
    echo "test.sh: $tool not found, installing $*" >&2
    if [ "$apt_updated" -eq 0 ]; then
        as_root apt-get update
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

need ffmpeg ffmpeg
need supervisord supervisor

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo not found (install Rust from https://rustup.rs)" >&2
    exit 1
fi

# The end-to-end tests run target/<profile>/cloud and edge: build them first, in the profile
# the tests will be built in.
build_args=()
prev=""
for arg in "$@"; do
    [ "$arg" = "--" ] && break
    case "$arg" in
        --release) build_args+=(--release) ;;
        --profile=*) build_args+=("$arg") ;;
    esac
    [ "$prev" = "--profile" ] && build_args+=(--profile "$arg")
    prev=$arg
done
cargo build --workspace --bins ${build_args[@]+"${build_args[@]}"}
cargo test --workspace "$@"
