#include "capture/source_setup.h"

#include <spdlog/spdlog.h>

#include "common/pg.h"

namespace ferry::capture {

namespace {

Status CheckWalLevel(const PgConn& conn) {
  FERRY_ASSIGN_OR_RETURN(std::string level, conn.QueryScalar("SHOW wal_level"));
  if (level == "logical") return Status::OK();
  return Status::InvalidArgument("source " + conn.Describe() + " has wal_level=" + level +
                                 "; logical replication needs wal_level=logical (set it in "
                                 "postgresql.conf or ALTER SYSTEM SET wal_level = logical, then "
                                 "restart PostgreSQL)");
}

Result<bool> PublicationExists(const PgConn& conn, const std::string& publication) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn.ExecParams("SELECT 1 FROM pg_publication WHERE pubname = $1",
                                                     {publication}));
  return PQntuples(r.get()) > 0;
}

Result<std::string> CreatePublicationSql(const PgConn& conn, const SourceOptions& o) {
  std::string sql = "CREATE PUBLICATION " + QuoteIdent(o.publication);
  if (o.tables.empty()) {
    sql += " FOR ALL TABLES";
  } else {
    sql += " FOR TABLE ";
    for (size_t i = 0; i < o.tables.size(); ++i) {
      FERRY_ASSIGN_OR_RETURN(auto st, SplitTableName(o.tables[i]));
      FERRY_ASSIGN_OR_RETURN(
          PgResult exists,
          conn.ExecParams("SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2",
                          {st.first, st.second}));
      if (PQntuples(exists.get()) == 0) {
        return Status::InvalidArgument("--tables names " + o.tables[i] +
                                       ", which does not exist on the source");
      }
      sql += (i ? ", " : "") + QualifiedName(st.first, st.second);
    }
  }
  if (o.publish_via_partition_root) sql += " WITH (publish_via_partition_root = true)";
  return sql;
}

// Tables whose UPDATE/DELETE would carry no old row to find the target row by.
// PostgreSQL refuses those statements once the table is published, and it
// checks the table the statement writes: so besides every relation the
// publication lists, each leaf partition of a listed partitioned table (listed
// under publish_via_partition_root) is checked too.
constexpr const char* kTablesWithoutIdentity = R"sql(
WITH listed AS (
  SELECT c.oid
  FROM pg_catalog.pg_publication p
  JOIN pg_catalog.pg_publication_tables pt ON pt.pubname = p.pubname
  JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname
  JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
  WHERE p.pubname = $1 AND (p.pubupdate OR p.pubdelete)),
checked AS (
  SELECT oid FROM listed
  UNION
  SELECT t.relid FROM listed l, pg_catalog.pg_partition_tree(l.oid::regclass) t WHERE t.isleaf)
SELECT string_agg(pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) || ' (' ||
                  CASE c.relreplident WHEN 'n' THEN 'REPLICA IDENTITY NOTHING'
                                      WHEN 'i' THEN 'replica identity index missing'
                                      ELSE 'no primary key' END || ')',
                  ', ' ORDER BY n.nspname, c.relname)
FROM checked k
JOIN pg_catalog.pg_class c ON c.oid = k.oid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE CASE c.relreplident
  WHEN 'f' THEN false
  WHEN 'n' THEN true
  WHEN 'i' THEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)
  ELSE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) END)sql";

Status CheckReplicaIdentity(const PgConn& conn, const SourceOptions& o) {
  FERRY_ASSIGN_OR_RETURN(std::string tables,
                         conn.QueryScalar(kTablesWithoutIdentity, {o.publication}));
  if (tables.empty()) return Status::OK();
  return Status::InvalidArgument(
      "publication \"" + o.publication + "\" publishes updates and deletes of tables that have " +
      "no replica identity, so their old rows cannot be found on the target: " + tables +
      ". Give each a primary key, or ALTER TABLE ... REPLICA IDENTITY FULL (or USING INDEX), "
      "or leave it out of the publication");
}

// A new publication is created and checked in one transaction: its tables are
// exactly the ones PostgreSQL would publish (FOR ALL TABLES, partitions,
// publish_via_partition_root), and a refusal rolls it back, so the application
// never meets a publication that makes PostgreSQL reject its UPDATEs and
// DELETEs, and nothing is left behind.
Status CreateCheckedPublication(const PgConn& conn, const SourceOptions& o) {
  FERRY_ASSIGN_OR_RETURN(std::string sql, CreatePublicationSql(conn, o));
  FERRY_RETURN_IF_ERROR(conn.Exec("BEGIN").status());
  Status st = conn.Exec(sql).status();
  if (st.ok()) st = CheckReplicaIdentity(conn, o);
  if (st.ok()) st = conn.Exec("COMMIT").status();
  if (!st.ok()) {
    conn.Exec("ROLLBACK").status().PermitUncheckedError();
    return st;
  }
  spdlog::info("created publication \"{}\"", o.publication);
  return Status::OK();
}

// An existing publication is only checked (ferry did not create it, so it
// leaves it alone whatever the check finds).
Status EnsurePublication(const PgConn& conn, const SourceOptions& o) {
  FERRY_ASSIGN_OR_RETURN(bool exists, PublicationExists(conn, o.publication));
  if (!exists) return CreateCheckedPublication(conn, o);
  if (!o.tables.empty()) {
    spdlog::warn("publication \"{}\" exists already; --tables is ignored (alter the publication "
                 "to change its tables)", o.publication);
  }
  return CheckReplicaIdentity(conn, o);
}

