// TargetWriter: plans each event's statement from cached table metadata, then
// sends the whole batch as BEGIN .. COMMIT in one libpq pipeline.
#include "apply/target_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <unordered_map>
#include <vector>

#include "apply/pipeline.h"
#include "apply/schema_changes.h"
#include "apply/statement_builder.h"
#include "apply/table_catalog.h"
#include "common/lsn.h"
#include "common/pg.h"

namespace ferry::apply {

namespace {

using ferry::v1::ChangeEvent;

// synchronous_commit=on: an OK batch survives a target crash. The rest fix how
// the server reads and prints values, whatever the target's defaults.
constexpr const char* kSessionSettings =
    "SET synchronous_commit = on; SET DateStyle = ISO; SET IntervalStyle = postgres; "
    "SET extra_float_digits = 3";

// Past this many distinct statements the connection's prepared statements are
// dropped and prepared again as needed, so memory on both sides stays bounded.
constexpr size_t kMaxPrepared = 5000;

constexpr size_t kNoEvent = std::numeric_limits<size_t>::max();

Status Classify(const PipelineFailure& f, const std::string& context) {
  return PgErrorStatus(f.sqlstate, f.connection_lost, context + ": " + f.message);
}

// Server notices (e.g. "truncate cascades to table ...") go to the log, not stderr.
void LogNotice(void*, const char* message) {
  std::string m = message ? message : "";
  while (!m.empty() && m.back() == '\n') m.pop_back();
  spdlog::debug("target: {}", m);
}

// One statement to send, and which event it came from.
struct Planned {
  size_t event;
  Statement st;
};

// A conflict met by a statement of the batch, counted once the batch commits.
struct Met {
  size_t event;
  const Statement* st;
};

std::string Clip(const std::string& value) {
  constexpr size_t kMax = 120;
  if (value.size() <= kMax) return value;
  return value.substr(0, kMax) + "...(" + std::to_string(value.size()) + " bytes)";
}

// `id=1 v='a' big=<unchanged toast>` for conflict logs.
std::string RowText(const google::protobuf::RepeatedPtrField<ferry::v1::Column>& columns) {
  std::string out;
  for (const auto& c : columns) {
    out += (out.empty() ? "" : " ") + c.name() + "=";
    switch (c.kind()) {
      case ferry::v1::Column::KIND_NULL: out += "NULL"; break;
      case ferry::v1::Column::KIND_UNCHANGED_TOAST: out += "<unchanged toast>"; break;
      default: out += QuoteLiteral(Clip(c.value()));
    }
  }
  return out;
}

bool SameTruncate(const ChangeEvent& a, const ChangeEvent& b) {
  return b.op() == ferry::v1::OP_TRUNCATE && a.commit_lsn() == b.commit_lsn() &&
         a.lsn() == b.lsn() && a.truncate().cascade() == b.truncate().cascade() &&
         a.truncate().restart_identity() == b.truncate().restart_identity();
}

}  // namespace

struct TargetWriter::Impl {
  PgConn conn;
  TableCatalog catalog{&conn};
  TargetWriterOptions options;
  ConflictStats own_stats;
  ConflictStats* stats = &own_stats;
  std::unordered_map<std::string, std::string> prepared;  // SQL text -> statement name
  uint64_t next_statement_id = 0;
  bool broken = false;  // the connection was lost: every call fails until reconnect

