#include "common/byte_reader.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace ferry {

Status ByteReader::Need(size_t n, const char* what) const {
  if (remaining() >= n) return Status::OK();
  return Status::Corruption("truncated input: " + std::string(what) + " needs " + std::to_string(n) +
                            " bytes at offset " + std::to_string(pos_) + ", " +
                            std::to_string(remaining()) + " left");
}

uint64_t ByteReader::ReadBigEndian(size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | std::to_integer<uint8_t>(bytes_[pos_ + i]);
  pos_ += n;
  return v;
}

std::string DescribeByte(uint8_t b) {
  char buf[8];
  if (b >= 0x20 && b < 0x7f) {
    std::snprintf(buf, sizeof buf, "'%c'", static_cast<char>(b));
  } else {
    std::snprintf(buf, sizeof buf, "0x%02x", b);
  }
  return buf;
}

Result<uint8_t> ByteReader::ReadU8() {
  FERRY_RETURN_IF_ERROR(Need(1, "u8"));
  return static_cast<uint8_t>(ReadBigEndian(1));
}
Result<uint16_t> ByteReader::ReadU16() {
  FERRY_RETURN_IF_ERROR(Need(2, "u16"));
  return static_cast<uint16_t>(ReadBigEndian(2));
}
Result<int16_t> ByteReader::ReadI16() {
  FERRY_RETURN_IF_ERROR(Need(2, "i16"));
  return static_cast<int16_t>(ReadBigEndian(2));
}
Result<uint32_t> ByteReader::ReadU32() {
  FERRY_RETURN_IF_ERROR(Need(4, "u32"));
  return static_cast<uint32_t>(ReadBigEndian(4));
}
Result<int32_t> ByteReader::ReadI32() {
  FERRY_RETURN_IF_ERROR(Need(4, "i32"));
  return static_cast<int32_t>(ReadBigEndian(4));
}
Result<uint64_t> ByteReader::ReadU64() {
  FERRY_RETURN_IF_ERROR(Need(8, "u64"));
  return ReadBigEndian(8);
}
Result<int64_t> ByteReader::ReadI64() {
  FERRY_RETURN_IF_ERROR(Need(8, "i64"));
  return static_cast<int64_t>(ReadBigEndian(8));
}

Result<std::string_view> ByteReader::ReadCString() {
  if (remaining() == 0) return Status::Corruption("missing string at offset " + std::to_string(pos_));
  const char* start = reinterpret_cast<const char*>(bytes_.data()) + pos_;
  const void* nul = std::memchr(start, '\0', remaining());
  if (nul == nullptr) {
    return Status::Corruption("unterminated string at offset " + std::to_string(pos_));
  }
  size_t len = static_cast<const char*>(nul) - start;
  pos_ += len + 1;
  return std::string_view(start, len);
}

Result<std::string_view> ByteReader::ReadBytes(size_t n) {
  FERRY_RETURN_IF_ERROR(Need(n, "byte string"));
  std::string_view out(reinterpret_cast<const char*>(bytes_.data()) + pos_, n);
  pos_ += n;
  return out;
}

std::string_view ByteReader::ReadRest() {
  std::string_view out(reinterpret_cast<const char*>(bytes_.data()) + pos_, remaining());
  pos_ = bytes_.size();
  return out;
}

}  // namespace ferry
