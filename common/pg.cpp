#include "common/pg.h"

namespace ferry {

namespace {
std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}
}  // namespace

std::string PgConn::Describe() const {
  if (!conn_) return "(not connected)";
  const char* host = PQhost(get());
  const char* port = PQport(get());
  const char* db = PQdb(get());
  return std::string(host ? host : "?") + ":" + (port ? port : "?") + "/" + (db ? db : "?");
}

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

Result<PgResult> PgConn::Exec(std::string_view sql) const {
  std::string q(sql);
  return Check(*this, PQexec(get(), q.c_str()), sql);
}

Result<PgResult> PgConn::ExecParams(std::string_view sql, const std::vector<PgParam>& params) const {
  std::string q(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  return Check(*this,
               PQexecParams(get(), q.c_str(), static_cast<int>(values.size()), nullptr,
                            values.data(), nullptr, nullptr, 0),
               sql);
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
      cls == "57" || cls == "58") {
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
