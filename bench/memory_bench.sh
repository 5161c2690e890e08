#!/usr/bin/env bash
# Memory with 1 MB rows (issue 12, item 7): peak RSS (VmHWM) of `ferry capture`
# and `ferry apply` beside the 512 MB target, through capture -> `ferry
# dev-broker` -> apply, and a baseline measured in the same run:
#
#   (a) snapshot: $SNAPSHOT_ROWS rows (default 2,000) of 1 MiB of text, copied by
#       capture's initial snapshot in chunks of $SNAPSHOT_CHUNK_ROWS rows (default 2:
#       capture produces a whole chunk before it looks at flow control again, and
#       the dev broker keeps only ~5 MiB, so the default 10,000-row chunks of 1 MiB
#       rows overrun it and apply stops with "events lost");
#   (b) streaming: $STREAM_TX one-row transactions of 1 MiB (default 100), $STREAM_TX/10
#       transactions of 10 such rows, and one transaction of $BIG_TX_ROWS (default 300)
#       such rows, with capture and apply running.
#   baseline: the same snapshot rows through `psql -c "COPY ... TO STDOUT" | psql -c
#       "COPY ... FROM STDIN"`: peak RSS of each psql.
#
# The rows are 1 MiB of md5 hex digits (compressible only ~2x, as real data), so
# neither TOAST nor lz4 makes them small. Each phase starts capture and apply
# afresh, so each VmHWM is that phase's peak. The target is checked equal to the
# source (row count and md5 of every row) after each phase. Exits 1 when a
# measured peak exceeds LIMIT_MB (default 512) or the rows differ.
#
# Usage: bench/memory_bench.sh [path/to/ferry]   (make bench runs it)
set -euo pipefail

SNAPSHOT_ROWS=${SNAPSHOT_ROWS:-2000}
STREAM_TX=${STREAM_TX:-100}
BIG_TX_ROWS=${BIG_TX_ROWS:-300}
SNAPSHOT_CHUNK_ROWS=${SNAPSHOT_CHUNK_ROWS:-2}
LIMIT_MB=${LIMIT_MB:-512}
source "$(dirname "$0")/bench_clusters.sh" membench "${1:-}"
psql "$SRC" -Xq -c "ALTER SYSTEM SET max_wal_size = '8GB'" -c "SELECT pg_reload_conf()" >/dev/null
src() { psql "$SRC" -XqAt -v ON_ERROR_STOP=1 "$@"; }
dst() { psql "$DST" -XqAt -v ON_ERROR_STOP=1 "$@"; }
TABLE="CREATE TABLE blobs (id int PRIMARY KEY, payload text NOT NULL)"
src -c "$TABLE"
dst -c "$TABLE"
psql "$DST" -Xq -c "CREATE DATABASE baseline"
BASELINE="${DST/dbname=postgres/dbname=baseline}"
psql "$BASELINE" -Xq -c "$TABLE"
# A 1 MiB value: 32,768 md5 digests; each row rotates it by its own offset.
src -c "CREATE TABLE mib AS SELECT string_agg(md5(i::text), '' ORDER BY i) AS v FROM generate_series(1, 32768) i"
rows() {  # first last: INSERT ... SELECT rows first..last
  echo "INSERT INTO blobs SELECT g, substr(v, 1 + g * 997 % 1048576) || substr(v, 1, g * 997 % 1048576)
        FROM mib, generate_series($1, $2) g;"
}

"$FERRY" dev-broker --bootstrap-file "$DIR/bootstrap" >/dev/null 2>"$DIR/broker.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$DIR/bootstrap" ] && break; sleep 0.1; done
BROKERS=$(cat "$DIR/bootstrap")

