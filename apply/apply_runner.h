// RunApply: the apply stage's main loop.
//
// Kafka (consumer group) --batch--> TargetWriter (one target transaction,
// synchronous commit) --then--> RocksDB positions (synced) --then--> group
// offsets (for Kafka tooling and lag).
//
// Each batch also writes its partitions' positions into the target in the same
// transaction (ferry.apply_progress), and the replay guard takes the later of
// those and RocksDB's: a crash at any point replays nothing already committed,
// under every conflict rule. Conflict counts are logged with the progress
// lines and at exit. (Tests set FERRY_FAULT_EXIT_AFTER_TARGET_COMMIT to make
// apply exit right after a target commit, before RocksDB records it.)
//
// A lost target connection is retried with backoff (the same batch is applied
// again). An event the target rejects, and a message that is not a
// ChangeEvent, are handled by --on-error (apply/parking.h): stopped at, retried,
// or parked in <state_dir>/failures, which the reconciler
// (apply/failure_reconciler.h) replays between batches once the cause is fixed;
// requests from `ferry failures` / `ferry reconcile` are answered there too
// (checkpoint/failure_requests.h). Anything else stops apply with the position
// unchanged: events lost from Kafka, a broken store.
#pragma once

#include <cstddef>
#include <string>

#include "apply/parking.h"
#include "apply/target_writer.h"
#include "common/status.h"
#include "transport/kafka_options.h"

namespace ferry::apply {

struct ApplyOptions {
  transport::KafkaOptions kafka;
  std::string target_conninfo;
  std::string group = "ferry-apply";
  std::string topic_prefix = "ferry";
  std::string state_dir = "ferry-state";  // RocksDB in <state_dir>/apply and <state_dir>/failures
  ConflictRule rule = ConflictRule::kReplace;
  bool log_conflicts = false;  // log each conflicting event and what was done with it
  bool skip_truncate = false;  // --truncate skip: ignore TRUNCATE events
  bool create_tables = false;  // create missing target tables from the events
  bool evolve_schema = false;  // add source columns missing on the target
  size_t batch_max_events = 5000;  // events per target transaction, at most
  int batch_wait_ms = 200;         // how long to wait for the first event of a batch
  FailurePolicy failures;          // --on-error and its retries
  int reconcile_interval_ms = 1000;  // how often parked events are looked at
};

Status RunApply(const ApplyOptions& options);

// "replace" -> kReplace, ...; InvalidArgument for anything else.
Result<ConflictRule> ParseConflictRule(const std::string& text);

// Where apply parks failures: <state_dir>/failures.
std::string FailureStoreDir(const std::string& state_dir);

// The subscription regex for every topic of a prefix: "^ferry\..*".
std::string TopicRegex(const std::string& prefix);

}  // namespace ferry::apply
