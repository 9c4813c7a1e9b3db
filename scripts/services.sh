# Sourced by scripts/test.sh and scripts/cluster.sh: finds PostgreSQL, Redis and nginx on this machine,
# starts PostgreSQL and Redis when installed but stopped, installs what is missing with apt-get (as
# root), and stops with a clear message when none of that works. Expects PG_URL and REDIS_URL, and a
# say() that prefixes its messages.

die() { say "$*"; exit 1; }

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

apt_install() {
    say "installing $* with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_psql() {
    command -v psql >/dev/null || { can_install && apt_install postgresql-client; } || die "psql is missing"
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

redis_up() { redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG; }

ensure_redis() {
    command -v redis-cli >/dev/null && redis_up && return
    if ! command -v redis-server >/dev/null; then
        can_install || die "Redis is not reachable at $REDIS_URL and cannot be installed (need root and apt-get)"
        apt_install redis-server
    fi
    say "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    for _ in $(seq 1 30); do redis_up && return; sleep 1; done
    die "Redis did not become reachable at $REDIS_URL"
}

# The load balancer of scripts/cluster.sh (and of the test that kills an instance behind it).
nginx_bin() { command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }

ensure_nginx() {
    [ -n "$(nginx_bin)" ] && return
    can_install || die "nginx is missing and cannot be installed (need root and apt-get): install nginx"
    apt_install nginx-light
    [ -n "$(nginx_bin)" ] || die "nginx is still missing after apt-get install nginx-light"
}

# TLS twins of PostgreSQL and Redis for the TLS tests: a private CA made here with openssl signs one
# server certificate for the name localhost only (so verify-full to 127.0.0.1 must fail); a second PostgreSQL cluster that only accepts TLS
# connections and a second redis-server that only speaks TLS use it. Started once per run, reused when
# already up. Exports FLASHGATE_TEST_TLS_CA, FLASHGATE_TEST_TLS_DATABASE_URL (sslmode=verify-full) and
# FLASHGATE_TEST_TLS_REDIS_URL (rediss://).
TLS_DIR="${FLASHGATE_TEST_TLS_DIR:-${TMPDIR:-/tmp}/flashgate-tls}"
TLS_PG_PORT="${FLASHGATE_TEST_TLS_PG_PORT:-55433}"
TLS_REDIS_PORT="${FLASHGATE_TEST_TLS_REDIS_PORT:-56380}"

tls_certificates() {
    command -v openssl >/dev/null || { can_install && apt_install openssl; } || die "openssl is missing"
    [ -s "$TLS_DIR/server.crt" ] && [ -s "$TLS_DIR/ca.crt" ] && return
    say "making a private CA and a server certificate in $TLS_DIR"
    mkdir -p "$TLS_DIR"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=flashgate test CA" -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
        >"$TLS_DIR/server.ext"
    openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" \
        -CAcreateserial -days 3650 -extfile "$TLS_DIR/server.ext" -out "$TLS_DIR/server.crt" 2>/dev/null
    chmod 600 "$TLS_DIR/server.key" "$TLS_DIR/ca.key"
}

tls_pg_up() { psql "$FLASHGATE_TEST_TLS_DATABASE_URL&sslrootcert=$TLS_DIR/ca.crt" -Atqc 'select 1' >/dev/null 2>&1; }

# initdb and pg_ctl refuse to run as root: as root, the cluster belongs to the postgres user.
as_pg_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

ensure_tls_postgres() {
    tls_pg_up && return
    local bin data="$TLS_DIR/pg"
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -x "$bin/initdb" ] || die "initdb is missing: the TLS PostgreSQL test server needs the postgresql package"
    if [ ! -s "$data/PG_VERSION" ]; then
        say "creating a TLS-only PostgreSQL cluster in $data"
        mkdir -p "$data"
        [ "$(id -u)" = 0 ] && chown postgres "$TLS_DIR" "$data"
        as_pg_owner "$bin/initdb" -D "$data" -U postgres --auth=trust >/dev/null
        # Only TLS connections get in: a plain one is rejected, so a passing test did speak TLS.
        printf 'local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\nhostnossl all all all reject\n' \
            >"$data/pg_hba.conf"
    fi
    install -m 600 "$TLS_DIR/server.crt" "$data/server.crt"
    install -m 600 "$TLS_DIR/server.key" "$data/server.key"
    [ "$(id -u)" = 0 ] && chown postgres "$data/server.crt" "$data/server.key" "$data/pg_hba.conf"
    say "starting the TLS PostgreSQL on port $TLS_PG_PORT"
    as_pg_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w start \
        -o "-p $TLS_PG_PORT -c listen_addresses=localhost -c unix_socket_directories=$data -c ssl=on" >/dev/null \
        || die "the TLS PostgreSQL did not start: see $data/server.log"
    tls_pg_up || die "the TLS PostgreSQL does not answer at $FLASHGATE_TEST_TLS_DATABASE_URL"
}

