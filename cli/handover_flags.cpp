#include "cli/handover_flags.h"

#include <cstdio>

#include "common/duration.h"
#include "reconcile/validate_table.h"

namespace ferry::cli {

void AddHandoverFlags(CLI::App* cmd, HandoverFlags* flags, const std::string& fenced) {
  auto& p = flags->policy;
  AddKafkaFlags(cmd, &flags->kafka);
  cmd->add_flag("--fence", p.fence,
                "Make the " + fenced + " read-only for application roles first (every login role that is "
                "not a superuser, not a replication role and not the one running ferry)");
  cmd->add_option("--fence-role", p.fence_options.roles, "Fence only these roles (repeatable)");
  cmd->add_flag("--keep-fence-on-failure", p.keep_fence_on_failure,
                "When a step fails, leave the " + fenced + " fenced (default: lift the fence again)");
  cmd->add_option("--timeout", flags->timeout, "How long to wait for zero lag: e.g. 30s, 10m, 1h")
      ->capture_default_str();
  cmd->add_option("--tables", flags->tables,
                  "Validate only these tables, schema.table (comma-separated); default: every table of the " +
                      fenced + " that exists on the other database")
      ->delimiter(',');
  cmd->add_option("--settle-timeout", flags->settle_timeout,
                  "How long differing rows may take to converge before they count as drift")
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "Print the report as JSON");
  AddLogLevelFlag(cmd, &flags->log_level);
}

Status FinishHandoverFlags(HandoverFlags* f, transport::KafkaOptions* kafka) {
  FERRY_ASSIGN_OR_RETURN(*kafka, f->kafka.ToOptions());
  FERRY_ASSIGN_OR_RETURN(f->policy.timeout, ParseDuration(f->timeout));
  FERRY_ASSIGN_OR_RETURN(f->policy.validate.settle_timeout, ParseDuration(f->settle_timeout));
  for (const auto& t : f->tables) {
    FERRY_ASSIGN_OR_RETURN(auto name, reconcile::ParseTableName(t));
    f->policy.validate.tables.push_back(name);
  }
  return Status::OK();
}

void PrintReport(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (!text.empty() && text.back() != '\n') std::fputc('\n', stdout);
  std::fflush(stdout);
}

int HandoverExitCode(const reconcile::HandoverReport& report) {
  if (report.ready()) return 0;
  return report.failure.code() == Status::Code::kInvalidArgument ? 2 : 1;
}

}  // namespace ferry::cli
