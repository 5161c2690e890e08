#include "common/ferry_metrics.h"

namespace ferry::metrics {

namespace {
Registry& R() { return Registry::Default(); }
}  // namespace

Counter& CapturedEvents(const std::string& table) {
  return R().counter("ferry_capture_events_total", "Change events capture handed to Kafka.",
                     {{"table", table}});
}
Gauge& CaptureConfirmedLsn() {
  return R().gauge("ferry_capture_confirmed_lsn",
                   "LSN capture last confirmed to the replication slot, as a number.");
}
Gauge& SlotRetainedWalBytes() {
  return R().gauge("ferry_capture_slot_retained_wal_bytes",
                   "WAL bytes the replication slot keeps on the source (insert LSN - restart_lsn).");
}
Gauge& CaptureLagBytes() {
  return R().gauge("ferry_capture_lag_bytes",
                   "WAL bytes written on the source and not yet confirmed by capture (insert LSN - "
                   "confirmed_flush_lsn).");
}
Gauge& SnapshotProgress(const std::string& snapshot, const std::string& measure) {
  return R().gauge("ferry_capture_snapshot_" + measure,
                   "Snapshot progress: rows (read and published), rows_estimated (pg_class), "
                   "tables_done, tables.",
                   {{"snapshot", snapshot}});
}
Gauge& FlowControlPaused() {
  return R().gauge("ferry_capture_flow_control_paused",
                   "1 while flow control pauses capture because a consumer group is too far behind.");
}
Gauge& FlowControlPausedSince() {
  return R().gauge("ferry_capture_flow_control_paused_since_timestamp_seconds",
                   "When the current flow-control pause began, Unix seconds; 0 while running.");
}
Gauge& FlowControlBacklogBytes() {
  return R().gauge("ferry_capture_flow_control_backlog_bytes",
                   "Largest estimated backlog of a followed consumer group on one partition (bytes "
                   "written and not yet read), at the last check.");
}
Counter& ProducerErrors() {
  return R().counter("ferry_kafka_producer_errors_total",
                     "Kafka producer errors: failed deliveries and client errors.");
}
Counter& AppliedEvents(const std::string& table) {
  return R().counter("ferry_apply_events_total", "Change events applied to the target.",
                     {{"table", table}});
}
constexpr char kConflicts[] = "ferry_apply_conflicts_total";
constexpr char kConflictsHelp[] =
    "Conflicts met while applying, by table, kind (insert_exists, update_missing, delete_missing) "
    "and resolution (skipped, overwritten, merged, inserted).";

Counter& Conflicts(const std::string& table, const std::string& kind, const std::string& resolution) {
  return R().counter(kConflicts, kConflictsHelp, {{"table", table}, {"kind", kind}, {"resolution", resolution}});
}
Gauge& ParkedEvents() {
  return R().gauge("ferry_apply_parked_events", "Events parked in the failure store.");
}
Gauge& ApplyLagEvents() {
  return R().gauge("ferry_apply_lag_events",
                   "Events in apply's assigned partitions not yet applied (log end - position).");
}
Gauge& ApplyLastCommitTimestamp() {
  return R().gauge("ferry_apply_last_commit_timestamp_seconds",
                   "Source commit time of the last applied transaction, Unix seconds.");
}
Counter& ConsumerErrors() {
  return R().counter("ferry_kafka_consumer_errors_total", "Kafka consumer client and fetch errors.");
}

void DescribeApplyFamilies() {
  R().DescribeCounter(kConflicts, kConflictsHelp);
  ParkedEvents();
}

}  // namespace ferry::metrics
