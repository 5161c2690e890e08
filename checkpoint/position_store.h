// PositionStore: where each stage keeps the positions it resumes from.
//
// Apply keeps, per Kafka topic-partition, the next offset to read (one past the
// last event whose target transaction has committed). Capture keeps, per slot,
// the LSN it last confirmed to the source. Writes are durable when they return
// (RocksDB WriteBatch with sync=true): a kill -9 or power loss right after
// Put* returns cannot lose them.
//
// Apply also keeps, per topic-partition, the position of the last event it
// applied from it, written in the same batch as the offset: a partition whose
// producer retried a batch can hold an older event after a newer one (the dev
// broker does not deduplicate idempotent retries), and apply must never let
// such a replay revert a row, not even after a restart.
//
// RocksDB key layout (RocksPositionStore), all values fixed-width big-endian:
//   "apply/offset/<topic>\x00<partition as u32 BE>"  -> i64 next offset
//   "apply/applied/<topic>\x00<partition as u32 BE>" -> u64 commit LSN, u32 index in tx
//   "capture/lsn/<name>"                             -> u64 LSN
//   "capture/history/<name>"                         -> u64 system identifier,
//                                                       u32 timeline: the source
//                                                       history that LSN is on
//   "snapshot/<name>"                                -> opaque bytes (capture's
//                                                       snapshot progress, see
//                                                       capture/snapshot_progress.h)
//   "meta/<name>"                                    -> a small string (e.g. the
//                                                       Kafka cluster a stage last
//                                                       wrote to: kafka_cluster.h)
//
// Thread-safety: RocksPositionStore is safe for concurrent use; one process
// opens a given directory at a time (RocksDB's lock; a second Open fails with a
// clear error naming the directory).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/lsn.h"
#include "common/status.h"
#include "common/topic_partition.h"

namespace ferry::checkpoint {

// Where an event stands in the source's commit order: (commit LSN, index in
// its transaction). Unique per event, unlike an LSN alone.
struct EventPosition {
  Lsn commit_lsn;
  uint32_t index = 0;
  auto operator<=>(const EventPosition&) const = default;
};

// The history of a PostgreSQL system an LSN was read on (IDENTIFY_SYSTEM): its
// system identifier and timeline. An LSN means nothing on another system, nor
// past the point where the timeline it was read on forked.
struct SourceHistory {
  uint64_t system_id = 0;
  uint32_t timeline = 0;
  bool operator==(const SourceHistory&) const = default;
};

struct PartitionProgress {
  int64_t next_offset = 0;     // one past the last message handled
  EventPosition last_applied;  // the highest event position applied from it
};

class PositionStore {
 public:
  virtual ~PositionStore() = default;
  // nullopt when nothing was stored for tp.
  virtual Result<std::optional<int64_t>> GetOffset(const TopicPartition& tp) = 0;
  // Every offset in one atomic, synced write.
  virtual Status PutOffsets(const std::map<TopicPartition, int64_t>& next_offsets) = 0;
  virtual Result<std::map<TopicPartition, int64_t>> AllOffsets() = 0;
  // nullopt when nothing was stored for tp.
  virtual Result<std::optional<EventPosition>> GetLastApplied(const TopicPartition& tp) = 0;
  // Offsets and last applied positions, all in one atomic, synced write.
  virtual Status PutProgress(const std::map<TopicPartition, PartitionProgress>& progress) = 0;
  virtual Result<std::optional<Lsn>> GetLsn(const std::string& name) = 0;
  virtual Status PutLsn(const std::string& name, Lsn lsn) = 0;
  // The history the LSN of `name` is on; nullopt when none was stored (also for
  // an LSN stored by a ferry that did not record histories).
  virtual Result<std::optional<SourceHistory>> GetHistory(const std::string& name) = 0;
  // The LSN of `name` and its history, in one atomic, synced write. PutLsn
  // afterwards moves the LSN along the same history.
  virtual Status PutLsnWithHistory(const std::string& name, Lsn lsn, const SourceHistory& history) = 0;
  // Snapshot progress: every "snapshot/<name>" whose name starts with `prefix`.
  virtual Result<std::map<std::string, std::string>> GetSnapshotEntries(const std::string& prefix) = 0;
  // Sets (or, for nullopt, deletes) snapshot entries, all in one atomic, synced write.
  virtual Status PutSnapshotEntries(const std::map<std::string, std::optional<std::string>>& entries) = 0;
  // A small named value; nullopt when none was stored.
  virtual Result<std::optional<std::string>> GetMeta(const std::string& name) = 0;
  virtual Status PutMeta(const std::string& name, const std::string& value) = 0;
};

class RocksPositionStore : public PositionStore {
 public:
  // Creates `dir` (and parents) if missing.
  static Result<std::unique_ptr<RocksPositionStore>> Open(const std::string& dir);
  ~RocksPositionStore() override;

  Result<std::optional<int64_t>> GetOffset(const TopicPartition& tp) override;
  Status PutOffsets(const std::map<TopicPartition, int64_t>& next_offsets) override;
  Result<std::map<TopicPartition, int64_t>> AllOffsets() override;
  Result<std::optional<EventPosition>> GetLastApplied(const TopicPartition& tp) override;
  Status PutProgress(const std::map<TopicPartition, PartitionProgress>& progress) override;
  Result<std::optional<Lsn>> GetLsn(const std::string& name) override;
  Status PutLsn(const std::string& name, Lsn lsn) override;
  Result<std::optional<SourceHistory>> GetHistory(const std::string& name) override;
  Status PutLsnWithHistory(const std::string& name, Lsn lsn, const SourceHistory& history) override;
  Result<std::map<std::string, std::string>> GetSnapshotEntries(const std::string& prefix) override;
  Status PutSnapshotEntries(const std::map<std::string, std::optional<std::string>>& entries) override;
  Result<std::optional<std::string>> GetMeta(const std::string& name) override;
  Status PutMeta(const std::string& name, const std::string& value) override;

 private:
  struct Impl;
  explicit RocksPositionStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::checkpoint
