// Rollback: after a cutover with --prepare-rollback, moves the application
// back from the target (the new database) to the source (the old one) without
// losing what it wrote on the target meanwhile (`ferry rollback`). The reverse
// pipeline (reverse_pipeline.h) carries those writes to the source; rollback
// runs the handover steps (handover.h) in that direction:
//   1. preflight: both databases reachable, the reverse slot on the target;
//   2. fence (optional): application roles can no longer write to the target;
//   3. wait for zero lag of the reverse pipeline (reverse slot, group, prefix);
//   4. validate: the source holds the target's rows;
//   5. sequences: the target's values set on the source, so its next ids
//      follow every id used on the target;
//   6. lift the fence cutover left on the source: the source is ready to take
//      traffic again.
// When a step fails after the target's fence, that fence is lifted again (the
// application keeps running on the target) unless keep_fence_on_failure.
//
// States a report shows: "rolled back" (every step done: the source may take
// traffic), "rolling back" (a step failed and the target stays fenced:
// keep_fence_on_failure; fix and run rollback again), "not rolled back" (a
// step failed and the target takes writes as before).
//
// Thread-safety: RunRollback opens its own connections; call it from one thread.
#pragma once

#include <string>

#include "reconcile/handover.h"

namespace ferry::reconcile {

struct RollbackOptions {
  std::string source_conninfo;  // the old database, as in `ferry cutover`
  std::string target_conninfo;  // the new one
  transport::KafkaOptions kafka;
  std::string reverse_slot = "ferry_reverse";
  std::string reverse_group = "ferry-apply_reverse";
  std::string reverse_topic_prefix = "ferry_reverse";
  HandoverPolicy policy;  // policy.fence fences the target
};

struct RollbackReport {
  HandoverReport steps;  // from the target to the source
  FenceResult source_unfenced;

  bool rolled_back() const { return steps.ready(); }
  std::string state() const;
};

RollbackReport RunRollback(const RollbackOptions& options);

// {"command": "rollback", "state", <HandoverJson's fields>, "source_unfenced": {"roles": [..]}}
std::string FormatRollbackReport(const RollbackReport& report);
std::string RollbackReportJson(const RollbackReport& report);

}  // namespace ferry::reconcile
