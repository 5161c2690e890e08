// SnapshotProgress: a slot's snapshot progress, kept in capture's RocksDB
// (PositionStore snapshot entries), so a copy resumes after a crash from the
// last chunk Kafka acknowledged.
//
// Entries, under "<slot>/":
//   "initial"                  -> "running" | "done": the initial copy of a new slot
//   "table/<schema>\0<table>"  -> JSON {"schema","table","last_key":[..]|null,
//                                 "rows","chunks","done","skip_before","part","upper"}
//   "table/<schema>\0<table>\0<part>": the same, for part 1, 2, .. of a table
//                                 read in several parts (snapshot_plan.h)
// A table entry that is not done is a table still to be read from after
// last_key (null: from its first row). An entry is written only once every
// row up to last_key is acknowledged by Kafka. skip_before (an LSN, absent in
// entries of older versions: 0) is set on a table copied again at a new
// consistent point (snapshot_recopy.h): the stream's changes of the table
// committed before it are in that copy, and are never published. A part of a
// table (part > 0, or an upper bound) covers the keys after last_key up to and
// including upper (absent: to the table's end).
//
// Thread-safety: one thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "capture/snapshot_table.h"
#include "checkpoint/position_store.h"
#include "common/lsn.h"

namespace ferry::capture {

struct TableProgress {
  std::string schema, table;
  std::optional<KeyValues> last_key;  // nullopt: nothing read yet
  int64_t rows = 0;
  int64_t chunks = 0;
  bool done = false;
  Lsn skip_before;  // the table's stream changes committed before it are dropped
  int part = 0;                    // which part of the table (snapshot_plan.h)
  std::optional<KeyValues> upper;  // the part's last key (inclusive); nullopt: to the end
  std::string Display() const { return schema + "." + table; }
  // "schema.table", or "schema.table#<part>" for part > 0.
  std::string Id() const { return part == 0 ? Display() : Display() + "#" + std::to_string(part); }
};

std::string EncodeTableProgress(const TableProgress& p);
Result<TableProgress> DecodeTableProgress(const std::string& bytes);

class SnapshotProgress {
 public:
  SnapshotProgress(checkpoint::PositionStore& store, std::string slot)
      : store_(store), slot_(std::move(slot)) {}

  // "running", "done", or nullopt when no initial copy was started for the slot.
  Result<std::optional<std::string>> InitialState();
  // Marks an initial copy as running and forgets any earlier table progress.
  Status BeginInitial();
  Status SetInitialState(const std::string& state);
  // Every table entry, keyed by TableProgress::Id().
  Result<std::map<std::string, TableProgress>> Tables();
  // Writes the entries in one synced batch.
  Status Put(const std::vector<TableProgress>& tables);
  Status Remove(const std::vector<TableProgress>& tables);
  // In one write: forgets every part of each table of `tables_of`, then writes `put`.
  Status Replace(const std::vector<TableProgress>& tables_of, const std::vector<TableProgress>& put);

 private:
  std::string TableKey(const std::string& schema, const std::string& table) const;
  std::string PartKey(const TableProgress& p) const;
  checkpoint::PositionStore& store_;
  std::string slot_;
};

}  // namespace ferry::capture
