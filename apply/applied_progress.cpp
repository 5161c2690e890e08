#include "apply/applied_progress.h"

namespace ferry::apply {

namespace {

constexpr const char* kCreate =
    "CREATE SCHEMA IF NOT EXISTS ferry; "
    "CREATE TABLE IF NOT EXISTS ferry.apply_progress ("
    "topic text NOT NULL, partition int NOT NULL, commit_lsn pg_lsn NOT NULL, "
    "idx bigint NOT NULL, commit_time timestamptz, "
    "updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (topic, partition))";

}  // namespace

const char* const kUpsertProgressSql =
    "INSERT INTO ferry.apply_progress (topic, partition, commit_lsn, idx, commit_time, "
    "updated_at) VALUES ($1, $2::int, $3::pg_lsn, $4::bigint, "
    "to_timestamp($5::double precision / 1000000), now()) "
    "ON CONFLICT (topic, partition) DO UPDATE SET commit_lsn = EXCLUDED.commit_lsn, "
    "idx = EXCLUDED.idx, commit_time = EXCLUDED.commit_time, updated_at = EXCLUDED.updated_at";

std::vector<std::string> ProgressParams(const AppliedPosition& p) {
  return {p.tp.topic, std::to_string(p.tp.partition), p.position.commit_lsn.ToString(),
          std::to_string(p.position.index), std::to_string(p.commit_time_us)};
}

Status EnsureProgressTable(const PgConn& conn) {
  Status created = conn.Exec(kCreate).status();
  if (created.ok() || created.IsRetriable()) return created;
  // Another apply process may have created it at the same moment.
  FERRY_ASSIGN_OR_RETURN(std::string exists,
                         conn.QueryScalar("SELECT to_regclass('ferry.apply_progress') IS NOT NULL"));
  return exists == "t" ? Status::OK() : created;
}

Result<std::optional<checkpoint::EventPosition>> LoadProgress(const PgConn& conn,
                                                              const TopicPartition& tp) {
  FERRY_ASSIGN_OR_RETURN(
      PgResult r, conn.ExecParams("SELECT commit_lsn::text, idx FROM ferry.apply_progress "
                                  "WHERE topic = $1 AND partition = $2::int",
                                  {tp.topic, std::to_string(tp.partition)}));
  if (PQntuples(r.get()) == 0) return std::optional<checkpoint::EventPosition>();
  FERRY_ASSIGN_OR_RETURN(Lsn lsn, Lsn::Parse(PQgetvalue(r.get(), 0, 0)));
  return std::optional<checkpoint::EventPosition>(checkpoint::EventPosition{
      lsn, static_cast<uint32_t>(std::stoul(PQgetvalue(r.get(), 0, 1)))});
}

}  // namespace ferry::apply
