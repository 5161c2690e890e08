#include "reconcile/validate_diff.h"

#include <algorithm>
#include <unordered_map>

namespace ferry::reconcile {

namespace {

struct Seen {
  int source = 0;
  int target = 0;
  const RowDigest* first_source = nullptr;
  const RowDigest* first_target = nullptr;
};

void Append(std::vector<RowMismatch>* out, const KeyValues& key, RowProblem p, int times) {
  for (int i = 0; i < times; ++i) out->push_back({key, p});
}

Result<std::vector<RowMismatch>> FetchAndDiff(const PgConn& source, const PgConn& target,
                                              const ValidatedTable& t, const KeyRange& range) {
  FERRY_ASSIGN_OR_RETURN(auto src, FetchRowDigests(source, t, range));
  FERRY_ASSIGN_OR_RETURN(auto tgt, FetchRowDigests(target, t, range));
  return DiffDigests(src, tgt);
}

}  // namespace

const char* RowProblemName(RowProblem p) {
  switch (p) {
    case RowProblem::kMissing: return "missing";
    case RowProblem::kExtra: return "extra";
    case RowProblem::kDifferent: return "different";
  }
  return "?";
}

std::vector<RowMismatch> DiffDigests(const std::vector<RowDigest>& source,
                                     const std::vector<RowDigest>& target) {
  std::unordered_map<std::string, Seen> seen;
  seen.reserve(source.size() + target.size());
  for (const auto& d : source) {
    Seen& s = seen[KeyId(d.key)];
    if (s.source++ == 0) s.first_source = &d;
  }
  for (const auto& d : target) {
    Seen& s = seen[KeyId(d.key)];
    if (s.target++ == 0) s.first_target = &d;
  }
  std::vector<RowMismatch> out;
  for (const auto& d : source) {
    const Seen& s = seen[KeyId(d.key)];
    if (s.first_source != &d) continue;
    if (s.target == 0 || s.source > s.target) Append(&out, d.key, RowProblem::kMissing, s.source - s.target);
    if (s.target > 0 && s.first_target->md5 != d.md5) Append(&out, d.key, RowProblem::kDifferent, 1);
  }
  for (const auto& d : target) {
    const Seen& s = seen[KeyId(d.key)];
    if (s.first_target == &d && s.target > s.source) {
      Append(&out, d.key, RowProblem::kExtra, s.target - s.source);
    }
  }
  return out;
}

Result<std::vector<RowMismatch>> NarrowRange(const PgConn& source, const PgConn& target,
                                             const ValidatedTable& t, const KeyRange& range,
                                             const ChunkDigest& source_digest,
                                             const ChunkDigest& target_digest,
                                             const NarrowOptions& options) {
  int64_t larger = std::max(source_digest.rows, target_digest.rows);
  if (!t.HasKey() || larger <= options.fetch_rows) return FetchAndDiff(source, target, t, range);
  const PgConn& sampled = source_digest.rows >= target_digest.rows ? source : target;
  int64_t every = std::max<int64_t>(1, (larger + options.fanout - 1) / options.fanout);
  FERRY_ASSIGN_OR_RETURN(auto boundaries, SampleBoundaries(sampled, t, range, every));
  if (boundaries.empty()) return FetchAndDiff(source, target, t, range);
  std::vector<RowMismatch> out;
  for (const KeyRange& sub : SplitRange(range, boundaries)) {
    FERRY_ASSIGN_OR_RETURN(ChunkDigest s, HashChunk(source, t, sub));
    FERRY_ASSIGN_OR_RETURN(ChunkDigest d, HashChunk(target, t, sub));
    if (s == d) continue;
    FERRY_ASSIGN_OR_RETURN(auto rows, NarrowRange(source, target, t, sub, s, d, options));
    out.insert(out.end(), rows.begin(), rows.end());
  }
  return out;
}

Result<std::vector<RowMismatch>> RecheckRows(const PgConn& source, const PgConn& target,
                                             const ValidatedTable& t,
                                             const std::vector<RowMismatch>& rows) {
  if (rows.empty()) return rows;
  if (!t.HasKey()) return FetchAndDiff(source, target, t, KeyRange{});
  std::vector<KeyValues> keys;
  for (const auto& r : rows) keys.push_back(r.key);
  FERRY_ASSIGN_OR_RETURN(auto src, FetchRowDigestsByKey(source, t, keys));
  FERRY_ASSIGN_OR_RETURN(auto tgt, FetchRowDigestsByKey(target, t, keys));
  // Listed in the order first reported (the lookups return rows in any order).
  std::unordered_map<std::string, RowProblem> still;
  for (const auto& m : DiffDigests(src, tgt)) still.emplace(KeyId(m.key), m.problem);
  std::vector<RowMismatch> out;
  for (const auto& r : rows) {
    auto it = still.find(KeyId(r.key));
    if (it != still.end()) out.push_back({r.key, it->second});
  }
  return out;
}

}  // namespace ferry::reconcile
