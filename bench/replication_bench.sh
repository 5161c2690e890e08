#!/usr/bin/env bash
# Replication throughput and lag: ferry (capture -> dev broker -> apply) beside
# PostgreSQL's own logical replication (a subscription, copy_data = false),
# measured in one run on the same two clusters, on the same source rows:
#
#   (a) one transaction of $BIG_ROWS rows (default 1,000,000), committed while
#       neither pipeline runs, drained once it starts;
#   (b) $SMALL_TX single-row transactions (default 200,000), the same way;
#   (a) and (b) run $ROUNDS times each (default 3), on new rows each round: one
#       pair's ratio swings by a fifth either way on a shared 2-core machine
#       (0.95x and 1.19x for the same binary), so the median ratio is the one
#       to quote, and every round is printed;
#   (c) a steady $RATE transactions/s for $STEADY_SECONDS s (default 2,000/s, 30 s):
#       row lag = the target's clock_timestamp() when the row landed minus the
#       source's commit time (track_commit_timestamp), p50 and p99.
#
# Each source table is published to both: native's subscription (its own slot)
# drains it into database "native" on the target, ferry (its own slot) into
# database "ferry". They run one after the other, never at once. Prints each
# pair and the ratio ferry/native (throughput: > 1 means ferry is faster), and
# the peak RSS of capture and apply.
#
# Usage: bench/replication_bench.sh [path/to/ferry]   (make bench runs it)
set -euo pipefail

BIG_ROWS=${BIG_ROWS:-1000000}
SMALL_TX=${SMALL_TX:-200000}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-2000}
STEADY_SECONDS=${STEADY_SECONDS:-30}
source "$(dirname "$0")/bench_clusters.sh" replbench "${1:-}"
DST_PG=$DST
psql "$SRC" -Xq -c "ALTER SYSTEM SET track_commit_timestamp = on" -c "ALTER SYSTEM SET max_wal_size = '4GB'"
"$PGC" stop "$DIR/src" fast && SRC=$("$PGC" start "$DIR/src" --logical)
src() { psql "$SRC" -XqAt -v ON_ERROR_STOP=1 "$@"; }
# The subscription's launcher starts a worker at most once per
# wal_retrieve_retry_interval (5 s): an ENABLE sooner after the last start would
# wait for it, and time the wait (seen: 4,000 rows drained in 5.4 s).
psql "$DST_PG" -Xq -c "ALTER SYSTEM SET wal_retrieve_retry_interval = '50ms'" -c "SELECT pg_reload_conf()" \
  -c "CREATE DATABASE native" -c "CREATE DATABASE ferry" >/dev/null
NATIVE="${DST_PG/dbname=postgres/dbname=native}"
FERRYDB="${DST_PG/dbname=postgres/dbname=ferry}"

# Source rows carry nothing the target adds; the target adds when they landed.
TABLES="CREATE TABLE big (id bigint PRIMARY KEY, account int, note text, amount numeric(12,2), at timestamptz);
CREATE TABLE small (id bigint PRIMARY KEY, account int, note text, amount numeric(12,2), at timestamptz);
CREATE TABLE steady (id bigint PRIMARY KEY, account int, note text, amount numeric(12,2), at timestamptz);"
src -c "$TABLES" -c "CREATE PUBLICATION native FOR TABLE big, small, steady" \
    -c "CREATE PUBLICATION ferry FOR TABLE big, small, steady"
for db in "$NATIVE" "$FERRYDB"; do
  psql "$db" -Xq -v ON_ERROR_STOP=1 -c "$TABLES" \
    -c "ALTER TABLE steady ADD COLUMN landed timestamptz DEFAULT clock_timestamp()"
done
psql "$NATIVE" -Xq -c "CREATE SUBSCRIPTION native CONNECTION '$SRC' PUBLICATION native WITH (copy_data = false, enabled = false)"
src -c "SELECT pg_create_logical_replication_slot('ferry', 'pgoutput')" >/dev/null

"$FERRY" dev-broker --bootstrap-file "$DIR/bootstrap" >/dev/null 2>"$DIR/broker.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$DIR/bootstrap" ] && break; sleep 0.1; done
BROKERS=$(cat "$DIR/bootstrap")

