// SnapshotTable: what a snapshot needs to know about one source table, and the
// two things it does with it: the key-ordered chunk query and the READ event
// of a row.
//
// Chunks are read with keyset pagination in the order of the table's key (its
// replica identity: the primary key, or the REPLICA IDENTITY USING INDEX
// index), never OFFSET, so each chunk is one index range scan however deep into
// the table it is:
//   SELECT "c1", "c2", .. FROM ONLY "s"."t" WHERE ("k1", "k2") > ($1, $2)
//   ORDER BY "k1", "k2" LIMIT n
// (ONLY: the rows of an inheritance parent are its own, never its children's,
// which are tables of their own; a partitioned table is read whole.)
// A READ event has the same shape, topic and Kafka key as the stream's insert
// of that row (key columns in column order, as pgoutput marks them), so a
// row's snapshot and stream events land in one partition.
//
// A REPLICA IDENTITY FULL table without a primary key (keyless) has no order
// to chunk by: the initial copy reads it through one cursor inside the
// exported snapshot. It cannot be resumed nor read incrementally (nothing
// identifies its rows against the stream), so those refuse it. Tables with
// FULL identity take the table-wide Kafka key, as the stream's events do
// (capture/event_builder.cpp), so their READ events share its partition.
//
// Publications (PostgreSQL 15): a table's column list and row filter apply to
// its copied rows exactly as to its streamed ones. Only the published columns
// are read (and marked key as pgoutput marks them), and the chunk query carries
// the row filter, as PostgreSQL's own table synchronization does
// (`COPY (SELECT cols FROM t WHERE filter)`). A column list that leaves out a
// key column leaves the table without a key to chunk by (keyless).
//
// Thread-safety: plain data and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/pg.h"
#include "common/status.h"
#include "transport/change_event.pb.h"

namespace ferry::capture {

struct SnapshotColumn {
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
  std::string type_name;  // format_type(oid, NULL), as the stream's events carry it
  bool is_key = false;
};

struct SnapshotTable {
  std::string schema, name;
  std::vector<SnapshotColumn> columns;  // attribute order, as pgoutput sends them
  std::vector<size_t> key_order;        // indexes into columns, in the key index's order; empty: keyless
  bool full_identity = false;           // REPLICA IDENTITY FULL: every column is "key", table-wide Kafka key
  double estimated_rows = 0;            // pg_class.reltuples; the planner's guess when never analyzed
  bool partitioned = false;             // a partitioned table (published via its root): read with its partitions
  std::string row_filter;               // the publication's WHERE expression (PostgreSQL 15); "" when none
  std::string Display() const { return schema + "." + name; }
  bool keyless() const { return key_order.empty(); }
};

// InvalidArgument unless `t` can be read between watermarks (incremental
// snapshots, resuming an interrupted copy): it needs a key, and not REPLICA
// IDENTITY FULL; `why` says what needed it.
Status RequireKey(const SnapshotTable& t, const std::string& why);

// Key values of a row in key_order, in text form: where a chunk ends.
using KeyValues = std::vector<std::string>;

// Loads one table; NotFound when it does not exist, InvalidArgument when it has
// neither a key to read it by nor REPLICA IDENTITY FULL.
Result<SnapshotTable> LoadSnapshotTable(const PgConn& conn, const std::string& schema,
                                        const std::string& table);
// One table as `publication` publishes it: LoadSnapshotTable's, restricted to
// the publication's column list, with its row filter. NotFound when the
// publication does not publish the table.
Result<SnapshotTable> LoadPublishedTable(const PgConn& conn, const std::string& publication,
                                         const std::string& schema, const std::string& table);
// Every table of the publication, each as LoadPublishedTable loads it.
Result<std::vector<SnapshotTable>> LoadPublicationTables(const PgConn& conn,
                                                          const std::string& publication);

// The chunk query: rows after the key in $1..$k (when after_key), up to and
// including the key in the next k parameters (when bounded: a part's upper
// bound, snapshot_plan.h), key order, at most `limit`. For a keyless table:
// the whole table, for a cursor.
std::string BuildChunkQuery(const SnapshotTable& table, bool after_key, int64_t limit, bool bounded = false);
// The same chunk as a `COPY (...) TO STDOUT`, which takes no parameters: its
// bounds are read from settings of the session that BuildChunkBoundsQuery
// sets, with the same values in the same order. (Session settings, not
// SET LOCAL's: outside a transaction those would be back to '' at the COPY,
// a valid bound for a text key.)
std::string BuildChunkCopy(const SnapshotTable& table, bool after_key, int64_t limit, bool bounded = false);
// `SELECT set_config(...)` of the first `bounds` settings BuildChunkCopy
// reads, from $1..$bounds.
std::string BuildChunkBoundsQuery(size_t bounds);
// A keyless table's rows on heap pages from the tid in $1 ("(page,0)") on, and
// before the tid in $2 when bounded: one part of it (snapshot_plan.h).
std::string BuildPageRangeQuery(const SnapshotTable& table, bool bounded);
// The tid "(page,0)" that starts a page range's bound (BuildPageRangeQuery's params).
std::string FirstTidOfPage(int64_t page);

// Row `row` of a chunk query's result, as a READ event (commit position not set)
// and its Kafka key.
ferry::v1::ChangeEvent ReadEventOf(const SnapshotTable& table, const PGresult* result, int row,
                                   const std::string& database);
// The same, into `e` (cleared first): a reused event keeps its columns' memory.
void FillReadEvent(const SnapshotTable& table, const PGresult* result, int row, const std::string& database,
                   ferry::v1::ChangeEvent& e);
std::string KafkaKeyOf(const SnapshotTable& table, const PGresult* result, int row);
// The rows of a chunk query's `result` as OP_READ_ROWS events (commit position
// not set), as a RowsEventWriter makes them: the columns without values, then
// up to transport::kRowBatchBytes of rows in COPY's text format
// (common/copy_text.h), LZ4-compressed here so that flow control counts what
// Kafka stores. `emit` gets each in turn; `text` is scratch, reused across calls.
Status ForEachRowsEvent(const SnapshotTable& table, const PGresult* result, const std::string& database,
                        std::string& text, const std::function<Status(ferry::v1::ChangeEvent&)>& emit);
KeyValues KeyOf(const SnapshotTable& table, const PGresult* result, int row);
// The key of a row in COPY's text format (one line, as COPY TO sends it):
// Corruption when it is not a row of the table's columns.
Result<KeyValues> KeyOfCopyRow(const SnapshotTable& table, std::string_view line);

// Rows in COPY's text format, appended one at a time to text(), as
// OP_READ_ROWS events of the table (commit position not set), each emitted
// once it holds transport::kRowBatchBytes of rows, the rest by Finish.
// `text` is the caller's scratch, reused across writers; `emit` may move
// from the event it is given.
class RowsEventWriter {
 public:
  RowsEventWriter(const SnapshotTable& table, const std::string& database, std::string& text,
                  std::function<Status(ferry::v1::ChangeEvent&)> emit);
  std::string& text() { return text_; }
  // One more row was appended to text().
  Status Added();
  Status Finish();

 private:
  Status Emit();

  std::string& text_;
  std::function<Status(ferry::v1::ChangeEvent&)> emit_;
  ferry::v1::ChangeEvent head_;  // the table and its columns, no rows
  uint32_t rows_ = 0;
};

}  // namespace ferry::capture
