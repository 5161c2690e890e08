// IncrementalSnapshot: snapshots tables while the stream keeps flowing, chunk
// by chunk between watermarks (DBLog; snapshot_window.h), without locks.
//
// Tables are queued by a signal in the stream (`ferry snapshot`, see
// snapshot_signal.h), or by capture itself to finish an initial copy whose
// exported snapshot is gone. The capture loop calls:
//   MaybeStartChunk()        when it may read more: if a table is queued and no
//                            window is open, writes the low watermark, selects the
//                            next chunk (keyset, after the last key), writes the
//                            high watermark (each its own source transaction);
//   OnTransactionalMessage() from EventBuilder: signals; watermarks (at the high
//                            one the chunk's surviving rows are published as READ
//                            events of the watermark's transaction);
//   OnStreamEvent()          for every published change (drops rows of the open
//                            chunk; see snapshot_window.h for why from the select on);
//   RecordConfirmed(lsn)     once lsn is confirmable: progress of chunks whose
//                            watermark transaction committed before it (hence
//                            acknowledged by Kafka) is stored in RocksDB.
// Its progress (SnapshotReporter) goes to the log and, for `ferry lag`, to
// capture's status (StatusPublisher), until nothing is queued.
// After a restart the stream resends the unconfirmed watermarks; they belong
// to no open window and are ignored, and the chunk is read again.
//
// Thread-safety: one thread (the capture loop).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "capture/event_builder.h"
#include "capture/snapshot_progress.h"
#include "capture/snapshot_reporter.h"
#include "capture/snapshot_table.h"
#include "capture/snapshot_window.h"
#include "capture/status_publisher.h"
#include "common/pg.h"

namespace ferry::capture {

struct IncrementalOptions {
  std::string conninfo;
  std::string slot;
  std::string publication;  // its column lists and row filters apply to the chunks
  std::string database;
  int64_t chunk_rows = 10000;
  // Fault injection for tests: a pause between a chunk's select and its high
  // watermark, which widens the window in which a change must drop a row
  // (environment FERRY_SNAPSHOT_WINDOW_DELAY_MS).
  std::chrono::milliseconds window_delay{0};
  // Where its progress goes for `ferry lag`; null: nowhere. Outlives it.
  StatusPublisher* status = nullptr;
};

class IncrementalSnapshot : public MessageListener {
 public:
  IncrementalSnapshot(IncrementalOptions options, SnapshotProgress& progress);
  // REQUIRES: set before the stream is read.
  void set_builder(EventBuilder* builder) { builder_ = builder; }

  // Queues the tables whose progress says they are not done, but those in
  // `elsewhere` ("schema.table": copied again another way, snapshot_recopy.h).
  Status Load(const std::set<std::string>& elsewhere = {});
  // Tables queued or a chunk in its window.
  bool busy() const { return !queue_.empty() || window_.active(); }
  Status MaybeStartChunk();
  Status OnTransactionalMessage(const LogicalMessage& m) override;
  // nullopt, or the event completed to publish instead (snapshot_window.h).
  std::optional<ferry::v1::ChangeEvent> OnStreamEvent(const ferry::v1::ChangeEvent& e, const std::string& key);
  Status RecordConfirmed(Lsn confirmed);

 private:
  struct Pending {
    Lsn commit_lsn;  // of the high watermark's transaction
    TableProgress progress;
  };
  Status Connect();
  Status EmitWatermark(const std::string& window, bool high);
  Status HandleSignal(std::string_view content);
  Status HandleHigh(const std::string& window);
  Status Enqueue(const std::string& name);
  Status Cancel(const std::vector<std::string>& names);
  Status DropFront(const std::string& why);
  // Publishes the progress; once nothing is queued, "" and a fresh count for
  // the next snapshot.
  void Report();

  IncrementalOptions o_;
  SnapshotProgress& progress_;
  EventBuilder* builder_ = nullptr;
  PgConn conn_;
  std::deque<TableProgress> queue_;  // front: the table being read
  std::optional<SnapshotTable> front_table_;
  WatermarkWindow window_;
  bool chunk_last_ = false;
  std::optional<KeyValues> chunk_last_key_;
  uint64_t windows_ = 0;
  std::deque<Pending> pending_;
  std::optional<SnapshotReporter> reporter_;
};

}  // namespace ferry::capture
