// The reverse pipeline rollback runs on: from the target (the new database)
// back to the source, prepared by `ferry cutover --prepare-rollback` at the one
// moment the target holds exactly what the source holds (the source fenced,
// lag zero, tables equal) and before the application switches.
//
// PrepareReversePipeline creates on the target
//   - the reverse publication, with the forward publication's tables (FOR ALL
//     TABLES when it is; else the same list, WITH publish_via_partition_root
//     when it has it), and
//   - a pgoutput logical slot: it decodes every transaction committed on the
//     target from now on, so every write the application makes on the new
//     database after the switch reaches the reverse capture
//     (`ferry capture --snapshot never` on this slot: nothing to copy).
// The forward apply's own writes after that point are marked with its
// replication origin (apply/replication_origin.h), which the reverse capture
// drops: CheckReverseSetup refuses a target where that origin does not exist
// (an apply of a version that does not mark its writes), and a target without
// wal_level = logical, before anything is changed.
//
// An existing publication or slot of that name is kept (a cutover run again):
// the slot then starts where the earlier cutover left the target equal to the
// source, and nothing on the target wrote since but ferry and the application.
//
// Naming: the reverse pipeline's topic prefix is "<prefix>_reverse" and its
// apply's group "<group>_reverse" (ReverseTopicPrefix, ReverseGroup), the
// defaults `ferry rollback` expects.
//
// REQUIRES: a role that may create publications and replication slots on the
// target (a superuser, or REPLICATION and CREATE on the database).
// Thread-safety: functions; the connections are used by the calling thread.
#pragma once

#include <string>
#include <vector>

#include "common/lsn.h"
#include "common/pg.h"
#include "common/status.h"

namespace ferry::reconcile {

struct ReverseOptions {
  std::string slot = "ferry_reverse";
  std::string publication = "ferry_reverse";
  std::string forward_publication = "ferry";  // on the source: whose tables to publish back
  std::string forward_topic_prefix = "ferry";  // names the forward apply's origin
};

struct ReversePipeline {
  std::string slot, publication;
  Lsn start;                  // the slot decodes transactions committed after this
  bool slot_existed = false;  // kept from an earlier cutover
  bool publication_existed = false;
  std::string tables;  // "all tables" or "s.a, s.b"
};

std::string ReverseTopicPrefix(const std::string& forward_prefix);
std::string ReverseGroup(const std::string& forward_group);

// Before the fence: nothing is changed. InvalidArgument naming the fix.
Status CheckReverseSetup(const PgConn& source, const PgConn& target, const ReverseOptions& options);
Result<ReversePipeline> PrepareReversePipeline(const PgConn& source, const PgConn& target,
                                               const ReverseOptions& options);

// The commands that run the reverse pipeline, one per line, with the
// connection strings' passwords left out.
struct ReverseCommandInput {
  std::string source_conninfo, target_conninfo, brokers, group, topic_prefix;
};
std::vector<std::string> ReverseCommands(const ReversePipeline& reverse, const ReverseCommandInput& in);

}  // namespace ferry::reconcile
