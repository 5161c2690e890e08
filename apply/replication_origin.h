// Apply's replication origin on the target.
//
// Apply marks every target transaction it commits with its pipeline's
// replication origin (transport::ReplicationOriginName: "ferry_<prefix>"), as
// PostgreSQL's own subscribers do:
//   - the origin is the tag logical decoding hands to output plugins: pgoutput
//     sends it before the transaction's changes, and `ferry capture` on the
//     target drops the transactions of ferry's origins, so a pipeline running
//     the other way (rollback after a cutover) never sends apply's writes back;
//   - pg_replication_origin_xact_setup(lsn, commit time) records, in the commit
//     record itself, the end LSN of the last source transaction the target
//     transaction holds: pg_replication_origin_status.remote_lsn is that
//     position, kept crash-safely by PostgreSQL.
// ferry.apply_progress (applied_progress.h) stays apply's position to resume
// from: it holds what an origin cannot (the Kafka offset, the event index
// inside an initial snapshot's one commit LSN), and its row lock serializes
// several apply processes. Both are written by the same commit, so they agree.
//
// PostgreSQL lets one session at a time hold an origin ("replication origin
// with ID n is already active for PID p", SQLSTATE 55006). So apply holds it
// only inside its target transactions: set up once the position row is locked
// (the row already serializes the processes), reset right after COMMIT, in the
// same pipeline. Hot standbys, and a process that lost the partition, never
// keep it from the one applying.
//
// The origin functions are the superuser's unless EXECUTE is granted:
// EnsureReplicationOrigin says which grants are missing.
//
// Thread-safety: functions; the connection is used by the calling thread.
#pragma once

#include <string>

#include "common/lsn.h"
#include "common/pg.h"
#include "common/status.h"

namespace ferry::apply {

// Checks the session may use the origin functions, and creates `origin` when
// missing (safe when several apply processes race). InvalidArgument naming
// the fix when the role lacks a privilege or the server has no room for
// origins (max_replication_slots = 0).
Status EnsureReplicationOrigin(const PgConn& conn, const std::string& origin);

// Migration from targets of versions without origins: an origin that never
// recorded a position starts at `position`, the commit LSN ferry.apply_progress
// holds, so pg_replication_origin_status is right from the first start.
Status SeedReplicationOrigin(const PgConn& conn, const std::string& origin, Lsn position);

// Statements for the target transaction: $1 the origin name.
extern const char* const kOriginSetupSql;
// $1 the source commit's end LSN, $2 its commit time in Unix microseconds.
extern const char* const kOriginXactSql;
extern const char* const kOriginResetSql;

}  // namespace ferry::apply
