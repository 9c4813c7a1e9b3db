#!/usr/bin/env bash
# Runs every flashgate test against real PostgreSQL, PgBouncer, Redis, a Redis Cluster, TLS-only twins of
# PostgreSQL and Redis, nginx and headless Chromium. Finds them on 127.0.0.1, starts them
# when they are installed but stopped, installs them with apt-get when missing (as root), and stops
# with a clear message when none of that works: tests never skip silently.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL="${FLASHGATE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export FLASHGATE_TEST_DATABASE_URL="$PG_URL"
export FLASHGATE_TEST_REDIS_URL="${FLASHGATE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

say() { printf 'test.sh: %s\n' "$*" >&2; }
REDIS_URL="$FLASHGATE_TEST_REDIS_URL"
# shellcheck source=scripts/services.sh
. scripts/services.sh

# The admin dashboard's test drives headless Chromium through chromedriver (WebDriver).
ensure_chromium() {
    command -v chromium >/dev/null && command -v chromedriver >/dev/null && return
    can_install || die "chromium and chromedriver are missing and cannot be installed (need root and apt-get): apt-get install chromium chromium-driver"
    apt_install chromium chromium-driver
    command -v chromedriver >/dev/null || die "chromium-driver is installed but chromedriver is not on PATH"
}

command -v cargo >/dev/null || die "cargo is not installed: install Rust with rustup (the toolchain is pinned in rust-toolchain.toml)"
ensure_psql
ensure_postgres
ensure_redis
# The fast path's suites also run on a Redis Cluster (3 masters, 3 replicas, ports 57001-57006).
ensure_redis_cluster
ensure_tls_services
# flashgate through a transaction pooler.
ensure_pgbouncer
# The cluster test puts nginx in front of the instances.
ensure_nginx
ensure_chromium

# Databases left behind by interrupted runs.
for db in $(psql "$PG_URL" -Atqc "select datname from pg_database where datname like 'fg\_test\_%'"); do
    psql "$PG_URL" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
done

say "PostgreSQL, PgBouncer, Redis, the Redis Cluster, the TLS twins, nginx and Chromium are ready; running every test"
cargo test --workspace --all-targets --no-fail-fast "$@"

# The examples README.md tells people to run, at smoke size, so none of them can rot. `cargo test`
# builds them only as test harnesses; `cargo run` builds the programs themselves (dev profile, the
# dependencies the tests just built).
say "running the examples at smoke size"
cargo run -q -p flashgate --example reconcile_stuck_orders -- 20
cargo run -q -p flashgate --example hot_product -- 1 8
cargo run -q -p flashgate --example session_cost -- 60
cargo run -q -p flashgate --example slow_clients -- 1 200 20 8
cargo run -q -p flashgate-store --example monitor_tick -- 2000
cargo run -q -p flashgate --example webhook_lag -- 50 200
cargo run -q -p flashgate --example jwks_cost -- 50
say "every test and example passed"
