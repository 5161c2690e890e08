#include "checkpoint/rocks_util.h"

#include <rocksdb/options.h>

#include <filesystem>
#include <system_error>

namespace ferry::checkpoint {

void PutBigEndian(std::string* out, uint64_t v, int width) {
  for (int shift = (width - 1) * 8; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint64_t GetBigEndian(std::string_view in) {
  uint64_t v = 0;
  for (char ch : in) v = (v << 8) | static_cast<uint8_t>(ch);
  return v;
}

Status FromRocks(const rocksdb::Status& s, const std::string& context) {
  if (s.ok()) return Status::OK();
  if (s.IsCorruption()) return Status::Corruption(context + ": " + s.ToString());
  return Status::IOError(context + ": " + s.ToString());
}

bool IsLockHeld(const rocksdb::Status& s) {
  if (!s.IsIOError()) return false;
  std::string msg = s.ToString();
  return msg.find("lock hold by current process") != std::string::npos ||
         (msg.find("While lock file") != std::string::npos &&
          (msg.find("temporarily unavailable") != std::string::npos ||
           msg.find("Permission denied") != std::string::npos));
}

Result<std::unique_ptr<rocksdb::DB>> OpenRocks(const std::string& dir, const std::string& what,
                                               bool lock_is_retriable) {
  FERRY_RETURN_IF_ERROR(MakeDirs(dir, what));
  rocksdb::Options options;
  options.create_if_missing = true;
  options.keep_log_file_num = 3;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (IsLockHeld(s)) {
    std::string msg = what + " directory " + dir + " is locked: another ferry process is using it (" +
                      s.ToString() + ")";
    return lock_is_retriable ? Status::Unavailable(msg) : Status::IOError(msg);
  }
  FERRY_RETURN_IF_ERROR(FromRocks(s, "opening " + what + " " + dir));
  return std::unique_ptr<rocksdb::DB>(raw);
}

Status MakeDirs(const std::string& dir, const std::string& what) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + what + " directory " + dir + ": " + ec.message());
  return Status::OK();
}

}  // namespace ferry::checkpoint
