#include <memory>

#include "apply/apply_runner.h"
#include "cli/cli_support.h"
#include "cli/commands.h"
#include "common/duration.h"
#include "common/logging.h"
#include "common/server_wait.h"
#include "common/signals.h"

namespace ferry::cli {

namespace {
struct ApplyFlags {
  apply::ApplyOptions options;
  KafkaFlags kafka;
  std::string conflict = "replace";
  std::string truncate = "apply";
  std::string on_error = "retry";
  std::string target_stall_timeout = "5m";
  std::string log_level = "info";
  std::string metrics_addr;
};
}  // namespace

void AddApplyCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ApplyFlags>();
  auto& o = flags->options;
  CLI::App* cmd = app.add_subcommand(
      "apply",
      "Consume change events from Kafka (<prefix>.changes) and apply them to the target PostgreSQL: "
      "whole source transactions, in source commit order, several per target transaction; the "
      "position is committed on the target with them.");
  AddKafkaFlags(cmd, &flags->kafka);
  cmd->add_option("--target", o.target_conninfo, "Target libpq connection string or URI")
      ->envname("FERRY_TARGET")
      ->required();
  cmd->add_option("--group", o.group, "Kafka consumer group")->capture_default_str();
  cmd->add_option("--topic-prefix", o.topic_prefix, "Consume the topic <prefix>.changes")
      ->capture_default_str();
  cmd->add_option("--state-dir", o.state_dir, "Directory for parked transactions (<dir>/failures)")
      ->envname("FERRY_STATE_DIR")
      ->capture_default_str();
  cmd->add_option("--conflict", flags->conflict,
                  "Conflict rule: none (never overwrite), replace (source wins) or merge "
                  "(carried columns win, the target keeps the rest)")
      ->capture_default_str();
  cmd->add_flag("--log-conflicts", o.log_conflicts,
                "Log each conflict (insert_exists, update_missing, delete_missing) with the "
                "event's values and what was done");
  cmd->add_option("--truncate", flags->truncate, "TRUNCATE events: apply or skip")
      ->check(CLI::IsMember({"apply", "skip"}))
      ->capture_default_str();
  cmd->add_flag("--create-tables", o.create_tables,
                "Create missing target tables from the events' columns (primary key = source key)");
  cmd->add_flag("--evolve-schema", o.evolve_schema,
                "Add columns added on the source to the target table (else apply stops naming "
                "the column)");
  cmd->add_flag("--target-triggers", o.target_triggers,
                "Fire the target's triggers and foreign-key actions (session_replication_role = origin); by "
                "default apply runs as a replica, as PostgreSQL's own subscriber does");
  cmd->add_option("--batch-max-events", o.batch_max_events,
                  "Change events per target transaction, at most (a larger source transaction is applied "
                  "whole, in a transaction of its own)")
      ->capture_default_str();
  cmd->add_option("--transaction-buffer-bytes", o.max_buffered_unit_bytes,
                  "A source transaction larger than this is applied as it arrives (in a target transaction of "
                  "its own, committed at its end) instead of held in memory first")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--on-error", flags->on_error,
                  "When the target rejects a transaction: stop, retry (with backoff, then stop or "
                  "park) or park it whole (and every later transaction that changes its rows) in <dir>/failures")
      ->capture_default_str();
  cmd->add_option("--retry-max", o.failures.retry_max, "Retries of a rejected transaction (--on-error retry)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_flag("--park-after-retries", o.failures.park_after_retries,
                "--on-error retry: park the transaction once retries run out, instead of stopping");
  cmd->add_option("--target-stall-timeout", flags->target_stall_timeout,
                  "Drop and reconnect a target connection that sends and reads nothing for this long while "
                  "apply waits for its answer (a frozen backend, a dead proxy or NAT path); its server process "
                  "is ended so it cannot commit the batch later. Raise it if single statements (lock waits, "
                  "keyless tables) legitimately run longer; 0: wait forever")
      ->capture_default_str();
  AddLogLevelFlag(cmd, &flags->log_level);
  AddMetricsFlag(cmd, &flags->metrics_addr);
  cmd->callback([flags, exit_code] {
    InitLogging(flags->log_level, "apply");
    InstallStopSignals();
    auto& o = flags->options;
    auto rule = apply::ParseConflictRule(flags->conflict);
    auto kafka = flags->kafka.ToOptions();
    auto on_error = apply::ParseOnError(flags->on_error);
    auto stall = ParseDuration(flags->target_stall_timeout);
    Status st = !rule.ok()       ? rule.status()
                : !on_error.ok() ? on_error.status()
                : !stall.ok()    ? stall.status().WithContext("--target-stall-timeout")
                                 : kafka.status();
    if (!st.ok()) {
      *exit_code = ExitCode(st, "apply");
      return;
    }
    SetStallTimeout(*stall, "--target-stall-timeout");
    o.rule = *rule;
    o.skip_truncate = flags->truncate == "skip";
    o.failures.on_error = *on_error;
    o.kafka = *kafka;
    auto server = StartMetrics(flags->metrics_addr);
    if (!server.ok()) {
      *exit_code = ExitCode(server.status(), "apply");
      return;
    }
    *exit_code = ExitCode(apply::RunApply(o), "apply");
  });
}

}  // namespace ferry::cli
