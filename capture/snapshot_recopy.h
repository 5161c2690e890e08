// SnapshotRecopy: copies again, at a new consistent point, a table whose
// initial copy was lost and cannot resume by key (no key, or REPLICA IDENTITY
// FULL: nothing tells its rows apart from the stream's), as PostgreSQL's own
// table synchronization does. No human step, no duplicates.
//
// At the start of a capture session, before the stream starts (Prepare):
//   1. a mark per such table is written into the WAL (pg_logical_emit_message,
//      prefix "ferry.recopy", its own transaction: commit LSN M);
//   2. a temporary logical slot is created on a replication connection, which
//      exports a snapshot: consistent point C > M. The snapshot shows every
//      transaction committed before C, none after; the connection is held
//      open and idle, so the snapshot lives, until every mark is met.
// In the stream (OnTransactionalMessage), inside the mark's transaction:
//   3. a TRUNCATE of the table, as a unit of its own: apply clears the partial
//      copy in one target transaction, after everything published before;
//   4. the table's rows, read in the snapshot through a cursor, as READ
//      events, each chunk a unit (EventBuilder::EndUnitInTransaction).
// And the stream drops the table's changes committed before C (they are in
// the copy; EventBuilder::SkipTableBefore); those after C follow the mark in
// the stream, hence the copy on the target.
//
// The table's progress entry is marked done, with skip_before = C, once the
// mark's transaction is confirmed (acknowledged by Kafka): a later session
// resuming before C keeps dropping the changes the copy holds. A crash before
// that loses the temporary slot: the next session copies the table again at a
// new point, and the truncate clears what the lost attempt left.
//
// Thread-safety: one thread (the capture loop).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "capture/event_builder.h"
#include "capture/snapshot_progress.h"
#include "capture/snapshot_table.h"
#include "capture/status_publisher.h"
#include "common/pg.h"

namespace ferry::capture {

struct RecopyOptions {
  std::string conninfo;
  std::string slot;
  std::string publication;
  std::string database;
  int64_t chunk_rows = 10000;
  // Receives the copy's progress for `ferry lag`, "" once done; null: none.
  StatusPublisher* status = nullptr;
  // One OP_READ event per row (--snapshot-events row) instead of a chunk's
  // rows in a few OP_READ_ROWS events (batch, the default).
  bool row_events = false;
};

class SnapshotRecopy : public MessageListener {
 public:
  SnapshotRecopy(RecopyOptions options, SnapshotProgress& progress);

  // Steps 1 and 2 for every table whose progress is not done and that cannot
  // resume by key. Returns their names ("schema.table"): others leave them alone.
  Result<std::set<std::string>> Prepare();
  // Gives `builder` the skip points: of the tables being copied again, and of
  // those copied again by earlier sessions. REQUIRES: before the stream is read.
  void set_builder(EventBuilder* builder);
  // Called between chunks of a copy (the stream waits meanwhile): serves Kafka,
  // keeps the replication connection alive, honours flow control and stops.
  void set_between_chunks(std::function<Status()> f) { between_chunks_ = std::move(f); }
  // Marks not yet met in the stream.
  bool busy() const { return !waiting_.empty(); }

  Status OnTransactionalMessage(const LogicalMessage& m) override;
  // Stores the progress of copies whose transaction committed before `confirmed`.
  Status RecordConfirmed(Lsn confirmed);

 private:
  struct Waiting {
    SnapshotTable table;
    std::string id;  // the mark's
  };
  struct Pending {
    Lsn commit_lsn;  // of the mark's transaction
    TableProgress progress;
  };
  Status Copy(const Waiting& w);

  RecopyOptions o_;
  SnapshotProgress& progress_;
  EventBuilder* builder_ = nullptr;
  std::function<Status()> between_chunks_;
  PgConn exporting_;  // the temporary slot's replication connection: its snapshot lives with it
  std::string snapshot_name_;
  Lsn consistent_point_;
  std::map<std::string, Waiting> waiting_;  // by mark id
  std::map<std::pair<std::string, std::string>, Lsn> skips_;  // (schema, table) -> skip point
  std::vector<Pending> pending_;
};

}  // namespace ferry::capture
