#include "transport/commit_metadata.h"

#include <nlohmann/json.hpp>

namespace ferry::transport {

namespace {

std::optional<AppliedPosition> ParseApplied(const nlohmann::json& j) {
  auto lsn_field = j.find("lsn");
  auto time_field = j.find("commit_time_us");
  if (lsn_field == j.end() || !lsn_field->is_string()) return std::nullopt;
  if (time_field == j.end() || !time_field->is_number_integer()) return std::nullopt;
  Result<Lsn> lsn = Lsn::Parse(lsn_field->get<std::string>());
  if (!lsn.ok()) return std::nullopt;
  return AppliedPosition{*lsn, time_field->get<int64_t>()};
}

}  // namespace

std::string EncodeCommitMetadata(const CommitMetadata& m) {
  nlohmann::json j = nlohmann::json::object();
  if (m.applied) {
    j["lsn"] = m.applied->lsn.ToString();
    j["commit_time_us"] = m.applied->commit_time_us;
  }
  if (m.read_offset) j["read_offset"] = *m.read_offset;
  return j.dump();
}

CommitMetadata DecodeCommitMetadata(std::string_view metadata) {
  nlohmann::json j = nlohmann::json::parse(metadata, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return {};
  CommitMetadata m;
  bool has_applied = j.contains("lsn") || j.contains("commit_time_us");
  m.applied = ParseApplied(j);
  if (has_applied && !m.applied) return {};  // half or mistyped: not ours
  if (auto read = j.find("read_offset"); read != j.end()) {
    if (!read->is_number_integer() || read->get<int64_t>() < 0) return {};
    m.read_offset = read->get<int64_t>();
  }
  return m;
}

std::string EncodeAppliedPosition(const AppliedPosition& p) { return EncodeCommitMetadata({p, std::nullopt}); }

std::optional<AppliedPosition> DecodeAppliedPosition(std::string_view metadata) {
  return DecodeCommitMetadata(metadata).applied;
}

}  // namespace ferry::transport