  Status Apply(std::span<const ChangeEvent> events, std::span<const AppliedPosition> progress);
  Result<const TableInfo*> TableFor(const ChangeEvent& e);
  Result<Statement> Plan(const ChangeEvent& e);
  Status PlanTruncate(std::span<const ChangeEvent> events, const std::vector<size_t>& order,
                      size_t at, std::vector<bool>* done, std::vector<Planned>* out);
  Status Execute(std::span<const ChangeEvent> events, const std::vector<Planned>& planned,
                 std::span<const AppliedPosition> progress);
  Status Send(Pipeline& pipeline, const Statement& st, size_t command,
              std::vector<std::pair<size_t, const std::string*>>* new_prepares);
  void Count(std::span<const ChangeEvent> events, const std::vector<Met>& met);
  Status Fail(std::span<const ChangeEvent> events, const PipelineFailure& failure,
              size_t event_index);
};

// The event's table, created or extended first when the options allow it.
Result<const TableInfo*> TargetWriter::Impl::TableFor(const ChangeEvent& e) {
  FERRY_ASSIGN_OR_RETURN(const TableInfo* table, catalog.Find(e.schema(), e.table()));
  if (table == nullptr) {
    if (!options.create_tables || e.op() == ferry::v1::OP_TRUNCATE) {
      return catalog.Get(e.schema(), e.table());  // the "does not exist" error
    }
    FERRY_RETURN_IF_ERROR(CreateTargetTable(conn, e));
    FERRY_ASSIGN_OR_RETURN(table, catalog.Get(e.schema(), e.table()));
  }
  if (!options.evolve_schema) return table;
  auto missing = MissingColumns(e, *table);
  if (missing.empty()) return table;
  // The cache may predate a column added on the target: look again first.
  FERRY_ASSIGN_OR_RETURN(table, catalog.Refresh(e.schema(), e.table()));
  missing = MissingColumns(e, *table);
  if (missing.empty()) return table;
  FERRY_RETURN_IF_ERROR(AddTargetColumns(conn, *table, missing));
  return catalog.Refresh(e.schema(), e.table());
}

Result<Statement> TargetWriter::Impl::Plan(const ChangeEvent& e) {
  FERRY_ASSIGN_OR_RETURN(const TableInfo* table, TableFor(e));
  Result<Statement> st = BuildStatement(e, *table, options.rule);
  if (st.ok() || st.status().code() != Status::Code::kInvalidArgument) return st;
  // The target's DDL may have changed since the table was cached: look once more.
  FERRY_ASSIGN_OR_RETURN(table, catalog.Refresh(e.schema(), e.table()));
  return BuildStatement(e, *table, options.rule);
}

// The tables one source TRUNCATE named arrive as one event each: they are
// truncated together, so that foreign keys among them do not refuse it.
Status TargetWriter::Impl::PlanTruncate(std::span<const ChangeEvent> events,
                                        const std::vector<size_t>& order, size_t at,
                                        std::vector<bool>* done, std::vector<Planned>* out) {
  std::vector<const TableInfo*> tables;
  const size_t i = order[at];
  for (size_t k = at; k < order.size(); ++k) {
    const size_t j = order[k];
    if (j != i && ((*done)[j] || !SameTruncate(events[i], events[j]))) continue;
    (*done)[j] = true;
    Result<const TableInfo*> table = TableFor(events[j]);
    if (!table.ok()) return table.status().WithContext("applying " + DescribeEvent(events[j]));
    if (std::find(tables.begin(), tables.end(), *table) == tables.end()) tables.push_back(*table);
  }
  out->push_back({i, BuildTruncate(tables, events[i].truncate())});
  return Status::OK();
}

Status TargetWriter::Impl::Apply(std::span<const ChangeEvent> events,
                                 std::span<const AppliedPosition> progress) {
  std::vector<Planned> planned;
  planned.reserve(events.size());
  // In source commit order across partitions (each partition's events already
  // are): a TRUNCATE then meets the other changes of its table, consumed from
  // other partitions in the same batch, in the order the source made them.
  std::vector<size_t> order(events.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::pair(events[a].commit_lsn(), events[a].index_in_tx()) <
           std::pair(events[b].commit_lsn(), events[b].index_in_tx());
  });
  std::vector<bool> done(events.size(), false);
  for (size_t at = 0; at < order.size(); ++at) {
    const size_t i = order[at];
    if (done[i]) continue;
    const ChangeEvent& e = events[i];
    if (e.op() == ferry::v1::OP_TRUNCATE) {
      if (options.skip_truncate) {
        spdlog::info("skipped {} (--truncate skip)", DescribeEvent(e));
        continue;
      }
      FERRY_RETURN_IF_ERROR(PlanTruncate(events, order, at, &done, &planned));
      continue;
    }
    Result<Statement> st = Plan(e);
    if (!st.ok()) return st.status().WithContext("applying " + DescribeEvent(e));
    planned.push_back({i, std::move(st).value()});
  }
  if (prepared.size() > kMaxPrepared) {
    FERRY_RETURN_IF_ERROR(conn.Exec("DEALLOCATE ALL").status());
    prepared.clear();
  }
  return Execute(events, planned, progress);
}

