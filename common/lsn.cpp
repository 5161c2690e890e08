#include "common/lsn.h"

#include <charconv>
#include <cstdio>

namespace ferry {

namespace {
bool ParseHex32(std::string_view s, uint32_t* out) {
  if (s.empty() || s.size() > 8) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  return ec == std::errc() && p == s.data() + s.size();
}
}  // namespace

Result<Lsn> Lsn::Parse(std::string_view text) {
  auto slash = text.find('/');
  uint32_t hi = 0, lo = 0;
  if (slash == std::string_view::npos || !ParseHex32(text.substr(0, slash), &hi) ||
      !ParseHex32(text.substr(slash + 1), &lo)) {
    return Status::InvalidArgument("not an LSN (expected X/X in hex): '" + std::string(text) + "'");
  }
  return Lsn((uint64_t{hi} << 32) | lo);
}

std::string Lsn::ToString() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(v_ >> 32),
                static_cast<unsigned>(v_ & 0xffffffffu));
  return buf;
}

}  // namespace ferry
