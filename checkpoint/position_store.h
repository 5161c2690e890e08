// PositionStore: where each stage keeps the positions it resumes from.
//
// Apply keeps, per Kafka topic-partition, the next offset to read (one past the
// last event whose target transaction has committed). Capture keeps, per slot,
// the LSN it last confirmed to the source. Writes are durable when they return
// (RocksDB WriteBatch with sync=true): a kill -9 or power loss right after
// Put* returns cannot lose them.
//
// RocksDB key layout (RocksPositionStore), all values fixed-width big-endian:
//   "apply/offset/<topic>\x00<partition as u32 BE>" -> i64 next offset
//   "capture/lsn/<name>"                            -> u64 LSN
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

class PositionStore {
 public:
  virtual ~PositionStore() = default;
  // nullopt when nothing was stored for tp.
  virtual Result<std::optional<int64_t>> GetOffset(const TopicPartition& tp) = 0;
  // Every offset in one atomic, synced write.
  virtual Status PutOffsets(const std::map<TopicPartition, int64_t>& next_offsets) = 0;
  virtual Result<std::map<TopicPartition, int64_t>> AllOffsets() = 0;
  virtual Result<std::optional<Lsn>> GetLsn(const std::string& name) = 0;
  virtual Status PutLsn(const std::string& name, Lsn lsn) = 0;
};

class RocksPositionStore : public PositionStore {
 public:
  // Creates `dir` (and parents) if missing.
  static Result<std::unique_ptr<RocksPositionStore>> Open(const std::string& dir);
  ~RocksPositionStore() override;

  Result<std::optional<int64_t>> GetOffset(const TopicPartition& tp) override;
  Status PutOffsets(const std::map<TopicPartition, int64_t>& next_offsets) override;
  Result<std::map<TopicPartition, int64_t>> AllOffsets() override;
  Result<std::optional<Lsn>> GetLsn(const std::string& name) override;
  Status PutLsn(const std::string& name, Lsn lsn) override;

 private:
  struct Impl;
  explicit RocksPositionStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::checkpoint
