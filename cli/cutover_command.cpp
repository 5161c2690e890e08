// `ferry cutover`: the cutover runbook in one command (see reconcile/cutover.h).
#include <memory>

#include "cli/cli_support.h"
#include "cli/commands.h"
#include "cli/handover_flags.h"
#include "common/logging.h"
#include "common/signals.h"
#include "reconcile/cutover.h"

namespace ferry::cli {

namespace {

struct CutoverFlags {
  reconcile::CutoverOptions options;
  HandoverFlags runbook;
  bool unfence = false;
};

// Undoes a fence: for rolling back before the application switched, or after a
// failed cutover that kept its fence.
int Unfence(const CutoverFlags& f) {
  auto report = reconcile::UnfenceAfterCutover(f.options.handover.lag.source_conninfo);
  if (!report.ok()) return ExitCode(report.status(), "cutover --unfence");
  PrintReport(f.runbook.json ? reconcile::UnfenceReportJson(*report) : reconcile::FormatUnfenceReport(*report));
  return 0;
}

// 0 when the target is ready, 1 when a step failed, 2 for bad input.
int Run(CutoverFlags& f) {
  auto& o = f.options;
  Status st = FinishHandoverFlags(&f.runbook, &o.handover.lag.kafka);
  if (!st.ok()) return ExitCode(st, "cutover");
  o.handover.policy = f.runbook.policy;
  if (f.unfence) return Unfence(f);
  reconcile::CutoverReport report = reconcile::RunCutover(o);
  PrintReport(f.runbook.json ? reconcile::CutoverReportJson(report) : reconcile::FormatCutoverReport(report));
  return HandoverExitCode(report.steps);
}

}  // namespace

void AddCutoverCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<CutoverFlags>();
  auto& o = flags->options;
  CLI::App* cmd = app.add_subcommand(
      "cutover",
      "The cutover runbook: optionally fence the source (read-only for application roles), wait "
      "for zero lag, validate every table, copy sequence values to the target, and with "
      "--prepare-rollback create the reverse pipeline's publication and slot on the target. Exit 0 "
      "only when the target is ready to take traffic.");
  cmd->add_option("--source", o.handover.lag.source_conninfo, "Source libpq connection string or URI")
      ->envname("FERRY_SOURCE")
      ->required();
  cmd->add_option("--target", o.handover.to_conninfo, "Target libpq connection string or URI")
      ->envname("FERRY_TARGET")
      ->required();
  cmd->add_option("--slot", o.handover.lag.slot, "Capture's replication slot")->required();
  cmd->add_option("--group", o.handover.lag.group, "Apply's Kafka consumer group")->required();
  cmd->add_option("--topic-prefix", o.handover.lag.topic_prefix, "Capture's and apply's --topic-prefix")
      ->required();
  AddHandoverFlags(cmd, &flags->runbook, "source");
  cmd->add_flag("--unfence", flags->unfence,
                "Only lift a fence set by an earlier cutover (rolling back before the switch), then exit");
  cmd->add_flag("--prepare-rollback", o.prepare_rollback,
                "Last, create the reverse publication and logical slot on the target (it needs wal_level = "
                "logical), so that `ferry rollback` can carry every write made on the target after the switch "
                "back to the source; the report prints the commands that run the reverse pipeline");
  cmd->add_option("--reverse-slot", o.reverse.slot, "The reverse pipeline's slot, on the target")
      ->capture_default_str();
  cmd->add_option("--reverse-publication", o.reverse.publication, "The reverse pipeline's publication, on the target")
      ->capture_default_str();
  cmd->add_option("--publication", o.reverse.forward_publication,
                  "Capture's publication on the source, whose tables the reverse publication gets")
      ->capture_default_str();
  cmd->callback([flags, exit_code] {
    InitLogging(flags->runbook.log_level, "cutover");
    InstallStopSignals();
    *exit_code = Run(*flags);
  });
}

}  // namespace ferry::cli
