// The metrics ferry exports, by name, in the default Registry. One place holds
// every name and help text so the README's table and the code cannot drift.
// Stages call these accessors; a hot loop keeps the returned reference.
//
// Thread-safety: as Registry.
#pragma once

#include <string>

#include "common/metrics.h"

namespace ferry::metrics {

// --- capture ---
// ferry_capture_events_total{table}: change events handed to Kafka.
Counter& CapturedEvents(const std::string& table);
// ferry_capture_confirmed_lsn: the LSN last confirmed to the slot (as a number).
Gauge& CaptureConfirmedLsn();
// ferry_capture_slot_retained_wal_bytes: WAL the slot keeps on the source
// (insert LSN - restart_lsn). Grows without bound while capture is down.
Gauge& SlotRetainedWalBytes();
// ferry_capture_lag_bytes: WAL written on the source that capture has not
// confirmed (insert LSN - confirmed_flush_lsn).
Gauge& CaptureLagBytes();
// ferry_capture_snapshot_{rows,rows_estimated,tables_done,tables}{snapshot}:
// progress of the initial or incremental snapshot ("initial snapshot",
// "incremental snapshot"); rows_estimated is from pg_class.reltuples.
Gauge& SnapshotProgress(const std::string& snapshot, const std::string& measure);
// ferry_capture_flow_control_paused: 1 while flow control holds capture back.
Gauge& FlowControlPaused();
// ferry_capture_flow_control_paused_since_timestamp_seconds: when the current
// pause began (Unix seconds); 0 while running.
Gauge& FlowControlPausedSince();
// ferry_capture_flow_control_backlog_bytes: the largest estimated backlog of a
// followed consumer group on one partition, at the last check.
Gauge& FlowControlBacklogBytes();
// ferry_kafka_producer_errors_total: delivery failures and client errors.
Counter& ProducerErrors();

// --- apply ---
// ferry_apply_events_total{table}: change events applied to the target.
Counter& AppliedEvents(const std::string& table);
// ferry_apply_conflicts_total{table,kind,resolution}: conflicts met while
// applying (apply/conflict_stats.h names the kinds and resolutions).
Counter& Conflicts(const std::string& table, const std::string& kind, const std::string& resolution);
// ferry_apply_parked_events: events in the failure store.
Gauge& ParkedEvents();
// ferry_apply_lag_events: events in apply's assigned partitions not yet applied.
Gauge& ApplyLagEvents();
// ferry_apply_last_commit_timestamp_seconds: source commit time of the last
// applied transaction (Unix seconds).
Gauge& ApplyLastCommitTimestamp();
// ferry_kafka_consumer_errors_total: consumer client and fetch errors.
Counter& ConsumerErrors();

// Shows apply's families that may have no series yet (conflicts by kind,
// parked events at 0), so dashboards and alerts find them from the start.
void DescribeApplyFamilies();

// ferry_apply_lag_seconds is a scrape-time gauge, registered by apply with
// Registry::gauge_fn under this name.
inline constexpr char kApplyLagSeconds[] = "ferry_apply_lag_seconds";
inline constexpr char kApplyLagSecondsHelp[] =
    "Seconds between now and the source commit time of the last applied transaction while "
    "events are waiting to be applied; 0 when apply has applied everything it was assigned.";

}  // namespace ferry::metrics
