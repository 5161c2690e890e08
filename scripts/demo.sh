#!/usr/bin/env bash
# make demo: a source and a target PostgreSQL, the dev broker, capture and apply,
# an initial snapshot of the rows already there, a live workload with events/s
# and lag printed as it runs, then `ferry lag --wait-zero` and `ferry validate`.
#
# Everything lives under $DEMO_DIR (default ./demo-run) and is stopped on exit or
# Ctrl-C. PostgreSQL listens on unix sockets inside that folder: no port clashes.
set -euo pipefail

FERRY=$(realpath "${1:-build/ferry}")
HERE=$(cd "$(dirname "$0")" && pwd)
DEMO_DIR=$(realpath -m "${DEMO_DIR:-demo-run}")
SECONDS_OF_LOAD=${DEMO_SECONDS:-30}
CLIENTS=${DEMO_CLIENTS:-4}

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$HERE/pg-cluster.sh" stop "$DEMO_DIR/source" fast 2>/dev/null || true
  "$HERE/pg-cluster.sh" stop "$DEMO_DIR/target" fast 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted, cleaning up"; exit 130' INT TERM

# Sleeps that a signal interrupts at once: bash runs a trap only after the
# foreground command returns, but the `wait` builtin returns on a trapped signal.
nap() { sleep "$1" & wait $!; }

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

"$HERE/pg-cluster.sh" stop "$DEMO_DIR/source" immediate 2>/dev/null || true
"$HERE/pg-cluster.sh" stop "$DEMO_DIR/target" immediate 2>/dev/null || true
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"

say "starting source (wal_level=logical) and target PostgreSQL 15 under $DEMO_DIR"
SRC=$("$HERE/pg-cluster.sh" start "$DEMO_DIR/source" --logical)
DST=$("$HERE/pg-cluster.sh" start "$DEMO_DIR/target")
src() { psql "$SRC" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
dst() { psql "$DST" -X -q -v ON_ERROR_STOP=1 -At "$@"; }

SCHEMA="
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text, balance numeric(20,2) NOT NULL DEFAULT 0, updated timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL, status text NOT NULL, total numeric(20,2), note jsonb, created timestamptz NOT NULL DEFAULT now());
CREATE TABLE order_lines (order_id bigint, line int, sku text NOT NULL, qty int NOT NULL, PRIMARY KEY (order_id, line));
CREATE TABLE heartbeat (id int PRIMARY KEY, beat timestamptz NOT NULL);"
src -c "$SCHEMA"
dst -c "$SCHEMA"
src -c "INSERT INTO customers (id, name, email) SELECT g, 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 10000) g;
        INSERT INTO heartbeat VALUES (1, now());"

say "starting the dev broker (librdkafka mock cluster on loopback)"
"$FERRY" dev-broker --bootstrap-file "$DEMO_DIR/bootstrap" >"$DEMO_DIR/broker.out" 2>"$DEMO_DIR/broker.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$DEMO_DIR/bootstrap" ] && break; sleep 0.1; done
BROKERS=$(cat "$DEMO_DIR/bootstrap")
echo "    brokers: $BROKERS"

say "starting ferry apply and ferry capture (logs: $DEMO_DIR/apply.log, capture.log)"
"$FERRY" apply --brokers "$BROKERS" --target "$DST" --state-dir "$DEMO_DIR/state" \
  --kafka-property session.timeout.ms=6000 2>"$DEMO_DIR/apply.log" &
pids+=($!)
"$FERRY" capture --source "$SRC" --brokers "$BROKERS" --state-dir "$DEMO_DIR/state" 2>"$DEMO_DIR/capture.log" &
pids+=($!)
for _ in $(seq 100); do
  [ "$(src -c "SELECT count(*) FROM pg_replication_slots WHERE active")" = 1 ] && break
  sleep 0.2
done
lag() { "$FERRY" lag --source "$SRC" --brokers "$BROKERS" --log-level error "$@"; }

say "initial snapshot: the 10,000 customers already on the source"
lag --wait-zero --timeout 2m >/dev/null
grep -o 'initial snapshot.*tables done.*' "$DEMO_DIR/capture.log" | tail -n 1 | sed 's/^/    capture: /' || true
echo "    target has $(dst -c "SELECT count(*) FROM customers") customers"

