// SnapshotReporter: the snapshot's progress line in the log: rows and tables
// done of the total (rows estimated from pg_class.reltuples), rows/s and ETA;
// the same figures as ferry_capture_snapshot_* gauges (common/ferry_metrics.h).
//
// Thread-safety: one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ferry::capture {

class SnapshotReporter {
 public:
  SnapshotReporter(std::string what, int64_t estimated_rows, int tables,
                   std::chrono::seconds interval = std::chrono::seconds(5));
  void AddRows(int64_t rows) { rows_ += rows; }
  void TableDone() { ++tables_done_; }
  // A table joins the total (incremental snapshots learn theirs one by one).
  void AddTable(int64_t estimated_rows) {
    ++tables_;
    estimated_rows_ += estimated_rows;
  }
  int64_t rows() const { return rows_; }
  // Logs at most once per interval, or now when forced.
  void MaybeLog(bool force = false);
  std::string Summary() const;

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_;
  int64_t estimated_rows_;
  int tables_;
  int tables_done_ = 0;
  int64_t rows_ = 0;
  std::chrono::seconds interval_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_log_ = Clock::now();
};

}  // namespace ferry::capture
