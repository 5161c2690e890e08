// TargetWriter: applies batches of change events to the target PostgreSQL.
//
// Each ApplyBatch is one target transaction, committed with
// synchronous_commit=on: when it returns OK the batch survives a target crash
// (pg_ctl stop -m immediate); on error the transaction is rolled back and
// nothing of the batch is applied. Statements are sent in libpq pipeline mode
// (one round trip for the batch, not one per row), with values bound as text
// parameters and identifiers quoted.
//
// Conflict rules (--conflict; statements in apply/statement_builder.h):
//   replace (default)  source wins: insert_exists overwrites the whole row
//                      (columns the event lacks get their defaults),
//                      update_missing inserts, delete_missing does nothing;
//   none               never overwrite: insert_exists and update_missing are
//                      skipped; everything else applies as sent;
//   merge              column level: insert_exists updates the carried columns,
//                      update_missing inserts them (target defaults for the
//                      rest); the target keeps every column an event does not carry.
// Under every rule, columns sent as unchanged TOAST are never written (the
// target keeps its value), and a row is updated in place when it exists.
// Conflicts are counted per table, kind and resolution once their batch
// committed (ConflictStats), and with log_conflicts each one is logged with the
// event's values.
//
// Each batch also records, per Kafka partition, the last event applied, in
// ferry.apply_progress in the same transaction (apply/applied_progress.h), so
// that replays after a crash are recognised exactly.
//
// Target tables must exist (or create_tables): a missing table, or a source
// column missing on the target (without evolve_schema), is an InvalidArgument
// naming it (apply/schema_changes.h). Table metadata (columns, primary
// key) is read from the target catalog once per table and cached (and read
// again when an event does not fit it, or after a failed batch).
//
// What an event must carry is listed in apply/statement_builder.h. In short:
// key_columns name the source's replica identity and must match the target's
// primary key or a unique index (as a set); inserts and updates carry every key
// column as text; deletes carry the old key in old_columns. A key-changing
// update (a DELETE of the old key, then an UPDATE of the new row) inserts the
// row at its new key, so it must carry every column: capture completes the
// columns pgoutput sends as unchanged TOAST (capture/row_fetcher.h).
//
// Errors name the table, the operation, the event's commit LSN and the
// server's message:
//   InvalidArgument  the target does not fit the event (missing table or
//                    column, no matching unique key) or rejects a value or
//                    constraint (SQLSTATE classes 22, 23, 42): fix, then rerun;
//   Corruption       a malformed event (no key value, NULL key, no kind);
//   Unavailable      connection lost, or a transient server failure (classes
//                    08, 40, 53, 57, 58). Retriable; this writer is then
//                    unusable: create a new one. A lost connection during
//                    COMMIT leaves the batch's fate unknown; replaying it is safe.
//   Internal         anything else the server refused.
// The writer stays usable after a non-retriable batch error.
//
// Thread-safety: one thread uses a TargetWriter.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "apply/applied_progress.h"
#include "apply/conflict_stats.h"
#include "common/status.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

struct TargetWriterOptions {
  ConflictRule rule = ConflictRule::kReplace;
  bool log_conflicts = false;  // log each conflict with the event's values
  bool skip_truncate = false;  // ignore TRUNCATE events (--truncate skip)
  bool create_tables = false;  // create missing target tables from the events
  bool evolve_schema = false;  // add source columns missing on the target
  // Where conflicts are counted; nullptr: the writer's own. Must outlive the writer.
  ConflictStats* stats = nullptr;
};

class TargetWriter {
 public:
  static Result<std::unique_ptr<TargetWriter>> Connect(const std::string& conninfo,
                                                        const TargetWriterOptions& options);
  ~TargetWriter();
  // REQUIRES: events of one row appear in source commit order.
  // `progress` is recorded in ferry.apply_progress in the batch's transaction.
  Status ApplyBatch(std::span<const ferry::v1::ChangeEvent> events,
                    std::span<const AppliedPosition> progress = {});
  // The last position a committed batch recorded for `tp` (nullopt: none).
  Result<std::optional<checkpoint::EventPosition>> AppliedOnTarget(const TopicPartition& tp);
  // Conflicts of committed batches (the options' stats, or the writer's own).
  const ConflictStats& conflicts() const;

 private:
  struct Impl;
  explicit TargetWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::apply
