#include "apply/copy_run.h"

#include "common/copy_text.h"
#include "common/pg.h"
#include "common/server_wait.h"

namespace ferry::apply {

namespace {

using ferry::v1::ChangeEvent;
using ferry::v1::Column;

// Rows are handed to libpq in pieces of about this size: memory stays bounded
// whatever the run's rows weigh.
constexpr size_t kPieceBytes = 1 << 20;

std::string Trim(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

CopyIn::CopyIn(PGconn* conn) : conn_(conn), wait_(conn) {}
CopyIn::~CopyIn() {
  StopSender().PermitUncheckedError();
  PQsetnonblocking(conn_, 0);
}

Result<std::optional<PipelineFailure>> CopyIn::Start(const std::string& sql) {
  if (PQsetnonblocking(conn_, 1) != 0 || PQsendQuery(conn_, sql.c_str()) != 1) return Lost("sending COPY");
  FERRY_ASSIGN_OR_RETURN(PGresult * first, Next());
  if (first != nullptr && PQresultStatus(first) == PGRES_COPY_IN) {
    PQclear(first);
    return std::optional<PipelineFailure>();
  }
  return Refusal(first);
}

Status CopyIn::Put(std::string_view data) {
  while (!ended_) {
    int put = PQputCopyData(conn_, data.data(), static_cast<int>(data.size()));
    if (put == 1) return Status::OK();
    if (put < 0) return EndedByServer("sending rows");
    FERRY_RETURN_IF_ERROR(Flush());
  }
  return Status::OK();
}

void CopyIn::StartSender(size_t max_queued) {
  if (sender_) return;
  sender_ = std::make_unique<Sender>();
  sender_->max_bytes = max_queued;
  sender_->thread = std::thread([this] { SendLoop(); });
}

Status CopyIn::Queue(std::string_view data) {
  if (!sender_) return Put(data);
  std::unique_lock lock(sender_->mu);
  sender_->cv.wait(lock, [&] { return sender_->bytes < sender_->max_bytes || !sender_->error.ok(); });
  if (!sender_->error.ok()) return sender_->error;
  sender_->pieces.emplace_back(data);
  sender_->bytes += data.size();
  sender_->cv.notify_all();
  return Status::OK();
}

void CopyIn::SendLoop() {
  for (;;) {
    std::string piece;
    {
      std::unique_lock lock(sender_->mu);
      sender_->cv.wait(lock, [&] { return !sender_->pieces.empty() || sender_->closed; });
      if (sender_->pieces.empty()) return;
      piece = std::move(sender_->pieces.front());
      sender_->pieces.pop_front();
    }
    // Sent to the socket before the next piece is awaited: in nonblocking mode
    // libpq keeps what the socket did not take until it is called again, and
    // the target would wait for rows that sit in the buffer.
    Status st = sender_->error.ok() ? Put(piece) : Status::OK();  // after an error, what waits is dropped
    if (st.ok() && sender_->error.ok()) st = Flush();
    std::lock_guard lock(sender_->mu);
    if (!st.ok() && sender_->error.ok()) sender_->error = st;
    sender_->bytes -= piece.size();
    sender_->cv.notify_all();
  }
}

Status CopyIn::StopSender() {
  if (!sender_) return Status::OK();
  {
    std::lock_guard lock(sender_->mu);
    sender_->closed = true;
    sender_->cv.notify_all();
  }
  sender_->thread.join();
  Status st = sender_->error;
  sender_.reset();
  return st;
}

Status CopyIn::EndRows(const char* error) {
  while (!ended_) {
    int put = PQputCopyEnd(conn_, error);
    if (put == 1) break;
    if (put < 0) FERRY_RETURN_IF_ERROR(EndedByServer("ending COPY"));
    if (put == 0) FERRY_RETURN_IF_ERROR(Flush());
  }
  return Status::OK();
}

Result<std::optional<PipelineFailure>> CopyIn::Finish() {
  FERRY_RETURN_IF_ERROR(StopSender());
  FERRY_RETURN_IF_ERROR(EndRows(nullptr));
  FERRY_ASSIGN_OR_RETURN(PGresult * result, Next());
  if (result != nullptr && PQresultStatus(result) == PGRES_COMMAND_OK) {
    PQclear(result);
    FERRY_ASSIGN_OR_RETURN(PGresult * after, Next());
    if (after != nullptr) return Refusal(after);
    return std::optional<PipelineFailure>();
  }
  return Refusal(result);
}

Status CopyIn::Cancel() {
  StopSender().PermitUncheckedError();  // the COPY ends with an error anyway
  FERRY_RETURN_IF_ERROR(EndRows("cancelled by ferry apply"));
  ended_ = true;
  return Finish().status();  // the server's answer: the error it ended the COPY with
}

Status CopyIn::Lost(const std::string& doing) const {
  return Status::Unavailable("connection to the target lost while " + doing + ": " + Trim(PQerrorMessage(conn_)));
}

Status CopyIn::EndedByServer(const std::string& doing) {
  if (PQstatus(conn_) == CONNECTION_BAD) return Lost(doing);
  ended_ = true;
  return Status::OK();
}

Status CopyIn::Flush() {
  for (;;) {
    int flushed = PQflush(conn_);
    if (flushed < 0) return Lost("sending rows");
    if (flushed == 0) return Status::OK();
    FERRY_RETURN_IF_ERROR(wait_.Ready(/*want_write=*/true, "the target to take COPY rows"));
    if (PQconsumeInput(conn_) != 1) return Lost("sending rows");
  }
}

Result<PGresult*> CopyIn::Next() {
  FERRY_RETURN_IF_ERROR(Flush());
  while (PQisBusy(conn_)) {
    FERRY_RETURN_IF_ERROR(wait_.Ready(/*want_write=*/false, "the answer to COPY"));
    if (PQconsumeInput(conn_) != 1) return Lost("reading the answer to COPY");
  }
  return PQgetResult(conn_);
}

Result<std::optional<PipelineFailure>> CopyIn::Refusal(PGresult* result) {
  PipelineFailure f;
  f.connection_lost = PQstatus(conn_) == CONNECTION_BAD;
  if (result != nullptr) {
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    f.sqlstate = state ? state : "";
    f.message = Trim(PQresultErrorMessage(result));
    PQclear(result);
  } else {
    f.message = "COPY ended without a result";
  }
  if (f.connection_lost) return Lost("running COPY (" + f.message + ")");
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(PGresult * more, Next());
    if (more == nullptr) break;
    PQclear(more);
  }
  return std::optional<PipelineFailure>(std::move(f));
}

bool SameCopyShape(const ChangeEvent& first, const ChangeEvent& next, ferry::v1::Operation op) {
  if (next.op() != op || next.schema() != first.schema() || next.table() != first.table() ||
      next.columns_size() != first.columns_size()) {
    return false;
  }
  for (int i = 0; i < first.columns_size(); ++i) {
    if (first.columns(i).name() != next.columns(i).name()) return false;
  }
  return true;
}

bool CopyFits(std::span<const ChangeEvent* const> run, const TableInfo& table) {
  if (table.has_rules) return false;
  for (const ChangeEvent* e : run) {
    if (e->op() != ferry::v1::OP_INSERT && e->op() != ferry::v1::OP_READ) return false;
  }
  return true;
}

std::string CopyStatement(const TableInfo& table, const Names& columns) {
  return "COPY " + table.QualifiedName() + " (" + QuoteIdentList(columns) + ") FROM STDIN";
}

void AppendCopyRow(std::string& out, const ChangeEvent& e, const Names& columns) {
  AppendCopyLine(out, columns.size(), [&](size_t i) -> std::optional<std::string_view> {
    const Column* c = FindColumn(e.columns(), columns[i]);
    if (c == nullptr || c->kind() == Column::KIND_NULL) return std::nullopt;
    return c->value();
  });
}

Result<std::optional<PipelineFailure>> CopyRows(PGconn* conn, std::span<const ChangeEvent* const> run,
                                               const TableInfo& table, const Names& columns) {
  CopyIn copy(conn);
  FERRY_ASSIGN_OR_RETURN(std::optional<PipelineFailure> refused, copy.Start(CopyStatement(table, columns)));
  if (refused) return refused;
  std::string piece;
  piece.reserve(kPieceBytes + (kPieceBytes >> 2));
  for (const ChangeEvent* e : run) {
    if (copy.ended()) break;
    AppendCopyRow(piece, *e, columns);
    if (piece.size() < kPieceBytes) continue;
    FERRY_RETURN_IF_ERROR(copy.Put(piece));
    piece.clear();
  }
  if (!piece.empty()) FERRY_RETURN_IF_ERROR(copy.Put(piece));
  return copy.Finish();
}

}  // namespace ferry::apply
