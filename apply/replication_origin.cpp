#include "apply/replication_origin.h"

#include <spdlog/spdlog.h>

namespace ferry::apply {

namespace {

// What apply calls, as has_function_privilege names them.
constexpr const char* kFunctions[] = {
    "pg_replication_origin_create(text)",     "pg_replication_origin_oid(text)",
    "pg_replication_origin_session_setup(text)",
    "pg_replication_origin_session_reset()",  "pg_replication_origin_xact_setup(pg_lsn, timestamptz)",
    "pg_replication_origin_advance(text, pg_lsn)", "pg_replication_origin_progress(text, boolean)",
};

Status Refused(const std::string& origin, const std::string& why) {
  return Status::InvalidArgument(
      "apply marks its target transactions with the replication origin '" + origin +
      "', as PostgreSQL's own subscribers do, so that a ferry capture on the target never sends them back; " +
      why);
}

Result<std::string> MissingGrants(const PgConn& conn) {
  std::string sql = "SELECT concat_ws(', '";
  for (const char* f : kFunctions) {
    sql += std::string(", CASE WHEN has_function_privilege('") + f + "', 'EXECUTE') THEN NULL ELSE '" + f + "' END";
  }
  sql += ")";
  return conn.QueryScalar(sql);
}

}  // namespace

const char* const kOriginSetupSql = "SELECT pg_replication_origin_session_setup($1)";
const char* const kOriginXactSql =
    "SELECT pg_replication_origin_xact_setup($1::pg_lsn, to_timestamp($2::double precision / 1000000))";
const char* const kOriginResetSql = "SELECT pg_replication_origin_session_reset()";

Status EnsureReplicationOrigin(const PgConn& conn, const std::string& origin) {
  FERRY_ASSIGN_OR_RETURN(std::string missing, MissingGrants(conn));
  if (!missing.empty()) {
    FERRY_ASSIGN_OR_RETURN(std::string role, conn.QueryScalar("SELECT current_user"));
    return Refused(origin, "the role " + QuoteIdent(role) + " may not use " + missing +
                               " (PostgreSQL grants them to superusers only): connect as a superuser, or "
                               "GRANT EXECUTE ON FUNCTION " + missing + " TO " + QuoteIdent(role) +
                               " in the target database");
  }
  constexpr const char* kCreate =
      "SELECT pg_replication_origin_create($1) WHERE pg_replication_origin_oid($1) IS NULL";
  Result<PgResult> created = conn.ExecParams(kCreate, {origin});
  if (created.ok()) {
    if (PQntuples(created->get()) > 0) spdlog::info("created replication origin '{}' on the target", origin);
    return Status::OK();
  }
  if (created.status().IsRetriable()) return created.status();
  // Another apply process may have created it at the same moment.
  Result<std::string> exists = conn.QueryScalar("SELECT pg_replication_origin_oid($1) IS NOT NULL", {origin});
  if (exists.ok() && *exists == "t") return Status::OK();
  return Refused(origin, "the target refused to create it (" + created.status().message() +
                             "); replication origins need max_replication_slots > 0 on the target");
}

Status SeedReplicationOrigin(const PgConn& conn, const std::string& origin, Lsn position) {
  constexpr const char* kSeed =
      "SELECT pg_replication_origin_advance($1, $2::pg_lsn) WHERE pg_replication_origin_progress($1, false) IS NULL";
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn.ExecParams(kSeed, {origin, position.ToString()}));
  if (PQntuples(r.get()) > 0) {
    spdlog::info("replication origin '{}' starts at {}, the position ferry.apply_progress holds", origin,
                 position.ToString());
  }
  return Status::OK();
}

}  // namespace ferry::apply
