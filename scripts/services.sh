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
