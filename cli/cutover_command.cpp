// `ferry cutover`: the cutover runbook in one command (see reconcile/cutover.h).
#include <cstdio>
#include <memory>

#include "cli/cli_support.h"
#include "cli/commands.h"
#include "common/duration.h"
#include "common/logging.h"
#include "common/signals.h"
#include "reconcile/cutover.h"

namespace ferry::cli {

namespace {

struct CutoverFlags {
  reconcile::CutoverOptions options;
  KafkaFlags kafka;
  std::vector<std::string> tables;
  std::string timeout = "10m";
  std::string settle_timeout = "30s";
  bool unfence = false;
  std::string log_level = "info";
};

Status Finish(CutoverFlags& f) {
  auto& o = f.options;
  FERRY_ASSIGN_OR_RETURN(o.lag.kafka, f.kafka.ToOptions());
  {
    FERRY_ASSIGN_OR_RETURN(o.timeout, ParseDuration(f.timeout));
  }
  {
    FERRY_ASSIGN_OR_RETURN(o.validate.settle_timeout, ParseDuration(f.settle_timeout));
  }
  for (const auto& t : f.tables) {
    FERRY_ASSIGN_OR_RETURN(auto name, reconcile::ParseTableName(t));
    o.validate.tables.push_back(name);
  }
  return Status::OK();
}

// Undoes a fence: for rolling back after a cutover, or after a failed one that
// kept its fence.
int Unfence(const CutoverFlags& f) {
  auto source = PgConn::Connect(f.options.lag.source_conninfo);
  if (!source.ok()) return ExitCode(source.status(), "cutover --unfence");
  reconcile::FenceResult result;
  Status st = reconcile::UnfenceSource(*source, &result);
  if (!st.ok()) return ExitCode(st, "cutover --unfence");
  std::printf("cutover: lifted the fence of %zu role(s)\n", result.roles.size());
  return 0;
}

// 0 when the target is ready, 1 when a step failed, 2 for bad input.
int Run(CutoverFlags& f) {
  Status st = Finish(f);
  if (!st.ok()) return ExitCode(st, "cutover");
  if (f.unfence) return Unfence(f);
  reconcile::CutoverReport report = reconcile::RunCutover(f.options);
  std::string text = reconcile::FormatCutoverReport(report);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  if (report.ready()) return 0;
  return report.failure.code() == Status::Code::kInvalidArgument ? 2 : 1;
}

}  // namespace

void AddCutoverCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<CutoverFlags>();
  auto& o = flags->options;
  CLI::App* cmd = app.add_subcommand(
      "cutover",
      "The cutover runbook: optionally fence the source (read-only for application roles), wait "
      "for zero lag, validate every table, copy sequence values to the target. Exit 0 only when "
      "the target is ready to take traffic.");
  cmd->add_option("--source", o.lag.source_conninfo, "Source libpq connection string or URI")
      ->envname("FERRY_SOURCE")
      ->required();
  cmd->add_option("--target", o.target_conninfo, "Target libpq connection string or URI")
      ->envname("FERRY_TARGET")
      ->required();
  cmd->add_option("--slot", o.lag.slot, "Capture's replication slot")->required();
  AddKafkaFlags(cmd, &flags->kafka);
  cmd->add_option("--group", o.lag.group, "Apply's Kafka consumer group")->required();
  cmd->add_option("--topic-prefix", o.lag.topic_prefix, "Topics are <prefix>.<schema>.<table>")->required();
  cmd->add_flag("--fence", o.fence,
                "Make the source read-only for application roles first (every login role that is "
                "not a superuser, not a replication role and not the one running ferry)");
  cmd->add_option("--fence-role", o.fence_options.roles, "Fence only these roles (repeatable)");
  cmd->add_flag("--keep-fence-on-failure", o.keep_fence_on_failure,
                "When a step fails, leave the source fenced (default: lift the fence again)");
  cmd->add_flag("--unfence", flags->unfence,
                "Only lift a fence set by an earlier cutover (rollback), then exit");
  cmd->add_option("--timeout", flags->timeout, "How long to wait for zero lag: e.g. 30s, 10m, 1h")
      ->capture_default_str();
  cmd->add_option("--tables", flags->tables,
                  "Validate only these tables, schema.table (comma-separated); default: every "
                  "source table that exists on the target")
      ->delimiter(',');
  cmd->add_option("--settle-timeout", flags->settle_timeout,
                  "How long differing rows may take to converge before they count as drift")
      ->capture_default_str();
  AddLogLevelFlag(cmd, &flags->log_level);
  cmd->callback([flags, exit_code] {
    InitLogging(flags->log_level, "cutover");
    InstallStopSignals();
    *exit_code = Run(*flags);
  });
}

}  // namespace ferry::cli