peak_mb() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$1/status" 2>/dev/null || echo 0; }
# Waits until the target holds `rows` rows, sampling VmHWM of capture and apply.
wait_rows() {
  local rows=$1 i
  for i in $(seq 36000); do
    kill -0 "$CAPTURE" 2>/dev/null || { echo "capture exited:"; tail -20 "$DIR/capture.log"; exit 1; }
    kill -0 "$APPLY" 2>/dev/null || { echo "apply exited:"; tail -20 "$DIR/apply.log"; exit 1; }
    PEAK_CAPTURE=$(peak_mb "$CAPTURE")
    PEAK_APPLY=$(peak_mb "$APPLY")
    [ "$(dst -c "SELECT count(*) FROM blobs")" -ge "$rows" ] && return 0
    sleep 0.2
  done
  echo "timed out waiting for $rows rows"; exit 1
}
ferry_on() {  # snapshot mode
  "$FERRY" apply --target "$DST" --brokers "$BROKERS" --state-dir "$DIR/state" 2>>"$DIR/apply.log" &
  APPLY=$!
  pids+=($APPLY)
  "$FERRY" capture --source "$SRC" --brokers "$BROKERS" --state-dir "$DIR/state" --snapshot "$1" --tables public.blobs \
    --snapshot-chunk-rows "$SNAPSHOT_CHUNK_ROWS" \
    2>>"$DIR/capture.log" &
  CAPTURE=$!
  pids+=($CAPTURE)
}
ferry_off() {
  kill "$CAPTURE" "$APPLY" 2>/dev/null || true
  wait "$CAPTURE" "$APPLY" 2>/dev/null || true
}
same() {  # the target's rows equal the source's
  local q="SELECT count(*) || ' ' || md5(string_agg(md5(payload), '' ORDER BY id)) FROM blobs"
  [ "$(src -c "$q")" = "$(dst -c "$q")" ] || { echo "target differs from source"; exit 1; }
}
verdict() { [ "$1" -le "$LIMIT_MB" ] && echo "under" || { echo "OVER"; FAILED=1; }; }
FAILED=0

echo "peak RSS with 1 MiB rows (VmHWM), target: under $LIMIT_MB MB each"
src -c "$(rows 1 "$SNAPSHOT_ROWS")"
wait_start=$(date +%s)
ferry_on initial
wait_rows "$SNAPSHOT_ROWS"
snap_s=$(( $(date +%s) - wait_start ))
ferry_off
same
printf '%-58s capture %5s MB (%s), apply %5s MB (%s), %ss\n' "(a) snapshot of $SNAPSHOT_ROWS rows of 1 MiB ($SNAPSHOT_CHUNK_ROWS-row chunks)" \
  "$PEAK_CAPTURE" "$(verdict "$PEAK_CAPTURE")" "$PEAK_APPLY" "$(verdict "$PEAK_APPLY")" "$snap_s"

# Baseline: the same rows through a psql COPY pipe.
/usr/bin/time -f "%M" -o "$DIR/rss-out" psql "$SRC" -Xq -c "COPY blobs TO STDOUT" |
  /usr/bin/time -f "%M" -o "$DIR/rss-in" psql "$BASELINE" -Xq -c "COPY blobs FROM STDIN"
printf '%-58s psql out %4s MB, psql in %4s MB\n' "    baseline: psql COPY pipe of the same rows" \
  "$(( $(cat "$DIR/rss-out") / 1024 ))" "$(( $(cat "$DIR/rss-in") / 1024 ))"

ferry_on never
sleep 2
next=$((SNAPSHOT_ROWS + 1))
wait_start=$(date +%s)
for _ in $(seq "$STREAM_TX"); do src -c "$(rows $next $next)"; next=$((next + 1)); done
for _ in $(seq $((STREAM_TX / 10))); do src -c "$(rows $next $((next + 9)))"; next=$((next + 10)); done
src -c "$(rows $next $((next + BIG_TX_ROWS - 1)))"
next=$((next + BIG_TX_ROWS))
wait_rows $((next - 1))
stream_s=$(( $(date +%s) - wait_start ))
ferry_off
same
printf '%-58s capture %5s MB (%s), apply %5s MB (%s), %ss\n' \
  "(b) streaming: $STREAM_TX x 1, $((STREAM_TX / 10)) x 10, 1 x $BIG_TX_ROWS rows of 1 MiB" \
  "$PEAK_CAPTURE" "$(verdict "$PEAK_CAPTURE")" "$PEAK_APPLY" "$(verdict "$PEAK_APPLY")" "$stream_s"
exit "$FAILED"
