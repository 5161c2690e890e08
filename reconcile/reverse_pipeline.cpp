#include "reconcile/reverse_pipeline.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "transport/naming.h"

namespace ferry::reconcile {

namespace {

// `conninfo` as key=value pairs without its password, for a report.
std::string WithoutPassword(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
  if (options == nullptr) {
    PQfreemem(err);
    return "<connection string>";
  }
  std::string out;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0' || std::string(o->keyword) == "password") continue;
    std::string value;
    bool plain = true;
    for (const char* c = o->val; *c != '\0'; ++c) {
      if (*c == '\'' || *c == '\\') value += '\\';
      plain = plain && *c != '\'' && *c != '\\' && *c != ' ';
      value += *c;
    }
    out += (out.empty() ? "" : " ") + std::string(o->keyword) + "=" + (plain ? value : "'" + value + "'");
  }
  PQconninfoFree(options);
  return out;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

Status RequireLogical(const PgConn& target) {
  FERRY_ASSIGN_OR_RETURN(std::string level, target.QueryScalar("SHOW wal_level"));
  if (level == "logical") return Status::OK();
  return Status::InvalidArgument("the target has wal_level=" + level + ", and --prepare-rollback creates a "
                                 "logical replication slot on it: set wal_level = logical on the target and "
                                 "restart it, or cut over without --prepare-rollback");
}

// Whether the forward publication publishes all tables; NotFound when missing.
Result<bool> ForwardAllTables(const PgConn& source, const ReverseOptions& o) {
  Result<std::string> all =
      source.QueryScalar("SELECT puballtables FROM pg_publication WHERE pubname = $1", {o.forward_publication});
  if (all.status().IsNotFound()) {
    return Status::InvalidArgument("publication \"" + o.forward_publication + "\" does not exist on the source: "
                                   "give --publication, the one ferry capture uses");
  }
  FERRY_RETURN_IF_ERROR(all.status());
  return *all == "t";
}

Status RequireForwardOrigin(const PgConn& target, const ReverseOptions& o) {
  std::string origin = transport::ReplicationOriginName(o.forward_topic_prefix);
  FERRY_ASSIGN_OR_RETURN(std::string n, target.QueryScalar("SELECT count(*) FROM pg_catalog.pg_replication_origin "
                                                           "WHERE roname = $1",
                                                           {origin}));
  if (n != "0") return Status::OK();
  return Status::InvalidArgument(
      "the target has no replication origin '" + origin + "': the forward apply (--topic-prefix " +
      o.forward_topic_prefix + ") does not mark its writes, so a reverse capture would send them back; run "
      "ferry apply of this version (it creates the origin at start), or give the pipeline's --topic-prefix");
}

// The reverse slot, if it exists: refused when it is not a pgoutput slot of this database.
Result<std::optional<Lsn>> ExistingSlot(const PgConn& target, const std::string& slot) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, target.ExecParams("SELECT plugin, database = current_database(), "
                                                       "confirmed_flush_lsn::text FROM pg_replication_slots "
                                                       "WHERE slot_name = $1",
                                                       {slot}));
  if (PQntuples(r.get()) == 0) return std::optional<Lsn>();
  if (std::string(PQgetvalue(r.get(), 0, 0)) != "pgoutput" || std::string(PQgetvalue(r.get(), 0, 1)) != "t") {
    return Status::InvalidArgument("replication slot \"" + slot + "\" on the target is not a pgoutput slot of "
                                   "this database: choose another --reverse-slot");
  }
  FERRY_ASSIGN_OR_RETURN(Lsn confirmed, Lsn::Parse(PQgetvalue(r.get(), 0, 2)));
  return std::optional<Lsn>(confirmed);
}

// The forward publication's tables, ferry's own schema left out.
Result<std::string> ForwardTableList(const PgConn& source, const ReverseOptions& o) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, source.ExecParams("SELECT schemaname, tablename FROM pg_publication_tables "
                                                       "WHERE pubname = $1 AND schemaname <> 'ferry' ORDER BY 1, 2",
                                                       {o.forward_publication}));
  std::string list;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    list += (i ? ", " : "") + QualifiedName(PQgetvalue(r.get(), i, 0), PQgetvalue(r.get(), i, 1));
  }
  if (list.empty()) {
    return Status::InvalidArgument("publication \"" + o.forward_publication + "\" on the source has no table");
  }
  return list;
}

