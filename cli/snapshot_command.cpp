// `ferry snapshot`: asks a running capture for an incremental snapshot of some
// tables (or to cancel one), through a signal written into the source's WAL.
#include <spdlog/spdlog.h>

#include <memory>

#include "capture/snapshot_signal.h"
#include "capture/snapshot_table.h"
#include "capture/source_setup.h"
#include "cli/cli_support.h"
#include "cli/commands.h"
#include "common/logging.h"
#include "common/pg.h"

namespace ferry::cli {

namespace {

struct SnapshotFlags {
  std::string conninfo;
  std::string slot = "ferry";
  std::string publication = "ferry";
  std::vector<std::string> tables;
  bool cancel = false;
  std::string log_level = "info";
};

Status CheckSlot(const PgConn& conn, const std::string& slot) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn.ExecParams("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 "
                                                     "AND database = current_database()",
                                                     {slot}));
  if (PQntuples(r.get()) > 0) return Status::OK();
  return Status::InvalidArgument("no replication slot \"" + slot + "\" in this database: start `ferry capture --slot " +
                                 slot + "` first");
}

// Each table must be in the publication (else the stream carries none of its
// changes) and have a key to read it by.
Status CheckTable(const PgConn& conn, const std::string& publication, const std::string& name) {
  FERRY_ASSIGN_OR_RETURN(auto split, capture::SplitTableName(name));
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn.ExecParams("SELECT 1 FROM pg_publication_tables WHERE pubname = $1 "
                                                     "AND schemaname = $2 AND tablename = $3",
                                                     {publication, split.first, split.second}));
  if (PQntuples(r.get()) == 0) {
    return Status::InvalidArgument("table " + split.first + "." + split.second + " is not in publication \"" +
                                   publication + "\"");
  }
  FERRY_ASSIGN_OR_RETURN(auto table, capture::LoadSnapshotTable(conn, split.first, split.second));
  return capture::RequireKey(table, "ferry snapshot");
}

Status RequestSnapshot(const SnapshotFlags& f) {
  if (!f.cancel && f.tables.empty()) return Status::InvalidArgument("name at least one --table to snapshot");
  FERRY_ASSIGN_OR_RETURN(PgConn conn, PgConn::Connect(f.conninfo));
  FERRY_RETURN_IF_ERROR(CheckSlot(conn, f.slot));
  capture::SnapshotSignal signal{f.slot, f.cancel ? "cancel" : "snapshot", {}};
  for (const auto& t : f.tables) {
    if (!f.cancel) FERRY_RETURN_IF_ERROR(CheckTable(conn, f.publication, t));
    FERRY_ASSIGN_OR_RETURN(auto split, capture::SplitTableName(t));
    signal.tables.push_back(split.first + "." + split.second);
  }
  FERRY_ASSIGN_OR_RETURN(
      std::string lsn, conn.QueryScalar("SELECT pg_logical_emit_message(true, $1, $2)::text",
                                        {std::string(capture::kSignalPrefix), capture::EncodeSignal(signal)}));
  spdlog::info("{} for slot \"{}\" written at {}: the capture streaming it acts on it when it gets there",
               f.cancel ? "snapshot cancel" : "snapshot request", f.slot, lsn);
  return Status::OK();
}

}  // namespace

void AddSnapshotCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<SnapshotFlags>();
  CLI::App* cmd = app.add_subcommand(
      "snapshot",
      "Ask a running capture to re-snapshot tables while it streams (incremental, between watermarks; no "
      "lock), or cancel that. The request travels through the source's WAL (a logical decoding message).");
  cmd->add_option("--source", flags->conninfo, "Source libpq connection string or URI")
      ->envname("FERRY_SOURCE")
      ->required();
  cmd->add_option("--slot", flags->slot, "Replication slot of the capture to ask")->capture_default_str();
  cmd->add_option("--publication", flags->publication, "Publication the tables must be in")->capture_default_str();
  cmd->add_option("--table", flags->tables, "schema.table to snapshot (repeatable)");
  cmd->add_flag("--cancel", flags->cancel, "Cancel the snapshot of the --table tables (of every table if none)");
  AddLogLevelFlag(cmd, &flags->log_level);
  cmd->callback([flags, exit_code] {
    InitLogging(flags->log_level, "snapshot");
    *exit_code = ExitCode(RequestSnapshot(*flags), "snapshot");
  });
}

}  // namespace ferry::cli
