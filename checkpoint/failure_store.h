// FailureStore: the events apply could not apply, parked until the reconciler
// replays them or an operator drops them. Nothing leaves it any other way.
//
// A record is one Kafka message: an event of a unit (a source transaction) the
// target rejected, or of a unit parked behind such a unit because it changes
// one of its rows, or a message that is not a ChangeEvent at all ("garbage",
// kept with its raw bytes). The records of one unit share its `unit` and are
// replayed together, in one target transaction. Each record gets an id,
// increasing in park order, which is the replay order of units.
//
// Durability: every write is one RocksDB WriteBatch with sync=true, so a record
// is on disk before apply stores a position past its message. Parking is
// idempotent per source message (topic, partition, offset): apply re-reading a
// batch after a crash does not park a message twice.
//
// Concurrency: RocksDB admits one writer per directory. Open() takes the lock
// (Unavailable when another process holds it); OpenReadOnly() opens a
// secondary instance that reads what the writer has written, without the lock,
// so `ferry failures list|show` work while apply runs. Writes through a
// read-only store fail with InvalidArgument.
//
// Key layout (integers fixed-width big-endian, so keys sort numerically):
//   "f/<id u64>"                                   -> record (EncodeRecord)
//   "o/<len u32><topic><partition u32><offset u64>" -> id (the park-once index)
//   "m/next_id"                                    -> u64
//
// Thread-safety: one thread uses a FailureStore.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/topic_partition.h"

namespace ferry::checkpoint {

struct ParkedEvent {
  enum class Kind : uint8_t { kEvent = 1, kGarbage = 2 };
  uint64_t id = 0;  // assigned by Park
  Kind kind = Kind::kEvent;
  // Records with the same row are replayed in id order, each only after the
  // ones before it. Opaque to the store (apply/parking.h builds it).
  std::string row;
  std::string description;  // for people: operation, table, key, commit LSN
  TopicPartition source;    // where the message was read
  int64_t offset = -1;
  std::string payload;  // the serialized ChangeEvent, or the raw message bytes
  std::string error;    // the last error
  uint32_t attempts = 0;
  int64_t first_seen_us = 0;  // wall clock, microseconds since the epoch
  int64_t last_seen_us = 0;
  // The unit the event belongs to: the offset of its first message (records
  // of one unit share it; the unit's OP_END is parked last). -1: a record of
  // its own (garbage, and records parked by earlier versions).
  int64_t unit = -1;
};

class FailureStore {
 public:
  // Read-write; creates `dir` if missing. Unavailable when another process has
  // it open for writing.
  static Result<std::unique_ptr<FailureStore>> Open(const std::string& dir);
  // A read-only view of a store another process may be writing. `scratch_dir`
  // holds the secondary instance's own files (removed by the caller).
  // NotFound when no store exists at `dir`.
  static Result<std::unique_ptr<FailureStore>> OpenReadOnly(const std::string& dir,
                                                            const std::string& scratch_dir);
  ~FailureStore();

  // Parks `records` in order, in one synced write, assigning their ids. A
  // record whose (source, offset) is already parked is not parked again; it
  // gets the existing id.
  Status Park(std::vector<ParkedEvent>* records);
  // Every record, in id order.
  Result<std::vector<ParkedEvent>> List();
  // NotFound when no record has `id`.
  Result<ParkedEvent> Get(uint64_t id);
  // Notes a failed replay: attempts + 1, the error, last seen.
  Status RecordAttempt(uint64_t id, const std::string& error, int64_t now_us);
  // Removes a record (replayed or dropped). NotFound when absent.
  Status Remove(uint64_t id);
  // Removes records in one synced write (a unit's, once replayed).
  Status Remove(const std::vector<uint64_t>& ids);

  // Whether any record of `row` is parked; and of any row starting with
  // `prefix`. From memory, kept in step with the writes.
  bool IsParked(std::string_view row) const;
  bool AnyParkedWithPrefix(std::string_view prefix) const;
  // How many records are parked (for metrics).
  uint64_t Count() const { return count_; }
  const std::string& dir() const { return dir_; }

 private:
  struct Db;
  FailureStore(std::string dir, std::unique_ptr<Db> db, bool read_only);
  Status Load();
  Status CheckWritable() const;
  Status Write(void* batch, const std::string& what);

  std::string dir_;
  std::unique_ptr<Db> db_;
  bool read_only_;
  uint64_t next_id_ = 1;
  uint64_t count_ = 0;
  std::map<std::string, uint64_t, std::less<>> rows_;  // row -> records parked
};

// The record's bytes: u8 version, u8 kind, then row, description, topic,
// payload, error as u32-length-prefixed strings, then i32 partition, i64
// offset, u32 attempts, i64 first seen, i64 last seen, i64 unit (version 2).
// The id is in the key.
std::string EncodeRecord(const ParkedEvent& r);
Result<ParkedEvent> DecodeRecord(std::string_view bytes);

}  // namespace ferry::checkpoint
