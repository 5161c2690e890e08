// SnapshotReporter: the snapshot's progress: rows and tables done of the total
// (rows estimated from pg_class.reltuples), rows/s and ETA; the same figures as
// ferry_capture_snapshot_* gauges (common/ferry_metrics.h). Tables reported by
// name (AddTableRows) get a line each while they are being read: rows done of
// the estimate, percent, their own rows/s and ETA.
//
// Where it goes (--progress, common/logging.h): on a terminal, a status block
// under the log rewritten in place at most every `redraw`
// (common/status_block_sink.h), erased once every table is done, or when the
// reporter goes (then its last state is logged, so it stays on screen); else
// log lines every `interval`. A force logs the lines either way.
//
// Thread-safety: one thread; one reporter draws the block at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/logging.h"

namespace ferry::capture {

struct ReporterDisplay {
  StatusBlockSink* block = ProgressBlock();  // null: log lines
  std::chrono::milliseconds redraw{500};
  // Tests pass a fake clock.
  std::function<std::chrono::steady_clock::time_point()> now = std::chrono::steady_clock::now;
};

class SnapshotReporter {
 public:
  using Clock = std::chrono::steady_clock;
  using Display = ReporterDisplay;

  SnapshotReporter(std::string what, int64_t estimated_rows, int tables,
                   std::chrono::seconds interval = std::chrono::seconds(5), Display display = {});
  ~SnapshotReporter();
  SnapshotReporter(const SnapshotReporter&) = delete;
  SnapshotReporter& operator=(const SnapshotReporter&) = delete;

  void AddRows(int64_t rows) { rows_ += rows; }
  void TableDone() { ++tables_done_; }
  // A table joins the total with a fresh line (incremental snapshots learn
  // theirs one by one, and may read a table again).
  void AddTable(const std::string& name, int64_t estimated_rows);
  // A table that will not be finished (cancelled) leaves the total and its
  // line goes; the rows it read stay counted.
  void ForgetTable(const std::string& name);
  int64_t rows() const { return rows_; }
  // Per-table progress: `name`'s estimate, then rows as they are done.
  void SetTableEstimate(const std::string& name, int64_t estimated_rows);
  void AddTableRows(const std::string& name, int64_t rows);
  void TableDone(const std::string& name);
  // One line per table started and not done, in name order.
  std::vector<std::string> TableLines() const;
  // Shows the progress where it goes (above), at most as often as said there;
  // a force logs it now.
  void MaybeLog(bool force = false);
  std::string Summary() const;
  // Summary() and TableLines(), one per line.
  std::string Progress() const;

 private:
  struct Table {
    int64_t estimated = 0;
    int64_t rows = 0;
    bool done = false;
    Clock::time_point first{};  // when its first rows were done
  };
  bool Finished() const { return tables_ > 0 && tables_done_ >= tables_; }
  void Draw(bool force);
  void Log();

  std::map<std::string, Table> per_table_;
  std::string what_;
  int64_t estimated_rows_;
  int tables_;
  int tables_done_ = 0;
  int64_t rows_ = 0;
  std::chrono::seconds interval_;
  Display display_;
  Clock::time_point start_;
  Clock::time_point last_log_;
  Clock::time_point last_draw_{};
  bool drawn_ = false;  // the block shows this reporter's progress
};

}  // namespace ferry::capture