now() { date +%s.%N; }
count() { psql "$1" -XqAt -c "SELECT count(*) FROM $2"; }
# The id of the row the source committed last (track_commit_timestamp is on).
last_committed() { src -c "SELECT id FROM $1 ORDER BY pg_xact_commit_timestamp(xmin) DESC, id DESC LIMIT 1"; }
# Waits until `db`.`table` holds `rows` rows. Both pipelines commit in source
# order, so the row of the source's last commit arrives last: one session
# probes the key index for it every 10 ms, server-side, then one count checks
# that every row came. Watching costs next to nothing, so it slows neither side:
# polling count(*) from a new psql every 50 ms took 15-20% of a 2-core
# machine's CPU, and scanning a million uncommitted rows in (a) slowed the
# apply that was writing them.
wait_rows() {  # db table rows last_id
  PGOPTIONS="-c statement_timeout=1800s" psql "$1" -Xq -v ON_ERROR_STOP=1 -c "DO \$\$ BEGIN
      WHILE NOT EXISTS (SELECT 1 FROM $2 WHERE id = $4) LOOP PERFORM pg_sleep(0.01); END LOOP; END \$\$"
  local i
  for i in $(seq 36000); do
    [ "$(count "$1" "$2")" -ge "$3" ] && break
    sleep 0.05
  done
}
# Waits (up to 30 s) until `slot` no longer needs the WAL of what was just
# drained: its restart point passes a checkpoint taken now. Otherwise the next
# drain would begin by decoding this one's WAL again (a subscription confirms
# late), and time that instead of its own backlog.
settle() {  # slot
  local lsn
  lsn=$(src -c "SELECT pg_current_wal_lsn()")
  src -c CHECKPOINT
  for _ in $(seq 300); do
    [ "$(src -c "SELECT restart_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = '$1'")" = t ] && return
    sleep 0.1
  done
  echo "slot $1 kept its restart point before $lsn" >&2
}
native_on() { psql "$NATIVE" -Xq -c "ALTER SUBSCRIPTION native ENABLE"; }
native_off() {
  psql "$NATIVE" -Xq -c "ALTER SUBSCRIPTION native DISABLE"
  for _ in $(seq 100); do
    [ "$(src -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'native' AND active")" = 0 ] && break
    sleep 0.1
  done
}
# ferry's apply runs from the start to the end, as a deployed apply does: its
# one-time start (joining its consumer group waits Kafka's initial rebalance
# delay, 3 s) stays out of the timings, as the subscription's creation does for
# native. Each workload starts capture on the slot's backlog, as ENABLE starts
# native's walsender.
apply_start() {
  "$FERRY" apply --target "$FERRYDB" --brokers "$BROKERS" --state-dir "$DIR/state" 2>>"$DIR/apply.log" &
  APPLY=$!
  pids+=($APPLY)
}
ferry_on() {
  "$FERRY" capture --source "$SRC" --brokers "$BROKERS" --state-dir "$DIR/state" --slot ferry \
    --publication ferry --snapshot never 2>>"$DIR/capture.log" &
  CAPTURE=$!
  pids+=($CAPTURE)
}
peak_rss() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$1/status" 2>/dev/null || echo "?"; }
ferry_off() {
  RSS_CAPTURE=$(peak_rss "$CAPTURE")
  kill "$CAPTURE" 2>/dev/null || true
  wait "$CAPTURE" 2>/dev/null || true
  MAX_CAPTURE=$(( RSS_CAPTURE > ${MAX_CAPTURE:-0} ? RSS_CAPTURE : ${MAX_CAPTURE:-0} ))
}
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v f="$1" -v n="$2" 'BEGIN { printf "%.2f", f / n }'; }

RATIOS=()
drain() {  # label table rows round: times native's and ferry's drain of a committed backlog of `rows`
  local label=$1 table=$2 rows=$3 round=$4 last start native_s ferry_s total
  last=$(last_committed "$table")
  total=$(src -c "SELECT count(*) FROM $table")  # earlier rounds' rows are on both targets already
  start=$(now); native_on; wait_rows "$NATIVE" "$table" "$total" "$last"; native_s=$(echo "$(now) - $start" | bc)
  settle native; native_off
  start=$(now); ferry_on; wait_rows "$FERRYDB" "$table" "$total" "$last"; ferry_s=$(echo "$(now) - $start" | bc)
  settle ferry; ferry_off
  RATIOS+=("$(ratio "$(rate "$rows" "$ferry_s")" "$(rate "$rows" "$native_s")")")
  printf '%-44s %14s %14s %8s\n' "$label, round $round" "$(rate "$rows" "$native_s") rows/s" \
    "$(rate "$rows" "$ferry_s") rows/s" "${RATIOS[-1]}x"
}
# The median of RATIOS, and their range; empties RATIOS for the next workload.
median_ratio() {  # label
  local sorted
  sorted=$(printf '%s\n' "${RATIOS[@]}" | sort -n)
  printf '%-44s %14s %14s %8s\n' "$1" "" "median of ${#RATIOS[@]}" \
    "$(echo "$sorted" | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }')x"
  printf '%-44s %14s %14s %8s\n' "" "" "range" "$(echo "$sorted" | head -1)-$(echo "$sorted" | tail -1)x"
  RATIOS=()
}

