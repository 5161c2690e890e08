// Lsn: a PostgreSQL WAL position. Parsed from "X/X" once, at the edge; compared
// and stored as a 64-bit integer everywhere else.
#pragma once

#include <compare>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ferry {

class Lsn {
 public:
  constexpr Lsn() = default;
  constexpr explicit Lsn(uint64_t v) : v_(v) {}
  constexpr uint64_t value() const { return v_; }
  constexpr bool IsValid() const { return v_ != 0; }
  constexpr auto operator<=>(const Lsn&) const = default;

  // "16/B374D848" -> Lsn. Rejects anything else with InvalidArgument.
  static Result<Lsn> Parse(std::string_view text);
  // Lsn -> "16/B374D848", the form PostgreSQL prints and accepts.
  std::string ToString() const;

 private:
  uint64_t v_ = 0;
};

// A PostgreSQL transaction id as sent by pgoutput (32 bits, no epoch).
// Prints "X/X" (test failure messages, logs).
inline std::ostream& operator<<(std::ostream& os, const Lsn& lsn) { return os << lsn.ToString(); }

class Xid {
 public:
  constexpr Xid() = default;
  constexpr explicit Xid(uint32_t v) : v_(v) {}
  constexpr uint32_t value() const { return v_; }
  constexpr auto operator<=>(const Xid&) const = default;

 private:
  uint32_t v_ = 0;
};

}  // namespace ferry
