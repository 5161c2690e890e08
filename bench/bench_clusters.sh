# Sourced by the shell benchmarks (bench/*_bench.sh): a source cluster (wal_level=logical) and a target
# cluster under a new folder, and what stops them at exit.
#
#   source bench/bench_clusters.sh NAME [path/to/ferry]
#
# Sets FERRY (the binary, default build/ferry), PGC (scripts/pg-cluster.sh), DIR (/tmp/ferry-NAME-*,
# removed at exit unless KEEP is set), SRC and DST (conninfos), and pids: processes the benchmark started,
# killed at exit.
FERRY=$(realpath "${2:-build/ferry}")
PGC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../scripts/pg-cluster.sh"
DIR=$(mktemp -d "/tmp/ferry-$1-XXXXXX")
chmod 755 "$DIR"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$PGC" stop "$DIR/src" immediate >/dev/null 2>&1 || true
  "$PGC" stop "$DIR/dst" immediate >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$DIR"
}
trap cleanup EXIT

SRC=$("$PGC" start "$DIR/src" --logical)
DST=$("$PGC" start "$DIR/dst")
