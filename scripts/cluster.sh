#!/usr/bin/env bash
# The production topology on one machine, without containers: PostgreSQL and Redis as installed, one
# VNPay simulator, N `flashgate serve` instances sharing them (strategy gated), and nginx in front as
# the load balancer, running as the current user with everything under a state folder.
#
#   scripts/cluster.sh up|down|status
#
# Settings (environment): CLUSTER_DIR (./flashgate-data/cluster), CLUSTER_INSTANCES (3), CLUSTER_PORT
# (8080: the load balancer; instances on the next ports, the simulator on CLUSTER_PORT+10),
# CLUSTER_DATABASE_URL (postgres://postgres@127.0.0.1:5432/flashgate, created when missing),
# CLUSTER_REDIS_URL (redis://127.0.0.1:6379), CLUSTER_SIM_IPN_RETRY_SECS (300), CLUSTER_FLASHGATE_BIN and
# CLUSTER_SIM_BIN (default: the release builds, built when missing). Every FLASHGATE_* variable reaches
# every instance (each must be a setting, or FLASHGATE_CONFIG, or an instance refuses to start).
#
# The instances trust nginx's X-Forwarded-For (http.trusted_proxies), which makes each of them a
# service reached from elsewhere: flashgate refuses the development secrets there. Unless the
# environment sets them, FLASHGATE_ADMIN_TOKEN, FLASHGATE_JWT_SECRET and FLASHGATE_VNPAY__HASH_SECRET
# are made at random on the first `up` and kept in $CLUSTER_DIR/secrets.env (readable by you alone;
# `status` names it): `. flashgate-data/cluster/secrets.env` before calling the admin API or minting
# tokens with `flashgate token`.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${CLUSTER_DIR:-$PWD/flashgate-data/cluster}"
INSTANCES="${CLUSTER_INSTANCES:-3}"
LB_PORT="${CLUSTER_PORT:-8080}"
SIM_PORT="${CLUSTER_SIM_PORT:-$((LB_PORT + 10))}"
DATABASE_URL="${CLUSTER_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/flashgate}"
REDIS_URL="${CLUSTER_REDIS_URL:-redis://127.0.0.1:6379}"
# ensure_postgres checks the server through its maintenance database.
PG_URL="${DATABASE_URL%/*}/postgres"
LB="http://127.0.0.1:$LB_PORT"

say() { printf 'cluster.sh: %s\n' "$*" >&2; }
# shellcheck source=scripts/services.sh
. scripts/services.sh

instance_port() { echo $((LB_PORT + $1)); }

# Random, 48 hex digits: enough for every secret's rules (jwt_secret wants 32 bytes or more).
random_secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

