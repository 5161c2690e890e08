#include "capture/snapshot_recopy.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "capture/replication_stream.h"
#include "capture/snapshot_reporter.h"
#include "capture/snapshot_signal.h"
#include "transport/naming.h"

namespace ferry::capture {

SnapshotRecopy::SnapshotRecopy(RecopyOptions options, SnapshotProgress& progress)
    : o_(std::move(options)), progress_(progress) {}

Result<std::set<std::string>> SnapshotRecopy::Prepare() {
  FERRY_ASSIGN_OR_RETURN(auto known, progress_.Tables());
  std::vector<SnapshotTable> lost;
  PgConn conn;  // connected once a table is not done
  for (const auto& entry : known) {
    const TableProgress& p = entry.second;
    if (p.skip_before.IsValid()) skips_[{p.schema, p.table}] = p.skip_before;
    if (p.done) continue;
    if (!conn) {
      FERRY_ASSIGN_OR_RETURN(conn, PgConn::Connect(o_.conninfo, {{"application_name", "ferry-snapshot"}}));
    }
    auto t = LoadPublishedTable(conn, o_.publication, p.schema, p.table);
    if (!t.ok() && !t.status().IsRetriable()) continue;  // the incremental snapshot says why it drops it
    FERRY_RETURN_IF_ERROR(t.status());
    if (RequireKey(*t, "").ok()) continue;  // resumes from its last acknowledged key
    // Once per table, whatever parts it was read in.
    if (std::any_of(lost.begin(), lost.end(), [&](const SnapshotTable& x) { return x.Display() == t->Display(); })) continue;
    lost.push_back(std::move(t).value());
  }
  std::set<std::string> names;
  if (lost.empty()) return names;
  // The marks first, then the slot: each mark commits before the snapshot's
  // consistent point, so the stream meets it before any change the copy lacks.
  const std::string session = std::to_string(getpid()) + "." + std::to_string(time(nullptr));
  for (size_t i = 0; i < lost.size(); ++i) {
    Waiting w{std::move(lost[i]), session + "." + std::to_string(i)};
    FERRY_RETURN_IF_ERROR(conn.ExecParams("SELECT pg_logical_emit_message(true, $1, $2)",
                                          {std::string(kRecopyPrefix),
                                           EncodeRecopyMark({o_.slot, w.id, w.table.Display()})})
                              .status());
    names.insert(w.table.Display());
    waiting_.emplace(w.id, std::move(w));
  }
  FERRY_ASSIGN_OR_RETURN(exporting_, PgConn::Connect(o_.conninfo, {{"replication", "database"},
                                                                   {"application_name", "ferry-recopy"}}));
  // Unique per attempt: a slot of an attempt just abandoned may linger a moment.
  const std::string slot = "ferry_recopy_" + std::to_string(getpid()) + "_" +
                           std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  FERRY_ASSIGN_OR_RETURN(PgResult r, exporting_.Exec("CREATE_REPLICATION_SLOT " + QuoteIdent(slot) +
                                                     " TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT"));
  FERRY_ASSIGN_OR_RETURN(consistent_point_, Lsn::Parse(PQgetvalue(r.get(), 0, 1)));
  snapshot_name_ = PQgetvalue(r.get(), 0, 2);
  for (const auto& [id, w] : waiting_) {
    skips_[{w.table.schema, w.table.name}] = consistent_point_;
    spdlog::warn("the initial copy of {} was lost with its exported snapshot, and the table has no key to resume "
                 "by: it is copied again at {} (after a truncate on the target), its changes before that point "
                 "dropped from the stream",
                 w.table.Display(), consistent_point_.ToString());
  }
  return names;
}

void SnapshotRecopy::set_builder(EventBuilder* builder) {
  builder_ = builder;
  for (const auto& [table, lsn] : skips_) builder_->SkipTableBefore(table.first, table.second, lsn);
}

Status SnapshotRecopy::OnTransactionalMessage(const LogicalMessage& m) {
  if (m.prefix != kRecopyPrefix) return Status::OK();
  auto mark = DecodeRecopyMark(m.content);
  if (!mark.ok()) {
    spdlog::warn("ignoring recopy mark at {}: {}", m.lsn.ToString(), mark.status().ToString());
    return Status::OK();
  }
  auto it = waiting_.find(mark->id);
  if (mark->slot != o_.slot || it == waiting_.end()) return Status::OK();  // an earlier session's
  FERRY_RETURN_IF_ERROR(Copy(it->second));
  waiting_.erase(it);
  if (waiting_.empty()) exporting_ = PgConn();  // drops the temporary slot, releases the snapshot
  return Status::OK();
}

Status SnapshotRecopy::Copy(const Waiting& w) {
  FERRY_ASSIGN_OR_RETURN(PgConn conn, PgConn::Connect(o_.conninfo, {{"application_name", "ferry-snapshot"},
                                                                    {"options", kSnapshotReadOptions}}));
  FERRY_RETURN_IF_ERROR(conn.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").status());
  FERRY_RETURN_IF_ERROR(conn.Exec("SET TRANSACTION SNAPSHOT " + QuoteLiteral(snapshot_name_)).status());
  const SnapshotTable& t = w.table;
  ferry::v1::ChangeEvent truncate;
  truncate.set_source_database(o_.database);
  truncate.set_schema(t.schema);
  truncate.set_table(t.name);
  truncate.set_op(ferry::v1::OP_TRUNCATE);
  truncate.mutable_truncate()->set_recopy(true);
  FERRY_RETURN_IF_ERROR(builder_->PublishInTransaction(transport::TableKey(t.schema, t.name), truncate));
  FERRY_RETURN_IF_ERROR(builder_->EndUnitInTransaction());
  SnapshotTable whole = t;
  whole.key_order.clear();  // the whole table through one cursor, in no order
  FERRY_RETURN_IF_ERROR(
      conn.Exec("DECLARE ferry_recopy NO SCROLL CURSOR FOR " + BuildChunkQuery(whole, false, 0)).status());
  const std::string fetch = "FETCH " + std::to_string(o_.chunk_rows) + " FROM ferry_recopy";
  const std::string table_key = transport::TableKey(t.schema, t.name);  // every row's: the table has no key
  std::string rows_text;
  TableProgress p;
  p.schema = t.schema;
  p.table = t.name;
  // Shown as the initial copy's is: logged, and in `ferry lag` (a big table
  // copied again holds the stream back meanwhile).
  const int64_t estimate = static_cast<int64_t>(t.estimated_rows);
  SnapshotReporter reporter("copy again", estimate, 1);
  reporter.SetTableEstimate(t.Display(), estimate);
  for (bool last = false; !last;) {
    FERRY_ASSIGN_OR_RETURN(PgResult r, conn.Exec(fetch));
    const int n = PQntuples(r.get());
    if (o_.row_events) {
      for (int row = 0; row < n; ++row) {
        ferry::v1::ChangeEvent e = ReadEventOf(t, r.get(), row, o_.database);
        FERRY_RETURN_IF_ERROR(builder_->PublishInTransaction(KafkaKeyOf(t, r.get(), row), e));
      }
    } else {
      FERRY_RETURN_IF_ERROR(ForEachRowsEvent(t, r.get(), o_.database, rows_text, [&](ferry::v1::ChangeEvent& e) {
        return builder_->PublishInTransaction(table_key, e);
      }));
    }
    FERRY_RETURN_IF_ERROR(builder_->EndUnitInTransaction());
    p.rows += n;
    p.chunks += n > 0 ? 1 : 0;
    last = n < o_.chunk_rows;
    reporter.AddTableRows(t.Display(), n);
    reporter.MaybeLog();
    if (o_.status != nullptr) o_.status->SetSnapshot(last ? "" : reporter.Progress());
    if (between_chunks_) FERRY_RETURN_IF_ERROR(between_chunks_());
  }
  FERRY_RETURN_IF_ERROR(conn.Exec("COMMIT").status());
  p.done = true;
  p.skip_before = consistent_point_;
  spdlog::info("{} copied again at {}: {} rows", t.Display(), consistent_point_.ToString(), p.rows);
  pending_.push_back({builder_->commit_lsn(), std::move(p)});
  return Status::OK();
}

Status SnapshotRecopy::RecordConfirmed(Lsn confirmed) {
  std::vector<TableProgress> done;
  std::erase_if(pending_, [&](Pending& x) {
    if (!(x.commit_lsn < confirmed)) return false;
    done.push_back(std::move(x.progress));
    return true;
  });
  if (done.empty()) return Status::OK();
  return progress_.Replace(done, done);  // every part the lost copy had is done with it
}

}  // namespace ferry::capture
