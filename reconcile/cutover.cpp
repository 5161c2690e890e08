#include "reconcile/cutover.h"

namespace ferry::reconcile {

CutoverReport RunCutover(const CutoverOptions& o) {
  CutoverReport report;
  ReverseOptions reverse = o.reverse;
  reverse.forward_topic_prefix = o.handover.lag.topic_prefix;
  std::vector<HandoverStep> checks, final_steps;
  if (o.prepare_rollback) {
    checks.push_back({"rollback preflight", [&](PgConn& source, PgConn& target) {
                        return CheckReverseSetup(source, target, reverse);
                      }});
    final_steps.push_back({"prepare rollback", [&](PgConn& source, PgConn& target) -> Status {
                             FERRY_ASSIGN_OR_RETURN(report.reverse, PrepareReversePipeline(source, target, reverse));
                             return Status::OK();
                           }});
  }
  report.steps = RunHandover("cutover", o.handover, checks, final_steps);
  if (report.reverse) {
    report.reverse_commands =
        ReverseCommands(*report.reverse, {o.handover.lag.source_conninfo, o.handover.to_conninfo,
                                          o.handover.lag.kafka.brokers, o.handover.lag.group,
                                          o.handover.lag.topic_prefix});
  }
  return report;
}

std::string FormatCutoverReport(const CutoverReport& r) {
  std::string out =
      FormatHandoverHeader(r.steps, "cutover: the target is READY to take traffic", "cutover: NOT READY", r.state());
  out += FormatHandoverSteps(r.steps, "source", "target");
  if (r.reverse) {
    const ReversePipeline& rev = *r.reverse;
    out += "  rollback  prepared: slot \"" + rev.slot + "\" (" + (rev.slot_existed ? "kept, " : "") + "from " +
           rev.start.ToString() + ") and publication \"" + rev.publication + "\" (" +
           (rev.publication_existed ? "kept" : rev.tables) + ") on the target. After the switch, run the "
           "reverse pipeline (connection passwords left out):\n";
    for (const auto& c : r.reverse_commands) out += "            " + c + "\n";
    out += "            and `ferry rollback` to go back; or, once rollback is no longer wanted, drop the slot on "
           "the target (SELECT pg_drop_replication_slot('" + rev.slot + "')): it retains WAL\n";
  }
  return out + FormatTook(r.steps.seconds);
}

std::string CutoverReportJson(const CutoverReport& r) {
  nlohmann::json j = HandoverJson(r.steps);
  j["command"] = "cutover";
  j["state"] = r.state();
  if (r.reverse) {
    j["rollback"] = {{"slot", r.reverse->slot},
                     {"publication", r.reverse->publication},
                     {"start_lsn", r.reverse->start.ToString()},
                     {"slot_existed", r.reverse->slot_existed},
                     {"tables", r.reverse->tables},
                     {"commands", r.reverse_commands}};
  } else {
    j["rollback"] = nullptr;
  }
  return j.dump(2);
}

Result<UnfenceReport> UnfenceAfterCutover(const std::string& source_conninfo) {
  FERRY_ASSIGN_OR_RETURN(PgConn source, PgConn::Connect(source_conninfo));
  UnfenceReport report;
  FERRY_RETURN_IF_ERROR(UnfenceSource(source, &report.unfenced));
  return report;
}

std::string FormatUnfenceReport(const UnfenceReport& r) {
  return "cutover: lifted the fence of " + std::to_string(r.unfenced.roles.size()) +
         " role(s)\n  state     " + r.state() + ": the source takes the application's writes again\n";
}

std::string UnfenceReportJson(const UnfenceReport& r) {
  nlohmann::json j = {{"command", "cutover"}, {"state", r.state()}, {"unfenced_roles", r.unfenced.roles}};
  return j.dump(2);
}

}  // namespace ferry::reconcile
