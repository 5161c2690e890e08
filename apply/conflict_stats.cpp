#include "apply/conflict_stats.h"

#include "common/ferry_metrics.h"

#include <tuple>

namespace ferry::apply {

std::string_view ConflictKindName(ConflictKind kind) {
  switch (kind) {
    case ConflictKind::kInsertExists: return "insert_exists";
    case ConflictKind::kUpdateMissing: return "update_missing";
    case ConflictKind::kDeleteMissing: return "delete_missing";
  }
  return "unknown";
}

std::string_view ResolutionName(Resolution resolution) {
  switch (resolution) {
    case Resolution::kSkipped: return "skipped";
    case Resolution::kOverwritten: return "overwritten";
    case Resolution::kMerged: return "merged";
    case Resolution::kInserted: return "inserted";
  }
  return "unknown";
}

void ConflictStats::Add(const std::string& table, ConflictKind kind, Resolution resolution,
                        int64_t n) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    counts_[{table, kind, resolution}] += n;
    total_ += n;
  }
  // The metric's table label is schema.table, as ferry_apply_events_total's.
  std::string label;
  for (char c : table) {
    if (c != '"') label += c;
  }
  metrics::Conflicts(label, std::string(ConflictKindName(kind)), std::string(ResolutionName(resolution)))
      .Increment(n);
}

std::vector<ConflictCount> ConflictStats::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ConflictCount> out;
  out.reserve(counts_.size());
  for (const auto& [key, n] : counts_) {
    out.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), n});
  }
  return out;
}

int64_t ConflictStats::Total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

std::string ConflictStats::Summary() const {
  std::string out;
  for (const auto& c : Snapshot()) {
    if (!out.empty()) out += ", ";
    out += c.table + " " + std::string(ConflictKindName(c.kind)) + "/" +
           std::string(ResolutionName(c.resolution)) + "=" + std::to_string(c.count);
  }
  return out.empty() ? "none" : out;
}

}  // namespace ferry::apply
