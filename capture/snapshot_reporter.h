// SnapshotReporter: the snapshot's progress line in the log: rows and tables
// done of the total (rows estimated from pg_class.reltuples), rows/s and ETA;
// the same figures as ferry_capture_snapshot_* gauges (common/ferry_metrics.h).
// Tables reported by name (AddTableRows) get a line each while they are being
// read: rows done of the estimate, percent, their own rows/s and ETA.
//
// Thread-safety: one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

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
  // Per-table progress: `name`'s estimate, then rows as they are done.
  void SetTableEstimate(const std::string& name, int64_t estimated_rows);
  void AddTableRows(const std::string& name, int64_t rows);
  void TableDone(const std::string& name);
  // One line per table started and not done, in name order.
  std::vector<std::string> TableLines() const;
  // Logs at most once per interval, or now when forced.
  void MaybeLog(bool force = false);
  std::string Summary() const;
  // Summary() and TableLines(), one per line.
  std::string Progress() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Table {
    int64_t estimated = 0;
    int64_t rows = 0;
    bool done = false;
    Clock::time_point first{};  // when its first rows were done
  };
  std::map<std::string, Table> per_table_;
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
