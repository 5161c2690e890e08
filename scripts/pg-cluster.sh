#!/usr/bin/env bash
# Throwaway PostgreSQL 15 clusters for tests and the demo.
#
#   pg-cluster.sh start DIR [--logical]   initdb (if needed) and start; prints the conninfo
#   pg-cluster.sh stop DIR [fast|immediate]
#   pg-cluster.sh conninfo DIR
#
# The server listens only on a unix socket inside DIR, so clusters never clash on
# ports. PostgreSQL refuses to run as root: when we are root, it runs as `postgres`.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pg-cluster.sh start|stop|conninfo DIR}
dir=${2:?usage: pg-cluster.sh start|stop|conninfo DIR}
dir=$(realpath -m "$dir")

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

conninfo() { echo "host=$dir/sock port=5432 user=postgres dbname=postgres"; }

case "$cmd" in
  start)
    logical=no
    [ "${3:-}" = "--logical" ] && logical=yes
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg mkdir -p "$dir/sock"
      as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
      {
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$dir/sock'"
        echo "port = 5432"
        echo "fsync = on"
        echo "max_connections = 50"
        echo "shared_buffers = 64MB"
        if [ "$logical" = yes ]; then
          echo "wal_level = logical"
          echo "max_replication_slots = 10"
          echo "max_wal_senders = 10"
        fi
      } >>"$dir/data/postgresql.conf"
    fi
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
      { tail -n 20 "$dir/server.log" >&2; exit 1; }
    conninfo
    ;;
  stop)
    mode=${3:-fast}
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null
    ;;
  conninfo)
    conninfo
    ;;
  *)
    echo "pg-cluster.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
