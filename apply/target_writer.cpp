// TargetWriter: plans each event's statement from cached table metadata, then
// sends the whole batch as BEGIN .. COMMIT in one libpq pipeline.
#include "apply/target_writer.h"

#include <spdlog/spdlog.h>

#include <limits>
#include <unordered_map>
#include <vector>

#include "apply/pipeline.h"
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

}  // namespace

struct TargetWriter::Impl {
  PgConn conn;
  TableCatalog catalog{&conn};
  std::unordered_map<std::string, std::string> prepared;  // SQL text -> statement name
  uint64_t next_statement_id = 0;
  bool broken = false;  // the connection was lost: every call fails until reconnect

  Status Apply(std::span<const ChangeEvent> events);
  Result<Statement> Plan(const ChangeEvent& e);
  Status Execute(std::span<const ChangeEvent> events, const std::vector<Statement>& statements);
  Status Fail(std::span<const ChangeEvent> events, const PipelineFailure& failure,
              size_t event_index);
};

Result<Statement> TargetWriter::Impl::Plan(const ChangeEvent& e) {
  FERRY_ASSIGN_OR_RETURN(const TableInfo* table, catalog.Get(e.schema(), e.table()));
  Result<Statement> st = BuildReplaceStatement(e, *table);
  if (st.ok() || st.status().code() != Status::Code::kInvalidArgument) return st;
  // The target's DDL may have changed since the table was cached: look once more.
  FERRY_ASSIGN_OR_RETURN(table, catalog.Refresh(e.schema(), e.table()));
  return BuildReplaceStatement(e, *table);
}

Status TargetWriter::Impl::Apply(std::span<const ChangeEvent> events) {
  std::vector<Statement> statements;
  statements.reserve(events.size());
  for (const auto& e : events) {
    Result<Statement> st = Plan(e);
    if (!st.ok()) return st.status().WithContext("applying " + DescribeEvent(e));
    statements.push_back(std::move(st).value());
  }
  if (prepared.size() > kMaxPrepared) {
    FERRY_RETURN_IF_ERROR(conn.Exec("DEALLOCATE ALL").status());
    prepared.clear();
  }
  return Execute(events, statements);
}

// Sends BEGIN, each statement (prepared the first time its text is seen on
// this connection), COMMIT; then reads every result.
Status TargetWriter::Impl::Execute(std::span<const ChangeEvent> events,
                                   const std::vector<Statement>& statements) {
  Pipeline pipeline(conn.get());
  FERRY_RETURN_IF_ERROR(pipeline.Enter());
  std::vector<size_t> event_of_command;  // command number -> event index
  event_of_command.reserve(statements.size() + 3);
  std::vector<std::pair<size_t, const std::string*>> new_prepares;  // command, SQL

  FERRY_RETURN_IF_ERROR(pipeline.SendQuery("BEGIN"));
  event_of_command.push_back(kNoEvent);
  for (size_t i = 0; i < statements.size(); ++i) {
    const Statement& st = statements[i];
    auto [it, is_new] = prepared.try_emplace(st.sql);
    if (is_new) {
      it->second = "ferry_apply_" + std::to_string(next_statement_id++);
      new_prepares.emplace_back(event_of_command.size(), &it->first);
      FERRY_RETURN_IF_ERROR(
          pipeline.SendPrepare(it->second, st.sql, static_cast<int>(st.params.size())));
      event_of_command.push_back(i);
    }
    FERRY_RETURN_IF_ERROR(pipeline.SendQueryPrepared(it->second, st.params));
    event_of_command.push_back(i);
  }
  FERRY_RETURN_IF_ERROR(pipeline.SendQuery("COMMIT"));
  event_of_command.push_back(kNoEvent);

  FERRY_ASSIGN_OR_RETURN(std::optional<PipelineFailure> failure, pipeline.Finish());
  if (!failure) return Status::OK();
  // Prepares at or after the failure never ran.
  for (const auto& [command, sql] : new_prepares) {
    if (command >= failure->command) prepared.erase(*sql);
  }
  size_t event_index =
      failure->command < event_of_command.size() ? event_of_command[failure->command] : kNoEvent;
  return Fail(events, *failure, event_index);
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
  if (options.rule != ConflictRule::kReplace) {
    return Status::InvalidArgument("conflict rule none/merge not implemented yet");
  }
  auto impl = std::make_unique<Impl>();
  FERRY_ASSIGN_OR_RETURN(impl->conn,
                         PgConn::Connect(conninfo, {{"application_name", "ferry-apply"}}));
  PQsetNoticeProcessor(impl->conn.get(), LogNotice, nullptr);
  FERRY_RETURN_IF_ERROR(impl->conn.Exec(kSessionSettings).status());
  return std::unique_ptr<TargetWriter>(new TargetWriter(std::move(impl)));
}

Status TargetWriter::ApplyBatch(std::span<const ChangeEvent> events) {
  if (impl_->broken) {
    return Status::Unavailable("the connection to the target was lost earlier: reconnect");
  }
  if (events.empty()) return Status::OK();
  Status s = impl_->Apply(events);
  if (s.IsRetriable()) impl_->broken = true;
  return s;
}

}  // namespace ferry::apply
