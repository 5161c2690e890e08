// SlotState: where a logical replication slot stands against its source's WAL,
// read from pg_replication_slots (and pg_stat_replication for a time lag).
// Used by capture's metrics and by `ferry lag`.
//
// Thread-safety: a function; the connection is used by one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/lsn.h"
#include "common/pg.h"
#include "common/status.h"

namespace ferry::capture {

struct SlotState {
  Lsn wal_insert_lsn;       // pg_current_wal_insert_lsn()
  Lsn wal_lsn;              // pg_current_wal_lsn(): WAL written out, what the slot can reach
  Lsn confirmed_flush_lsn;  // everything committed before it is in Kafka
  Lsn restart_lsn;          // WAL kept from here on (invalid when the slot lost its WAL)
  bool active = false;      // a walsender (capture) is streaming from it
  std::string wal_status;   // reserved, extended, unreserved or lost
  int64_t retained_wal_bytes = 0;  // wal_lsn - restart_lsn
  int64_t lag_bytes = 0;           // wal_lsn - confirmed_flush_lsn, at least 0
  // The walsender's flush_lag: how long ago WAL now confirmed was written.
  // PostgreSQL clears it shortly after the slot catches up with an idle source.
  std::optional<double> lag_seconds;
};

// NotFound when the slot does not exist; InvalidArgument when it is not logical.
Result<SlotState> QuerySlotState(const PgConn& conn, const std::string& slot);

}  // namespace ferry::capture
