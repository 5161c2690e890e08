#include "capture/snapshot_copier.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <numeric>
#include <optional>
#include <utility>

#include "capture/replication_stream.h"
#include "common/signals.h"
#include "transport/naming.h"

namespace ferry::capture {

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
      queue_(std::make_unique<ByteBoundedQueue<Chunk>>(2 * static_cast<size_t>(std::max(1, o_.workers)),
                                                       static_cast<size_t>(std::max<int64_t>(1, o_.buffer_bytes)))) {}

SnapshotCopier::~SnapshotCopier() {
  {
    std::lock_guard lock(turn_mu_);
    stopping_ = true;
  }
  turn_cv_.notify_all();
  queue_->Close();
  for (auto& t : threads_) t.join();
}

void SnapshotCopier::OnAcked(uint64_t token) {
  auto it = in_flight_.find(token & ~kTokenBit);
  if (it != in_flight_.end()) --it->second->pending;
}

void SnapshotCopier::Worker() {
  Status st = ReadParts();
  if (!st.ok()) {
    std::lock_guard lock(error_mu_);
    if (worker_error_.ok()) worker_error_ = st.WithContext("snapshot worker");
  }
}

Status SnapshotCopier::ReadParts() {
  FERRY_ASSIGN_OR_RETURN(PgConn conn, PgConn::Connect(o_.conninfo, {{"application_name", "ferry-snapshot"},
                                                                    {"options", kSnapshotReadOptions}}));
  FERRY_RETURN_IF_ERROR(conn.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").status());
  FERRY_RETURN_IF_ERROR(conn.Exec("SET TRANSACTION SNAPSHOT " + QuoteLiteral(o_.snapshot_name)).status());
  std::string text;  // an OP_READ_ROWS event's rows before compression
  std::optional<size_t> next;  // the part this worker takes on from the one it finished
  for (std::optional<size_t> i = ClaimPart(); i && !stopping_; i = next ? std::exchange(next, {}) : ClaimPart()) {
    const bool keyless = tables_[parts_[*i].table].keyless();
    FERRY_RETURN_IF_ERROR(keyless ? ReadKeylessPart(conn, *i, text, next) : ReadPart(conn, *i, text, next));
  }
  return conn.Exec("COMMIT").status();
}

std::optional<size_t> SnapshotCopier::ClaimPart() {
  std::unique_lock lock(turn_mu_);
  for (;;) {
    if (stopping_ || next_part_ >= parts_.size()) return std::nullopt;
    const size_t part = next_part_;
    if (turn_[parts_[part].table] == part || read_bound_) {
      ++next_part_;
      return part;
    }
    turn_cv_.wait_for(lock, kReadBoundWindow);  // read_bound_ changes without telling turn_cv_
  }
}

void SnapshotCopier::MeasureReadBound(std::chrono::steady_clock::duration waited) {
  waited_ += waited;
  const auto now = std::chrono::steady_clock::now();
  if (now - window_start_ < kReadBoundWindow) return;
  read_bound_ = waited_ * 2 > now - window_start_;
  waited_ = std::chrono::steady_clock::duration::zero();
  window_start_ = now;
}

int64_t SnapshotCopier::ChunkBytes() const {
  return std::max<int64_t>(1, std::min(o_.max_chunk_bytes, o_.buffer_bytes / (2 * std::max(1, o_.workers) + 2)));
}

int64_t SnapshotCopier::NextLimit(int64_t bytes, int64_t rows, int64_t limit) const {
  if (rows == 0) return limit;
  const int64_t row_bytes = std::max<int64_t>(1, bytes / rows);
  return std::clamp<int64_t>(ChunkBytes() / row_bytes, 1, o_.chunk_rows);
}

Status SnapshotCopier::ReadPart(const PgConn& conn, size_t index, std::string& text,
                                std::optional<size_t>& next) {
  const CopyPart& part = parts_[index];
  const SnapshotTable& t = tables_[part.table];
  const bool bounded = part.progress.upper.has_value();
  std::optional<KeyValues> after = part.progress.last_key;
  int64_t limit = first_limit_[part.table];
  for (bool last = false; !last && !stopping_;) {
    std::vector<PgParam> bounds;
    if (after) bounds.assign(after->begin(), after->end());
    if (bounded) bounds.insert(bounds.end(), part.progress.upper->begin(), part.progress.upper->end());
    Chunk chunk;
    chunk.part = index;
    if (o_.row_events) {
      FERRY_ASSIGN_OR_RETURN(PgResult r,
                             conn.ExecParams(BuildChunkQuery(t, after.has_value(), limit, bounded), bounds));
      FERRY_RETURN_IF_ERROR(FillChunk(std::move(r), chunk, text));
    } else {
      FERRY_RETURN_IF_ERROR(
          ReadCopyChunk(conn, BuildChunkCopy(t, after.has_value(), limit, bounded), bounds, chunk, text));
    }
    if (chunk.rows > 0) after = chunk.last_key;
    last = chunk.rows < limit;
    limit = NextLimit(chunk.read_bytes, chunk.rows, limit);
    chunk.last = last;
    FERRY_ASSIGN_OR_RETURN(bool queued, PushInTurn(std::move(chunk), next));
    if (!queued) break;
  }
  return Status::OK();
}

// The server writes the rows in COPY's text format, which is what the events
// carry: they go into events as they come, unparsed but for the last row's
// key (taking a SELECT's result apart and escaping every value again cost
// capture about a fifth of its CPU; the source's cost is the same).
Status SnapshotCopier::ReadCopyChunk(const PgConn& conn, const std::string& copy, const std::vector<PgParam>& bounds,
                                     Chunk& chunk, std::string& text) {
  const SnapshotTable& t = tables_[parts_[chunk.part].table];
  if (!bounds.empty()) FERRY_RETURN_IF_ERROR(conn.ExecParams(BuildChunkBoundsQuery(bounds.size()), bounds).status());
  RowsEventWriter writer(t, o_.database, text, CollectInto(chunk));
  std::string last_row;
  FERRY_RETURN_IF_ERROR(conn.CopyOut(copy, [&](std::string_view row) {
    writer.text().append(row);
    last_row.assign(row);
    chunk.read_bytes += static_cast<int64_t>(row.size());
    ++chunk.rows;
    return writer.Added();
  }));
  FERRY_RETURN_IF_ERROR(writer.Finish());
  if (chunk.rows > 0) {
    FERRY_ASSIGN_OR_RETURN(chunk.last_key, KeyOfCopyRow(t, last_row));
  }
  return Status::OK();
}

// No key to page by: one cursor over the part's pages (the whole table when
// it is one part), fetched a chunk at a time, so memory stays bounded; only
// this exported snapshot can read it.
Status SnapshotCopier::ReadKeylessPart(const PgConn& conn, size_t index, std::string& text,
                                       std::optional<size_t>& next) {
  const CopyPart& part = parts_[index];
  const SnapshotTable& t = tables_[part.table];
  const std::string cursor = "ferry_snapshot_" + std::to_string(index);
  std::string query = BuildChunkQuery(t, false, 0);
  std::vector<PgParam> params;
  if (part.end_page >= 0 || part.progress.part > 0) {  // one of several page ranges
    query = BuildPageRangeQuery(t, part.end_page >= 0);
    params.push_back(FirstTidOfPage(part.first_page));
    if (part.end_page >= 0) params.push_back(FirstTidOfPage(part.end_page));
  }
  FERRY_RETURN_IF_ERROR(conn.ExecParams("DECLARE " + cursor + " NO SCROLL CURSOR FOR " + query, params).status());
  int64_t limit = first_limit_[part.table];
  for (bool last = false; !last && !stopping_;) {
    FERRY_ASSIGN_OR_RETURN(PgResult r, conn.Exec("FETCH " + std::to_string(limit) + " FROM " + cursor));
    Chunk chunk;
    chunk.part = index;
    FERRY_RETURN_IF_ERROR(FillChunk(std::move(r), chunk, text));
    last = chunk.rows < limit;
    limit = NextLimit(chunk.read_bytes, chunk.rows, limit);
    chunk.last = last;
    FERRY_ASSIGN_OR_RETURN(bool queued, PushInTurn(std::move(chunk), next));
    if (!queued) break;
  }
  return conn.Exec("CLOSE " + cursor).status();
}

// The chunk is encoded here, on the worker, before it waits for its turn:
// the producing thread, which every row passes through, only stamps and
// produces, so it goes on producing as soon as flow control lets it.
Status SnapshotCopier::FillChunk(PgResult rows, Chunk& chunk, std::string& text) {
  const SnapshotTable& t = tables_[parts_[chunk.part].table];
  chunk.rows = PQntuples(rows.get());
  chunk.read_bytes = static_cast<int64_t>(PQresultMemorySize(rows.get()));
  if (chunk.rows > 0 && !t.keyless()) chunk.last_key = KeyOf(t, rows.get(), static_cast<int>(chunk.rows) - 1);
  if (o_.row_events) {
    chunk.bytes = PQresultMemorySize(rows.get());
    chunk.result = std::move(rows);
    return Status::OK();
  }
  return ForEachRowsEvent(t, rows.get(), o_.database, text, CollectInto(chunk));
}

std::function<Status(ferry::v1::ChangeEvent&)> SnapshotCopier::CollectInto(Chunk& chunk) {
  return [&chunk](ferry::v1::ChangeEvent& e) {
    chunk.bytes += e.ByteSizeLong();
    chunk.events.push_back(std::move(e));
    return Status::OK();
  };
}

Result<bool> SnapshotCopier::PushInTurn(Chunk chunk, std::optional<size_t>& next) {
  const size_t part = chunk.part;
  const size_t table = parts_[part].table;
  const bool last = chunk.last;
  {
    std::unique_lock lock(turn_mu_);
    turn_cv_.wait(lock, [&] { return stopping_ || turn_[table] == part; });
    if (stopping_) return false;
  }
  const size_t bytes = chunk.bytes;
  if (!queue_->Push(std::move(chunk), bytes)) return false;
  if (last) {
    {
      std::lock_guard lock(turn_mu_);
      turn_[table] = part + 1;  // a table's parts are consecutive in parts_
      if (next_part_ == part + 1 && part + 1 < parts_.size() && parts_[part + 1].table == table) {
        next = next_part_++;  // nobody read ahead into it: this worker reads on
      }
    }
    turn_cv_.notify_all();
  }
  return true;
}

Status SnapshotCopier::CheckErrors() {
  if (!delivery_error_.ok()) return Status::Unavailable(delivery_error_.message());
  std::lock_guard lock(error_mu_);
  return worker_error_;
}

Status SnapshotCopier::Produce(Chunk& chunk) {
  const SnapshotTable& t = tables_[parts_[chunk.part].table];
  PartState& state = states_[chunk.part];
  ChunkAck& ack = state.acks.emplace_back();  // deque: the reference survives later pushes
  ack.id = next_chunk_id_++;
  ack.rows = chunk.rows;
  ack.last = chunk.last;
  ack.last_key = std::move(chunk.last_key);
  in_flight_[ack.id] = &ack;
  if (o_.row_events) {
    ferry::v1::ChangeEvent e;  // refilled per row: its columns' memory is reused
    for (int row = 0; row < static_cast<int>(chunk.rows); ++row) {
      FillReadEvent(t, chunk.result.get(), row, o_.database, e);
      FERRY_RETURN_IF_ERROR(ProduceEvent(e, KafkaKeyOf(t, chunk.result.get(), row), ack));
    }
  } else {
    const std::string key = transport::TableKey(t.schema, t.name);  // as the stream's events of the table
    for (ferry::v1::ChangeEvent& e : chunk.events) FERRY_RETURN_IF_ERROR(ProduceEvent(e, key, ack));
  }
  if (chunk.rows == 0) return Status::OK();
  ferry::v1::ChangeEvent end;  // the chunk is a unit: apply applies it whole
  end.set_op(ferry::v1::OP_END);
  end.set_unit_events(static_cast<uint32_t>(ack.events));
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
  ++ack.events;
  if (flow_ != nullptr) flow_->OnProduced(o_.topic, buffer_.size());
  return producer_.Produce(o_.topic, key, buffer_, kTokenBit | ack.id, /*partition=*/0);
}

Status SnapshotCopier::RecordAcked() {
  std::vector<TableProgress> changed;
  for (size_t i = 0; i < states_.size(); ++i) {
    PartState& s = states_[i];
    bool moved = false;
    while (!s.acks.empty() && s.acks.front().pending == 0) {
      ChunkAck& a = s.acks.front();
      s.progress.rows += a.rows;
      s.progress.chunks += 1;
      if (a.rows > 0) s.progress.last_key = a.last_key;
      reporter_.AddTableRows(tables_[parts_[i].table].Display(), a.rows);
      if (a.last) {
        s.progress.done = true;
        if (--parts_left_[parts_[i].table] == 0) {
          reporter_.TableDone(tables_[parts_[i].table].Display());
          ++tables_done_;
        }
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

// Cuts each table into parts (snapshot_plan.h) and records them, fresh.
Status SnapshotCopier::Plan(const PgConn& conn) {
  parts_left_.assign(tables_.size(), 0);
  turn_.assign(tables_.size(), 0);
  first_limit_.assign(tables_.size(), o_.chunk_rows);
  std::vector<TableProgress> fresh;
  for (size_t i = 0; i < tables_.size(); ++i) {
    // The first chunk's rows from the table's size on disk (TOAST included);
    // later chunks from the rows read.
    const SnapshotTable& t = tables_[i];
    FERRY_ASSIGN_OR_RETURN(std::string size, conn.QueryScalar("SELECT pg_total_relation_size(" +
                                                              QuoteLiteral(QualifiedName(t.schema, t.name)) + ")"));
    const double row_bytes = std::max(1.0, std::stod(size) / std::max(1.0, t.estimated_rows));
    first_limit_[i] = std::clamp<int64_t>(static_cast<int64_t>(static_cast<double>(ChunkBytes()) / row_bytes), 1,
                                          o_.chunk_rows);
    FERRY_ASSIGN_OR_RETURN(std::vector<CopyPart> parts,
                           PlanParts(conn, tables_[i], i, PlanOptions{o_.workers, o_.chunk_rows}));
    parts_left_[i] = static_cast<int>(parts.size());
    turn_[i] = parts_.size();  // its first part
    reporter_.SetTableEstimate(t.Display(), static_cast<int64_t>(t.estimated_rows));
    if (parts.size() > 1) spdlog::info("{} is read in {} parts", tables_[i].Display(), parts.size());
    for (auto& p : parts) {
      fresh.push_back(p.progress);
      states_.push_back(PartState{{}, p.progress});
      parts_.push_back(std::move(p));
    }
  }
  return progress_.Put(fresh);
}

Status SnapshotCopier::Run(const PgConn& plan_conn) {
  commit_time_us_ = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
  FERRY_RETURN_IF_ERROR(Plan(plan_conn));
  spdlog::info("initial snapshot of {} tables in {} parts at {} (snapshot {}), {} workers, up to {} rows and "
               "{} bytes waiting",
               tables_.size(), parts_.size(), o_.consistent_point.ToString(), o_.snapshot_name, o_.workers,
               o_.chunk_rows, o_.buffer_bytes);
  for (int i = 0; i < std::max(1, o_.workers); ++i) threads_.emplace_back([this] { Worker(); });
  while (tables_done_ < tables_.size()) {
    if (StopRequested()) return Status::Aborted("initial snapshot interrupted by a stop request");
    FERRY_RETURN_IF_ERROR(CheckErrors());
    bool paused = false;
    if (flow_ != nullptr) {
      FERRY_ASSIGN_OR_RETURN(paused, flow_->ShouldPause());
    }
    std::optional<Chunk> chunk;
    if (!paused) {
      const auto popping = std::chrono::steady_clock::now();
      chunk = queue_->Pop(std::chrono::milliseconds(20));
      MeasureReadBound(std::chrono::steady_clock::now() - popping);
    }
    if (chunk) FERRY_RETURN_IF_ERROR(Produce(*chunk));
    // Paused: look again soon, apply makes room continuously (Pop waited already otherwise).
    producer_.Poll(paused ? 5 : 0);
    FERRY_RETURN_IF_ERROR(RecordAcked());
    reporter_.MaybeLog();
    if (o_.status != nullptr) o_.status->SetSnapshot(reporter_.Progress());
  }
  reporter_.MaybeLog(true);
  if (o_.status != nullptr) o_.status->SetSnapshot("");
  return Status::OK();
}

}  // namespace ferry::capture
