// TargetWriter: applies batches of change events to the target PostgreSQL.
//
// Each ApplyBatch is one target transaction, committed with
// synchronous_commit=on: when it returns OK the batch survives a target crash
// (pg_ctl stop -m immediate); on error the transaction is rolled back and
// nothing of the batch is applied. Statements are sent in libpq pipeline mode
// (one round trip for the batch, not one per row), with values bound as text
// parameters and identifiers quoted.
//
// Conflict rule `replace` (source wins), which makes replay idempotent:
//   insert/read -> INSERT .. ON CONFLICT (key) DO UPDATE SET <carried columns>
//   update      -> same upsert of the new row (a missing row is inserted)
//   delete      -> DELETE by key (a missing row is nothing to do)
//   truncate    -> TRUNCATE (with CASCADE / RESTART IDENTITY as sent)
// Columns sent as unchanged TOAST are never written; the target keeps its value.
// Columns are matched by name; target columns the event does not carry keep
// their values (or defaults on insert).
//
// Target tables must exist: a missing table, or a source column missing on the
// target, is an InvalidArgument naming it. Table metadata (columns, primary
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
#include <span>
#include <string>

#include "common/status.h"
#include "transport/change_event.pb.h"

namespace ferry::apply {

enum class ConflictRule { kNone, kReplace, kMerge };

struct TargetWriterOptions {
  ConflictRule rule = ConflictRule::kReplace;
};

class TargetWriter {
 public:
  static Result<std::unique_ptr<TargetWriter>> Connect(const std::string& conninfo,
                                                        const TargetWriterOptions& options);
  ~TargetWriter();
  // REQUIRES: events of one row appear in source commit order.
  Status ApplyBatch(std::span<const ferry::v1::ChangeEvent> events);

 private:
  struct Impl;
  explicit TargetWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::apply
