#include "apply/pipeline.h"

#include <algorithm>

namespace ferry::apply {

namespace {

// Read results after this many sends, so the server never blocks on its output.
constexpr size_t kPumpEvery = 64;

std::string Trim(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Pipeline::~Pipeline() { Leave(); }

void Pipeline::Leave() {
  if (!in_pipeline_) return;
  in_pipeline_ = false;
  // Fails (harmlessly) when results are still pending: only after an error,
  // and the caller then drops the connection.
  PQexitPipelineMode(conn_);
  PQsetnonblocking(conn_, 0);
}

Status Pipeline::Lost(const std::string& doing) const {
  return Status::Unavailable("connection to the target lost while " + doing + ": " +
                             Trim(PQerrorMessage(conn_)));
}

Status Pipeline::Enter() {
  if (PQsetnonblocking(conn_, 1) != 0) return Lost("entering non-blocking mode");
  if (PQenterPipelineMode(conn_) != 1) {
    PQsetnonblocking(conn_, 0);
    return PQstatus(conn_) == CONNECTION_BAD
               ? Lost("entering pipeline mode")
               : Status::Internal("cannot enter pipeline mode: " + Trim(PQerrorMessage(conn_)));
  }
  in_pipeline_ = true;
  return Status::OK();
}

Status Pipeline::AfterSend(int sent_ok) {
  if (sent_ok != 1) return Lost("sending a statement");
  ++sent_;
  if (sent_ % kPumpEvery == 0) return Pump(/*wait=*/false);
  return Status::OK();
}

Status Pipeline::SendQuery(const char* sql) {
  return AfterSend(PQsendQueryParams(conn_, sql, 0, nullptr, nullptr, nullptr, nullptr, 0));
}

Status Pipeline::SendPrepare(const std::string& name, const std::string& sql,
                             const std::vector<uint32_t>& param_types) {
  static_assert(sizeof(Oid) == sizeof(uint32_t));
  return AfterSend(PQsendPrepare(conn_, name.c_str(), sql.c_str(),
                                 static_cast<int>(param_types.size()),
                                 reinterpret_cast<const Oid*>(param_types.data())));
}

Status Pipeline::SendQueryPrepared(const std::string& name, const std::vector<const char*>& params,
                                   const std::vector<int>& lengths,
                                   const std::vector<int>& formats) {
  bool binary = std::find(formats.begin(), formats.end(), 1) != formats.end();
  return AfterSend(PQsendQueryPrepared(conn_, name.c_str(), static_cast<int>(params.size()),
                                       params.data(), binary ? lengths.data() : nullptr,
                                       binary ? formats.data() : nullptr, 0));
}

Status Pipeline::Pump(bool wait) {
  int flushed = PQflush(conn_);  // 0: all sent, 1: some left, -1: error
  if (flushed < 0) return Lost("sending statements");
  if (wait) {
    if (PQsocket(conn_) < 0) return Lost("waiting for results");
    FERRY_RETURN_IF_ERROR(wait_.Ready(/*want_write=*/flushed == 1,
                                      "the target to apply a batch (" + std::to_string(sent_ - done_) +
                                          " results outstanding)"));
  }
  if (PQconsumeInput(conn_) != 1) return Lost("reading results");
  ReadAvailable();
  return Status::OK();
}

// Each command yields its result(s) then a NULL; the Sync yields one
// PGRES_PIPELINE_SYNC and no NULL.
void Pipeline::ReadAvailable() {
  while (done_ < sent_ && !PQisBusy(conn_)) {
    PGresult* raw = PQgetResult(conn_);
    if (raw == nullptr) {
      ++done_;
      continue;
    }
    ExecStatusType st = PQresultStatus(raw);
    if (st == PGRES_TUPLES_OK && on_rows_) on_rows_(done_, raw);
    if (st == PGRES_PIPELINE_SYNC) {
      ++done_;
      synced_ = true;
    } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_PIPELINE_ABORTED &&
               !failure_) {
      const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
      failure_ = PipelineFailure{done_, Trim(PQresultErrorMessage(raw)), state ? state : "",
                                 PQstatus(conn_) == CONNECTION_BAD};
    }
    PQclear(raw);
  }
}

Result<std::optional<PipelineFailure>> Pipeline::Finish() {
  if (PQpipelineSync(conn_) != 1) return Lost("sending the pipeline sync");
  ++sent_;
  while (!synced_) {
    if (PQstatus(conn_) == CONNECTION_BAD) return Lost("reading results");
    if (done_ >= sent_) return Status::Internal("pipeline ended without its sync result");
    FERRY_RETURN_IF_ERROR(Pump(/*wait=*/true));
  }
  Leave();
  return failure_;
}

}  // namespace ferry::apply
