// Cutover: the runbook that moves an application from the source to the
// target, as one command (`ferry cutover`). In order:
//   1. preflight: both databases reachable;
//   2. fence (optional): application roles can no longer write to the source
//      (fence.h), so the changes to carry are finite;
//   3. wait for zero lag (lag.h): every change committed on the source before
//      this step started is applied to the target;
//   4. validate (validate.h): every table equal, in-flight rows settled;
//   5. sequences (sequences.h): logical replication does not carry them.
// The target is ready only when every step succeeded. When a step fails after
// the fence, the fence is lifted again (the application keeps running on the
// source and the operator retries) unless keep_fence_on_failure is set.
//
// Without a fence the source keeps taking writes: the report says so, because
// anything committed after step 3 started is not guaranteed on the target.
//
// Thread-safety: RunCutover opens its own connections; call it from one thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "reconcile/fence.h"
#include "reconcile/lag.h"
#include "reconcile/sequences.h"
#include "reconcile/validate.h"

namespace ferry::reconcile {

struct CutoverOptions {
  LagOptions lag;                 // source, slot, Kafka, group, topic prefix
  std::string target_conninfo;    // REQUIRES: non-empty
  bool fence = false;
  FenceOptions fence_options;
  bool keep_fence_on_failure = false;
  std::chrono::milliseconds timeout{10 * 60 * 1000};  // the wait for zero lag
  // Tables, settle timeout, chunking; the connection strings and the slot are
  // taken from above.
  ValidateOptions validate;
};

struct CutoverReport {
  bool fenced = false;
  FenceResult fence;
  bool fence_lifted = false;  // a step failed after the fence, and it was lifted
  std::optional<LagReport> lag;
  std::optional<ValidateReport> validation;
  std::vector<SequenceValue> sequences;
  std::string failed_step;  // empty when the target is ready
  Status failure;           // why failed_step failed
  double seconds = 0;

  bool ready() const { return failed_step.empty(); }
};

// Never throws; a failed step is in the report, not an error.
CutoverReport RunCutover(const CutoverOptions& options);

// What an operator reads at the end of the runbook.
std::string FormatCutoverReport(const CutoverReport& report);

}  // namespace ferry::reconcile
