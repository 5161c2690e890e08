#include <cstdio>
#include <memory>

#include "apply/apply_runner.h"
#include "cli/cli_support.h"
#include "cli/commands.h"
#include "common/duration.h"
#include "common/logging.h"
#include "common/signals.h"
#include "reconcile/validate.h"
#include "reconcile/validate_report.h"

namespace ferry::cli {

namespace {

struct ValidateFlags {
  reconcile::ValidateOptions options;
  std::vector<std::string> tables;
  std::string settle_timeout = "30s";
  std::string conflict = "replace";
  bool json = false;
  size_t max_listed = 100;
  std::string log_level = "warn";
};

Status Finish(ValidateFlags& f) {
  auto& o = f.options;
  for (const auto& t : f.tables) {
    FERRY_ASSIGN_OR_RETURN(auto name, reconcile::ParseTableName(t));
    o.tables.push_back(name);
  }
  FERRY_ASSIGN_OR_RETURN(o.settle_timeout, ParseDuration(f.settle_timeout));
  FERRY_ASSIGN_OR_RETURN(o.conflict, apply::ParseConflictRule(f.conflict));
  if (o.chunk_rows < 1 || o.fetch_rows < 1) {
    return Status::InvalidArgument("--chunk-rows and --fetch-rows must be at least 1");
  }
  return Status::OK();
}

// 0 when every table matches, 1 when some differ, 2 for bad input.
int Run(ValidateFlags& f) {
  Status st = Finish(f);
  if (!st.ok()) return ExitCode(st, "validate");
  auto report = reconcile::Validate(f.options);
  if (!report.ok()) return ExitCode(report.status(), "validate");
  std::string text = f.json ? reconcile::ValidateReportJson(*report, f.max_listed)
                            : reconcile::FormatValidateReport(*report, f.max_listed);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  return report->Matches() ? 0 : 1;
}

}  // namespace

void AddValidateCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ValidateFlags>();
  auto& o = flags->options;
  CLI::App* cmd = app.add_subcommand(
      "validate",
      "Compare every table of the source with the target by chunked checksums computed in each "
      "database, list rows that are missing, extra or different, optionally repair them. Exit 0 "
      "only when every table matches.");
  cmd->add_option("--source", o.source_conninfo, "Source libpq connection string or URI")
      ->envname("FERRY_SOURCE")
      ->required();
  cmd->add_option("--target", o.target_conninfo, "Target libpq connection string or URI")
      ->envname("FERRY_TARGET")
      ->required();
  cmd->add_option("--tables", flags->tables,
                  "Only these tables, schema.table (comma-separated); default: every source table "
                  "that exists on the target")
      ->delimiter(',');
  cmd->add_flag("--repair", o.repair, "Copy differing rows from the source, delete extra ones, re-check");
  cmd->add_option("--conflict", flags->conflict,
                  "Repair conflict rule: replace or merge (overwrite), none (only insert missing rows)")
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "Print the report as JSON");
  cmd->add_option("--settle-timeout", flags->settle_timeout,
                  "How long differing rows may take to converge (replication in flight) before "
                  "they count as drift, e.g. 500ms, 30s, 2m")
      ->capture_default_str();
  cmd->add_option("--slot", o.slot,
                  "Capture's replication slot: wait for its confirmed position to pass the LSN at "
                  "which rows differed before re-checking them");
  cmd->add_option("--chunk-rows", o.chunk_rows, "Rows per checksum chunk")->capture_default_str();
  cmd->add_option("--fetch-rows", o.fetch_rows,
                  "A differing chunk of at most this many rows is compared row by row; larger ones are split")
      ->capture_default_str();
  cmd->add_option("--max-listed", flags->max_listed, "Differing rows listed per table, at most")
      ->capture_default_str();
  AddLogLevelFlag(cmd, &flags->log_level);
  cmd->callback([flags, exit_code] {
    InitLogging(flags->log_level, "validate");
    InstallStopSignals();
    *exit_code = Run(*flags);
  });
}

}  // namespace ferry::cli
