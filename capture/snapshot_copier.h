// SnapshotCopier: the initial copy of a new slot's tables, inside the snapshot
// the slot exported when it was created.
//
//   workers (--snapshot-workers threads, one connection each, all in the
//   exported snapshot: REPEATABLE READ + SET TRANSACTION SNAPSHOT) take the
//   parts of the tables in turn (a big table is read in several parts, key or
//   page ranges: snapshot_plan.h) and read each in key-ordered chunks
//   (snapshot_table.h)
//   and turn each chunk into its events (rows in COPY's text format, LZ4:
//   the CPU-heavy part, done by the workers in parallel)
//     --bounded queue of chunks-->  the calling thread stamps their position
//   and produces them; per part, a chunk's progress is stored once it and every
//   earlier chunk of the part are acknowledged by Kafka. (With row_events the
//   calling thread builds a READ event per row from the chunk's rows.)
//
// Memory is bounded in bytes: the queue holds at most 2 x workers chunks and
// at most buffer_bytes of them as they will travel (a chunk larger than that
// waits alone), each worker holds one more while it encodes it or waits for
// its part's turn, and a chunk's rows are cut to about buffer_bytes /
// (2 x workers + 2) bytes, and to max_chunk_bytes (each worker sizes its next
// chunk by the rows it read so far), so wide rows cannot make 10,000-row
// chunks of hundreds of megabytes.
// Events carry the slot's consistent point as commit LSN and a running index,
// so the changes topic receives increasing (commit LSN, index) positions; each
// chunk is one unit, closed by an OP_END (change_event.proto), so apply
// applies a chunk whole. Every stream event comes after (its commit LSN is past
// the consistent point), and capture starts the stream only after Run returned,
// so a row's READ precedes its later changes.
//
// REQUIRES: the exporting replication connection stays open and idle while Run
// runs (the snapshot exists only as long as it does).
// Thread-safety: Run, OnAcked and the destructor on one thread (the producer's).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "capture/flow_control.h"
#include "capture/snapshot_plan.h"
#include "capture/snapshot_progress.h"
#include "capture/snapshot_queue.h"
#include "capture/snapshot_reporter.h"
#include "capture/snapshot_table.h"
#include "capture/status_publisher.h"
#include "common/lsn.h"
#include "transport/event_producer.h"

namespace ferry::capture {

struct CopyOptions {
  std::string conninfo;
  std::string snapshot_name;  // as CREATE_REPLICATION_SLOT .. EXPORT_SNAPSHOT returned it
  Lsn consistent_point;
  int64_t chunk_rows = 10000;
  int workers = 4;
  int64_t buffer_bytes = int64_t{64} << 20;  // rows waiting in the queue (--snapshot-buffer-bytes)
  std::string topic;  // the changes topic (transport::ChangesTopic)
  std::string database;
  uint64_t capture_session = 0;
  // A chunk's bytes at most, whatever buffer_bytes allows: flow control's bound
  // when it is on (it looks between chunks, and the dev broker keeps ~5 MiB).
  int64_t max_chunk_bytes = INT64_MAX;
  // One OP_READ event per row (--snapshot-events row) instead of a chunk's
  // rows in a few OP_READ_ROWS events (batch, the default).
  bool row_events = false;
  // Receives the copy's progress for `ferry lag`, "" once done; null: none.
  StatusPublisher* status = nullptr;
};

class SnapshotCopier {
 public:
  // Delivery tokens of snapshot events have this bit set; stream transactions' never do.
  static constexpr uint64_t kTokenBit = uint64_t{1} << 63;

  SnapshotCopier(CopyOptions options, std::vector<SnapshotTable> tables, SnapshotProgress& progress,
                 transport::EventProducer& producer, FlowControl* flow, const Status& delivery_error);
  ~SnapshotCopier();

  // Copies every table; returns once every event is acknowledged and recorded.
  // Plans on `plan_conn`, the caller's connection to the source opened with
  // kTextOutputOptions (not kSnapshotReadOptions: its sample of keys is sorted):
  // a backend of its own would cost the source tens of ms of CPU before the first row.
  Status Run(const PgConn& plan_conn);
  void OnAcked(uint64_t token);

 private:
  struct Chunk {
    size_t part = 0;
    int64_t rows = 0;
    KeyValues last_key;                          // its last row's key (keyed tables)
    std::vector<ferry::v1::ChangeEvent> events;  // its OP_READ_ROWS events (batch)
    PgResult result;                             // its rows (row_events only)
    bool last = false;                           // the part's final chunk
    size_t bytes = 0;                            // as it travels: the queue's measure
    int64_t read_bytes = 0;                      // as read: the next chunk's size
  };
  struct ChunkAck {
    uint64_t id = 0;
    int64_t pending = 0;
    int64_t rows = 0;
    int64_t events = 0;  // produced for it so far (its OP_END counts them)
    KeyValues last_key;
    bool last = false;
  };
  struct PartState {
    std::deque<ChunkAck> acks;  // produced, not yet recorded, in key order
    TableProgress progress;     // what is recorded
  };