# The cluster's own secrets: the environment's, else those of secrets.env, made on the first `up`.
load_secrets() {
    local file="$DIR/secrets.env"
    if [ ! -f "$file" ]; then
        (
            umask 077
            printf 'export FLASHGATE_ADMIN_TOKEN=%s\nexport FLASHGATE_JWT_SECRET=%s\nexport FLASHGATE_VNPAY__HASH_SECRET=%s\n' \
                "$(random_secret)" "$(random_secret)" "$(random_secret)" >"$file"
        )
    fi
    local name value
    while read -r _ assignment; do
        name=${assignment%%=*}
        value=${assignment#*=}
        [ -n "${!name:-}" ] || export "$name=$value"
    done <"$file"
}

# Running, not a zombie: once this script exits nobody may be left to reap a killed instance.
alive() {
    [ -f "$1" ] || return 1
    local pid
    pid=$(cat "$1")
    kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null
}

binary() {
    local name=$1 given=$2
    if [ -n "$given" ]; then
        [ -x "$given" ] || die "$given is not an executable"
        echo "$given"
        return
    fi
    local built="${CARGO_TARGET_DIR:-$PWD/target}/release/$name"
    if [ ! -x "$built" ]; then
        say "building $name (release)"
        cargo build --release -q -p "$name" >&2
    fi
    echo "$built"
}

wait_ready() {
    local url=$1 what=$2
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$url" 2>/dev/null && return
        sleep 0.2
    done
    die "$what did not become ready at $url (logs in $DIR)"
}

create_database() {
    local name=${DATABASE_URL##*/}
    name=${name%%\?*}
    if [ -z "$(psql "$PG_URL" -Atqc "select 1 from pg_database where datname = '$name'")" ]; then
        say "creating database $name"
        psql "$PG_URL" -qc "create database \"$name\"" >/dev/null
    fi
}

nginx_config() {
    local servers="" n
    for n in $(seq 1 "$INSTANCES"); do
        # Passive health: one failed connect or timeout takes an instance out for 5 s.
        servers+="        server 127.0.0.1:$(instance_port "$n") max_fails=1 fail_timeout=5s;"$'\n'
    done
    local user=""
    # Workers switch to `user` only when the master runs as root; keep them as the owner of $DIR.
    [ "$(id -u)" = 0 ] && user="user $(id -un);"
    cat <<CONF
$user
worker_processes 1;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log $DIR/nginx/access.log;
    client_body_temp_path $DIR/nginx/tmp/body;
    proxy_temp_path $DIR/nginx/tmp/proxy;
    fastcgi_temp_path $DIR/nginx/tmp/fastcgi;
    uwsgi_temp_path $DIR/nginx/tmp/uwsgi;
    scgi_temp_path $DIR/nginx/tmp/scgi;

    upstream flashgate {
$servers        keepalive 64;
    }

    server {
        listen 127.0.0.1:$LB_PORT;
        location / {
            include $PWD/deploy/proxy.conf;
        }
        # As in deploy/nginx.conf: the metrics are never for the public.
        location = /metrics {
            return 404;
        }
    }
}
CONF
}

up() {
    mkdir -p "$DIR/nginx/tmp"
    for pidfile in "$DIR"/*.pid "$DIR/nginx/nginx.pid"; do
        alive "$pidfile" && die "already up ($pidfile); run scripts/cluster.sh down first"
    done
    ensure_psql
    ensure_postgres
    ensure_redis
    ensure_nginx
    command -v curl >/dev/null || { can_install && apt_install curl; } || die "curl is missing"
    create_database
    local flashgate sim
    flashgate=$(binary flashgate "${CLUSTER_FLASHGATE_BIN:-}")
    sim=$(binary vnpay-sim "${CLUSTER_SIM_BIN:-}")
    load_secrets
    local tmn="${FLASHGATE_VNPAY__TMN_CODE:-FLASHGT1}"
    local secret="$FLASHGATE_VNPAY__HASH_SECRET"

    # One simulator for every instance; its IPNs go through the load balancer, like VNPay's would.
    VNPAY_SIM_SECRET="$secret" nohup "$sim" --listen "127.0.0.1:$SIM_PORT" --tmn-code "$tmn" \
        --ipn-url "$LB/payments/vnpay/ipn" --ipn-retry-secs "${CLUSTER_SIM_IPN_RETRY_SECS:-300}" \
        >"$DIR/vnpay-sim.log" 2>&1 &
    echo $! >"$DIR/vnpay-sim.pid"

    # Migrate once, before any instance starts.
    FLASHGATE_DATABASE_URL="$DATABASE_URL" "$flashgate" migrate >/dev/null

    local n port
    for n in $(seq 1 "$INSTANCES"); do
        port=$(instance_port "$n")
        FLASHGATE_LISTEN="127.0.0.1:$port" \
        FLASHGATE_DATABASE_URL="$DATABASE_URL" \
        FLASHGATE_DATABASE__MIGRATE_ON_START=false \
        FLASHGATE_REDIS_URL="$REDIS_URL" \
        FLASHGATE_INVENTORY__STRATEGY=gated \
        FLASHGATE_HTTP__TRUSTED_PROXIES='["127.0.0.1/32"]' \
        FLASHGATE_VNPAY__PAY_URL="http://127.0.0.1:$SIM_PORT/paymentv2/vpcpay.html" \
        FLASHGATE_VNPAY__API_URL="http://127.0.0.1:$SIM_PORT/merchant_webapi/api/transaction" \
        FLASHGATE_VNPAY__PUBLIC_URL="$LB" \
            nohup "$flashgate" serve >"$DIR/flashgate-$n.log" 2>&1 &
        echo $! >"$DIR/flashgate-$n.pid"
    done
    for n in $(seq 1 "$INSTANCES"); do
        wait_ready "http://127.0.0.1:$(instance_port "$n")/readyz" "flashgate-$n"
    done

    nginx_config >"$DIR/nginx/nginx.conf"
    "$(nginx_bin)" -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf" -e "$DIR/nginx/error.log" \
        || die "nginx did not start (see $DIR/nginx/error.log)"
    wait_ready "$LB/readyz" "the load balancer"
    status
}

stop_pid() {
    local pidfile=$1
    alive "$pidfile" || { rm -f "$pidfile"; return; }
    local pid
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$pidfile" || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

down() {
    [ -d "$DIR" ] || { say "nothing to stop in $DIR"; return; }
    # The load balancer first, so no request reaches an instance that is stopping.
    stop_pid "$DIR/nginx/nginx.pid"
    local pidfile
    for pidfile in "$DIR"/flashgate-*.pid "$DIR/vnpay-sim.pid"; do
        [ -e "$pidfile" ] && stop_pid "$pidfile"
    done
    say "stopped (logs kept in $DIR)"
}

status() {
    local pidfile name up=0
    for pidfile in "$DIR/nginx/nginx.pid" "$DIR"/flashgate-*.pid "$DIR/vnpay-sim.pid"; do
        [ -e "$pidfile" ] || continue
        name=$(basename "$pidfile" .pid)
        if alive "$pidfile"; then
            printf '%-12s running  pid %s\n' "$name" "$(cat "$pidfile")"
            up=1
        else
            printf '%-12s stopped\n' "$name"
        fi
    done
    [ "$up" = 1 ] || { echo "cluster is down"; return 1; }
    echo "load balancer  $LB  (readyz: $(curl -s -o /dev/null -w '%{http_code}' "$LB/readyz" || echo none))"
    echo "simulator      http://127.0.0.1:$SIM_PORT"
    echo "database       $DATABASE_URL"
    echo "state and logs $DIR"
    echo "secrets        $DIR/secrets.env (unless the environment set them)"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: scripts/cluster.sh up|down|status" >&2; exit 2 ;;
esac
