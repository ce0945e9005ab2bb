#!/usr/bin/env bash
# Runs the shop demo on 127.0.0.1: PostgreSQL and Redis in a scratch
# directory (unless PG_DSN / REDIS_ADDR name running ones), schema.sql, the
# five services (each with OTEL_SERVICE_NAME set, so swit names them from
# /proc/PID/environ), then the load generator. Everything it started is
# stopped on exit, Ctrl-C included.
#
#   examples/shop/run.sh                   # 5 iterations of load, then stop
#   examples/shop/run.sh --iterations 20   # loadgen flags are passed on
#   examples/shop/run.sh --duration 60
#   examples/shop/run.sh --serve           # no load: serve until Ctrl-C
#   examples/shop/run.sh --wait ...        # wait for a line on stdin before the load
#
# Ports (env): AUTH_ADDR USER_ADDR ORDER_ADDR PAYMENT_ADDR INVENTORY_ADDR
# (127.0.0.1:18081..18085), PG_PORT (15433), REDIS_PORT (16390).
# SHOP_WORK=DIR keeps the scratch directory (logs, data) in DIR.
# SHOP_CGROUP=DIR starts each service in that cgroup v2 directory (so a
# tracer can follow the five services by cgroup: `cargo xtask demo`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${SHOP_BUILD:-$here/../../target/shop}

export AUTH_ADDR=${AUTH_ADDR:-127.0.0.1:18081} USER_ADDR=${USER_ADDR:-127.0.0.1:18082} \
    ORDER_ADDR=${ORDER_ADDR:-127.0.0.1:18083} PAYMENT_ADDR=${PAYMENT_ADDR:-127.0.0.1:18084} \
    INVENTORY_ADDR=${INVENTORY_ADDR:-127.0.0.1:18085}
export AUTH_URL=http://$AUTH_ADDR USER_URL=http://$USER_ADDR ORDER_URL=http://$ORDER_ADDR \
    PAYMENT_URL=http://$PAYMENT_ADDR
PG_PORT=${PG_PORT:-15433}
REDIS_PORT=${REDIS_PORT:-16390}
PG_BIN=/usr/lib/postgresql/15/bin

serve=0 wait=0
case ${1:-} in
    --serve) serve=1; shift ;;
    --wait) wait=1; shift ;;
esac

"$here/setup.sh"
build=$(cd "$build" && pwd)

if [ -n "${SHOP_WORK:-}" ]; then work=$SHOP_WORK; keep=1
    rm -rf "$work/pg" "$work/redis" "$work/logs"; mkdir -p "$work"  # a fresh start each run
else work=$(mktemp -d /tmp/shop.XXXXXX); keep=0; fi
chmod 755 "$work"
mkdir -p "$work/logs"
pids=()
pg_started=0 redis_started=0

# PostgreSQL runs as `postgres` when we are root (it refuses root).
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
    trap - EXIT INT TERM
    echo "shop: stopping"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ $redis_started = 1 ]; then kill "$(cat "$work/redis/redis.pid")" 2>/dev/null || true; fi
    if [ $pg_started = 1 ]; then as_pg $PG_BIN/pg_ctl -D "$work/pg/data" -m fast -w stop >/dev/null || true; fi
    if [ $keep = 0 ]; then rm -rf "$work"; else echo "shop: logs and data kept in $work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_tcp NAME HOST:PORT [PID]: polls a TCP connect (no request, so nothing
# for a tracer to see) until it works, for at most 30 s.
wait_tcp() {
    local name=$1 host=${2%:*} port=${2##*:} pid=${3:-} i
    for i in $(seq 300); do
        if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            echo "shop: $name exited before listening:" >&2; tail -20 "$work/logs/$name.log" >&2; exit 1
        fi
        sleep 0.1
    done
    echo "shop: $name not listening on $2 after 30 s" >&2; exit 1
}

if [ -z "${PG_DSN:-}" ]; then
    mkdir -p "$work/pg"; [ "$(id -u)" = 0 ] && chown postgres: "$work/pg"
    as_pg $PG_BIN/initdb -D "$work/pg/data" -A trust -U postgres --no-sync >/dev/null
    # The services log in over TCP with a password (SCRAM); setup uses the socket.
    printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' >"$work/pg/data/pg_hba.conf"
    pg_started=1
    as_pg $PG_BIN/pg_ctl -D "$work/pg/data" -l "$work/pg/log" -w -t 60 start \
        -o "-p $PG_PORT -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" >/dev/null
    psql -h "$work/pg" -p "$PG_PORT" -U postgres -qAt -v ON_ERROR_STOP=1 \
        -c "CREATE ROLE shop LOGIN PASSWORD 'shop-pw'" -c "CREATE DATABASE shop OWNER shop"
    export PG_DSN="postgres://shop:shop-pw@127.0.0.1:$PG_PORT/shop?sslmode=disable"
fi
psql "$PG_DSN" -q -v ON_ERROR_STOP=1 -f "$here/schema.sql" >/dev/null

if [ -z "${REDIS_ADDR:-}" ]; then
    mkdir -p "$work/redis"
    redis_started=1
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes --pidfile "$work/redis/redis.pid" \
        --dir "$work/redis" --logfile "$work/redis/log" --save '' --appendonly no
    export REDIS_ADDR=127.0.0.1:$REDIS_PORT
fi
wait_tcp redis "$REDIS_ADDR"

# start NAME ADDR COMMAND...: one service, named for swit by OTEL_SERVICE_NAME.
start() {
    local name=$1 addr=$2; shift 2
    (
        [ -z "${SHOP_CGROUP:-}" ] || echo $BASHPID >"$SHOP_CGROUP/cgroup.procs"
        OTEL_SERVICE_NAME=$name exec "$@"
    ) >"$work/logs/$name.log" 2>&1 &
    pids+=($!)
    wait_tcp "$name" "$addr" $!
    printf 'shop: %-9s pid %-7s %s\n' "$name" "$!" "$addr"
}
py=$build/venv/bin/python3
start auth      "$AUTH_ADDR"      "$py" "$here/auth/auth.py"
start payment   "$PAYMENT_ADDR"   "$py" "$here/payment/payment.py"
start inventory "$INVENTORY_ADDR" "$build/bin/inventory"
start user      "$USER_ADDR"      "$build/bin/user"
start order     "$ORDER_ADDR"     node "$here/order/order.js"
echo "shop: PostgreSQL $PG_DSN, Redis $REDIS_ADDR, logs in $work/logs"

if [ $serve = 1 ]; then
    echo "shop: serving; stop with Ctrl-C (or kill $$)"
    while sleep 1; do :; done
fi
if [ $wait = 1 ]; then
    echo "shop: ready; the load starts after a line on stdin"
    read -r _
fi
echo "shop: load generator $*"
OTEL_SERVICE_NAME=loadgen python3 "$here/loadgen/loadgen.py" "$@"
