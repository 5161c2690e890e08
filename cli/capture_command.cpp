#include <memory>

#include "capture/capture_runner.h"
#include "cli/cli_support.h"
#include "cli/commands.h"
#include "common/duration.h"
#include "common/logging.h"
#include "common/signals.h"

namespace ferry::cli {

namespace {
struct CaptureFlags {
  capture::CaptureOptions options;
  KafkaFlags kafka;
  std::string tables;
  std::string replication_timeout = "auto";
  std::string log_level = "info";
  std::string progress = "auto";
  std::string metrics_addr;
};

// "auto" (0: derived from the server's wal_sender_timeout) or a duration.
Result<std::chrono::milliseconds> ParseReplicationTimeout(const std::string& text) {
  if (text == "auto") return std::chrono::milliseconds(0);
  auto d = ParseDuration(text);
  if (!d.ok() || d->count() == 0) {
    return Status::InvalidArgument("--replication-timeout must be auto or a duration above 0 (30s, 2m), not '" +
                                   text + "'");
  }
  return d;
}
}  // namespace

void AddCaptureCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<CaptureFlags>();
  auto& o = flags->options;
  CLI::App* cmd = app.add_subcommand(
      "capture",
      "Stream changes from a PostgreSQL source (logical replication, pgoutput) to Kafka. Creates the "
      "publication and slot if missing; confirms an LSN to the slot only after Kafka acknowledged "
      "every event up to it.");
  cmd->add_option("--source", o.source.conninfo, "Source libpq connection string or URI")
      ->envname("FERRY_SOURCE")
      ->required();
  AddKafkaFlags(cmd, &flags->kafka);
  cmd->add_option("--slot", o.source.slot, "Replication slot name")->capture_default_str();
  cmd->add_option("--publication", o.source.publication, "Publication name")->capture_default_str();
  cmd->add_option("--tables", flags->tables,
                  "schema.table,... to publish when creating the publication (default: all tables)");
  cmd->add_flag("--publish-via-partition-root", o.source.publish_via_partition_root,
                "Create the publication WITH (publish_via_partition_root): changes to partitions "
                "are published as their partitioned root table");
  cmd->add_option("--topic-prefix", o.topic_prefix, "Topics are <prefix>.<schema>.<table>")
      ->capture_default_str();
  cmd->add_option("--topic-partitions", o.producer.topic_partitions,
                  "Partitions of the topics capture creates (default: what each topic needs; 0: the "
                  "cluster's default, the dev broker's --partitions)")
      ->check(CLI::Range(0, 10000));
  cmd->add_option("--topic-replication-factor", o.producer.replication_factor,
                  "Replication factor of the topics capture creates on Kafka (default: the broker's "
                  "default.replication.factor)")
      ->check(CLI::Range(-1, 100));
  cmd->add_option("--state-dir", o.state_dir, "Directory for capture's RocksDB (<dir>/capture)")
      ->envname("FERRY_STATE_DIR")
      ->capture_default_str();
  cmd->add_option("--flow-control", o.flow_control,
                  "Pause reading the slot while the apply group lags: auto (on against the dev "
                  "broker), on, off")
      ->capture_default_str();
  cmd->add_option("--flow-control-group", o.flow_control_group,
                  "Consumer group flow control follows (default: every group reading capture's topics; "
                  "on the dev broker, which cannot list groups: ferry-apply)");
  cmd->add_option("--flow-control-max-bytes", o.flow_control_max_bytes,
                  "Estimated unapplied bytes per partition above which capture pauses")
      ->capture_default_str();
  cmd->add_flag("--new-kafka-cluster", o.accept_new_kafka_cluster,
                "Go on although Kafka is another cluster than the one capture confirmed events to (a "
                "restarted dev broker): only once apply had applied them all");
  cmd->add_flag("--replicate-origins", o.replicate_origins,
                "Also publish transactions a ferry apply wrote into the source (for chains A -> B -> C); "
                "default: drop them, so pipelines in opposite directions never loop");
  cmd->add_option("--snapshot", o.snapshot,
                  "initial: copy every published table when the slot is new, then stream; only: copy, "
                  "then exit; never: stream only")
      ->check(CLI::IsMember({"initial", "never", "only"}))
      ->capture_default_str();
  cmd->add_option("--snapshot-chunk-rows", o.snapshot_chunk_rows,
                  "Rows per snapshot chunk (one key-range query; progress is saved per chunk)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--snapshot-events", o.snapshot_events,
                  "batch: a snapshot chunk's rows travel in a few events (OP_READ_ROWS, rows in COPY's text "
                  "format) that apply hands to COPY; row: one READ event per row, for other consumers of "
                  "the topic that want them")
      ->check(CLI::IsMember({"batch", "row"}))
      ->capture_default_str();
  cmd->add_option("--transaction-events", o.transaction_events,
                  "batch: a transaction's run of 256 or more inserts into one table travels in a few events "
                  "(OP_INSERT_ROWS, rows in COPY's text format) that apply hands to COPY; row: one INSERT "
                  "event per row, for other consumers of the topic that want them")
      ->check(CLI::IsMember({"batch", "row"}))
      ->capture_default_str();
  cmd->add_option("--snapshot-workers", o.snapshot_workers,
                  "Connections reading in parallel during the initial snapshot (a big table is read in "
                  "several key or page ranges at once); default: the CPUs capture may run on, at most 4")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--snapshot-buffer-bytes", o.snapshot_buffer_bytes,
                  "Bytes of snapshot rows read ahead of Kafka at most (chunks are cut to a fraction of it, "
                  "so wide rows keep memory bounded)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--replication-timeout", flags->replication_timeout,
                  "Reconnect when nothing, not even a keepalive it asked for, arrived on the replication "
                  "connection for this long (a frozen walsender, a dead NAT path); auto: max(2 x the "
                  "server's wal_sender_timeout, 60s)")
      ->capture_default_str();
  cmd->add_option("--progress", flags->progress,
                  "How snapshot progress is shown: tty (a block under the log, rewritten in place at most "
                  "twice a second: totals, then rows done of ~estimated, %, rows/s and ETA per table), log "
                  "(log lines every 5 s), auto (tty when stderr is a terminal)")
      ->check(CLI::IsMember({"auto", "tty", "log"}))
      ->capture_default_str();
  AddLogLevelFlag(cmd, &flags->log_level);
  AddMetricsFlag(cmd, &flags->metrics_addr);
  cmd->callback([flags, exit_code] {
    auto progress = ParseProgressDisplay(flags->progress);  // checked by CLI11 already
    InitLogging(flags->log_level, "capture", progress.ok() ? *progress : ProgressDisplay::kAuto);
    InstallStopSignals();
    auto& o = flags->options;
    for (auto& t : CLI::detail::split(flags->tables, ',')) {
      if (!t.empty()) o.source.tables.push_back(CLI::detail::trim_copy(t));
    }
    auto kafka = flags->kafka.ToOptions();
    auto replication_timeout = ParseReplicationTimeout(flags->replication_timeout);
    Status st = !kafka.ok() ? kafka.status() : replication_timeout.status();
    if (!st.ok()) {
      *exit_code = ExitCode(st, "capture");
      return;
    }
    o.replication_timeout = *replication_timeout;
    o.kafka = *kafka;
    o.slot_metrics = !flags->metrics_addr.empty();
    auto server = StartMetrics(flags->metrics_addr);
    if (!server.ok()) {
      *exit_code = ExitCode(server.status(), "capture");
      return;
    }
    *exit_code = ExitCode(capture::RunCapture(o), "capture");
  });
}

}  // namespace ferry::cli
