#!/usr/bin/env bash
# The benchmark suite in one go: builds the release binaries, then `flashgate-loadgen bench` runs every
# purchase strategy on SQLite (embedded, in-process fast path) and on PostgreSQL + Redis on one hot
# product in alternating rounds, beside cached and uncached product reads, GET /healthz and the raw
# ceilings (pgbench on one hot row: the row-lock transaction, the conditional update, and its best shape
# autocommit with -M prepared; redis-benchmark), a crowd's refusals (sold out, over the limit, duplicates)
# beside the same server's /healthz, and after the rounds the open-loop spike at 2x and 5x the measured
# capacity at the instant a sale opens; then writes BENCHMARKS.md (the targets table first),
# bench/report.html and bench/results.json.
#
#   scripts/bench.sh                                  # the full suite (about 25 minutes on 2 cores)
#   scripts/bench.sh --smoke                          # seconds per measurement, one round; its reports
#                                                     # go to target/bench-smoke/, not over the committed ones
#   STRATEGIES=conditional,gated BACKENDS=postgres scripts/bench.sh
#
# The many-products rows run on 1 and 4 instances (--many-instances), and on a Redis Cluster too when
# REDIS_CLUSTER_URL names its nodes (e.g. the test command's local one: `. scripts/services.sh;
# ensure_redis_cluster`, then REDIS_CLUSTER_URL=$FLASHGATE_TEST_REDIS_CLUSTER_URL).
#
# Other settings: ROUNDS, DURATION (seconds per measurement), BUYERS, BACKENDS, POSTGRES_URL, REDIS_URL,
# MACHINE_NOTE (a line about the machine for the reports, e.g. what else was running),
# BIN_DIR (binaries already built, e.g. target/debug: nothing is built, as for a quick --smoke check of
# the tooling; scripts/test.sh does not run this script: crates/loadgen/tests/smoke.rs runs the
# benchmark's scenarios at a tiny size against an in-process flashgate, and test.sh then runs README's
# examples at smoke size);
# any further argument goes to `flashgate-loadgen bench` (see `flashgate-loadgen bench --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

STRATEGIES="${STRATEGIES:-pessimistic,conditional,gated}"
BACKENDS="${BACKENDS:-sqlite,postgres}"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
BUYERS="${BUYERS:-64}"
POSTGRES_URL="${POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
BIN_DIR="${BIN_DIR:-}"
MACHINE_NOTE="${MACHINE_NOTE:-}"
REDIS_CLUSTER_URL="${REDIS_CLUSTER_URL:-}"

say() { printf 'bench.sh: %s\n' "$*" >&2; }

if [ -z "$BIN_DIR" ]; then
    say "building release binaries"
    cargo build --release -p flashgate -p flashgate-loadgen
    BIN_DIR="${CARGO_TARGET_DIR:-target}/release"
fi

# The command as typed, with every setting that differs from its default, for the report.
command="scripts/bench.sh${*:+ $*}"
for setting in "STRATEGIES=$STRATEGIES:pessimistic,conditional,gated" "BACKENDS=$BACKENDS:sqlite,postgres" \
    "ROUNDS=$ROUNDS:3" "DURATION=$DURATION:10" "BUYERS=$BUYERS:64"; do
    value="${setting%%:*}"
    [ "${value#*=}" = "${setting#*:}" ] || command="$value $command"
done
[ -z "$REDIS_CLUSTER_URL" ] || command="REDIS_CLUSTER_URL=$REDIS_CLUSTER_URL $command"
say "running the suite: strategies $STRATEGIES on $BACKENDS, $ROUNDS rounds of ${DURATION}s (--smoke: one short round)"
status=0
"$BIN_DIR/flashgate-loadgen" bench \
    --flashgate "$BIN_DIR/flashgate" \
    --strategies "$STRATEGIES" \
    --backends "$BACKENDS" \
    --rounds "$ROUNDS" \
    --duration "$DURATION" \
    --buyers "$BUYERS" \
    --postgres-url "$POSTGRES_URL" \
    --redis-url "$REDIS_URL" \
    --command "$command" \
    ${REDIS_CLUSTER_URL:+--redis-cluster-url "$REDIS_CLUSTER_URL"} \
    ${MACHINE_NOTE:+--machine-note "$MACHINE_NOTE"} \
    "$@" || status=$?
# Each PostgreSQL server kept its fast path under a prefix of its own; nothing of it is needed now.
if command -v redis-cli >/dev/null; then
    redis-cli -u "$REDIS_URL" --scan --pattern 'fgbench:*' | xargs -r -n 500 redis-cli -u "$REDIS_URL" del >/dev/null || true
    # On a cluster, each master's keys, one DEL each (keys of different slots cannot share one), sent
    # down one connection: a process per key took minutes of both cores after the run.
    for node in ${REDIS_CLUSTER_URL//,/ }; do
        redis-cli -u "$node" --scan --pattern 'fgbench:*' | sed 's/^/DEL /' | redis-cli -u "$node" >/dev/null 2>&1 || true
    done
fi
exit "$status"
