#include "capture/snapshot_copier.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <limits>
#include <numeric>
#include <optional>

#include "capture/replication_stream.h"
#include "common/signals.h"
#include "transport/naming.h"

namespace ferry::capture {

// Bounded, closable: Push blocks while full, and both ends give up once closed.
class SnapshotCopier::ChunkQueue {
 public:
  explicit ChunkQueue(size_t capacity) : capacity_(capacity) {}
  bool Push(Chunk chunk) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return closed_ || chunks_.size() < capacity_; });
    if (closed_) return false;
    chunks_.push_back(std::move(chunk));
    not_empty_.notify_one();
    return true;
  }
  std::optional<Chunk> Pop(std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    if (chunks_.empty()) {
      not_empty_.wait_for(lock, wait);
      if (chunks_.empty()) return std::nullopt;
    }
    Chunk c = std::move(chunks_.front());
    chunks_.pop_front();
    not_full_.notify_one();
    return c;
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_full_.notify_all();
    not_empty_.notify_all();
  }

 private:
  size_t capacity_;
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Chunk> chunks_;
  bool closed_ = false;
};

SnapshotCopier::SnapshotCopier(CopyOptions options, std::vector<SnapshotTable> tables, SnapshotProgress& progress,
                               transport::EventProducer& producer, FlowControl* flow, const Status& delivery_error)
    : o_(std::move(options)),
      tables_(std::move(tables)),
      progress_(progress),
      producer_(producer),
      flow_(flow),
      delivery_error_(delivery_error),
      reporter_("initial snapshot",
                std::accumulate(tables_.begin(), tables_.end(), int64_t{0},
                                [](int64_t sum, const SnapshotTable& t) { return sum + static_cast<int64_t>(t.estimated_rows); }),
                static_cast<int>(tables_.size())),
      queue_(std::make_unique<ChunkQueue>(2 * static_cast<size_t>(std::max(1, o_.workers)))) {
  for (const auto& t : tables_) {
    TableState s;
    s.progress.schema = t.schema;
    s.progress.table = t.name;
    states_.push_back(std::move(s));
  }
}

SnapshotCopier::~SnapshotCopier() {
  stopping_ = true;
  queue_->Close();
  for (auto& t : threads_) t.join();
}

void SnapshotCopier::OnAcked(uint64_t token) {
  auto it = in_flight_.find(token & ~kTokenBit);
  if (it != in_flight_.end()) --it->second->pending;
}

void SnapshotCopier::Worker() {
  Status st = ReadTables();
  if (!st.ok()) {
    std::lock_guard lock(error_mu_);
    if (worker_error_.ok()) worker_error_ = st.WithContext("snapshot worker");
  }
}

