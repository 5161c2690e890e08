#include "apply/copy_run.h"

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

void AppendCopyValue(std::string& out, const Column* c) {
  if (c == nullptr || c->kind() == Column::KIND_NULL) {
    out += "\\N";
    return;
  }
  for (char ch : c->value()) {
    switch (ch) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: out += ch;
    }
  }
}

// Non-blocking COPY FROM STDIN on one connection, every wait bounded by
// ServerWait.
class CopyIn {
 public:
  explicit CopyIn(PGconn* conn) : conn_(conn), wait_(conn) {}
  ~CopyIn() { PQsetnonblocking(conn_, 0); }

  // Sends the COPY statement; the server's refusal, or nullopt once it waits for rows.
  Result<std::optional<PipelineFailure>> Start(const std::string& sql) {
    if (PQsetnonblocking(conn_, 1) != 0 || PQsendQuery(conn_, sql.c_str()) != 1) return Lost("sending COPY");
    FERRY_ASSIGN_OR_RETURN(PGresult * first, Next());
    if (first != nullptr && PQresultStatus(first) == PGRES_COPY_IN) {
      PQclear(first);
      return std::optional<PipelineFailure>();
    }
    return Refusal(first);
  }

  // Hands rows to libpq; once the server has refused them (its error ends
  // the COPY early) the rest are dropped and ended() is true.
  Status Put(const std::string& data) {
    while (!ended_) {
      int put = PQputCopyData(conn_, data.data(), static_cast<int>(data.size()));
      if (put == 1) return Status::OK();
      if (put < 0) return EndedByServer("sending rows");
      FERRY_RETURN_IF_ERROR(Flush());
    }
    return Status::OK();
  }
  bool ended() const { return ended_; }

  // Ends the rows and reads the outcome: the refusal, or nullopt.
  Result<std::optional<PipelineFailure>> Finish() {
    while (!ended_) {
      int put = PQputCopyEnd(conn_, nullptr);
      if (put == 1) break;
      if (put < 0) FERRY_RETURN_IF_ERROR(EndedByServer("ending COPY"));
      if (put == 0) FERRY_RETURN_IF_ERROR(Flush());
    }
    FERRY_ASSIGN_OR_RETURN(PGresult * result, Next());
    if (result != nullptr && PQresultStatus(result) == PGRES_COMMAND_OK) {
      PQclear(result);
      FERRY_ASSIGN_OR_RETURN(PGresult * after, Next());
      if (after != nullptr) return Refusal(after);
      return std::optional<PipelineFailure>();
    }
    return Refusal(result);
  }

 private:
  Status Lost(const std::string& doing) const {
    return Status::Unavailable("connection to the target lost while " + doing + ": " + Trim(PQerrorMessage(conn_)));
  }

  // libpq refuses more rows: the connection is gone, or the server's error
  // (read by Finish) ended the COPY.
  Status EndedByServer(const std::string& doing) {
    if (PQstatus(conn_) == CONNECTION_BAD) return Lost(doing);
    ended_ = true;
    return Status::OK();
  }

  // Sends what libpq holds, waiting while the socket is full.
  Status Flush() {
    for (;;) {
      int flushed = PQflush(conn_);
      if (flushed < 0) return Lost("sending rows");
      if (flushed == 0) return Status::OK();
      FERRY_RETURN_IF_ERROR(wait_.Ready(/*want_write=*/true, "the target to take COPY rows"));
      if (PQconsumeInput(conn_) != 1) return Lost("sending rows");
    }
  }

  // The next result (nullptr: the command's results ended), waiting for it.
  Result<PGresult*> Next() {
    FERRY_RETURN_IF_ERROR(Flush());
    while (PQisBusy(conn_)) {
      FERRY_RETURN_IF_ERROR(wait_.Ready(/*want_write=*/false, "the answer to COPY"));
      if (PQconsumeInput(conn_) != 1) return Lost("reading the answer to COPY");
    }
    return PQgetResult(conn_);
  }

  // Reads `result` (an error, or nullptr when the server sent none) and what
  // follows it, up to the end of the command.
  Result<std::optional<PipelineFailure>> Refusal(PGresult* result) {
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

  PGconn* conn_;
  ServerWait wait_;
  bool ended_ = false;
};

}  // namespace

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
  bool first = true;
  for (const auto& name : columns) {
    if (!first) out += '\t';
    first = false;
    AppendCopyValue(out, FindColumn(e.columns(), name));
  }
  out += '\n';
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
