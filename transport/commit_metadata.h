// What apply writes into the metadata of each offset it commits to the consumer
// group: the position of the last applied transaction on that partition and,
// while it is ahead of the committed offset, how far apply has read. It lets
// `ferry lag` and capture's flow control (other processes) see apply's progress
// without opening apply's RocksDB (one writer only).
//
//   {"lsn":"0/16B3F48","commit_time_us":1700000000000000}
//   {"lsn":"0/16B3F48","commit_time_us":1700000000000000,"read_offset":90210}
//   {"read_offset":90210}                      (read, nothing applied yet)
//
// lsn is the LSN of the transaction's commit record (ChangeEvent.commit_lsn, what
// pgoutput's BEGIN announces), so it is below the slot's confirmed_flush_lsn
// once confirmed. read_offset is the next offset apply will read: while apply
// streams one very large source transaction into one open target transaction,
// the committed offset (where apply resumes) stays at the transaction's start,
// yet the events up to read_offset are already consumed. Flow control counts the
// backlog from max(committed offset, read_offset); `ferry lag` counts events not
// yet applied from the committed offset. Kafka keeps the string with the offset
// (offset.metadata.max.bytes, 4096 by default).
//
// Compatibility: every field is optional on decode; metadata written before
// read_offset existed decodes as before. Unknown fields are ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/lsn.h"

namespace ferry::transport {

struct AppliedPosition {
  Lsn lsn;
  int64_t commit_time_us = 0;  // source commit time, microseconds since the Unix epoch
};

struct CommitMetadata {
  std::optional<AppliedPosition> applied;  // the last applied transaction on the partition
  std::optional<int64_t> read_offset;      // next offset apply reads; >= 0
  bool empty() const { return !applied && !read_offset; }
};

std::string EncodeCommitMetadata(const CommitMetadata& m);
// Empty (no field set) for metadata ferry did not write: empty, another tool's,
// malformed, or a field of the wrong type.
CommitMetadata DecodeCommitMetadata(std::string_view metadata);

// The applied position alone (what apply has always written).
std::string EncodeAppliedPosition(const AppliedPosition& p);
// nullopt when the metadata holds no applied position.
std::optional<AppliedPosition> DecodeAppliedPosition(std::string_view metadata);

}  // namespace ferry::transport
