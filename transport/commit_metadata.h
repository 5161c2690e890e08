// What apply writes into the metadata of each offset it commits to the consumer
// group: the position of the last applied transaction on that partition. It
// lets `ferry lag` (another process) report the last applied LSN and commit
// time without opening apply's RocksDB (one writer only).
//
//   {"lsn":"0/16B3F48","commit_time_us":1700000000000000}
//
// lsn is the LSN of the transaction's commit record (ChangeEvent.commit_lsn, what
// pgoutput's BEGIN announces), so it is below the slot's confirmed_flush_lsn
// once confirmed. Kafka keeps the string with the offset
// (offset.metadata.max.bytes, 4096 by default).
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

std::string EncodeAppliedPosition(const AppliedPosition& p);
// nullopt for metadata ferry did not write (empty, another tool's, malformed).
std::optional<AppliedPosition> DecodeAppliedPosition(std::string_view metadata);

}  // namespace ferry::transport