// Sends one statement, prepared the first time its text is seen on this connection.
Status TargetWriter::Impl::Send(Pipeline& pipeline, const Statement& st, size_t command,
                                std::vector<std::pair<size_t, const std::string*>>* new_prepares) {
  std::string key = st.sql;
  for (uint32_t t : st.param_types) (key += '\x1f') += std::to_string(t);  // same text, other types
  auto [it, is_new] = prepared.try_emplace(std::move(key));
  if (is_new) {
    it->second = "ferry_apply_" + std::to_string(next_statement_id++);
    new_prepares->emplace_back(command, &it->first);
    FERRY_RETURN_IF_ERROR(pipeline.SendPrepare(it->second, st.sql, st.param_types));
  }
  return pipeline.SendQueryPrepared(it->second, st.params, st.param_lengths, st.param_formats);
}

// Sends BEGIN, each statement, the partitions' positions, COMMIT; then reads
// every result.
Status TargetWriter::Impl::Execute(std::span<const ChangeEvent> events,
                                   const std::vector<Planned>& planned,
                                   std::span<const AppliedPosition> progress) {
  Pipeline pipeline(conn.get());
  FERRY_RETURN_IF_ERROR(pipeline.Enter());
  std::vector<size_t> event_of_command;  // command number -> event index
  std::vector<size_t> planned_of_command;  // command number -> statement, for its rows
  event_of_command.reserve(planned.size() + progress.size() + 3);
  std::vector<std::pair<size_t, const std::string*>> new_prepares;  // command, cache key
  auto sent = [&](size_t event, size_t statement) {
    event_of_command.push_back(event);
    planned_of_command.push_back(statement);
  };

  std::vector<Met> met;
  pipeline.OnRows([&](size_t command, const PGresult* rows) {
    if (command >= planned_of_command.size() || planned_of_command[command] == kNoEvent) return;
    const Planned& p = planned[planned_of_command[command]];
    bool conflict = false;
    if (p.st.check == ResultCheck::kNoRowIsConflict) conflict = PQntuples(rows) == 0;
    if (p.st.check == ResultCheck::kFalseIsConflict) {
      conflict = PQntuples(rows) > 0 && PQgetvalue(rows, 0, 0)[0] == 'f';
    }
    if (conflict) met.push_back({p.event, &p.st});
  });

  FERRY_RETURN_IF_ERROR(pipeline.SendQuery("BEGIN"));
  sent(kNoEvent, kNoEvent);
  for (size_t i = 0; i < planned.size(); ++i) {
    const Statement& st = planned[i].st;
    size_t before = new_prepares.size();
    FERRY_RETURN_IF_ERROR(Send(pipeline, st, event_of_command.size(), &new_prepares));
    if (new_prepares.size() > before) sent(planned[i].event, kNoEvent);
    sent(planned[i].event, i);
  }
  std::vector<std::vector<std::string>> progress_values;
  progress_values.reserve(progress.size());
  for (const auto& p : progress) {
    progress_values.push_back(ProgressParams(p));
    Statement upsert;
    upsert.sql = kUpsertProgressSql;
    for (const auto& v : progress_values.back()) upsert.params.push_back(v.c_str());
    size_t before = new_prepares.size();
    FERRY_RETURN_IF_ERROR(Send(pipeline, upsert, event_of_command.size(), &new_prepares));
    if (new_prepares.size() > before) sent(kNoEvent, kNoEvent);
    sent(kNoEvent, kNoEvent);
  }
  FERRY_RETURN_IF_ERROR(pipeline.SendQuery("COMMIT"));
  sent(kNoEvent, kNoEvent);

  FERRY_ASSIGN_OR_RETURN(std::optional<PipelineFailure> failure, pipeline.Finish());
  if (!failure) {
    Count(events, met);
    return Status::OK();
  }
  // Prepares at or after the failure never ran.
  for (const auto& [command, key] : new_prepares) {
    if (command >= failure->command) prepared.erase(*key);
  }
  size_t event_index =
      failure->command < event_of_command.size() ? event_of_command[failure->command] : kNoEvent;
  return Fail(events, *failure, event_index);
}

