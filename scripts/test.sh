#!/usr/bin/env bash
# Runs every flashgate test against real PostgreSQL and Redis. Finds them on 127.0.0.1, starts them
# when they are installed but stopped, installs them with apt-get when missing (as root), and stops
# with a clear message when none of that works: tests never skip silently.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL="${FLASHGATE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export FLASHGATE_TEST_DATABASE_URL="$PG_URL"
export FLASHGATE_TEST_REDIS_URL="${FLASHGATE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

say() { printf 'test.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

apt_install() {
    say "installing $* with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_up() { psql "$PG_URL" -Atqc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
    pg_up && return
    if ! command -v pg_ctlcluster >/dev/null; then
        can_install || die "PostgreSQL is not reachable at $PG_URL and cannot be installed (need root and apt-get)"
        apt_install postgresql postgresql-contrib
    fi
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$version" ] || die "PostgreSQL is installed but has no cluster in /etc/postgresql"
    # A test machine's loopback-only server: trust local connections, as the tests connect without a
    # password.
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    if [ -w "$hba" ] && ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
        sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$hba"
    fi
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
        || pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true
    for _ in $(seq 1 30); do pg_up && return; sleep 1; done
    die "PostgreSQL did not become reachable at $PG_URL"
}

redis_up() { redis-cli -u "$FLASHGATE_TEST_REDIS_URL" ping 2>/dev/null | grep -q PONG; }

ensure_redis() {
    command -v redis-cli >/dev/null && redis_up && return
    if ! command -v redis-server >/dev/null; then
        can_install || die "Redis is not reachable at $FLASHGATE_TEST_REDIS_URL and cannot be installed (need root and apt-get)"
        apt_install redis-server
    fi
    say "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 30); do redis_up && return; sleep 1; done
    die "Redis did not become reachable at $FLASHGATE_TEST_REDIS_URL"
}

# The admin dashboard's test drives headless Chromium through chromedriver (WebDriver).
ensure_chromium() {
    command -v chromium >/dev/null && command -v chromedriver >/dev/null && return
    can_install || die "chromium and chromedriver are missing and cannot be installed (need root and apt-get): apt-get install chromium chromium-driver"
    apt_install chromium chromium-driver
    command -v chromedriver >/dev/null || die "chromium-driver is installed but chromedriver is not on PATH"
}

command -v cargo >/dev/null || die "cargo is not installed: install Rust with rustup (the toolchain is pinned in rust-toolchain.toml)"
command -v psql >/dev/null || { can_install && apt_install postgresql-client; } || die "psql is missing"
ensure_postgres
ensure_redis
ensure_chromium

# Databases left behind by interrupted runs.
for db in $(psql "$PG_URL" -Atqc "select datname from pg_database where datname like 'fg\_test\_%'"); do
    psql "$PG_URL" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
done

say "PostgreSQL, Redis and Chromium are ready; running every test"
cargo test --workspace --all-targets --no-fail-fast "$@"
