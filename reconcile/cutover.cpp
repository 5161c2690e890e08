#include "reconcile/cutover.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/duration.h"
#include "reconcile/validate_report.h"

namespace ferry::reconcile {

namespace {

using Clock = std::chrono::steady_clock;

// Every table that differs, for the failure message.
std::string DifferingTables(const ValidateReport& report) {
  std::string out;
  for (const auto& t : report.tables) {
    if (t.Matches()) continue;
    if (!out.empty()) out += ", ";
    out += t.name.Display() + " (" + std::to_string(t.mismatches.size()) + " rows)";
  }
  return out;
}

class Runbook {
 public:
  explicit Runbook(const CutoverOptions& o) : o_(o) {}

  CutoverReport Run() {
    auto start = Clock::now();
    struct {
      const char* name;
      Status (Runbook::*run)();
      bool enabled;
    } const steps[] = {
        {"preflight", &Runbook::Preflight, true},
        {"fence", &Runbook::Fence, o_.fence},
        {"wait for zero lag", &Runbook::WaitZero, true},
        {"validate", &Runbook::ValidateTables, true},
        {"sequences", &Runbook::Sequences, true},
    };
    for (const auto& step : steps) {
      if (step.enabled && !Step(step.name, (this->*step.run)())) break;
    }
    if (!report_.ready() && report_.fenced && !o_.keep_fence_on_failure) LiftFence();
    report_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return std::move(report_);
  }

 private:
  bool Step(const char* name, const Status& st) {
    if (st.ok()) {
      spdlog::info("cutover: {} done", name);
      return true;
    }
    spdlog::error("cutover: {} failed: {}", name, st.ToString());
    report_.failed_step = name;
    report_.failure = st;
    return false;
  }

  Status Preflight() {
    FERRY_ASSIGN_OR_RETURN(source_, PgConn::Connect(o_.lag.source_conninfo));
    FERRY_ASSIGN_OR_RETURN(target_, PgConn::Connect(o_.target_conninfo));
    return Status::OK();
  }

  Status Fence() {
    // Set first: a fence that fails half-way (some roles altered) is lifted too.
    report_.fenced = true;
    FERRY_RETURN_IF_ERROR(FenceSource(*source_, o_.fence_options, &report_.fence));
    spdlog::info("cutover: fenced {} role(s), ended {} session(s)", report_.fence.roles.size(),
                 report_.fence.terminated_sessions);
    return Status::OK();
  }

  Status WaitZero() {
    LagReport last;
    Status st = WaitForZeroLag(o_.lag, o_.timeout, &last);
    report_.lag = std::move(last);
    if (st.IsAborted()) {
      return Status::Aborted("lag did not reach zero within " + FormatDuration(o_.timeout) + ": " +
                             st.message());
    }
    return st;
  }

  Status ValidateTables() {
    ValidateOptions v = o_.validate;
    v.source_conninfo = o_.lag.source_conninfo;
    v.target_conninfo = o_.target_conninfo;
    v.slot = o_.lag.slot;
    v.repair = false;  // cutover proves; `ferry validate --repair` changes data
    FERRY_ASSIGN_OR_RETURN(auto validation, Validate(v));
    report_.validation = std::move(validation);
    if (!report_.validation->Matches()) {
      return Status::Aborted("tables differ: " + DifferingTables(*report_.validation) +
                             "; inspect with `ferry validate`, repair with `ferry validate --repair`");
    }
    return Status::OK();
  }

  Status Sequences() { return CopySequences(*source_, *target_, &report_.sequences); }

  void LiftFence() {
    Status st = UnfenceSource(*source_);
    if (st.ok()) {
      report_.fence_lifted = true;
      spdlog::warn("cutover failed: the fence on the source was lifted; the application can write again");
    } else {
      spdlog::error("cutover failed and lifting the fence failed too ({}); run `ferry cutover --unfence`",
                    st.ToString());
    }
  }

  const CutoverOptions& o_;
  std::optional<PgConn> source_, target_;
  CutoverReport report_;
};

}  // namespace

CutoverReport RunCutover(const CutoverOptions& options) { return Runbook(options).Run(); }

std::string FormatCutoverReport(const CutoverReport& r) {
  std::string out = r.ready() ? "cutover: the target is READY to take traffic\n"
                              : "cutover: NOT READY (" + r.failed_step + " failed)\n  " +
                                    r.failure.ToString() + "\n";
  if (r.fenced) {
    out += "  fence     " + std::to_string(r.fence.roles.size()) + " role(s) made read-only on the source:";
    for (const auto& role : r.fence.roles) out += " " + role;
    out += r.fence_lifted ? " (lifted again after the failure)\n" : "\n";
  } else {
    out += "  fence     none: the source still takes writes; changes committed after the wait "
           "started may be missing on the target\n";
  }
  if (r.lag && r.lag->wait) {
    const auto& w = *r.lag->wait;
    out += "  lag       " + std::string(w.zero ? "zero" : "not zero") + " for changes up to " +
           w.target_lsn.ToString() + " (waited " + FormatDuration(w.waited) + ")";
    if (!w.zero && w.events_remaining >= 0) out += ", " + std::to_string(w.events_remaining) + " events left";
    out += "\n";
  }
  if (r.validation) {
    const auto& v = *r.validation;
    int64_t rows = 0;
    for (const auto& t : v.tables) rows += t.source_rows;
    size_t equal = static_cast<size_t>(std::count_if(v.tables.begin(), v.tables.end(),
                                                     [](const TableReport& t) { return t.Matches(); }));
    out += "  validate  " + std::to_string(equal) + "/" + std::to_string(v.tables.size()) +
           " tables equal, " + std::to_string(rows) + " source rows\n";
    if (!v.Matches()) out += FormatValidateReport(v, 20);
  }
  if (r.ready() || !r.sequences.empty()) {
    out += "  sequences " + std::to_string(r.sequences.size()) + " copied";
    for (const auto& s : r.sequences) {
      out += "\n            " + s.schema + "." + s.name + " = " + std::to_string(s.last_value) +
             (s.is_called ? "" : " (not yet called)");
    }
    out += "\n";
  }
  char took[32];
  std::snprintf(took, sizeof took, "%.1f", r.seconds);
  out += std::string("  took      ") + took + " s\n";
  return out;
}

}  // namespace ferry::reconcile
