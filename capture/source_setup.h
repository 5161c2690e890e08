// Preparing the source for capture: checks, publication, slot.
//
// PrepareSource connects with a normal session and
//  - checks wal_level = logical (else InvalidArgument naming the setting and the fix),
//  - creates the publication if missing (FOR ALL TABLES, or FOR TABLE the listed
//    tables, each of which must exist; WITH (publish_via_partition_root) on request),
//  - refuses (InvalidArgument naming them) published tables whose updates and
//    deletes cannot be replicated: REPLICA IDENTITY NOTHING, DEFAULT without a
//    primary key, USING INDEX of a dropped index; for a partitioned table, its
//    leaf partitions too (PostgreSQL checks the partition an UPDATE writes).
//    A publication it creates is created and checked in one transaction, so a
//    refusal leaves no publication behind and the application's UPDATEs and
//    DELETEs never meet one they cannot satisfy,
//  - creates the pgoutput slot if missing (through a replication connection),
//    and refuses a slot of another plugin or database, or one in use; with
//    export_snapshot the new slot exports its snapshot, and the connection that
//    holds it is handed back open (see ExportedSnapshot),
//  - identifies the source's system and timeline (source_history.h), so the
//    position capture stored is checked against the source's history,
//  - loads type names (pg_type) once, so events carry type names without
//    querying the source per event.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "capture/source_history.h"
#include "common/lsn.h"
#include "common/pg.h"
#include "common/status.h"

namespace ferry::capture {

struct SourceOptions {
  std::string conninfo;
  std::string slot = "ferry";
  std::string publication = "ferry";
  std::vector<std::string> tables;  // "schema.table" ("table" means public); empty: all tables
  // Publish changes to partitions as their partitioned root table (one topic
  // per root). Only applied when capture creates the publication.
  bool publish_via_partition_root = false;
  bool export_snapshot = false;      // a new slot exports its snapshot (for the initial copy)
  // Runs just before a missing slot is created (the initial copy records that it
  // is due, so a crash right after creation cannot skip it), on the connection
  // that prepares the source: each new backend costs the source tens of ms of
  // CPU before the first row is copied.
  std::function<Status(const PgConn&)> before_create_slot;
};

// The snapshot a new slot exported: valid only while `conn`, the replication
// connection that created the slot, stays open and runs nothing else.
struct ExportedSnapshot {
  PgConn conn;
  std::string name;      // for SET TRANSACTION SNAPSHOT
  Lsn consistent_point;  // the snapshot shows every transaction committed before it
};

struct SourceInfo {
  std::string database;
  Lsn slot_confirmed;  // the slot's confirmed_flush_lsn
  bool slot_created = false;
  std::optional<ExportedSnapshot> exported;  // when slot_created with export_snapshot
  SourceIdentity identity;                   // read before the slot was
  std::unordered_map<uint32_t, std::string> type_names;
};

Result<SourceInfo> PrepareSource(const SourceOptions& options);

// "s.t" -> {"s","t"}; "t" -> {"public","t"}.
Result<std::pair<std::string, std::string>> SplitTableName(const std::string& name);

}  // namespace ferry::capture
