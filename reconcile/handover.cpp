#include "reconcile/handover.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

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
  Runbook(const std::string& command, const HandoverOptions& o) : command_(command), o_(o) {}

  HandoverReport Run(const std::vector<HandoverStep>& checks, const std::vector<HandoverStep>& final_steps) {
    auto start = Clock::now();
    bool ok = Step("preflight", Preflight());
    for (size_t i = 0; ok && i < checks.size(); ++i) ok = Step(checks[i].name, checks[i].run(*from_, *to_));
    struct {
      const char* name;
      Status (Runbook::*run)();
      bool enabled;
    } const steps[] = {
        {"fence", &Runbook::Fence, o_.policy.fence},
        {"wait for zero lag", &Runbook::WaitZero, true},
        {"validate", &Runbook::ValidateTables, true},
        {"sequences", &Runbook::Sequences, true},
    };
    for (const auto& step : steps) {
      if (ok && step.enabled) ok = Step(step.name, (this->*step.run)());
    }
    for (size_t i = 0; ok && i < final_steps.size(); ++i) {
      ok = Step(final_steps[i].name, final_steps[i].run(*from_, *to_));
    }
    if (!report_.ready() && report_.fenced && !o_.policy.keep_fence_on_failure) LiftFence();
    report_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return std::move(report_);
  }

 private:
  bool Step(const std::string& name, const Status& st) {
    if (st.ok()) {
      spdlog::info("{}: {} done", command_, name);
      return true;
    }
    spdlog::error("{}: {} failed: {}", command_, name, st.ToString());
    report_.failed_step = name;
    report_.failure = st;
    return false;
  }

  Status Preflight() {
    FERRY_ASSIGN_OR_RETURN(from_, PgConn::Connect(o_.lag.source_conninfo));
    FERRY_ASSIGN_OR_RETURN(to_, PgConn::Connect(o_.to_conninfo));
    return Status::OK();
  }

  Status Fence() {
    // Set first: a fence that fails half-way (some roles altered) is lifted too.
    report_.fenced = true;
    FERRY_RETURN_IF_ERROR(FenceSource(*from_, o_.policy.fence_options, &report_.fence));
    spdlog::info("{}: fenced {} role(s), ended {} session(s)", command_, report_.fence.roles.size(),
                 report_.fence.terminated_sessions);
    return Status::OK();
  }

  Status WaitZero() {
    LagReport last;
    Status st = WaitForZeroLag(o_.lag, o_.policy.timeout, &last);
    report_.lag = std::move(last);
    if (st.IsAborted()) {
      return Status::Aborted("lag did not reach zero within " + FormatDuration(o_.policy.timeout) + ": " +
                             st.message());
    }
    return st;
  }

  Status ValidateTables() {
    ValidateOptions v = o_.policy.validate;
    v.source_conninfo = o_.lag.source_conninfo;
    v.target_conninfo = o_.to_conninfo;
    v.slot = o_.lag.slot;
    v.repair = false;  // a runbook proves; `ferry validate --repair` changes data
    FERRY_ASSIGN_OR_RETURN(auto validation, Validate(v));
    report_.validation = std::move(validation);
    if (!report_.validation->Matches()) {
      return Status::Aborted("tables differ: " + DifferingTables(*report_.validation) +
                             "; inspect with `ferry validate`, repair with `ferry validate --repair`");
    }
    return Status::OK();
  }

  Status Sequences() { return CopySequences(*from_, *to_, &report_.sequences); }

  void LiftFence() {
    Status st = UnfenceSource(*from_);
    if (st.ok()) {
      report_.fence_lifted = true;
      spdlog::warn("{} failed: the fence was lifted again; the application can write where it wrote before",
                   command_);
    } else {
      spdlog::error("{} failed and lifting the fence failed too ({}); run `ferry {} --unfence`", command_,
                    st.ToString(), command_);
    }
  }

  std::string command_;
  const HandoverOptions& o_;
  std::optional<PgConn> from_, to_;
  HandoverReport report_;
};

}  // namespace

HandoverReport RunHandover(const std::string& command, const HandoverOptions& options,
                           const std::vector<HandoverStep>& checks, const std::vector<HandoverStep>& final_steps) {
  return Runbook(command, options).Run(checks, final_steps);
}

std::string FormatHandoverHeader(const HandoverReport& r, const std::string& done, const std::string& not_done,
                                 const std::string& state) {
  std::string out = r.ready() ? done + "\n"
                              : not_done + " (" + r.failed_step + " failed)\n  " + r.failure.ToString() + "\n";
  return out + "  state     " + state + "\n";
}

std::string FormatHandoverSteps(const HandoverReport& r, const std::string& from, const std::string& to) {
  std::string out;
  if (r.fenced) {
    out += "  fence     " + std::to_string(r.fence.roles.size()) + " role(s) made read-only on the " + from + ":";
    for (const auto& role : r.fence.roles) out += " " + role;
    out += r.fence_lifted ? " (lifted again after the failure)\n" : "\n";
  } else {
    out += "  fence     none: the " + from + " still takes writes; changes committed after the wait "
           "started may be missing on the " + to + "\n";
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
    out += "  validate  " + std::to_string(equal) + "/" + std::to_string(v.tables.size()) + " tables equal, " +
           std::to_string(rows) + " " + from + " rows\n";
    if (!v.Matches()) out += FormatValidateReport(v, 20);
  }
  if (r.ready() || !r.sequences.empty()) {
    out += "  sequences " + std::to_string(r.sequences.size()) + " copied to the " + to;
    for (const auto& s : r.sequences) {
      out += "\n            " + s.schema + "." + s.name + " = " + std::to_string(s.last_value) +
             (s.is_called ? "" : " (not yet called)");
    }
    out += "\n";
  }
  return out;
}

std::string FormatTook(double seconds) {
  char took[32];
  std::snprintf(took, sizeof took, "%.1f", seconds);
  return std::string("  took      ") + took + " s\n";
}

nlohmann::json HandoverJson(const HandoverReport& r) {
  nlohmann::json j;
  j["ready"] = r.ready();
  j["failed_step"] = r.ready() ? nlohmann::json(nullptr) : nlohmann::json(r.failed_step);
  j["error"] = r.ready() ? nlohmann::json(nullptr) : nlohmann::json(r.failure.ToString());
  j["fence"] = {{"fenced", r.fenced},
                {"roles", r.fence.roles},
                {"terminated_sessions", r.fence.terminated_sessions},
                {"lifted", r.fence_lifted}};
  j["lag"] = r.lag ? nlohmann::json::parse(FormatLagJson(*r.lag)) : nlohmann::json(nullptr);
  j["validation"] = r.validation ? nlohmann::json::parse(ValidateReportJson(*r.validation, 100))
                                 : nlohmann::json(nullptr);
  nlohmann::json sequences = nlohmann::json::array();
  for (const auto& s : r.sequences) {
    sequences.push_back(
        {{"schema", s.schema}, {"name", s.name}, {"last_value", s.last_value}, {"is_called", s.is_called}});
  }
  j["sequences"] = std::move(sequences);
  j["seconds"] = r.seconds;
  return j;
}

}  // namespace ferry::reconcile
