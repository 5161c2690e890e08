#include "capture/snapshot_reporter.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/ferry_metrics.h"

namespace ferry::capture {

SnapshotReporter::SnapshotReporter(std::string what, int64_t estimated_rows, int tables,
                                   std::chrono::seconds interval)
    : what_(std::move(what)), estimated_rows_(estimated_rows), tables_(tables), interval_(interval) {}

std::string SnapshotReporter::Summary() const {
  double secs = std::chrono::duration<double>(Clock::now() - start_).count();
  double rate = secs > 0 ? static_cast<double>(rows_) / secs : 0;
  // reltuples is an estimate: never report fewer rows to go than are left in sight.
  int64_t total = std::max(estimated_rows_, rows_);
  std::string eta = rate > 0 ? fmt::format("{:.0f} s", static_cast<double>(total - rows_) / rate) : "unknown";
  return fmt::format("{}: {} of ~{} rows, {} of {} tables done, {:.0f} rows/s, ETA {}", what_, rows_, total,
                     tables_done_, tables_, rate, eta);
}

void SnapshotReporter::MaybeLog(bool force) {
  metrics::SnapshotProgress(what_, "rows").Set(static_cast<double>(rows_));
  metrics::SnapshotProgress(what_, "rows_estimated").Set(static_cast<double>(std::max(estimated_rows_, rows_)));
  metrics::SnapshotProgress(what_, "tables_done").Set(tables_done_);
  metrics::SnapshotProgress(what_, "tables").Set(tables_);
  if (!force && Clock::now() - last_log_ < interval_) return;
  last_log_ = Clock::now();
  spdlog::info("{}", Summary());
}

}  // namespace ferry::capture
