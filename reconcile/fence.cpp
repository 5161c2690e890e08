#include "reconcile/fence.h"

#include <libpq-fe.h>

#include <algorithm>

namespace ferry::reconcile {

namespace {

std::vector<std::string> Column0(const PGresult* r) {
  std::vector<std::string> out;
  for (int i = 0; i < PQntuples(r); ++i) out.emplace_back(PQgetvalue(r, i, 0));
  return out;
}

Result<std::vector<std::string>> ApplicationRoles(const PgConn& source) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, source.Exec(R"sql(
SELECT rolname FROM pg_roles
WHERE rolcanlogin AND NOT rolsuper AND NOT rolreplication
  AND rolname <> current_user AND rolname NOT LIKE 'pg\_%'
ORDER BY 1)sql"));
  return Column0(r.get());
}

Result<std::vector<std::string>> MarkedRoles(const PgConn& source) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, source.Exec(R"sql(
SELECT r.rolname FROM pg_db_role_setting s
JOIN pg_roles r ON r.oid = s.setrole
JOIN pg_database d ON d.oid = s.setdatabase
WHERE d.datname = current_database() AND 'ferry.fenced=on' = ANY (s.setconfig)
ORDER BY 1)sql"));
  return Column0(r.get());
}

Result<std::string> AlterRolePrefix(const PgConn& source, const std::string& role) {
  FERRY_ASSIGN_OR_RETURN(std::string db, source.QueryScalar("SELECT current_database()"));
  return "ALTER ROLE " + QuoteIdent(role) + " IN DATABASE " + QuoteIdent(db);
}

Result<int> TerminateSessions(const PgConn& source, const std::string& role,
                              std::chrono::milliseconds wait) {
  FERRY_ASSIGN_OR_RETURN(
      std::string n,
      source.QueryScalar("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, $2::bigint)) "
                         "FROM pg_stat_activity WHERE datname = current_database() AND usename = $1 "
                         "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
                         {role, std::to_string(wait.count())}));
  return std::stoi(n);
}

}  // namespace

Status FenceSource(PgConn& source, const FenceOptions& options, FenceResult* result) {
  std::vector<std::string> roles = options.roles;
  if (roles.empty()) {
    FERRY_ASSIGN_OR_RETURN(roles, ApplicationRoles(source));
  }
  std::sort(roles.begin(), roles.end());
  FenceResult out{roles, 0};
  for (const auto& role : roles) {
    FERRY_ASSIGN_OR_RETURN(std::string alter, AlterRolePrefix(source, role));
    FERRY_RETURN_IF_ERROR(source
                              .Exec(alter + " SET default_transaction_read_only = on; " + alter +
                                    " SET ferry.fenced = on")
                              .status()
                              .WithContext("fencing role " + role));
  }
  for (const auto& role : roles) {
    if (!options.terminate_sessions) break;
    FERRY_ASSIGN_OR_RETURN(int n, TerminateSessions(source, role, options.terminate_wait));
    out.terminated_sessions += n;
  }
  if (result) *result = std::move(out);
  return Status::OK();
}

Status UnfenceSource(PgConn& source, FenceResult* result) {
  FERRY_ASSIGN_OR_RETURN(auto roles, MarkedRoles(source));
  for (const auto& role : roles) {
    FERRY_ASSIGN_OR_RETURN(std::string alter, AlterRolePrefix(source, role));
    FERRY_RETURN_IF_ERROR(source
                              .Exec(alter + " RESET default_transaction_read_only; " + alter +
                                    " RESET ferry.fenced")
                              .status()
                              .WithContext("unfencing role " + role));
  }
  if (result) *result = FenceResult{roles, 0};
  return Status::OK();
}

}  // namespace ferry::reconcile
