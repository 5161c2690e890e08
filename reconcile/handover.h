// Handover: the steps that move an application from one database (`from`) to
// another (`to`) with the pipeline that carries `from` into `to`. Cutover runs
// them from the source to the target (cutover.h); rollback runs them back,
// through the reverse pipeline (rollback.h). In order:
//   1. preflight: both databases reachable, then the caller's checks (before
//      anything changes);
//   2. fence (optional): application roles can no longer write to `from`
//      (fence.h), so the changes to carry are finite;
//   3. wait for zero lag (lag.h): every change committed on `from` before this
//      step started is applied to `to`;
//   4. validate (validate.h): `to` holds `from`'s rows, in-flight rows settled;
//   5. sequences (sequences.h): `from`'s values set on `to`, which logical
//      replication does not carry;
//   6. the caller's final steps (cutover: prepare the rollback; rollback: lift
//      the fence cutover left on the source).
// `to` is ready only when every step succeeded. When a step fails after the
// fence, the fence is lifted again (the application keeps running on `from`)
// unless keep_fence_on_failure is set.
//
// Without a fence `from` keeps taking writes: anything committed after step 3
// started is not guaranteed on `to`.
//
// Thread-safety: RunHandover opens its own connections; call it from one thread.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "reconcile/fence.h"
#include "reconcile/lag.h"
#include "reconcile/sequences.h"
#include "reconcile/validate.h"

namespace ferry::reconcile {

// How the steps run, whichever the direction.
struct HandoverPolicy {
  bool fence = false;  // fence `from` (step 2)
  FenceOptions fence_options;
  bool keep_fence_on_failure = false;
  std::chrono::milliseconds timeout{10 * 60 * 1000};  // the wait for zero lag
  // Tables, settle timeout, chunking; the connection strings and the slot are
  // taken from HandoverOptions.
  ValidateOptions validate;
};

struct HandoverOptions {
  LagOptions lag;           // the pipeline from `from` to `to`: lag.source_conninfo is `from`
  std::string to_conninfo;  // REQUIRES: non-empty
  HandoverPolicy policy;
};

// A step of the caller's, with both databases' connections.
struct HandoverStep {
  std::string name;
  std::function<Status(PgConn& from, PgConn& to)> run;
};

struct HandoverReport {
  bool fenced = false;
  FenceResult fence;
  bool fence_lifted = false;  // a step failed after the fence, and it was lifted
  std::optional<LagReport> lag;
  std::optional<ValidateReport> validation;
  std::vector<SequenceValue> sequences;
  std::string failed_step;  // empty when `to` is ready
  Status failure;           // why failed_step failed
  double seconds = 0;

  bool ready() const { return failed_step.empty(); }
};

// `command` names the runbook in logs ("cutover", "rollback"). Never throws; a
// failed step is in the report, not an error.
HandoverReport RunHandover(const std::string& command, const HandoverOptions& options,
                           const std::vector<HandoverStep>& checks, const std::vector<HandoverStep>& final_steps);

// The first lines of a report: `done` when every step succeeded, else
// "<command>: <not_done> (<step> failed)" and why; then the state.
std::string FormatHandoverHeader(const HandoverReport& report, const std::string& done, const std::string& not_done,
                                 const std::string& state);
// The fence, lag, validate and sequences lines of a report; `from` and `to`
// name the databases ("source", "target").
std::string FormatHandoverSteps(const HandoverReport& report, const std::string& from, const std::string& to);
// "  took      12.3 s\n"
std::string FormatTook(double seconds);
// {"ready", "failed_step", "error", "fence": {"fenced", "roles", "terminated_sessions", "lifted"},
//  "lag": <ferry lag --json> | null, "validation": <ferry validate --json> | null,
//  "sequences": [{"schema", "name", "last_value", "is_called"}], "seconds"}
nlohmann::json HandoverJson(const HandoverReport& report);

}  // namespace ferry::reconcile