  Status Plan(const PgConn& conn);
  void Worker();
  Status ReadParts();
  // A worker's next part: the next one no worker claimed, once it is its
  // table's turn or while the copy waits on reading (see turn_); none once
  // every part is claimed or the copy stops.
  std::optional<size_t> ClaimPart();
  // Reads part `index`; `next` gets the table's next part when the worker
  // claimed it on queueing this part's last chunk (PushInTurn).
  Status ReadPart(const PgConn& conn, size_t index, std::string& text, std::optional<size_t>& next);
  Status ReadKeylessPart(const PgConn& conn, size_t index, std::string& text, std::optional<size_t>& next);
  // Reads a keyed part's chunk into `chunk` (its part set) with `copy`
  // (BuildChunkCopy), after setting its `bounds`. `text`: the worker's scratch.
  Status ReadCopyChunk(const PgConn& conn, const std::string& copy, const std::vector<PgParam>& bounds,
                       Chunk& chunk, std::string& text);
  // Makes `chunk` (its part set) of the rows of a query's result.
  Status FillChunk(PgResult rows, Chunk& chunk, std::string& text);
  // Takes a chunk's OP_READ_ROWS events, as a RowsEventWriter emits them, into `chunk`.
  static std::function<Status(ferry::v1::ChangeEvent&)> CollectInto(Chunk& chunk);
  // Queues `chunk` once its part's turn has come (see turn_); false when the
  // copy stops. After a part's last chunk, claims the table's next part into
  // `next` if no worker took it yet.
  Result<bool> PushInTurn(Chunk chunk, std::optional<size_t>& next);
  // The producing thread waited `waited` for a chunk (not paused): updates
  // read_bound_ once per kReadBoundWindow.
  void MeasureReadBound(std::chrono::steady_clock::duration waited);
  // About how many bytes of rows a chunk holds.
  int64_t ChunkBytes() const;
  // Rows for the next chunk, from the last chunk's: `rows` rows of `bytes`
  // (`limit` rows asked).
  int64_t NextLimit(int64_t bytes, int64_t rows, int64_t limit) const;
  Status Produce(Chunk& chunk);
  // Stamps the consistent point, the session and the next index on `e`, and
  // produces it as part of `ack`'s chunk.
  Status ProduceEvent(ferry::v1::ChangeEvent& e, const std::string& key, ChunkAck& ack);
  Status RecordAcked();
  Status CheckErrors();

  CopyOptions o_;
  std::vector<SnapshotTable> tables_;
  SnapshotProgress& progress_;
  transport::EventProducer& producer_;
  FlowControl* flow_;
  const Status& delivery_error_;
  SnapshotReporter reporter_;

  std::unique_ptr<ByteBoundedQueue<Chunk>> queue_;
  std::vector<std::thread> threads_;
  std::vector<CopyPart> parts_;
  std::vector<int> parts_left_;        // per table: parts not done
  std::vector<int64_t> first_limit_;  // per table: rows of its parts' first chunks
  size_t next_part_ = 0;  // the first part no worker claimed; under turn_mu_
  std::atomic<bool> stopping_{false};
  // Per table: the part whose chunks go to Kafka now. A table's rows reach the
  // target in key order, part after part, as from one COPY of it: rows of
  // several key ranges at once make the target split its B-tree pages in the
  // middle (measured: primary key 52% larger, 16% more of its CPU). A worker
  // on a later part reads one chunk ahead and waits for its turn.
  //
  // Reading ahead pays only while the copy waits on reading: a later part is
  // claimed early only while read_bound_ (the producing thread waited for
  // chunks more than half of the last kReadBoundWindow; true at the start),
  // and otherwise by the worker that finished the part before it, so that
  // one server backend reads on while it keeps up. Each backend that reads
  // maps the shared buffers it touches anew, a page fault each: one backend
  // reading 1M rows cost the source 1.13 s of CPU and 16k faults, 4 taking
  // turns over 16 parts 1.44 s and 24k, on a 2-core VM whose faults are dear.
  std::vector<size_t> turn_;
  std::mutex turn_mu_;
  std::condition_variable turn_cv_;
  std::mutex error_mu_;
  Status worker_error_;

  std::vector<PartState> states_;  // per part
  std::unordered_map<uint64_t, ChunkAck*> in_flight_;
  uint64_t next_chunk_id_ = 0;
  static constexpr std::chrono::milliseconds kReadBoundWindow{200};
  std::atomic<bool> read_bound_{true};  // written by the producing thread only
  std::chrono::steady_clock::time_point window_start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration waited_{};
  uint64_t next_index_ = 0;
  size_t tables_done_ = 0;
  int64_t commit_time_us_ = 0;
  std::string buffer_;
};

}  // namespace ferry::capture
