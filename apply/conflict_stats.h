// ConflictStats: how many conflicts apply met, per target table, kind and
// resolution, counted once the batch holding them committed.
//
// A conflict is an event that did not fit what the target held:
//   insert_exists   an insert (or snapshot read) whose key already exists;
//   update_missing  an update whose row is missing;
//   delete_missing  a delete whose row is missing.
// Its resolution follows the conflict rule (apply/target_writer.h):
//   skipped      nothing written (rule none; every delete_missing);
//   overwritten  the target row replaced by the event's (replace, insert_exists);
//   merged       the event's columns written, the others kept (merge, insert_exists);
//   inserted     the missing row inserted from the event (replace/merge, update_missing).
//
// Thread-safety: every method may be called from any thread (a metrics
// exporter reads while apply writes).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace ferry::apply {

// What apply does when an event conflicts with the target (--conflict).
enum class ConflictRule { kNone, kReplace, kMerge };

enum class ConflictKind { kInsertExists, kUpdateMissing, kDeleteMissing };
enum class Resolution { kSkipped, kOverwritten, kMerged, kInserted };

std::string_view ConflictKindName(ConflictKind kind);  // "insert_exists", ...
std::string_view ResolutionName(Resolution resolution);  // "skipped", ...

struct ConflictCount {
  std::string table;  // "schema"."table", quoted
  ConflictKind kind;
  Resolution resolution;
  int64_t count = 0;
};

class ConflictStats {
 public:
  void Add(const std::string& table, ConflictKind kind, Resolution resolution, int64_t n = 1);
  // Every non-zero count, ordered by table, kind, resolution.
  std::vector<ConflictCount> Snapshot() const;
  int64_t Total() const;
  // `"app"."t" insert_exists/skipped=3, ...`; "none" when there were none.
  std::string Summary() const;

 private:
  using Key = std::tuple<std::string, ConflictKind, Resolution>;
  mutable std::mutex mu_;
  std::map<Key, int64_t> counts_;
  int64_t total_ = 0;
};

}  // namespace ferry::apply
