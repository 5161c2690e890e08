// Helpers shared by ferry's RocksDB stores (positions, failures): status
// mapping, the lock-held check, fixed-width big-endian encoding for keys that
// must sort numerically.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/status.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ferry::checkpoint {

void PutBigEndian(std::string* out, uint64_t v, int width);
// REQUIRES: in.size() <= 8.
uint64_t GetBigEndian(std::string_view in);

// Corruption for damaged data, IOError for anything else; OK for OK.
Status FromRocks(const rocksdb::Status& s, const std::string& context);

// RocksDB reports a held LOCK file as an IOError: "lock hold by current process"
// for a second handle in this process, "While lock file: ...: Resource
// temporarily unavailable" when another process holds it.
bool IsLockHeld(const rocksdb::Status& s);

// Opens (creating it if missing) the RocksDB at `dir` read-write. When another
// handle holds its lock: Unavailable if `lock_is_retriable`, else IOError, with
// a message naming `what` and the directory.
Result<std::unique_ptr<rocksdb::DB>> OpenRocks(const std::string& dir, const std::string& what,
                                               bool lock_is_retriable);

// Creates `dir` and its parents if missing.
Status MakeDirs(const std::string& dir, const std::string& what);

}  // namespace ferry::checkpoint