void TargetWriter::Impl::Count(std::span<const ChangeEvent> events, const std::vector<Met>& met) {
  for (const Met& m : met) {
    const ChangeEvent& e = events[m.event];
    std::string table = QualifiedName(e.schema(), e.table());
    stats->Add(table, m.st->conflict, m.st->resolution);
    if (!options.log_conflicts) continue;
    bool has_new = e.op() != ferry::v1::OP_DELETE;
    spdlog::info("conflict {} ({}): {}: {}", ConflictKindName(m.st->conflict),
                 ResolutionName(m.st->resolution), DescribeEvent(e),
                 RowText(has_new ? e.columns() : e.old_columns()));
  }
}

// Rolls back the aborted transaction and names what failed.
Status TargetWriter::Impl::Fail(std::span<const ChangeEvent> events, const PipelineFailure& failure,
                                size_t event_index) {
  std::string context;
  if (event_index != kNoEvent) {
    context = "applying " + DescribeEvent(events[event_index]);
  } else {
    context = std::string(failure.command == 0 ? "beginning" : "committing") + " a batch of " +
              std::to_string(events.size()) + " events (commit LSN " +
              Lsn(events.front().commit_lsn()).ToString() + " to " +
              Lsn(events.back().commit_lsn()).ToString() + ")";
  }
  Status error = Classify(failure, context);
  // A failed statement may come from DDL on the target: read the catalog afresh.
  catalog.Clear();
  if (!failure.connection_lost && PQtransactionStatus(conn.get()) != PQTRANS_IDLE) {
    Result<PgResult> rollback = conn.Exec("ROLLBACK");
    if (!rollback.ok()) {
      return Status::Unavailable(error.message() +
                                 "; then ROLLBACK failed: " + rollback.status().message());
    }
  }
  return error;
}

TargetWriter::TargetWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TargetWriter::~TargetWriter() = default;

Result<std::unique_ptr<TargetWriter>> TargetWriter::Connect(const std::string& conninfo,
                                                            const TargetWriterOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.stats != nullptr) impl->stats = options.stats;
  FERRY_ASSIGN_OR_RETURN(impl->conn,
                         PgConn::Connect(conninfo, {{"application_name", "ferry-apply"}}));
  PQsetNoticeProcessor(impl->conn.get(), LogNotice, nullptr);
  FERRY_RETURN_IF_ERROR(impl->conn.Exec(kSessionSettings).status());
  FERRY_RETURN_IF_ERROR(EnsureProgressTable(impl->conn));
  return std::unique_ptr<TargetWriter>(new TargetWriter(std::move(impl)));
}

Status TargetWriter::ApplyBatch(std::span<const ChangeEvent> events,
                                std::span<const AppliedPosition> progress) {
  if (impl_->broken) {
    return Status::Unavailable("the connection to the target was lost earlier: reconnect");
  }
  if (events.empty()) return Status::OK();
  Status s = impl_->Apply(events, progress);
  if (s.IsRetriable()) impl_->broken = true;
  return s;
}

Result<std::optional<checkpoint::EventPosition>> TargetWriter::AppliedOnTarget(
    const TopicPartition& tp) {
  if (impl_->broken) {
    return Status::Unavailable("the connection to the target was lost earlier: reconnect");
  }
  auto r = LoadProgress(impl_->conn, tp);
  if (!r.ok() && r.status().IsRetriable()) impl_->broken = true;
  return r;
}

const ConflictStats& TargetWriter::conflicts() const { return *impl_->stats; }

}  // namespace ferry::apply