Status SnapshotCopier::ReadTables() {
  FERRY_ASSIGN_OR_RETURN(PgConn conn, PgConn::Connect(o_.conninfo, {{"application_name", "ferry-snapshot"},
                                                                    {"options", kTextOutputOptions}}));
  FERRY_RETURN_IF_ERROR(conn.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").status());
  FERRY_RETURN_IF_ERROR(conn.Exec("SET TRANSACTION SNAPSHOT " + QuoteLiteral(o_.snapshot_name)).status());
  for (size_t i = next_table_++; i < tables_.size() && !stopping_; i = next_table_++) {
    FERRY_RETURN_IF_ERROR(ReadTable(conn, i));
  }
  return conn.Exec("COMMIT").status();
}

Status SnapshotCopier::ReadTable(const PgConn& conn, size_t index) {
  const SnapshotTable& t = tables_[index];
  if (t.keyless()) return ReadKeylessTable(conn, index);
  const std::string first = BuildChunkQuery(t, false, o_.chunk_rows);
  const std::string next = BuildChunkQuery(t, true, o_.chunk_rows);
  std::optional<KeyValues> after;
  for (bool last = false; !last && !stopping_;) {
    std::vector<PgParam> params;
    if (after) params.assign(after->begin(), after->end());
    FERRY_ASSIGN_OR_RETURN(PgResult r, after ? conn.ExecParams(next, params) : conn.Exec(first));
    const int n = PQntuples(r.get());
    if (n > 0) after = KeyOf(t, r.get(), n - 1);
    last = n < o_.chunk_rows;
    if (!queue_->Push(Chunk{index, std::move(r), last})) break;
  }
  return Status::OK();
}

// No key to page by: one cursor over the whole table, fetched a chunk at a
// time, so memory stays bounded; only this exported snapshot can read it.
Status SnapshotCopier::ReadKeylessTable(const PgConn& conn, size_t index) {
  const std::string cursor = "ferry_snapshot_" + std::to_string(index);
  FERRY_RETURN_IF_ERROR(
      conn.Exec("DECLARE " + cursor + " NO SCROLL CURSOR FOR " + BuildChunkQuery(tables_[index], false, 0)).status());
  const std::string fetch = "FETCH " + std::to_string(o_.chunk_rows) + " FROM " + cursor;
  for (bool last = false; !last && !stopping_;) {
    FERRY_ASSIGN_OR_RETURN(PgResult r, conn.Exec(fetch));
    last = PQntuples(r.get()) < o_.chunk_rows;
    if (!queue_->Push(Chunk{index, std::move(r), last})) break;
  }
  return conn.Exec("CLOSE " + cursor).status();
}

Status SnapshotCopier::CheckErrors() {
  if (!delivery_error_.ok()) return Status::Unavailable(delivery_error_.message());
  std::lock_guard lock(error_mu_);
  return worker_error_;
}

Status SnapshotCopier::Produce(Chunk& chunk) {
  const SnapshotTable& t = tables_[chunk.table];
  TableState& state = states_[chunk.table];
  const int n = PQntuples(chunk.rows.get());
  ChunkAck& ack = state.acks.emplace_back();  // deque: the reference survives later pushes
  ack.id = next_chunk_id_++;
  ack.rows = n;
  ack.last = chunk.last;
  if (n > 0) ack.last_key = KeyOf(t, chunk.rows.get(), n - 1);
  in_flight_[ack.id] = &ack;
  for (int row = 0; row < n; ++row) {
    ferry::v1::ChangeEvent e = ReadEventOf(t, chunk.rows.get(), row, o_.database);
    FERRY_RETURN_IF_ERROR(ProduceEvent(e, KafkaKeyOf(t, chunk.rows.get(), row), ack));
  }
  if (n == 0) return Status::OK();
  ferry::v1::ChangeEvent end;  // the chunk is a unit: apply applies it whole
  end.set_op(ferry::v1::OP_END);
  end.set_unit_events(static_cast<uint32_t>(n));
  return ProduceEvent(end, "", ack);
}

Status SnapshotCopier::ProduceEvent(ferry::v1::ChangeEvent& e, const std::string& key, ChunkAck& ack) {
  if (next_index_ > std::numeric_limits<uint32_t>::max()) {
    return Status::InvalidArgument("an initial snapshot of more than 2^32 rows is not supported yet");
  }
  e.set_source_database(o_.database);
  e.set_commit_lsn(o_.consistent_point.value());
  e.set_commit_end_lsn(o_.consistent_point.value());
  e.set_lsn(o_.consistent_point.value());
  e.set_commit_time_us(commit_time_us_);
  e.set_capture_session(o_.capture_session);
  e.set_index_in_tx(static_cast<uint32_t>(next_index_++));
  e.SerializeToString(&buffer_);
  ++ack.pending;
  if (flow_ != nullptr) flow_->OnProduced(o_.topic, buffer_.size());
  return producer_.Produce(o_.topic, key, buffer_, kTokenBit | ack.id, /*partition=*/0);
}

Status SnapshotCopier::RecordAcked() {
  std::vector<TableProgress> changed;
  for (TableState& s : states_) {
    bool moved = false;
    while (!s.acks.empty() && s.acks.front().pending == 0) {
      ChunkAck& a = s.acks.front();
      s.progress.rows += a.rows;
      s.progress.chunks += 1;
      if (a.rows > 0) s.progress.last_key = a.last_key;
      reporter_.AddRows(a.rows);
      if (a.last) {
        s.progress.done = true;
        reporter_.TableDone();
        ++tables_done_;
      }
      in_flight_.erase(a.id);
      s.acks.pop_front();
      moved = true;
    }
    if (moved) changed.push_back(s.progress);
  }
  if (changed.empty()) return Status::OK();
  return progress_.Put(changed);
}

Status SnapshotCopier::Run() {
  commit_time_us_ = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<TableProgress> fresh;
  for (const auto& s : states_) fresh.push_back(s.progress);
  FERRY_RETURN_IF_ERROR(progress_.Put(fresh));
  spdlog::info("initial snapshot of {} tables at {} (snapshot {}), {} workers, {} rows per chunk", tables_.size(),
               o_.consistent_point.ToString(), o_.snapshot_name, o_.workers, o_.chunk_rows);
  for (int i = 0; i < std::max(1, o_.workers); ++i) threads_.emplace_back([this] { Worker(); });
  while (tables_done_ < tables_.size()) {
    if (StopRequested()) return Status::Aborted("initial snapshot interrupted by a stop request");
    FERRY_RETURN_IF_ERROR(CheckErrors());
    bool paused = false;
    if (flow_ != nullptr) {
      FERRY_ASSIGN_OR_RETURN(paused, flow_->ShouldPause());
    }
    std::optional<Chunk> chunk;
    if (!paused) chunk = queue_->Pop(std::chrono::milliseconds(20));
    if (chunk) FERRY_RETURN_IF_ERROR(Produce(*chunk));
    producer_.Poll(chunk ? 0 : 50);
    FERRY_RETURN_IF_ERROR(RecordAcked());
    reporter_.MaybeLog();
  }
  reporter_.MaybeLog(true);
  return Status::OK();
}

}  // namespace ferry::capture
