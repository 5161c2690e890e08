#include "capture/snapshot_incremental.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "capture/replication_stream.h"
#include "capture/snapshot_signal.h"
#include "capture/source_setup.h"
#include "transport/naming.h"

namespace ferry::capture {

IncrementalSnapshot::IncrementalSnapshot(IncrementalOptions options, SnapshotProgress& progress)
    : o_(std::move(options)), progress_(progress) {}

Status IncrementalSnapshot::Connect() {
  if (conn_ && PQstatus(conn_.get()) == CONNECTION_OK) return Status::OK();
  FERRY_ASSIGN_OR_RETURN(conn_, PgConn::Connect(o_.conninfo, {{"application_name", "ferry-snapshot"},
                                                              {"options", kSnapshotReadOptions}}));
  return Status::OK();
}

Status IncrementalSnapshot::Load(const std::set<std::string>& elsewhere) {
  FERRY_ASSIGN_OR_RETURN(auto tables, progress_.Tables());
  for (auto& [name, p] : tables) {
    if (p.done || elsewhere.contains(p.Display())) continue;
    spdlog::info("snapshot of {} resumes {} ({} rows in {} chunks done)", name,
                 p.last_key ? "after its last acknowledged chunk" : "from its first row", p.rows, p.chunks);
    queue_.push_back(std::move(p));
  }
  return Status::OK();
}

Status IncrementalSnapshot::EmitWatermark(const std::string& window, bool high) {
  return conn_
      .ExecParams("SELECT pg_logical_emit_message(true, $1, $2)",
                  {std::string(kWatermarkPrefix), EncodeWatermark({o_.slot, window, high})})
      .status();
}

Status IncrementalSnapshot::DropFront(const std::string& why) {
  spdlog::error("incremental snapshot of {} skipped: {}", queue_.front().Display(), why);
  FERRY_RETURN_IF_ERROR(progress_.Remove({queue_.front()}));
  queue_.pop_front();
  front_table_.reset();
  Report();
  return Status::OK();
}

void IncrementalSnapshot::Report() {
  if (!busy()) reporter_.reset();
  if (o_.status != nullptr) o_.status->SetIncrementalSnapshot(reporter_ ? reporter_->Progress() : "");
}

Status IncrementalSnapshot::MaybeStartChunk() {
  // Keeps the report current while a chunk's window is open (its progress
  // changes only at the high watermark).
  if (o_.status != nullptr && busy()) o_.status->PublishIfDue();
  if (window_.active() || queue_.empty()) return Status::OK();
  FERRY_RETURN_IF_ERROR(Connect());
  TableProgress& p = queue_.front();
  if (!front_table_) {
    auto t = LoadPublishedTable(conn_, o_.publication, p.schema, p.table);
    if (!t.ok() && !t.status().IsRetriable()) return DropFront(t.status().message());
    FERRY_RETURN_IF_ERROR(t.status());
    if (Status keyed = RequireKey(*t, "incremental snapshot"); !keyed.ok()) return DropFront(keyed.message());
    front_table_ = std::move(t).value();
    if (!reporter_) reporter_.emplace("incremental snapshot", 0, 0);
    // Rows still to read: the estimate less what earlier runs read.
    // (A table read in parts counts its estimate once, with its first part.)
    const int64_t estimate = p.part == 0 ? static_cast<int64_t>(front_table_->estimated_rows) : 0;
    reporter_->AddTable(p.Id(), std::max<int64_t>(0, estimate - p.rows));
    Report();
  }
  const SnapshotTable& t = *front_table_;
  const std::string window = o_.slot + ":" + std::to_string(getpid()) + ":" + std::to_string(++windows_);
  FERRY_RETURN_IF_ERROR(EmitWatermark(window, false));
  // A part of a table (snapshot_plan.h) ends at its upper key.
  std::vector<PgParam> params;
  if (p.last_key) params.assign(p.last_key->begin(), p.last_key->end());
  if (p.upper) params.insert(params.end(), p.upper->begin(), p.upper->end());
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn_.ExecParams(BuildChunkQuery(t, p.last_key.has_value(), o_.chunk_rows,
                                                                      p.upper.has_value()),
                                                      params));
  const int n = PQntuples(r.get());
  std::vector<WatermarkWindow::Row> rows;
  rows.reserve(n);
  for (int i = 0; i < n; ++i) {
    rows.push_back({KafkaKeyOf(t, r.get(), i), ReadEventOf(t, r.get(), i, o_.database)});
  }
  chunk_last_ = n < o_.chunk_rows;
  chunk_last_key_ = n > 0 ? std::optional<KeyValues>(KeyOf(t, r.get(), n - 1)) : std::nullopt;
  if (o_.window_delay.count() > 0) std::this_thread::sleep_for(o_.window_delay);
  FERRY_RETURN_IF_ERROR(EmitWatermark(window, true));
  window_.Fill(window, t.schema, t.name, std::move(rows));
  return Status::OK();
}

