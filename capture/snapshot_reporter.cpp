#include "capture/snapshot_reporter.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/ferry_metrics.h"

namespace ferry::capture {

SnapshotReporter::SnapshotReporter(std::string what, int64_t estimated_rows, int tables,
                                   std::chrono::seconds interval, Display display)
    : what_(std::move(what)),
      estimated_rows_(estimated_rows),
      tables_(tables),
      interval_(interval),
      display_(std::move(display)),
      start_(display_.now()),
      last_log_(start_) {}

SnapshotReporter::~SnapshotReporter() {
  if (!drawn_) return;
  display_.block->SetBlock({});
  Log();  // the last state stays on screen, above what is logged next
}

std::string SnapshotReporter::Summary() const {
  double secs = std::chrono::duration<double>(display_.now() - start_).count();
  double rate = secs > 0 ? static_cast<double>(rows_) / secs : 0;
  // reltuples is an estimate: never report fewer rows to go than are left in sight.
  int64_t total = std::max(estimated_rows_, rows_);
  std::string eta = rate > 0 ? fmt::format("{:.0f} s", static_cast<double>(total - rows_) / rate) : "unknown";
  return fmt::format("{}: {} of ~{} rows, {} of {} tables done, {:.0f} rows/s, ETA {}", what_, rows_, total,
                     tables_done_, tables_, rate, eta);
}

void SnapshotReporter::AddTable(const std::string& name, int64_t estimated_rows) {
  ++tables_;
  estimated_rows_ += estimated_rows;
  per_table_[name] = Table{.estimated = estimated_rows};
}

void SnapshotReporter::ForgetTable(const std::string& name) {
  auto it = per_table_.find(name);
  if (it == per_table_.end() || it->second.done) return;
  --tables_;
  estimated_rows_ -= it->second.estimated;
  per_table_.erase(it);
}

void SnapshotReporter::SetTableEstimate(const std::string& name, int64_t estimated_rows) {
  per_table_[name].estimated = estimated_rows;
}

void SnapshotReporter::AddTableRows(const std::string& name, int64_t rows) {
  Table& t = per_table_[name];
  if (t.first == Clock::time_point{}) t.first = display_.now();
  t.rows += rows;
  AddRows(rows);
}

void SnapshotReporter::TableDone(const std::string& name) {
  per_table_[name].done = true;
  TableDone();
}

std::vector<std::string> SnapshotReporter::TableLines() const {
  std::vector<std::string> lines;
  for (const auto& [name, t] : per_table_) {
    if (t.done || t.first == Clock::time_point{}) continue;
    const double secs = std::chrono::duration<double>(display_.now() - t.first).count();
    const double rate = secs > 0 ? static_cast<double>(t.rows) / secs : 0;
    const int64_t total = std::max(t.estimated, t.rows);
    const std::string eta =
        rate > 0 ? fmt::format("{:.0f} s", static_cast<double>(total - t.rows) / rate) : "unknown";
    lines.push_back(fmt::format("{}: {} of ~{} rows ({:.0f}%), {:.0f} rows/s, ETA {}", name, t.rows, total,
                                total > 0 ? 100.0 * static_cast<double>(t.rows) / static_cast<double>(total) : 0.0,
                                rate, eta));
  }
  return lines;
}

std::string SnapshotReporter::Progress() const {
  std::string out = Summary();
  for (const auto& line : TableLines()) out += "\n  " + line;
  return out;
}

void SnapshotReporter::MaybeLog(bool force) {
  metrics::SnapshotProgress(what_, "rows").Set(static_cast<double>(rows_));
  metrics::SnapshotProgress(what_, "rows_estimated").Set(static_cast<double>(std::max(estimated_rows_, rows_)));
  metrics::SnapshotProgress(what_, "tables_done").Set(tables_done_);
  metrics::SnapshotProgress(what_, "tables").Set(tables_);
  if (display_.block != nullptr) return Draw(force);
  if (!force && display_.now() - last_log_ < interval_) return;
  Log();
}

void SnapshotReporter::Draw(bool force) {
  if (force || Finished()) {
    if (drawn_) display_.block->SetBlock({});
    drawn_ = false;
    if (force) Log();
    return;
  }
  const Clock::time_point now = display_.now();
  if (drawn_ && now - last_draw_ < display_.redraw) return;
  std::vector<std::string> lines{Summary()};
  for (const auto& line : TableLines()) lines.push_back("  " + line);
  display_.block->SetBlock(std::move(lines));
  last_draw_ = now;
  drawn_ = true;
}

void SnapshotReporter::Log() {
  last_log_ = display_.now();
  spdlog::info("{}", Summary());
  for (const auto& line : TableLines()) spdlog::info("  {}", line);
}

}  // namespace ferry::capture
