// `ferry reconcile --once --state-dir DIR [--target CONNINFO]`: one pass of the
// reconciler by hand (apply/failure_reconciler.h), whether apply runs or not.
#include <memory>

#include "cli/cli_support.h"
#include "cli/commands.h"
#include "cli/failure_access.h"
#include "common/logging.h"

namespace ferry::cli {

void AddReconcileCommand(CLI::App& app, int* exit_code) {
  auto f = std::make_shared<FailureFlags>();
  auto once = std::make_shared<bool>(false);
  f->log_level = "info";
  CLI::App* cmd = app.add_subcommand(
      "reconcile", "Replay parked events whose cause is fixed, in order per row (a running apply "
                   "does this by itself every second)");
  AddStateDirFlag(cmd, f.get());
  AddReplayFlags(cmd, f.get());
  // Required: the continuous reconciler is the one inside apply.
  cmd->add_flag("--once", *once, "One pass, then exit (the only mode)")->required();
  AddLogLevelFlag(cmd, &f->log_level);
  cmd->callback([f, exit_code] {
    InitLogging(f->log_level, "reconcile");
    *exit_code = ExitCode(RunAndPrint(*f, "reconcile"), "reconcile");
  });
}

}  // namespace ferry::cli