cat >"$DEMO_DIR/workload.sql" <<'SQL'
\set c random(1, 10000)
\set n random(1, 5)
BEGIN;
INSERT INTO orders (customer_id, status, total, note) VALUES (:c, 'new', random() * 1000, jsonb_build_object('client', :client_id, 'tag', 'demo ✓')) RETURNING id \gset o_
INSERT INTO order_lines SELECT :o_id, g, 'sku-' || (random() * 100)::int, 1 + (random() * 5)::int FROM generate_series(1, :n) g;
UPDATE customers SET balance = balance + 1, updated = now() WHERE id = :c;
UPDATE orders SET status = 'paid' WHERE id = :o_id - 20;
DELETE FROM order_lines WHERE order_id = :o_id - 200;
COMMIT;
SQL

say "live workload: $CLIENTS clients for ${SECONDS_OF_LOAD}s"
PGBENCH=/usr/lib/postgresql/15/bin/pgbench
"$PGBENCH" "$SRC" -n -c "$CLIENTS" -T "$SECONDS_OF_LOAD" -f "$DEMO_DIR/workload.sql" >"$DEMO_DIR/pgbench.log" 2>&1 &
load_pid=$!
pids+=($load_pid)
( while kill -0 $load_pid 2>/dev/null; do src -c "UPDATE heartbeat SET beat = clock_timestamp()" >/dev/null 2>&1; sleep 0.5; done ) &
pids+=($!)

changes() { # inserted + updated + deleted rows of the demo tables, per side
  "$1" -c "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables WHERE relname <> 'heartbeat'"
}
progress() {
  local prev_src=$1 prev_dst=$2 dt=$3
  local s d lag_s slot_bytes
  s=$(changes src); d=$(changes dst)
  slot_bytes=$(src -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) FROM pg_replication_slots WHERE slot_name = 'ferry'")
  # End-to-end lag: how far the target's heartbeat trails the source's. The
  # target is read first: read second, it may already hold a newer beat.
  local dst_beat
  dst_beat=$(dst -c "SELECT beat FROM heartbeat")
  lag_s=$(src -c "SELECT round(extract(epoch FROM beat - '$dst_beat'::timestamptz)::numeric, 1) FROM heartbeat")
  # Events in Kafka not yet applied, from `ferry lag --json` (no jq needed).
  kafka_events=$(lag --json | tr -d " \n" | sed -n 's/.*"lag":{"bytes":[^,]*,"events":\([0-9]*\).*/\1/p')
  printf '    source %6d events/s | applied %6d events/s | lag %5ss, %6s events | slot behind %8s bytes\n' \
    $(( (s - prev_src) / dt )) $(( (d - prev_dst) / dt )) "$lag_s" "${kafka_events:-?}" "$slot_bytes"
  echo "$s $d"
}
# pg_stat counters are flushed by backends about once a second: good enough for rates.
read -r ps pd < <(echo "$(changes src) $(changes dst)")
while kill -0 $load_pid 2>/dev/null; do
  nap 2
  out=$(progress "$ps" "$pd" 2)
  head -n 1 <<<"$out"
  read -r ps pd < <(tail -n 1 <<<"$out")
done
wait $load_pid || { echo "workload failed:"; cat "$DEMO_DIR/pgbench.log"; exit 1; }
for pid in "${pids[@]:1:2}"; do
  kill -0 "$pid" 2>/dev/null || { echo "demo: ferry apply or capture died; see $DEMO_DIR/*.log"; exit 1; }
done
grep -E "^(number of transactions actually processed|tps)" "$DEMO_DIR/pgbench.log" | sed 's/^/    pgbench: /'

say "workload stopped; ferry lag --wait-zero (every change committed so far applied)"
src -c "UPDATE heartbeat SET beat = clock_timestamp()"
start=$EPOCHREALTIME
lag --wait-zero --timeout 5m >/dev/null || { echo "demo: lag did not reach zero"; lag; exit 1; }
awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "    caught up in %.1f s\n", b - a }'
out=$(progress "$ps" "$pd" 1); head -n 1 <<<"$out"
lag | sed 's/^/    /'

say "ferry validate: row counts and chunked checksums, source against target"
status=0
"$FERRY" validate --source "$SRC" --target "$DST" --slot ferry --log-level error >"$DEMO_DIR/validate.out" ||
  status=$?
sed 's/^/    /' "$DEMO_DIR/validate.out"
if [ "$status" = 0 ]; then say "target equals source"; else say "target differs from source"; fi
exit "$status"
