// RunApply: the apply stage's main loop.
//
//   Kafka (<prefix>.changes, one partition, source commit order)
//     --> UnitAssembler (whole units: a source transaction, or a snapshot chunk)
//     --> UnitApplier (consecutive units in one target transaction, the
//         position committed with them; large units streamed in their own)
//     --> group offsets (for Kafka tooling, `ferry lag` and flow control).
//
// The target holds apply's position (ferry.apply_progress, apply/
// applied_progress.h), committed in the same transaction as the units: on
// every assignment of the partition apply reads it and resumes right after it,
// so a crash at any point neither loses nor repeats a unit, under every
// conflict rule. Several apply processes may run in one group: the one that
// holds the partition applies, the others wait as hot standbys and take over
// (within the group's session timeout) when it dies; a process that lost the
// partition cannot commit (the position row is locked and checked).
//
// A lost target connection is retried with backoff. A unit the target rejects,
// and a message that is not a ChangeEvent, are handled by --on-error
// (apply/parking.h): stopped at, retried, or parked in <state_dir>/failures,
// which the reconciler (apply/failure_reconciler.h) replays between target
// transactions once the cause is fixed; requests from `ferry failures` /
// `ferry reconcile` are answered there too (checkpoint/failure_requests.h).
// Anything else stops apply with the position unchanged: events lost from
// Kafka, a broken topic, a broken store.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "apply/parking.h"
#include "apply/target_writer.h"
#include "apply/unit_applier.h"
#include "common/status.h"
#include "transport/kafka_options.h"

namespace ferry::apply {

struct ApplyOptions {
  transport::KafkaOptions kafka;
  std::string target_conninfo;
  std::string group = "ferry-apply";
  std::string topic_prefix = "ferry";
  std::string state_dir = "ferry-state";  // parked units in <state_dir>/failures
  ConflictRule rule = ConflictRule::kReplace;
  bool log_conflicts = false;  // log each conflicting event and what was done with it
  bool skip_truncate = false;  // --truncate skip: ignore TRUNCATE events
  bool create_tables = false;  // create missing target tables from the events
  bool evolve_schema = false;  // add source columns missing on the target
  bool target_triggers = false;  // fire target triggers (session_replication_role origin)
  // Change events per target transaction, at most (a larger source transaction
  // is applied whole, alone).
  size_t batch_max_events = 20000;
  int batch_wait_ms = 200;  // how long an idle poll waits for a message
  // A unit larger than this is applied as it arrives (in its own transaction)
  // rather than held in memory until its end.
  size_t max_buffered_unit_bytes = 8 << 20;
  FailurePolicy failures;          // --on-error and its retries
  int reconcile_interval_ms = 1000;  // how often parked units are looked at
};

Status RunApply(const ApplyOptions& options);

// "replace" -> kReplace, ...; InvalidArgument for anything else.
Result<ConflictRule> ParseConflictRule(const std::string& text);

// Where apply parks failures: <state_dir>/failures.
std::string FailureStoreDir(const std::string& state_dir);

}  // namespace ferry::apply