// Creates the slot on a replication connection that first identifies the
// source (`info->identity`): one new backend, not two.
Result<std::optional<ExportedSnapshot>> CreateSlot(const PgConn& conn, const SourceOptions& o, SourceInfo* info) {
  FERRY_ASSIGN_OR_RETURN(PgConn repl, PgConn::Connect(o.conninfo, {{"replication", "database"}}));
  FERRY_ASSIGN_OR_RETURN(info->identity, IdentifySource(repl));
  if (o.before_create_slot) FERRY_RETURN_IF_ERROR(o.before_create_slot(conn));
  FERRY_ASSIGN_OR_RETURN(PgResult r, repl.Exec("CREATE_REPLICATION_SLOT " + QuoteIdent(o.slot) + " LOGICAL pgoutput " +
                                               (o.export_snapshot ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT")));
  spdlog::info("created replication slot \"{}\" (pgoutput)", o.slot);
  if (!o.export_snapshot) return std::optional<ExportedSnapshot>();
  // Columns: slot_name, consistent_point, snapshot_name, output_plugin.
  ExportedSnapshot exported;
  FERRY_ASSIGN_OR_RETURN(exported.consistent_point, Lsn::Parse(PQgetvalue(r.get(), 0, 1)));
  exported.name = PQgetvalue(r.get(), 0, 2);
  exported.conn = std::move(repl);
  return std::optional<ExportedSnapshot>(std::move(exported));
}

Status LoadSlot(const PgConn& conn, const SourceOptions& o, SourceInfo* info) {
  FERRY_ASSIGN_OR_RETURN(
      PgResult r,
      conn.ExecParams("SELECT plugin, database, active, active_pid, confirmed_flush_lsn "
                      "FROM pg_replication_slots WHERE slot_name = $1",
                      {o.slot}));
  if (PQntuples(r.get()) == 0) return Status::NotFound("slot " + o.slot);
  std::string plugin = PQgetvalue(r.get(), 0, 0);
  std::string database = PQgetvalue(r.get(), 0, 1);
  if (plugin != "pgoutput") {
    return Status::InvalidArgument("replication slot \"" + o.slot + "\" uses plugin '" + plugin +
                                   "', ferry needs pgoutput: choose another --slot");
  }
  if (database != info->database) {
    return Status::InvalidArgument("replication slot \"" + o.slot + "\" belongs to database '" +
                                   database + "', not '" + info->database + "'");
  }
  if (std::string(PQgetvalue(r.get(), 0, 2)) == "t") {
    return Status::Unavailable("replication slot \"" + o.slot + "\" is in use by process " +
                               PQgetvalue(r.get(), 0, 3) + " (another capture running?)");
  }
  if (!PQgetisnull(r.get(), 0, 4)) {
    FERRY_ASSIGN_OR_RETURN(info->slot_confirmed, Lsn::Parse(PQgetvalue(r.get(), 0, 4)));
  }
  return Status::OK();
}

Result<SourceIdentity> IdentifySourceAt(const std::string& conninfo) {
  FERRY_ASSIGN_OR_RETURN(PgConn repl, PgConn::Connect(conninfo, {{"replication", "database"}}));
  return IdentifySource(repl);
}

Status LoadTypeNames(const PgConn& conn, SourceInfo* info) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, conn.Exec("SELECT oid, format_type(oid, NULL) FROM pg_type"));
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    info->type_names[static_cast<uint32_t>(std::stoul(PQgetvalue(r.get(), i, 0)))] =
        PQgetvalue(r.get(), i, 1);
  }
  return Status::OK();
}

}  // namespace

Result<std::pair<std::string, std::string>> SplitTableName(const std::string& name) {
  auto dot = name.find('.');
  if (dot == std::string::npos) {
    if (name.empty()) return Status::InvalidArgument("empty table name");
    return std::make_pair(std::string("public"), name);
  }
  if (dot == 0 || dot + 1 == name.size() || name.find('.', dot + 1) != std::string::npos) {
    return Status::InvalidArgument("table name '" + name + "' is not schema.table");
  }
  return std::make_pair(name.substr(0, dot), name.substr(dot + 1));
}

Result<SourceInfo> PrepareSource(const SourceOptions& o) {
  FERRY_ASSIGN_OR_RETURN(PgConn conn, PgConn::Connect(o.conninfo));
  SourceInfo info;
  info.database = PQdb(conn.get());
  FERRY_RETURN_IF_ERROR(CheckWalLevel(conn));
  FERRY_RETURN_IF_ERROR(EnsurePublication(conn, o));
  Status slot = LoadSlot(conn, o, &info);
  if (slot.IsNotFound()) {
    FERRY_ASSIGN_OR_RETURN(info.exported, CreateSlot(conn, o, &info));
    info.slot_created = true;
    slot = LoadSlot(conn, o, &info);
  } else if (slot.ok()) {
    FERRY_ASSIGN_OR_RETURN(info.identity, IdentifySourceAt(o.conninfo));
  }
  FERRY_RETURN_IF_ERROR(slot);
  FERRY_RETURN_IF_ERROR(LoadTypeNames(conn, &info));
  return info;
}

}  // namespace ferry::capture
