#include "capture/slot_state.h"

#include <algorithm>

namespace ferry::capture {

namespace {

constexpr char kQuery[] = R"sql(
SELECT pg_current_wal_insert_lsn(), pg_current_wal_lsn(), s.confirmed_flush_lsn, s.restart_lsn,
       s.active, coalesce(s.wal_status, ''), s.slot_type, extract(epoch FROM r.flush_lag)
FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
WHERE s.slot_name = $1)sql";

Result<Lsn> LsnOrZero(PGresult* r, int col) {
  if (PQgetisnull(r, 0, col)) return Lsn();
  return Lsn::Parse(PQgetvalue(r, 0, col));
}

}  // namespace

Result<SlotState> QuerySlotState(const PgConn& conn, const std::string& slot) {
  FERRY_ASSIGN_OR_RETURN(PgResult res, conn.ExecParams(kQuery, {slot}));
  PGresult* r = res.get();
  if (PQntuples(r) == 0) {
    return Status::NotFound("replication slot '" + slot + "' does not exist on " + conn.Describe());
  }
  if (std::string(PQgetvalue(r, 0, 6)) != "logical") {
    return Status::InvalidArgument("replication slot '" + slot + "' is not a logical slot");
  }
  SlotState s;
  FERRY_ASSIGN_OR_RETURN(s.wal_insert_lsn, LsnOrZero(r, 0));
  FERRY_ASSIGN_OR_RETURN(s.wal_lsn, LsnOrZero(r, 1));
  FERRY_ASSIGN_OR_RETURN(s.confirmed_flush_lsn, LsnOrZero(r, 2));
  FERRY_ASSIGN_OR_RETURN(s.restart_lsn, LsnOrZero(r, 3));
  s.active = std::string(PQgetvalue(r, 0, 4)) == "t";
  s.wal_status = PQgetvalue(r, 0, 5);
  if (!PQgetisnull(r, 0, 7)) s.lag_seconds = std::stod(PQgetvalue(r, 0, 7));
  auto diff = [](Lsn a, Lsn b) {
    return a > b ? static_cast<int64_t>(a.value() - b.value()) : int64_t{0};
  };
  if (s.restart_lsn.IsValid()) s.retained_wal_bytes = diff(s.wal_lsn, s.restart_lsn);
  s.lag_bytes = diff(s.wal_lsn, s.confirmed_flush_lsn);
  return s;
}

}  // namespace ferry::capture
