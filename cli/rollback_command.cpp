// `ferry rollback`: back from the target to the source after a cutover with
// --prepare-rollback (see reconcile/rollback.h).
#include <memory>

#include "cli/cli_support.h"
#include "cli/commands.h"
#include "cli/handover_flags.h"
#include "common/logging.h"
#include "common/signals.h"
#include "reconcile/rollback.h"

namespace ferry::cli {

namespace {

struct RollbackFlags {
  reconcile::RollbackOptions options;
  HandoverFlags runbook;
};

// 0 when the source is ready again, 1 when a step failed, 2 for bad input.
int Run(RollbackFlags& f) {
  auto& o = f.options;
  Status st = FinishHandoverFlags(&f.runbook, &o.kafka);
  if (!st.ok()) return ExitCode(st, "rollback");
  o.policy = f.runbook.policy;
  reconcile::RollbackReport report = reconcile::RunRollback(o);
  PrintReport(f.runbook.json ? reconcile::RollbackReportJson(report) : reconcile::FormatRollbackReport(report));
  return HandoverExitCode(report.steps);
}

}  // namespace

void AddRollbackCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<RollbackFlags>();
  auto& o = flags->options;
  CLI::App* cmd = app.add_subcommand(
      "rollback",
      "After `ferry cutover --prepare-rollback` and the switch: move the application back to the source "
      "without losing what it wrote on the target. Optionally fence the target, wait for zero lag of the "
      "reverse pipeline, validate, copy sequence values to the source, lift the source's fence. Exit 0 only "
      "when the source is ready to take traffic again.");
  cmd->add_option("--source", o.source_conninfo,
                  "The source of the cutover (the old database), libpq connection string or URI")
      ->envname("FERRY_SOURCE")
      ->required();
  cmd->add_option("--target", o.target_conninfo,
                  "The target of the cutover (the new database), libpq connection string or URI")
      ->envname("FERRY_TARGET")
      ->required();
  cmd->add_option("--reverse-slot", o.reverse_slot, "The reverse pipeline's slot, on the target")
      ->capture_default_str();
  cmd->add_option("--reverse-group", o.reverse_group, "The reverse apply's Kafka consumer group")
      ->capture_default_str();
  cmd->add_option("--reverse-topic-prefix", o.reverse_topic_prefix, "The reverse pipeline's --topic-prefix")
      ->capture_default_str();
  AddHandoverFlags(cmd, &flags->runbook, "target");
  cmd->callback([flags, exit_code] {
    InitLogging(flags->runbook.log_level, "rollback");
    InstallStopSignals();
    *exit_code = Run(*flags);
  });
}

}  // namespace ferry::cli
