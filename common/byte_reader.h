// ByteReader: the one bounds-checked cursor every binary protocol in ferry is
// parsed through (pgoutput, the replication stream's CopyData framing).
//
// Each Read* call either returns a value and advances, or returns Corruption and
// leaves the cursor where it was. Nothing here can read past the end: lengths read
// off the wire are checked against remaining() before use. Integers are network
// byte order (big-endian), as PostgreSQL sends them.
//
// Thread-safety: none; one reader per message. The underlying bytes must outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ferry {

class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  explicit ByteReader(std::string_view bytes)
      : bytes_(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()) {}

  size_t remaining() const { return bytes_.size() - pos_; }
  size_t position() const { return pos_; }
  bool AtEnd() const { return remaining() == 0; }

  Result<uint8_t> ReadU8();
  Result<int16_t> ReadI16();
  Result<uint16_t> ReadU16();
  Result<int32_t> ReadI32();
  Result<uint32_t> ReadU32();
  Result<int64_t> ReadI64();
  Result<uint64_t> ReadU64();
  // A NUL-terminated string; the NUL is consumed, not returned.
  Result<std::string_view> ReadCString();
  // Exactly n bytes.
  Result<std::string_view> ReadBytes(size_t n);
  // The rest of the input.
  std::string_view ReadRest();

 private:
  Status Need(size_t n, const char* what) const;
  uint64_t ReadBigEndian(size_t n);

  std::span<const std::byte> bytes_;
  size_t pos_ = 0;
};

// A byte for error messages: 'X' when printable, 0xNN otherwise.
std::string DescribeByte(uint8_t b);

}  // namespace ferry
