// TargetWriter: applies change events to the target PostgreSQL, in target
// transactions that hold whole source transactions.
//
// A transaction: Begin (locks the partition's position row and checks it holds
// what the caller expects), Add* (the events, in source order, as they come:
// statements are sent in libpq pipeline mode and their results read while
// more are sent, so a transaction of any size streams through), Commit (records
// the new position in the same transaction, commits with
// synchronous_commit=on: once Commit returns OK the transaction survives a
// target crash) or Abort (rolls back). ApplyBatch is a transaction of its own
// without a position (the reconciler's replays, validate's repairs).
//
// Statements: consecutive events of one table that do the same thing form one
// multi-row statement (apply/run_statements.h); the rest get one each
// (apply/statement_builder.h); a long run of inserts goes by COPY in a
// savepoint, its statement only when the target refuses it (apply/copy_run.h).
// Values are bound as parameters, identifiers quoted. The session runs with session_replication_role = replica (unless
// target_triggers), as PostgreSQL's own subscriber does: the target's ordinary
// triggers and foreign-key actions do not fire a second time (a cascaded
// delete arrives as its own event) and foreign keys are not checked (the
// source checked them; applying whole transactions in source order keeps them
// true at every commit). Each transaction starts with SET CONSTRAINTS ALL
// DEFERRED, so deferrable constraints are checked at commit, where the target
// holds a state the source had.
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
// Conflicts are counted per table, kind and resolution once their transaction
// committed (ConflictStats); with log_conflicts each one is logged with the
// event's values (and events get one statement each, to know which).
//
// Target tables must exist (or create_tables): a missing table, or a source
// column missing on the target (without evolve_schema), is an InvalidArgument
// naming it. Table metadata is read from the target catalog once per table and
// cached (again when an event does not fit it, or after a failed transaction);
// reading it, and creating or extending a table, happen inside the open
// transaction (the pipeline is synced first), so they commit with the events.
//
// Errors name the table, the operation, the event's commit LSN and the
// server's message:
//   InvalidArgument  the target does not fit the event or rejects a value or
//                    constraint (SQLSTATE classes 22, 23, 42): fix, then rerun;
//   Corruption       a malformed event (no key value, NULL key, no kind);
//   Unavailable      connection lost, a transient server failure (classes 08,
//                    40, 53, 57, 58), or position_moved(). Retriable; after a
//                    lost connection this writer is unusable: create a new one.
//                    A lost connection during COMMIT leaves the transaction's
//                    fate unknown: the position row says which (LoadPosition).
//   Internal         anything else the server refused.
// After an error inside a transaction, failed_tag() names the Add whose events
// failed (when one did) and the caller must Abort.
//
// With a replication_origin, every transaction (ApplyBatch's and the first
// insert of a position row included) holds the origin from Begin to COMMIT,
// and Commit records the position's source commit in it
// (pg_replication_origin_xact_setup, pipelined with the position's UPDATE):
// see apply/replication_origin.h.
//
// Thread-safety: one thread uses a TargetWriter.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "apply/applied_progress.h"
#include "apply/conflict_stats.h"
#include "common/status.h"
#include "common/topic_partition.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

struct TargetWriterOptions {
  ConflictRule rule = ConflictRule::kReplace;
  bool log_conflicts = false;  // log each conflict with the event's values
  bool skip_truncate = false;  // ignore TRUNCATE events (--truncate skip)
  bool create_tables = false;  // create missing target tables from the events
  bool evolve_schema = false;  // add source columns missing on the target
  // Fire the target's triggers and foreign-key actions (session_replication_role
  // = origin) instead of replica mode (--target-triggers).
  bool target_triggers = false;
  // Where conflicts are counted; nullptr: the writer's own. Must outlive the writer.
  ConflictStats* stats = nullptr;
  size_t max_run_events = 2000;  // rows per multi-row statement, at most
  // Runs of at least min_copy_rows inserts (up to max_copy_rows) are written
  // with COPY, in a savepoint, falling back to the statement when the target
  // refuses (apply/copy_run.h); min_copy_rows 0 never copies.
  size_t min_copy_rows = 256;
  size_t max_copy_rows = 50000;
  // The replication origin every transaction is marked with, and whose
  // position Commit records (apply/replication_origin.h); empty: unmarked
  // (validate's repairs). Connect creates it when missing.
  std::string replication_origin{};
};

class TargetWriter {
 public:
  static Result<std::unique_ptr<TargetWriter>> Connect(const std::string& conninfo,
                                                        const TargetWriterOptions& options);
  ~TargetWriter();

  // The position row of `tp` (created as "nothing applied" when missing).
  // REQUIRES: no transaction open.
  Result<ApplyPosition> LoadPosition(const TopicPartition& tp);

  // Opens a transaction for units read from `tp`. Fails with Unavailable and
  // position_moved() when the row no longer holds `expected` (another apply
  // process applied more): reload the position and read on from there.
  Status Begin(const TopicPartition& tp, const ApplyPosition& expected);
  // Applies `events` (source order; a row's events in commit order) in the open
  // transaction. An error ends the transaction (Abort it). `precise`: one
  // statement per event, so that an error names the event and its key.
  Status Add(std::span<const ferry::v1::ChangeEvent> events, size_t tag, bool precise = false);
  // As Add, but the events may wait to share multi-row statements with those
  // of later Hold calls (consecutive small source transactions): they must
  // stay alive and unchanged until Commit or Abort. An error may surface at a
  // later call or at Commit; failed_tag() then names the first Hold call of
  // the failed statement (every call before it applied).
  Status Hold(std::span<const ferry::v1::ChangeEvent> events, size_t tag);
  // Records `position` in the row Begin locked and commits.
  Status Commit(const ApplyPosition& position);
  // Rolls back the open transaction, if any. Never fails: a connection that
  // cannot roll back is dropped (and the writer marked lost).
  void Abort();
  bool in_transaction() const;
  // A COPY is open: the target is parsing rows it was handed while the caller
  // reads on (it ends at the next statement or Commit).
  bool copying() const;
  // The open COPY carries snapshot rows (OP_READ_ROWS batches), and no
  // change waits behind it (a re-snapshot's chunks come between changes).
  bool copying_snapshot_rows() const;
  // For the open transaction, which its caller applies again whole if it
  // fails (a large transaction streamed into a target transaction of its own):
  // a run of at least min_copy_rows like inserts of one table, and the like
  // inserts of later Add calls, go into one COPY left open while the caller
  // reads on, without the savepoint (and the statement fallback) of other
  // COPYs. If the target refuses it, the transaction fails with
  // copy_refused(): Abort, and apply the events again without this.
  void CopyInsertsOpen();
  bool copy_refused() const;
  // After an error in the open transaction: the tag of the Add whose events
  // failed, when it was one of them (not BEGIN/COMMIT or the connection).
  std::optional<size_t> failed_tag() const;
  // The last Begin or Commit failed because the position row moved.
  bool position_moved() const;

  // One transaction holding `events`, with no position (statements as Add's).
  Status ApplyBatch(std::span<const ferry::v1::ChangeEvent> events, bool precise = false);

  // Conflicts of committed transactions (the options' stats, or the writer's own).
  const ConflictStats& conflicts() const;

 private:
  struct Impl;
  explicit TargetWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::apply