Status CreatePublication(const PgConn& source, const PgConn& target, const ReverseOptions& o,
                         ReversePipeline* out) {
  FERRY_ASSIGN_OR_RETURN(bool all, ForwardAllTables(source, o));
  FERRY_ASSIGN_OR_RETURN(std::string via_root, source.QueryScalar("SELECT pubviaroot FROM pg_publication "
                                                                   "WHERE pubname = $1",
                                                                   {o.forward_publication}));
  std::string sql = "CREATE PUBLICATION " + QuoteIdent(o.publication);
  if (all) {
    sql += " FOR ALL TABLES";
    out->tables = "all tables";
  } else {
    FERRY_ASSIGN_OR_RETURN(out->tables, ForwardTableList(source, o));
    sql += " FOR TABLE " + out->tables;
  }
  if (via_root == "t") sql += " WITH (publish_via_partition_root = true)";
  return target.Exec(sql).status().WithContext("creating the reverse publication on the target");
}

}  // namespace

std::string ReverseTopicPrefix(const std::string& forward_prefix) { return forward_prefix + "_reverse"; }
std::string ReverseGroup(const std::string& forward_group) { return forward_group + "_reverse"; }

Status CheckReverseSetup(const PgConn& source, const PgConn& target, const ReverseOptions& o) {
  FERRY_RETURN_IF_ERROR(RequireLogical(target));
  FERRY_RETURN_IF_ERROR(ForwardAllTables(source, o).status());
  FERRY_RETURN_IF_ERROR(RequireForwardOrigin(target, o));
  return ExistingSlot(target, o.slot).status();
}

Result<ReversePipeline> PrepareReversePipeline(const PgConn& source, const PgConn& target,
                                               const ReverseOptions& o) {
  ReversePipeline out{o.slot, o.publication, Lsn(), false, false, ""};
  FERRY_ASSIGN_OR_RETURN(std::string pubs, target.QueryScalar("SELECT count(*) FROM pg_publication "
                                                              "WHERE pubname = $1",
                                                              {o.publication}));
  out.publication_existed = pubs != "0";
  if (out.publication_existed) {
    out.tables = "as it was";
  } else {
    FERRY_RETURN_IF_ERROR(CreatePublication(source, target, o, &out));
  }
  FERRY_ASSIGN_OR_RETURN(std::optional<Lsn> existing, ExistingSlot(target, o.slot));
  if (existing) {
    out.slot_existed = true;
    out.start = *existing;
    spdlog::info("reverse slot \"{}\" exists on the target (from {}): kept", o.slot, existing->ToString());
    return out;
  }
  // Waits for the target's running transactions to end: from its consistent
  // point on, every transaction committed on the target is decoded.
  FERRY_ASSIGN_OR_RETURN(std::string lsn, target.QueryScalar("SELECT lsn::text FROM "
                                                             "pg_create_logical_replication_slot($1, 'pgoutput')",
                                                             {o.slot}));
  FERRY_ASSIGN_OR_RETURN(out.start, Lsn::Parse(lsn));
  spdlog::info("created reverse slot \"{}\" on the target at {}", o.slot, lsn);
  return out;
}

std::vector<std::string> ReverseCommands(const ReversePipeline& reverse, const ReverseCommandInput& in) {
  const std::string prefix = ReverseTopicPrefix(in.topic_prefix);
  const std::string group = ReverseGroup(in.group);
  return {
      "ferry capture --source " + ShellQuote(WithoutPassword(in.target_conninfo)) + " --brokers " +
          ShellQuote(in.brokers) + " --slot " + ShellQuote(reverse.slot) + " --publication " +
          ShellQuote(reverse.publication) + " --snapshot never --topic-prefix " + ShellQuote(prefix) +
          " --flow-control-group " + ShellQuote(group) + " --state-dir ferry-state-reverse",
      "ferry apply --target " + ShellQuote(WithoutPassword(in.source_conninfo)) + " --brokers " +
          ShellQuote(in.brokers) + " --topic-prefix " + ShellQuote(prefix) + " --group " + ShellQuote(group) +
          " --state-dir ferry-state-reverse",
  };
}

}  // namespace ferry::reconcile