# Row lag of table steady in `db`: p50 and p99 in ms (landed - source commit time).
lag_ms() {
  psql "$1" -Xq -c "DROP TABLE IF EXISTS commit_times; CREATE TABLE commit_times (id bigint PRIMARY KEY, committed timestamptz)"
  src -c "COPY (SELECT id, pg_xact_commit_timestamp(xmin) FROM steady WHERE id BETWEEN $2 AND $3) TO STDOUT" |
    psql "$1" -Xq -c "COPY commit_times FROM STDIN"
  psql "$1" -XqAt -F ' ' -c "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1)
    FROM (SELECT extract(epoch FROM s.landed - c.committed) * 1000 AS ms FROM steady s JOIN commit_times c USING (id)) l"
}

steady() {  # first_id: RATE tx/s of one row for STEADY_SECONDS, ids from first_id
  cat >"$DIR/steady.sql" <<SQL
INSERT INTO steady VALUES ($1 + nextval('steady_ids'), 1, 'steady', 1.00, now());
SQL
  src -c "DROP SEQUENCE IF EXISTS steady_ids; CREATE SEQUENCE steady_ids"
  pgbench -n -c 4 -j 2 -R "$RATE" -T "$STEADY_SECONDS" -f "$DIR/steady.sql" "$SRC" >"$DIR/pgbench.log" 2>&1
}

# Apply up and assigned its partition before the first workload.
apply_start
ferry_on
for _ in $(seq 600); do grep -q "assigned ferry.changes" "$DIR/apply.log" 2>/dev/null && break; sleep 0.1; done
ferry_off

echo "ferry vs native logical replication, one run, same clusters (source and target PostgreSQL 15, 2 cores shared)"
printf '%-44s %14s %14s %8s\n' "workload" "native" "ferry" "ratio"

for round in $(seq "$ROUNDS"); do
  src -c "INSERT INTO big SELECT g, g % 1000, 'row ' || g || ' of a large transaction', g / 100.0, now()
          FROM generate_series($(( (round - 1) * BIG_ROWS + 1 )), $(( round * BIG_ROWS ))) g"
  drain "(a) $BIG_ROWS rows in one transaction" big "$BIG_ROWS" "$round"
done
median_ratio "(a) $BIG_ROWS rows in one transaction"

cat >"$DIR/small.sql" <<'SQL'
INSERT INTO small VALUES (nextval('small_ids'), 1, 'one row, one transaction', 1.00, now());
SQL
src -c "CREATE SEQUENCE small_ids"
for round in $(seq "$ROUNDS"); do
  pgbench -n -c 4 -j 2 -t $((SMALL_TX / 4)) -f "$DIR/small.sql" "$SRC" >"$DIR/pgbench-small.log" 2>&1
  drain "(b) $SMALL_TX single-row transactions" small "$SMALL_TX" "$round"
done
median_ratio "(b) $SMALL_TX single-row transactions"

native_on
sleep 3  # its worker streaming before the load, as ferry's below
steady 0
wait_rows "$NATIVE" steady "$(src -c "SELECT count(*) FROM steady")" "$(last_committed steady)"
native_off
read -r n50 n99 <<<"$(lag_ms "$NATIVE" 0 100000000)"
ferry_on
sleep 3  # capture and apply running before the load
steady 100000000
wait_rows "$FERRYDB" steady "$(src -c "SELECT count(*) FROM steady WHERE id > 100000000")" "$(last_committed steady)"
ferry_off
read -r f50 f99 <<<"$(lag_ms "$FERRYDB" 100000001 200000000)"
printf '%-44s %14s %14s\n' "(c) $RATE tx/s for ${STEADY_SECONDS}s, row lag p50" "$n50 ms" "$f50 ms"
printf '%-44s %14s %14s\n' "    row lag p99" "$n99 ms" "$f99 ms"
echo "peak RSS: capture ${MAX_CAPTURE} MB, apply $(peak_rss "$APPLY") MB"
