#include "transport/commit_metadata.h"

#include <nlohmann/json.hpp>

namespace ferry::transport {

std::string EncodeAppliedPosition(const AppliedPosition& p) {
  return nlohmann::json{{"lsn", p.lsn.ToString()}, {"commit_time_us", p.commit_time_us}}.dump();
}

std::optional<AppliedPosition> DecodeAppliedPosition(std::string_view metadata) {
  nlohmann::json j = nlohmann::json::parse(metadata, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("lsn") || !j["lsn"].is_string() ||
      !j.contains("commit_time_us") || !j["commit_time_us"].is_number_integer()) {
    return std::nullopt;
  }
  Result<Lsn> lsn = Lsn::Parse(j["lsn"].get<std::string>());
  if (!lsn.ok()) return std::nullopt;
  return AppliedPosition{*lsn, j["commit_time_us"].get<int64_t>()};
}

}  // namespace ferry::transport