tls_redis_up() {
    redis-cli --tls --cacert "$TLS_DIR/ca.crt" -h localhost -p "$TLS_REDIS_PORT" ping 2>/dev/null | grep -q PONG
}

ensure_tls_redis() {
    tls_redis_up && return
    say "starting the TLS Redis on port $TLS_REDIS_PORT"
    redis-server --daemonize yes --bind 127.0.0.1 --port 0 --tls-port "$TLS_REDIS_PORT" \
        --tls-cert-file "$TLS_DIR/server.crt" --tls-key-file "$TLS_DIR/server.key" \
        --tls-ca-cert-file "$TLS_DIR/ca.crt" --tls-auth-clients no --save "" --appendonly no \
        --pidfile "$TLS_DIR/redis.pid" --logfile "$TLS_DIR/redis.log" >/dev/null \
        || die "the TLS Redis did not start (is redis-server built with TLS?): see $TLS_DIR/redis.log"
    for _ in $(seq 1 30); do tls_redis_up && return; sleep 1; done
    die "the TLS Redis does not answer on port $TLS_REDIS_PORT: see $TLS_DIR/redis.log"
}

ensure_tls_services() {
    export FLASHGATE_TEST_TLS_CA="$TLS_DIR/ca.crt"
    export FLASHGATE_TEST_TLS_DATABASE_URL="postgres://postgres@localhost:$TLS_PG_PORT/postgres?sslmode=verify-full"
    export FLASHGATE_TEST_TLS_REDIS_URL="rediss://localhost:$TLS_REDIS_PORT"
    tls_certificates
    ensure_tls_postgres
    ensure_tls_redis
    # Databases left behind by interrupted runs.
    local db admin="$FLASHGATE_TEST_TLS_DATABASE_URL&sslrootcert=$FLASHGATE_TEST_TLS_CA"
    for db in $(psql "$admin" -Atqc "select datname from pg_database where datname like 'fg\_test\_%'"); do
        psql "$admin" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
    done
}

# PgBouncer in transaction pooling mode in front of the local PostgreSQL, for the tests that run
# flashgate through a transaction pooler: its own configuration under a folder of its own, trust
# authentication like the local server, any database name passed through to PostgreSQL, and a small
# server pool per database (default_pool_size) so that many clients really share few connections.
# Started once per run, reused when already up. Exports FLASHGATE_TEST_PGBOUNCER_URL.
PGBOUNCER_DIR="${FLASHGATE_TEST_PGBOUNCER_DIR:-${TMPDIR:-/tmp}/flashgate-pgbouncer}"
PGBOUNCER_PORT="${FLASHGATE_TEST_PGBOUNCER_PORT:-56432}"

pgbouncer_bin() { command -v pgbouncer || { [ -x /usr/sbin/pgbouncer ] && echo /usr/sbin/pgbouncer; }; }

pgbouncer_up() { psql "$FLASHGATE_TEST_PGBOUNCER_URL" -Atqc 'select 1' >/dev/null 2>&1; }

