#include "reconcile/rollback.h"

#include <spdlog/spdlog.h>

namespace ferry::reconcile {

namespace {

// The reverse slot exists; a warning when nothing reads it (the wait would time out).
Status CheckReverseSlot(const PgConn& target, const std::string& slot) {
  FERRY_ASSIGN_OR_RETURN(PgResult r, target.ExecParams("SELECT active FROM pg_replication_slots "
                                                       "WHERE slot_name = $1 AND database = current_database()",
                                                       {slot}));
  if (PQntuples(r.get()) == 0) {
    return Status::InvalidArgument("the target has no replication slot \"" + slot + "\": rollback carries the "
                                   "target's writes back through the reverse pipeline that `ferry cutover "
                                   "--prepare-rollback` prepares (or give --reverse-slot)");
  }
  if (std::string(PQgetvalue(r.get(), 0, 0)) != "t") {
    spdlog::warn("rollback: no ferry capture reads slot \"{}\" on the target now: the wait for zero lag only ends "
                 "once the reverse capture and apply run (the commands `ferry cutover --prepare-rollback` "
                 "printed)",
                 slot);
  }
  return Status::OK();
}

}  // namespace

std::string RollbackReport::state() const {
  if (rolled_back()) return "rolled back";
  return steps.fenced && !steps.fence_lifted ? "rolling back" : "not rolled back";
}

RollbackReport RunRollback(const RollbackOptions& o) {
  HandoverOptions h;
  h.lag.source_conninfo = o.target_conninfo;
  h.lag.slot = o.reverse_slot;
  h.lag.kafka = o.kafka;
  h.lag.group = o.reverse_group;
  h.lag.topic_prefix = o.reverse_topic_prefix;
  h.to_conninfo = o.source_conninfo;
  h.policy = o.policy;
  RollbackReport report;
  std::vector<HandoverStep> checks{
      {"reverse slot", [&](PgConn& target, PgConn&) { return CheckReverseSlot(target, o.reverse_slot); }}};
  std::vector<HandoverStep> final_steps{
      {"unfence the source", [&](PgConn&, PgConn& source) { return UnfenceSource(source, &report.source_unfenced); }}};
  spdlog::info("rollback: rolling back from the target to the source");
  report.steps = RunHandover("rollback", h, checks, final_steps);
  spdlog::info("rollback: {}", report.state());
  return report;
}

std::string FormatRollbackReport(const RollbackReport& r) {
  std::string out = FormatHandoverHeader(r.steps, "rollback: ROLLED BACK: the source is ready to take traffic again",
                                         "rollback: NOT DONE", r.state());
  out += FormatHandoverSteps(r.steps, "target", "source");
  if (r.rolled_back()) {
    out += "  source    fence lifted from " + std::to_string(r.source_unfenced.roles.size()) + " role(s):";
    for (const auto& role : r.source_unfenced.roles) out += " " + role;
    out += "\n";
  }
  return out + FormatTook(r.steps.seconds);
}

std::string RollbackReportJson(const RollbackReport& r) {
  nlohmann::json j = HandoverJson(r.steps);
  j["command"] = "rollback";
  j["state"] = r.state();
  j["source_unfenced"] = {{"roles", r.source_unfenced.roles}};
  return j.dump(2);
}

}  // namespace ferry::reconcile
