// The messages that drive incremental snapshots, written into the source's WAL
// with pg_logical_emit_message(true, prefix, content), so they reach capture
// in the stream, in commit order with the changes around them:
//
//   prefix "ferry.signal":    {"slot":S,"action":"snapshot"|"cancel","tables":["s.t",..]}
//       written by `ferry snapshot`; the capture streaming slot S acts on it
//       (cancel with no tables cancels every queued table).
//   prefix "ferry.watermark": {"slot":S,"window":ID,"mark":"low"|"high"}
//       written by capture around each chunk it reads (snapshot_window.h).
//   prefix "ferry.recopy":    {"slot":S,"id":ID,"table":"s.t"}
//       written by capture before it copies a table again at a new consistent
//       point (snapshot_recopy.h); where the stream meets it, the copy goes.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ferry::capture {

inline constexpr char kSignalPrefix[] = "ferry.signal";
inline constexpr char kWatermarkPrefix[] = "ferry.watermark";
inline constexpr char kRecopyPrefix[] = "ferry.recopy";

struct SnapshotSignal {
  std::string slot;
  std::string action;               // "snapshot" or "cancel"
  std::vector<std::string> tables;  // "schema.table"
};

struct Watermark {
  std::string slot;
  std::string window;
  bool high = false;
};

struct RecopyMark {
  std::string slot;
  std::string id;
  std::string table;  // "schema.table"
};

std::string EncodeSignal(const SnapshotSignal& s);
Result<SnapshotSignal> DecodeSignal(std::string_view content);
std::string EncodeWatermark(const Watermark& w);
Result<Watermark> DecodeWatermark(std::string_view content);
std::string EncodeRecopyMark(const RecopyMark& m);
Result<RecopyMark> DecodeRecopyMark(std::string_view content);

}  // namespace ferry::capture