Status IncrementalSnapshot::HandleHigh(const std::string& window) {
  auto rows = window_.OnHigh(window);
  if (!rows) return Status::OK();  // a window of an earlier run, or cancelled
  TableProgress& p = queue_.front();
  for (auto& row : *rows) {
    FERRY_RETURN_IF_ERROR(builder_->PublishInTransaction(row.key, row.event));
  }
  p.rows += static_cast<int64_t>(rows->size());
  p.chunks += 1;
  if (chunk_last_key_) p.last_key = chunk_last_key_;
  p.done = chunk_last_;
  pending_.push_back({builder_->commit_lsn(), p});
  reporter_->AddTableRows(p.Id(), static_cast<int64_t>(rows->size()));
  if (p.done) {
    reporter_->TableDone(p.Id());
    spdlog::info("incremental snapshot of {} read: {} rows in {} chunks", p.Id(), p.rows, p.chunks);
    queue_.pop_front();
    front_table_.reset();
  }
  reporter_->MaybeLog();
  Report();
  return Status::OK();
}

Status IncrementalSnapshot::OnTransactionalMessage(const LogicalMessage& m) {
  if (m.prefix == kSignalPrefix) return HandleSignal(m.content);
  if (m.prefix != kWatermarkPrefix) return Status::OK();
  auto w = DecodeWatermark(m.content);
  if (!w.ok()) {
    spdlog::warn("ignoring watermark at {}: {}", m.lsn.ToString(), w.status().ToString());
    return Status::OK();
  }
  if (w->slot != o_.slot) return Status::OK();
  if (!w->high) {
    window_.OnLow(w->window);
    return Status::OK();
  }
  return HandleHigh(w->window);
}

Status IncrementalSnapshot::HandleSignal(std::string_view content) {
  auto s = DecodeSignal(content);
  if (!s.ok()) {
    spdlog::warn("ignoring snapshot signal: {}", s.status().ToString());
    return Status::OK();
  }
  if (s->slot != o_.slot) return Status::OK();
  if (s->action == "cancel") return Cancel(s->tables);
  for (const auto& name : s->tables) FERRY_RETURN_IF_ERROR(Enqueue(name));
  return Status::OK();
}

Status IncrementalSnapshot::Enqueue(const std::string& name) {
  auto split = SplitTableName(name);
  if (!split.ok()) {
    spdlog::error("snapshot signal names '{}': {}", name, split.status().ToString());
    return Status::OK();
  }
  TableProgress p;
  p.schema = split->first;
  p.table = split->second;
  for (const auto& q : queue_) {
    if (q.Display() == p.Display()) {
      spdlog::info("incremental snapshot of {} is already running", name);
      return Status::OK();
    }
  }
  FERRY_RETURN_IF_ERROR(progress_.Put({p}));
  spdlog::info("incremental snapshot of {} queued", p.Display());
  queue_.push_back(std::move(p));
  return Status::OK();
}

Status IncrementalSnapshot::Cancel(const std::vector<std::string>& names) {
  auto cancelled = [&](const TableProgress& p) {
    return names.empty() || std::find(names.begin(), names.end(), p.Display()) != names.end() ||
           (p.schema == "public" && std::find(names.begin(), names.end(), p.table) != names.end());
  };
  std::vector<TableProgress> removed;
  for (const auto& p : queue_) {
    if (cancelled(p)) removed.push_back(p);
  }
  if (!queue_.empty() && cancelled(queue_.front())) {
    window_.Clear();
    if (front_table_ && reporter_) reporter_->ForgetTable(queue_.front().Id());
    front_table_.reset();
  }
  std::erase_if(queue_, cancelled);
  std::erase_if(pending_, [&](const Pending& x) { return cancelled(x.progress); });
  for (const auto& p : removed) spdlog::info("incremental snapshot of {} cancelled after {} rows", p.Display(), p.rows);
  Report();
  return progress_.Remove(removed);
}

std::optional<ferry::v1::ChangeEvent> IncrementalSnapshot::OnStreamEvent(const ferry::v1::ChangeEvent& e,
                                                                         const std::string& key) {
  if (e.op() == ferry::v1::OP_READ || e.op() == ferry::v1::OP_END) return std::nullopt;
  return window_.OnChange(e, key);
}

Status IncrementalSnapshot::RecordConfirmed(Lsn confirmed) {
  std::vector<TableProgress> done;
  while (!pending_.empty() && pending_.front().commit_lsn < confirmed) {
    done.push_back(std::move(pending_.front().progress));
    pending_.pop_front();
  }
  if (done.empty()) return Status::OK();
  return progress_.Put(done);
}

}  // namespace ferry::capture