ensure_pgbouncer() {
    export FLASHGATE_TEST_PGBOUNCER_URL="postgres://postgres@127.0.0.1:$PGBOUNCER_PORT/postgres"
    pgbouncer_up && return
    if [ -z "$(pgbouncer_bin)" ]; then
        can_install || die "pgbouncer is missing and cannot be installed (need root and apt-get): apt-get install pgbouncer"
        apt_install pgbouncer
    fi
    local pg_port
    pg_port=$(psql "$PG_URL" -Atqc 'show port') || die "cannot read PostgreSQL's port at $PG_URL"
    mkdir -p "$PGBOUNCER_DIR"
    printf '"postgres" ""\n' >"$PGBOUNCER_DIR/userlist.txt"
    # sqlx sends extra_float_digits at startup, which PgBouncer refuses unless told to ignore it.
    cat >"$PGBOUNCER_DIR/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$pg_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $PGBOUNCER_DIR/userlist.txt
pool_mode = transaction
default_pool_size = 10
max_client_conn = 2000
ignore_startup_parameters = extra_float_digits
logfile = $PGBOUNCER_DIR/pgbouncer.log
pidfile = $PGBOUNCER_DIR/pgbouncer.pid
INI
    # PgBouncer refuses to run as root: as root, it runs as the postgres user.
    [ "$(id -u)" = 0 ] && chown -R postgres "$PGBOUNCER_DIR"
    say "starting PgBouncer (transaction pooling) on port $PGBOUNCER_PORT"
    as_pg_owner "$(pgbouncer_bin)" -d "$PGBOUNCER_DIR/pgbouncer.ini" >/dev/null \
        || die "PgBouncer did not start: see $PGBOUNCER_DIR/pgbouncer.log"
    for _ in $(seq 1 30); do pgbouncer_up && return; sleep 1; done
    die "PgBouncer does not answer at $FLASHGATE_TEST_PGBOUNCER_URL: see $PGBOUNCER_DIR/pgbouncer.log"
}

# A local Redis Cluster for the tests that run the fast path on a cluster: three masters and a replica
# each on ports 57001-57006 (one redis-server per port, no persistence; the cluster bus on the port
# + 1000, since the default + 10000 would pass 65535), under a folder of its own. A short node timeout lets a replica take over within seconds when a test fails a master. Started once per
# run, reused when already healthy; a half-made cluster (a node down, slots unassigned) is torn down
# and made again. Exports FLASHGATE_TEST_REDIS_CLUSTER_URL (every node, comma-separated).
REDIS_CLUSTER_DIR="${FLASHGATE_TEST_REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/flashgate-redis-cluster}"
REDIS_CLUSTER_PORTS="57001 57002 57003 57004 57005 57006"

redis_cluster_ok() {
    local port
    for port in $REDIS_CLUSTER_PORTS; do
        redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    done
    # Six nodes known and connected, none failing, three of them replicas (a node restarted empty
    # knows only itself; a replica still joining shows as a master without slots).
    local nodes
    nodes=$(redis-cli -p "${REDIS_CLUSTER_PORTS%% *}" cluster nodes 2>/dev/null) || return 1
    [ "$(grep -v fail <<<"$nodes" | grep -c ' connected')" = 6 ] && [ "$(grep -c ' slave ' <<<"$nodes")" = 3 ]
}

ensure_redis_cluster() {
    local port nodes=""
    for port in $REDIS_CLUSTER_PORTS; do nodes="$nodes${nodes:+,}redis://127.0.0.1:$port"; done
    export FLASHGATE_TEST_REDIS_CLUSTER_URL="$nodes"
    redis_cluster_ok && return
    command -v redis-server >/dev/null || ensure_redis
    say "starting a Redis Cluster of 3 masters and 3 replicas on ports 57001-57006"
    for port in $REDIS_CLUSTER_PORTS; do
        redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    done
    rm -rf "$REDIS_CLUSTER_DIR"
    for port in $REDIS_CLUSTER_PORTS; do
        mkdir -p "$REDIS_CLUSTER_DIR/$port"
        redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$REDIS_CLUSTER_DIR/$port" \
            --cluster-enabled yes --cluster-port $((port + 1000)) --cluster-config-file nodes.conf \
            --cluster-node-timeout 2000 \
            --save "" --appendonly no --repl-diskless-sync-delay 0 --logfile "$REDIS_CLUSTER_DIR/$port/redis.log" \
            --pidfile "$REDIS_CLUSTER_DIR/$port/redis.pid" >/dev/null \
            || die "redis-server did not start on port $port: see $REDIS_CLUSTER_DIR/$port/redis.log"
    done
    for port in $REDIS_CLUSTER_PORTS; do
        for _ in $(seq 1 50); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
    done
    # shellcheck disable=SC2086
    redis-cli --cluster create $(printf '127.0.0.1:%s ' $REDIS_CLUSTER_PORTS) --cluster-replicas 1 \
        --cluster-yes >"$REDIS_CLUSTER_DIR/create.log" 2>&1 \
        || die "redis-cli --cluster create failed: see $REDIS_CLUSTER_DIR/create.log"
    for _ in $(seq 1 60); do redis_cluster_ok && return; sleep 0.5; done
    die "the Redis Cluster did not reach cluster_state:ok: see $REDIS_CLUSTER_DIR/*/redis.log"
}
