#!/usr/bin/env bash
# Throwaway PostgreSQL 15 clusters for tests and the demo.
#
#   pg-cluster.sh start DIR [--logical] [--from-template]
#                                         initdb (if needed) and start; prints the conninfo
#   pg-cluster.sh stop DIR [fast|immediate]
#   pg-cluster.sh conninfo DIR
#
# The server listens only on a unix socket inside DIR, so clusters never clash on
# ports. PostgreSQL refuses to run as root: when we are root, it runs as `postgres`.
#
# --from-template (the tests): instead of running initdb, copy a data directory
# initdb made once, under $TMPDIR, for this initdb and these options. initdb
# costs about a second of CPU and a copy a quarter of that; `make test` makes
# hundreds of clusters. Every copy has the template's system identifier, as a
# physical replica would; a test that needs another cluster leaves this out.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pg-cluster.sh start|stop|conninfo DIR}
dir=${2:?usage: pg-cluster.sh start|stop|conninfo DIR}
dir=$(realpath -m "$dir")

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

conninfo() { echo "host=$dir/sock port=5432 user=postgres dbname=postgres"; }

INITDB_OPTS=(-A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8)

# initdb into $1 (a data directory, not there yet); its output in $2.
run_initdb() {
  as_pg "$PGBIN/initdb" -D "$1" "${INITDB_OPTS[@]}" >"$2" 2>&1 || { cat "$2" >&2; exit 1; }
}

# Prints the template's path, made first if it is not there. Concurrent starts
# each make one and rename it into place: the first rename wins, the others
# find the path taken and drop theirs.
template() {
  local key tpl work
  key=$({ "$PGBIN/initdb" --version; echo "${INITDB_OPTS[*]}"; } | md5sum | cut -c1-12)
  tpl="${TMPDIR:-/tmp}/ferry-pg-template-$(id -u)-$key"
  if [ ! -f "$tpl/PG_VERSION" ]; then
    work=$(mktemp -d "$tpl.XXXXXX")
    chmod 755 "$work"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$work"
    run_initdb "$work/data" "$work/initdb.log"
    mv -T "$work/data" "$tpl" 2>/dev/null || true
    rm -rf "$work"
  fi
  echo "$tpl"
}

case "$cmd" in
  start)
    logical=no
    from_template=no
    for opt in "${@:3}"; do
      case "$opt" in
        --logical) logical=yes ;;
        --from-template) from_template=yes ;;
        *) echo "pg-cluster.sh: unknown option $opt" >&2; exit 2 ;;
      esac
    done
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg mkdir -p "$dir/sock"
      if [ "$from_template" = yes ]; then
        tpl=$(template)
        as_pg cp -a "$tpl" "$dir/data"
      else
        run_initdb "$dir/data" "$dir/initdb.log"
      fi
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
