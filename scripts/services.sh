# Shell functions shared by scripts/test.sh and the benches under bench/ (sourced, not run):
# installing what is missing from Debian and PyPI, and throwaway PostgreSQL and Redis servers
# on free loopback ports (under $services_dir, default target/), stopped by pg_stop and
# redis_stop. Their URLs go to LIVERELAY_TEST_POSTGRES_URL and LIVERELAY_TEST_REDIS_URL.

apt_updated=0

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        echo "${0##*/}: need root (or sudo) to run: $*" >&2
        return 1
    fi
}

# apt_install PACKAGE...: install with apt-get (its package lists updated once per run).
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "${0##*/}: apt-get is not available; install: $*" >&2
        return 1
    fi
    if [ "$apt_updated" -eq 0 ]; then
        as_root apt-get update
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

# need TOOL PACKAGE...: install PACKAGE... with apt-get when TOOL is not on PATH.
need() {
    local tool=$1
    shift
    if command -v "$tool" >/dev/null 2>&1; then
        return 0
    fi
    echo "${0##*/}: $tool not found, installing $*" >&2
    apt_install "$@"
}

# The newest installed PostgreSQL's bin directory (Debian keeps the server binaries off PATH).
pg_bin_dir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

# need_pip TOOL PACKAGE: install PACKAGE from PyPI (for this user) when TOOL is not on PATH.
need_pip() {
    local tool=$1 package=$2
    if command -v "$tool" >/dev/null 2>&1; then
        return 0
    fi
    echo "${0##*/}: $tool not found, installing $package with pip" >&2
    if ! python3 -m pip --version >/dev/null 2>&1; then
        apt_install python3-pip
    fi
    python3 -m pip install --user "$package" ||
        python3 -m pip install --user --break-system-packages "$package" ||
        python3 -m pip install "$package"
    # pip's --user scripts directory, for this run.
    PATH="$(python3 -m site --user-base)/bin:$PATH"
    export PATH
}

# PostgreSQL for the rooms storage tests (crates/rooms): a throwaway server made afresh in
# target/pg-test for this run, listening on 127.0.0.1 only, stopped when the script exits. Its
# URL goes to the tests in LIVERELAY_TEST_POSTGRES_URL. A URL already set (another server, or
# "skip") is used as it is. PostgreSQL refuses to run as root, so as root the server runs as
# the postgres user.
pg_root=""
pg_bin=""
pg_tmp=0
pg_run=()

pg_stop() {
    if [ -n "$pg_root" ] && [ -f "$pg_root/data/postmaster.pid" ]; then
        ${pg_run[@]+"${pg_run[@]}"} "$pg_bin/pg_ctl" -D "$pg_root/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ -n "$pg_root" ]; then
        rm -rf "$pg_root/data"
        if [ "$pg_tmp" -eq 1 ]; then
            rm -rf "$pg_root"
        fi
    fi
}

pg_start() {
    if [ -n "${LIVERELAY_TEST_POSTGRES_URL:-}" ]; then
        echo "${0##*/}: rooms tests use LIVERELAY_TEST_POSTGRES_URL as set" >&2
        return 0
    fi
    pg_bin=$(pg_bin_dir) || {
        echo "${0##*/}: PostgreSQL not found, installing postgresql" >&2
        apt_install postgresql
        pg_bin=$(pg_bin_dir) || {
            echo "${0##*/}: no initdb under /usr/lib/postgresql/*/bin after installing postgresql" >&2
            return 1
        }
    }
    pg_root="${services_dir:-$PWD/target}/pg-test"
    if [ "$(id -u)" -eq 0 ]; then
        pg_run=(runuser -u postgres --)
    fi
    # A server left by a run that was killed: stop it and start from nothing.
    pg_stop
    mkdir -p "$pg_root/data"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres: "$pg_root"
        # The postgres user cannot reach a repository under a private directory (a home directory closed to other users):
        # then the server lives in a directory of its own under /tmp, removed on exit.
        if ! runuser -u postgres -- test -w "$pg_root/data"; then
            rm -rf "$pg_root"
            pg_root=$(mktemp -d /tmp/liverelay-pg-test.XXXXXX)
            pg_tmp=1
            mkdir "$pg_root/data"
            chown -R postgres: "$pg_root"
        fi
    fi
    ${pg_run[@]+"${pg_run[@]}"} "$pg_bin/initdb" -D "$pg_root/data" -U postgres -A trust \
        -E UTF8 --locale=C --no-sync >"$pg_root/initdb.log" 2>&1 || {
        cat "$pg_root/initdb.log" >&2
        echo "${0##*/}: initdb failed (log above)" >&2
        return 1
    }
    trap pg_stop EXIT
    # A port nothing listens on, from a range unlikely to be in use; durability off (the data
    # is thrown away) and no Unix socket (its path would depend on where the repository is).
    local port started=0
    for port in $(seq $((54320 + RANDOM % 500)) 10 59999 | head -n 20); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            continue
        fi
        if ${pg_run[@]+"${pg_run[@]}"} "$pg_bin/pg_ctl" -D "$pg_root/data" -l "$pg_root/server.log" -w -t 30 \
            -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories= -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null; then
            started=1
            break
        fi
    done
    if [ "$started" -eq 0 ]; then
        cat "$pg_root/server.log" >&2 || true
        echo "${0##*/}: could not start PostgreSQL (server log above)" >&2
        return 1
    fi
    "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U postgres liverelay_test
    export LIVERELAY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/liverelay_test"
    echo "${0##*/}: PostgreSQL $("$pg_bin/pg_ctl" --version | awk '{print $3}') for the rooms tests at $LIVERELAY_TEST_POSTGRES_URL" >&2
}

# Redis for the shared live state's tests (crates/rooms-api, tests/tests/e2e/cluster.rs): a
# throwaway redis-server in target/redis-test, on a free loopback port, with no persistence,
# stopped when the script exits. Its URL goes to the tests in LIVERELAY_TEST_REDIS_URL; a URL
# already set (another server, or "skip") is used as it is.
redis_root=""

redis_stop() {
    if [ -n "$redis_root" ] && [ -f "$redis_root/redis.pid" ]; then
        kill "$(cat "$redis_root/redis.pid")" 2>/dev/null || true
        rm -f "$redis_root/redis.pid"
    fi
}

redis_start() {
    if [ -n "${LIVERELAY_TEST_REDIS_URL:-}" ]; then
        echo "${0##*/}: shared state tests use LIVERELAY_TEST_REDIS_URL as set" >&2
        return 0
    fi
    need redis-server redis-server
    redis_root="${services_dir:-$PWD/target}/redis-test"
    # A server left by a run that was killed: stop it first.
    redis_stop
    mkdir -p "$redis_root"
    local port started=0 try
    for port in $(seq $((46380 + RANDOM % 500)) 10 49999 | head -n 20); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            continue
        fi
        redis-server --bind 127.0.0.1 --port "$port" --dir "$redis_root" --save "" --appendonly no \
            --daemonize yes --pidfile "$redis_root/redis.pid" --logfile "$redis_root/server.log" || continue
        for try in $(seq 1 50); do
            if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
                started=1
                break
            fi
            sleep 0.1
        done
        [ "$started" -eq 1 ] && break
        redis_stop
    done
    if [ "$started" -eq 0 ]; then
        cat "$redis_root/server.log" >&2 || true
        echo "${0##*/}: could not start redis-server (server log above)" >&2
        return 1
    fi
    export LIVERELAY_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
    echo "${0##*/}: $(redis-server --version | awk '{print $1, $3}') for the shared state tests at $LIVERELAY_TEST_REDIS_URL" >&2
}
