// InsertBatcher: a run of inserts into one table, inside one source
// transaction, as OP_INSERT_ROWS events (change_event.proto) instead of an
// event per row.
//
// A large transaction is mostly such runs (a bulk INSERT .. SELECT, a COPY, a
// batch job), and one event per row costs a protobuf message with a string per
// column, a Kafka message, and apply's decoding of both, for every row. In a
// batch the rows travel as COPY's text format, the form apply's COPY takes.
//
// A run's first min_rows inserts are kept as ordinary events: a short run (the
// common small transaction) is sent as it would have been, one event per row,
// so consumers see batches only where they pay. Rows whose values reach
// transport::kRowBatchBytes before that open the batch sooner (a large row
// travels as a batch of its own, compressed), which bounds what is kept. Once a run reaches min_rows,
// its rows so far and every later one go into batches of about
// transport::kRowBatchBytes. Anything else the transaction publishes first
// has the builder Flush() what is kept, so events keep their order.
//
// Thread-safety: none; EventBuilder owns it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "capture/pgoutput_decoder.h"
#include "common/lsn.h"
#include "common/status.h"
#include "transport/change_event.pb.h"

namespace ferry::capture {

class InsertBatcher {
 public:
  // Publishes one event, as of WAL position `lsn` (its own, not the message
  // being decoded when a flush happens).
  using Emit = std::function<Status(const std::string& key, ferry::v1::ChangeEvent& e, Lsn lsn)>;

  InsertBatcher(size_t min_rows, Emit emit) : min_rows_(min_rows), emit_(std::move(emit)) {}

  // Whether the next insert of relation `oid` goes into the open batch
  // (AppendRow), with no event of its own to build.
  bool Extends(uint32_t oid) const { return batch_open_ && oid_ == oid; }
  // Adds a row of the open batch (REQUIRES: Extends); a full batch is sent.
  // Every value is text or null.
  Status AppendRow(const Tuple& row, Lsn lsn);
  // Keeps one insert of relation `oid` (`e`, moved from; every value text or
  // null) with its Kafka key, sending first an open batch, or what is kept of
  // another table's run. The run's min_rows-th insert opens its batch;
  // `table_key` is the batch's key.
  Status Keep(uint32_t oid, const std::string& table_key, std::string key, ferry::v1::ChangeEvent&& e, Lsn lsn);
  // Sends what is kept, in order: the open batch's rows, or the run's inserts
  // one event each. The next insert starts a new run.
  Status Flush();
  bool empty() const { return !batch_open_ && kept_.empty(); }

 private:
  struct Kept {
    std::string key;
    ferry::v1::ChangeEvent event;
    Lsn lsn;
  };
  Status OpenBatch();
  Status SendBatch();

  size_t min_rows_;
  Emit emit_;
  uint32_t oid_ = 0;  // of the run being kept, or batched
  std::string table_key_;
  std::vector<Kept> kept_;
  size_t kept_bytes_ = 0;  // of kept_'s values
  // The open batch: its columns (without values), rows not sent yet, and the first's position.
  // (kept_bytes_ counts the kept rows' values.)
  bool batch_open_ = false;
  ferry::v1::ChangeEvent head_;
  std::string text_;
  uint32_t rows_ = 0;
  Lsn first_lsn_;
};

}  // namespace ferry::capture
