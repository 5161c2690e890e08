// Cutover: the runbook that moves an application from the source to the
// target, as one command (`ferry cutover`): the handover steps (handover.h)
// from the source to the target:
//   1. preflight: both databases reachable (with prepare_rollback, also what
//      the reverse pipeline needs: reverse_pipeline.h);
//   2. fence (optional): application roles can no longer write to the source;
//   3. wait for zero lag: every change committed on the source before this
//      step started is applied to the target;
//   4. validate: every table equal, in-flight rows settled;
//   5. sequences: logical replication does not carry them;
//   6. prepare rollback (optional): the reverse publication and slot on the
//      target, at this point where it holds exactly what the source holds.
// The target is ready only when every step succeeded. When a step fails after
// the fence, the fence is lifted again (the application keeps running on the
// source and the operator retries) unless keep_fence_on_failure is set.
//
// States a report shows: "ready" (the target may take traffic), "not ready"
// (a step failed), and, for UnfenceAfterCutover (`ferry cutover --unfence`,
// rolling back before the application switched), "rolled back".
//
// Thread-safety: RunCutover opens its own connections; call it from one thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "reconcile/handover.h"
#include "reconcile/reverse_pipeline.h"

namespace ferry::reconcile {

struct CutoverOptions {
  // lag: the forward pipeline (source, slot, Kafka, group, topic prefix);
  // to_conninfo: the target.
  HandoverOptions handover;
  bool prepare_rollback = false;
  ReverseOptions reverse;  // forward_topic_prefix is taken from handover.lag
};

struct CutoverReport {
  HandoverReport steps;
  std::optional<ReversePipeline> reverse;  // when prepared
  std::vector<std::string> reverse_commands;  // that run the reverse pipeline

  bool ready() const { return steps.ready(); }
  std::string state() const { return ready() ? "ready" : "not ready"; }
};

// Never throws; a failed step is in the report, not an error.
CutoverReport RunCutover(const CutoverOptions& options);

// What an operator reads at the end of the runbook, and the same for machines:
// {"command": "cutover", "state", <HandoverJson's fields>,
//  "rollback": null | {"slot", "publication", "start_lsn", "slot_existed", "tables", "commands": [..]}}
std::string FormatCutoverReport(const CutoverReport& report);
std::string CutoverReportJson(const CutoverReport& report);

// `ferry cutover --unfence`: lifts the fence of the source (rolling back before
// the switch). The report's state is "rolled back".
struct UnfenceReport {
  FenceResult unfenced;
  std::string state() const { return "rolled back"; }
};
Result<UnfenceReport> UnfenceAfterCutover(const std::string& source_conninfo);
std::string FormatUnfenceReport(const UnfenceReport& report);
std::string UnfenceReportJson(const UnfenceReport& report);

}  // namespace ferry::reconcile
