// `ferry lag`: how far behind each stage is, or (--wait-zero) a wait until
// everything committed on the source before it started is on the target.
#include <cstdio>
#include <memory>

#include "cli/cli_support.h"
#include "cli/commands.h"
#include "common/duration.h"
#include "common/logging.h"
#include "common/signals.h"
#include "reconcile/lag.h"

namespace ferry::cli {

namespace {

struct LagFlags {
  reconcile::LagOptions options;
  KafkaFlags kafka;
  bool json = false;
  bool wait_zero = false;
  std::string timeout = "10m";
  std::string log_level = "warn";
};

void Print(const reconcile::LagReport& report, bool json) {
  std::string text = json ? reconcile::FormatLagJson(report) + "\n" : reconcile::FormatLagTable(report);
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);
}

int RunLag(LagFlags& flags) {
  auto& o = flags.options;
  auto kafka = flags.kafka.ToOptions();
  if (!kafka.ok()) return ExitCode(kafka.status(), "lag");
  o.kafka = *kafka;
  auto timeout = ParseDuration(flags.timeout);
  if (!timeout.ok()) return ExitCode(timeout.status().WithContext("--timeout"), "lag");
  if (!flags.wait_zero) {
    auto report = reconcile::MeasureLag(o);
    if (!report.ok()) return ExitCode(report.status(), "lag");
    Print(*report, flags.json);
    return 0;
  }
  reconcile::LagReport last;
  Status st = reconcile::WaitForZeroLag(o, *timeout, &last);
  if (last.wait) Print(last, flags.json);  // the remaining lag, when it timed out
  return ExitCode(st, "lag --wait-zero");
}

}  // namespace

void AddLagCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<LagFlags>();
  auto& o = flags->options;
  CLI::App* cmd = app.add_subcommand(
      "lag",
      "Show how far behind each stage is (source WAL, slot, Kafka, apply), measured from outside "
      "the pipeline. With --wait-zero, wait until every change committed on the source before the "
      "command started is applied to the target: exit 0 then, 1 with the remaining lag on timeout.");
  cmd->add_option("--source", o.source_conninfo, "Source libpq connection string or URI")
      ->envname("FERRY_SOURCE")
      ->required();
  cmd->add_option("--slot", o.slot, "Capture's replication slot")->capture_default_str();
  AddKafkaFlags(cmd, &flags->kafka);
  cmd->add_option("--group", o.group, "Apply's Kafka consumer group")->capture_default_str();
  cmd->add_option("--topic-prefix", o.topic_prefix, "Topics are <prefix>.<schema>.<table>")
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "Print the report as JSON");
  cmd->add_flag("--wait-zero", flags->wait_zero,
                "Wait until lag is zero for everything committed before the command started");
  cmd->add_option("--timeout", flags->timeout, "How long --wait-zero waits: e.g. 500ms, 30s, 10m, 1h")
      ->capture_default_str();
  AddLogLevelFlag(cmd, &flags->log_level);
  cmd->callback([flags, exit_code] {
    InitLogging(flags->log_level, "lag");
    InstallStopSignals();
    *exit_code = RunLag(*flags);
  });
}

}  // namespace ferry::cli
