// Lag: how far behind each stage of the pipeline is, measured from outside it
// (a separate process; it never joins apply's consumer group nor opens a
// RocksDB store), and a wait for it to reach zero, for `ferry lag` and cutover.
//
//   source   pg_current_wal_insert_lsn / pg_current_wal_lsn
//   capture  the slot's confirmed_flush_lsn and restart_lsn (pg_replication_slots)
//   kafka    per partition: log end vs the apply group's committed offset
//   apply    last applied commit LSN and time, from the metadata apply stores
//            with each committed offset (transport/commit_metadata.h)
//
// WaitForZeroLag's rule (why it is sound):
//   1. L = pg_current_wal_lsn() when the wait starts: every transaction that
//      committed before it has its commit record below L.
//   2. Wait until the slot's confirmed_flush_lsn >= L. Capture confirms an LSN
//      only once Kafka acknowledged every event of every transaction up to it,
//      so all those events are now in Kafka.
//   3. Read the log end offset H of every partition of every <prefix>.* topic.
//      Topics created later hold only later changes; a partition absent from
//      this snapshot holds none of ours.
//   4. Wait until the group's committed offset >= H on every partition with
//      events (H > 0). Apply commits an offset only after the target transaction
//      holding those events committed. A partition without a committed offset
//      but with events is not caught up.
//
// Thread-safety: functions; each call uses its own connections.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "capture/slot_state.h"
#include "common/lsn.h"
#include "common/status.h"
#include "common/topic_partition.h"
#include "transport/capture_status.h"
#include "transport/commit_metadata.h"
#include "transport/kafka_options.h"

namespace ferry::reconcile {

struct LagOptions {
  std::string source_conninfo;             // REQUIRES: non-empty
  std::string slot = "ferry";              // capture's replication slot
  transport::KafkaOptions kafka;           // REQUIRES: brokers non-empty
  std::string group = "ferry-apply";       // apply's consumer group
  std::string topic_prefix = "ferry";      // topics are <prefix>.<schema>.<table>
  // How often WaitForZeroLag measures. It returns within about this long of
  // the lag reaching zero.
  std::chrono::milliseconds poll_interval{100};
  int kafka_timeout_ms = 10000;  // one metadata/offset request
};

struct PartitionLagReport {
  TopicPartition tp;
  int64_t log_start = 0;
  int64_t log_end = 0;
  int64_t committed = -1;  // -1: the group never committed here
  int64_t lag_events = 0;  // log_end - committed (log_start when none)
  std::optional<transport::AppliedPosition> applied;  // from the commit metadata
  // How far apply has read, when it reports it (ahead of `committed` while a
  // large transaction is applied): from the commit metadata.
  std::optional<int64_t> read_offset;
};

// Progress of a WaitForZeroLag, in the report it leaves behind.
struct ZeroLagWait {
  Lsn target_lsn;              // L: pg_current_wal_lsn() at the start
  bool slot_reached = false;   // confirmed_flush_lsn >= L
  int64_t events_remaining = -1;  // events below the log ends of step 3 not yet applied; -1 before step 3
  bool zero = false;
  std::chrono::milliseconds waited{0};
};

struct LagReport {
  std::chrono::system_clock::time_point measured_at;
  std::string slot, group, topic_prefix;
  capture::SlotState source;
  // What capture last wrote about its flow control (transport/capture_status.h);
  // nullopt when it never wrote (flow control off, or never paused).
  std::optional<transport::CaptureStatus> capture_status;
  std::vector<PartitionLagReport> partitions;  // sorted by topic, partition
  int64_t topics = 0;
  int64_t kafka_lag_events = 0;  // sum over partitions
  // The latest applied transaction over all partitions (highest LSN).
  std::optional<transport::AppliedPosition> last_applied;
  // While events wait in Kafka: now - the commit time of the last applied
  // transaction (the same as apply's ferry_apply_lag_seconds); 0 when none
  // wait; nullopt when events wait and nothing was applied yet.
  std::optional<double> apply_lag_seconds;
  std::optional<ZeroLagWait> wait;  // set by WaitForZeroLag
};

// One measurement of every stage. Unavailable when the source or Kafka cannot be
// reached, NotFound when the slot does not exist.
Result<LagReport> MeasureLag(const LagOptions& options);

// Blocks until every change committed on the source before the call has been
// applied to the target (see the rule above). OK when it has; Aborted with the
// remaining lag when `timeout` passes first or a stop is requested (SIGINT);
// another error when the source or Kafka fails. `last`, when not null, receives
// the last measurement, with `wait` set.
Status WaitForZeroLag(const LagOptions& options, std::chrono::milliseconds timeout,
                      LagReport* last);

// The report as an operator reads it (one section per stage) and as JSON.
std::string FormatLagTable(const LagReport& report);
std::string FormatLagJson(const LagReport& report);

}  // namespace ferry::reconcile
