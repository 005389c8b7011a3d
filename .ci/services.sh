#!/usr/bin/env bash
# Start Redis and a fresh PostgreSQL cluster on free loopback ports for the `services` tests.
# Source it: exports WEBRECALL_TEST_REDIS_URL / WEBRECALL_TEST_POSTGRES_URL and defines `stop_services`.
set -euo pipefail

if ! command -v redis-server >/dev/null; then  # Debian; only when missing
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PG_BIN/initdb" ] || { echo "PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SERVICES_DIR=$(mktemp -d /tmp/webrecall-ci.XXXXXX)
REDIS_PORT=$(free_port)
PG_PORT=$(free_port)

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log"

AS_PG=()
if [ "$(id -u)" = 0 ]; then  # initdb refuses to run as root
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$SERVICES_DIR"
  AS_PG=(runuser -u postgres --)
fi
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$SERVICES_DIR/pg" -A trust -U postgres --no-sync >/dev/null
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$SERVICES_DIR/pg" -l "$SERVICES_DIR/pg.log" -w start \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $SERVICES_DIR -c fsync=off -c max_connections=200" >/dev/null

export WEBRECALL_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export WEBRECALL_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT"

stop_services() {
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$SERVICES_DIR/pg" -m fast stop >/dev/null 2>&1 || true
  [ -f "$SERVICES_DIR/redis.pid" ] && kill "$(cat "$SERVICES_DIR/redis.pid")" 2>/dev/null || true
  rm -rf "$SERVICES_DIR"
}
