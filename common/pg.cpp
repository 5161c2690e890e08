#include "common/pg.h"

#include "common/server_wait.h"

namespace ferry {

namespace {
std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}
}  // namespace

std::string DescribeConn(const PGconn* conn) {
  if (conn == nullptr) return "(not connected)";
  const char* host = PQhost(conn);
  const char* port = PQport(conn);
  const char* db = PQdb(conn);
  return std::string(host ? host : "?") + ":" + (port ? port : "?") + "/" + (db ? db : "?");
}

std::string PgConn::Describe() const { return DescribeConn(get()); }

std::string PgConn::LastError() const { return conn_ ? Trim(PQerrorMessage(get())) : ""; }

namespace {
Result<PgResult> Check(const PgConn& c, PGresult* raw, std::string_view sql) {
  PgResult r(raw);
  ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_BOTH ||
      st == PGRES_COPY_OUT || st == PGRES_COPY_IN) {
    return r;
  }
  std::string msg = r ? Trim(PQresultErrorMessage(r.get())) : c.LastError();
  const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
  std::string shown(sql.substr(0, 200));
  return PgErrorStatus(state ? state : "", PQstatus(c.get()) == CONNECTION_BAD, msg)
      .WithContext("executing '" + shown + "' on " + c.Describe());
}
}  // namespace

namespace {

// The answer to the statement just sent, as PQexec would give it (its last
// result, or the first COPY one), but waiting through ServerWait. Null when
// the connection broke (PQerrorMessage says why).
Result<PgResult> AwaitResult(PGconn* conn, std::string_view sql) {
  ServerWait wait(conn);
  PgResult last;
  for (;;) {
    while (!PQisBusy(conn)) {
      PGresult* r = PQgetResult(conn);
      if (r == nullptr) return last;
      last.reset(r);
      ExecStatusType st = PQresultStatus(r);
      if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) return last;
    }
    std::string waiting_for = "the answer to '" + std::string(sql.substr(0, 80)) + "'";
    FERRY_RETURN_IF_ERROR(wait.Ready(/*want_write=*/false, waiting_for));
    if (PQconsumeInput(conn) != 1) {
      // Broken: libpq hands out the error without waiting any more.
      for (PGresult* r; (r = PQgetResult(conn)) != nullptr;) last.reset(r);
      return last;
    }
  }
}

}  // namespace

Result<PgResult> PgConn::Exec(std::string_view sql) const {
  std::string q(sql);
  if (PQsendQuery(get(), q.c_str()) != 1) return Check(*this, nullptr, sql);
  FERRY_ASSIGN_OR_RETURN(PgResult r, AwaitResult(get(), sql));
  return Check(*this, r.release(), sql);
}

Result<PgResult> PgConn::ExecParams(std::string_view sql, const std::vector<PgParam>& params) const {
  std::string q(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  if (PQsendQueryParams(get(), q.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                        nullptr, 0) != 1) {
    return Check(*this, nullptr, sql);
  }
  FERRY_ASSIGN_OR_RETURN(PgResult r, AwaitResult(get(), sql));
  return Check(*this, r.release(), sql);
}

Status PgConn::CopyOut(std::string_view sql, const std::function<Status(std::string_view)>& row) const {
  FERRY_ASSIGN_OR_RETURN(PgResult started, Exec(sql));
  if (PQresultStatus(started.get()) != PGRES_COPY_OUT) {
    std::string message = "not a COPY TO STDOUT: ";  // appended: GCC 12's false -Wrestrict (bug 105329)
    message += sql.substr(0, 200);
    return Status::InvalidArgument(message);
  }
  ServerWait wait(get());
  std::string waiting_for = "the rows of ";
  waiting_for += sql.substr(0, 80);
  for (;;) {
    char* line = nullptr;
    const int n = PQgetCopyData(get(), &line, /*async=*/1);
    if (n > 0) {
      Status st = row(std::string_view(line, static_cast<size_t>(n)));
      PQfreemem(line);
      FERRY_RETURN_IF_ERROR(st);
    } else if (n == 0) {
      FERRY_RETURN_IF_ERROR(wait.Ready(/*want_write=*/false, waiting_for));
      if (PQconsumeInput(get()) != 1) break;  // the error is the command's result
    } else {
      break;  // -1: every row came; -2: an error, the command's result
    }
  }
  FERRY_ASSIGN_OR_RETURN(PgResult end, AwaitResult(get(), sql));
  return Check(*this, end.release(), sql).status();
}

Result<std::string> PgConn::QueryScalar(std::string_view sql,
                                        const std::vector<PgParam>& params) const {
  FERRY_ASSIGN_OR_RETURN(PgResult r, ExecParams(sql, params));
  if (PQntuples(r.get()) == 0 || PQnfields(r.get()) == 0) {
    return Status::NotFound("no row from '" + std::string(sql.substr(0, 200)) + "'");
  }
  return std::string(PQgetvalue(r.get(), 0, 0));
}

Status PgErrorStatus(std::string_view sqlstate, bool connection_lost, std::string message) {
  std::string_view cls = sqlstate.substr(0, 2);
  if (connection_lost || sqlstate.empty() || cls == "08" || cls == "40" || cls == "53" ||
      cls == "57" || cls == "58" || sqlstate == "55006") {
    return Status::Unavailable(std::move(message));
  }
  if (cls == "22" || cls == "23" || cls == "28" || cls == "3D" || cls == "42") {
    return Status::InvalidArgument(std::move(message));
  }
  return Status::Internal(std::move(message));
}

std::string QuoteIdentList(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + QuoteIdent(n);
  return out;
}

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char ch : name) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

std::string QualifiedName(std::string_view schema, std::string_view table) {
  return QuoteIdent(schema) + "." + QuoteIdent(table);
}

std::string QuoteLiteral(std::string_view text) {
  std::string out = "'";
  for (char ch : text) {
    if (ch == '\'') out += '\'';
    out += ch;
  }
  return out + "'";
}

}  // namespace ferry
