#include "apply/applied_progress.h"

namespace ferry::apply {

namespace {

constexpr const char* kCreate =
    "CREATE SCHEMA IF NOT EXISTS ferry; "
    "CREATE TABLE IF NOT EXISTS ferry.apply_progress ("
    "topic text NOT NULL, partition int NOT NULL, commit_lsn pg_lsn NOT NULL, "
    "idx bigint NOT NULL, commit_time timestamptz, "
    "updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (topic, partition)); "
    // Added when positions became Kafka offsets too (targets of earlier versions).
    "ALTER TABLE ferry.apply_progress ADD COLUMN IF NOT EXISTS kafka_offset bigint NOT NULL DEFAULT -1; "
    "ALTER TABLE ferry.apply_progress ADD COLUMN IF NOT EXISTS kafka_cluster text NOT NULL DEFAULT ''";

constexpr const char* kInsertEmpty =
    "INSERT INTO ferry.apply_progress (topic, partition, commit_lsn, idx, kafka_offset) "
    "VALUES ($1, $2::int, '0/0', 0, -1) ON CONFLICT (topic, partition) DO NOTHING";

constexpr const char* kSelect =
    "SELECT commit_lsn::text, idx, kafka_offset, "
    "COALESCE((extract(epoch FROM commit_time) * 1000000)::bigint, 0), kafka_cluster "
    "FROM ferry.apply_progress WHERE topic = $1 AND partition = $2::int";

}  // namespace

const char* const kLockProgressSql =
    "SELECT commit_lsn::text, idx, kafka_offset, 0::bigint, kafka_cluster FROM ferry.apply_progress "
    "WHERE topic = $1 AND partition = $2::int FOR UPDATE";

const char* const kUpdateProgressSql =
    "UPDATE ferry.apply_progress SET commit_lsn = $3::pg_lsn, idx = $4::bigint, "
    "kafka_offset = $5::bigint, commit_time = to_timestamp($6::double precision / 1000000), kafka_cluster = $7, "
    "updated_at = now() WHERE topic = $1 AND partition = $2::int";

std::string ApplyPosition::ToString() const {
  if (offset < 0) return "nothing applied";
  return "commit LSN " + commit_lsn.ToString() + " (event " + std::to_string(index) + "), offset " +
         std::to_string(offset);
}

std::vector<std::string> ProgressParams(const TopicPartition& tp, const ApplyPosition& p) {
  return {tp.topic, std::to_string(tp.partition), p.commit_lsn.ToString(), std::to_string(p.index),
          std::to_string(p.offset), std::to_string(p.commit_time_us), p.kafka_cluster};
}

Status EnsureProgressTable(const PgConn& conn) {
  Status created = conn.Exec(kCreate).status();
  if (created.ok() || created.IsRetriable()) return created;
  // Another apply process may have created it at the same moment.
  FERRY_ASSIGN_OR_RETURN(std::string exists,
                         conn.QueryScalar("SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = "
                                          "to_regclass('ferry.apply_progress') AND attname = 'kafka_cluster'"));
  return exists == "1" ? Status::OK() : created;
}

Result<ApplyPosition> ProgressFromRow(const PGresult* rows, int row) {
  ApplyPosition p;
  FERRY_ASSIGN_OR_RETURN(p.commit_lsn, Lsn::Parse(PQgetvalue(rows, row, 0)));
  p.index = static_cast<uint32_t>(std::stoul(PQgetvalue(rows, row, 1)));
  p.offset = std::stoll(PQgetvalue(rows, row, 2));
  p.commit_time_us = std::stoll(PQgetvalue(rows, row, 3));
  p.kafka_cluster = PQgetvalue(rows, row, 4);
  return p;
}

Result<std::optional<ApplyPosition>> LoadProgress(const PgConn& conn, const TopicPartition& tp) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn.ExecParams(kSelect, {tp.topic, std::to_string(tp.partition)}));
  if (PQntuples(r.get()) != 1) return std::optional<ApplyPosition>();
  FERRY_ASSIGN_OR_RETURN(ApplyPosition p, ProgressFromRow(r.get(), 0));
  return std::optional<ApplyPosition>(std::move(p));
}

Result<ApplyPosition> LoadOrCreateProgress(const PgConn& conn, const TopicPartition& tp) {
  FERRY_RETURN_IF_ERROR(conn.ExecParams(kInsertEmpty, {tp.topic, std::to_string(tp.partition)}).status());
  FERRY_ASSIGN_OR_RETURN(std::optional<ApplyPosition> p, LoadProgress(conn, tp));
  if (!p) return Status::Internal("ferry.apply_progress has no row for " + tp.ToString());
  return std::move(*p);
}

}  // namespace ferry::apply
