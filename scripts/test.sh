#!/usr/bin/env bash
# Runs every flashgate test against real PostgreSQL, Redis and nginx. Finds them on 127.0.0.1, starts them
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

command -v cargo >/dev/null || die "cargo is not installed: install Rust with rustup (the toolchain is pinned in rust-toolchain.toml)"
ensure_psql
ensure_postgres
ensure_redis
# The cluster test puts nginx in front of the instances.
ensure_nginx

# Databases left behind by interrupted runs.
for db in $(psql "$PG_URL" -Atqc "select datname from pg_database where datname like 'fg\_test\_%'"); do
    psql "$PG_URL" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
done

say "PostgreSQL, Redis and nginx are ready; running every test"
cargo test --workspace --all-targets --no-fail-fast "$@"
