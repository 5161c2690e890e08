// The lag report as an operator and a machine read it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "reconcile/lag.h"

namespace ferry::reconcile {
namespace {

LagReport SampleReport() {
  LagReport r;
  r.measured_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000250));
  r.slot = "ferry";
  r.group = "ferry-apply";
  r.topic_prefix = "ferry";
  r.source.wal_insert_lsn = Lsn(0x3000200);
  r.source.wal_lsn = Lsn(0x3000100);
  r.source.confirmed_flush_lsn = Lsn(0x3000000);
  r.source.restart_lsn = Lsn(0x2FFF000);
  r.source.active = true;
  r.source.wal_status = "reserved";
  r.source.retained_wal_bytes = 0x1100;
  r.source.lag_bytes = 0x100;
  r.source.lag_seconds = 0.5;
  r.topics = 1;
  PartitionLagReport caught_up{{"ferry.public.t", 0}, 0, 10, 10, 0, transport::AppliedPosition{Lsn(0x2000), 1700000000000000},
                               std::nullopt};
  PartitionLagReport behind{{"ferry.public.t", 1}, 0, 12, -1, 12, std::nullopt, std::nullopt};
  r.partitions = {caught_up, behind};
  r.kafka_lag_events = 12;
  r.last_applied = caught_up.applied;
  r.apply_lag_seconds = std::nullopt;  // a waiting partition was never applied
  return r;
}

// What a capture with flow control off wrote 1 s before SampleReport()'s measurement.
transport::CaptureStatus StatusOfACaptureWithoutFlowControl() {
  transport::CaptureStatus s;
  s.slot = "ferry";
  s.flow_control = false;
  s.updated_us = 1700000000250000 - 1'000'000;
  return s;
}

TEST(LagFormatTest, TableNamesEveryStageAndThePartitionsBehind) {
  std::string t = FormatLagTable(SampleReport());
  EXPECT_NE(t.find("ferry lag at 2023-11-14T22:13:20.250Z (slot ferry, group ferry-apply, topic ferry.changes)"),
            std::string::npos) << t;
  EXPECT_NE(t.find("WAL insert 0/3000200, written 0/3000100"), std::string::npos) << t;
  EXPECT_NE(t.find("slot confirmed 0/3000000"), std::string::npos) << t;
  EXPECT_NE(t.find("256 B, 0.5 s"), std::string::npos) << t;
  EXPECT_NE(t.find("retains 4.2 KiB of WAL (wal_status reserved)"), std::string::npos) << t;
  EXPECT_NE(t.find("applied 0/2000 at 2023-11-14T22:13:20.000Z"), std::string::npos) << t;
  EXPECT_NE(t.find("12 events, unknown"), std::string::npos) << t;
  EXPECT_NE(t.find("ferry.public.t[1]"), std::string::npos) << t;
  EXPECT_NE(t.find("committed none  lag 12"), std::string::npos) << t;
  EXPECT_EQ(t.find("ferry.public.t[0]"), std::string::npos) << "partitions at zero are not listed\n" << t;
  EXPECT_EQ(t.find("wait for zero"), std::string::npos);
}

TEST(LagFormatTest, JsonCarriesEveryFieldWithNullsForTheUnknown) {
  LagReport r = SampleReport();
  r.wait = ZeroLagWait{Lsn(0x3000100), true, 12, false, std::chrono::milliseconds(3000)};
  auto j = nlohmann::json::parse(FormatLagJson(r));
  EXPECT_EQ(j["source"]["wal_insert_lsn"], "0/3000200");
  EXPECT_EQ(j["capture"]["confirmed_flush_lsn"], "0/3000000");
  EXPECT_EQ(j["capture"]["restart_lsn"], "0/2FFF000");
  EXPECT_EQ(j["capture"]["retained_wal_bytes"], 0x1100);
  EXPECT_EQ(j["capture"]["slot_active"], true);
  EXPECT_EQ(j["kafka"]["partitions"].size(), 2u);
  EXPECT_TRUE(j["kafka"]["partitions"][1]["committed"].is_null());
  EXPECT_TRUE(j["kafka"]["partitions"][1]["applied"].is_null());
  EXPECT_EQ(j["kafka"]["partitions"][0]["applied"]["lsn"], "0/2000");
  EXPECT_EQ(j["apply"]["last_applied"]["commit_time_us"], 1700000000000000);
  EXPECT_TRUE(j["apply"]["lag_seconds"].is_null());
  EXPECT_EQ(j["lag"]["bytes"], 256);
  EXPECT_EQ(j["lag"]["events"], 12);
  EXPECT_TRUE(j["lag"]["seconds"].is_null()) << "unknown apply lag makes the total unknown";
  EXPECT_EQ(j["wait"]["target_lsn"], "0/3000100");
  EXPECT_EQ(j["wait"]["events_remaining"], 12);
  EXPECT_EQ(j["wait"]["zero"], false);
  EXPECT_EQ(j["wait"]["waited_seconds"], 3.0);
}

// Capture paused by flow control (issue 12: a silent, permanent stall): the
// report says which group it waits for, since when, how far behind, and why.
TEST(LagFormatTest, TableAndJsonShowAPausedCaptureAndWhatApplyHasRead) {
  LagReport r = SampleReport();
  transport::CaptureStatus s;
  s.slot = "ferry";
  s.paused = true;
  s.since_us = 1700000000250000 - 95'000'000;  // 95 s before the measurement
  s.updated_us = 1700000000250000 - 2'000'000;
  s.group = "ferry-apply";
  s.partition = "ferry.changes[0]";
  s.behind_bytes = 3 << 20;
  s.bound_bytes = 2 << 20;
  s.problem = "consumer group 'ferry-apply' has not committed an offset; ... --flow-control-group";
  r.capture_status = s;
  r.partitions[1].read_offset = 9;
  std::string t = FormatLagTable(r);
  EXPECT_NE(t.find("PAUSED by flow control since 2023-11-14T22:11:45.250Z (95 s): group 'ferry-apply' ~3.0 MiB "
                   "behind on ferry.changes[0] (bound 2.0 MiB); reported 2.0 s ago"),
            std::string::npos) << t;
  EXPECT_NE(t.find("--flow-control-group"), std::string::npos) << t;
  EXPECT_NE(t.find("committed none  lag 12  read 9"), std::string::npos) << t;

  auto j = nlohmann::json::parse(FormatLagJson(r));
  EXPECT_EQ(j["capture"]["flow_control"]["paused"], true);
  EXPECT_EQ(j["capture"]["flow_control"]["group"], "ferry-apply");
  EXPECT_EQ(j["capture"]["flow_control"]["since"], "2023-11-14T22:11:45.250Z");
  EXPECT_EQ(j["capture"]["flow_control"]["paused_seconds"], 95.0);
  EXPECT_EQ(j["capture"]["flow_control"]["behind_bytes"], 3 << 20);
  EXPECT_EQ(j["kafka"]["partitions"][1]["read_offset"], 9);

  r.capture_status->paused = false;
  EXPECT_EQ(FormatLagTable(r).find("PAUSED"), std::string::npos);
  r.capture_status.reset();
  EXPECT_TRUE(nlohmann::json::parse(FormatLagJson(r))["capture"]["flow_control"].is_null());
}

// The copy's progress with flow control off (issue 10), and what is shown once
// its capture stopped: never a stale copy as if it ran.
TEST(LagFormatTest, SnapshotProgressWithoutFlowControlAndOnceCaptureStopped) {
  LagReport r = SampleReport();
  transport::CaptureStatus s = StatusOfACaptureWithoutFlowControl();
  s.snapshot = "initial snapshot: 10 of ~100 rows, 0 of 1 tables done, 10 rows/s, ETA 9 s\n  public.t: 10 of ~100 rows";
  r.capture_status = s;
  std::string t = FormatLagTable(r);
  EXPECT_NE(t.find("SNAPSHOT (reported 1.0 s ago)\n           initial snapshot: 10 of ~100 rows"), std::string::npos) << t;
  EXPECT_NE(t.find("\n             public.t: 10 of ~100 rows\n"), std::string::npos) << t;
  auto j = nlohmann::json::parse(FormatLagJson(r));
  EXPECT_TRUE(j["capture"]["flow_control"].is_null()) << "flow control is off";
  EXPECT_EQ(j["capture"]["snapshot_stopped"], false);

  r.capture_status->stopped = true;  // a clean stop mid-copy
  t = FormatLagTable(r);
  EXPECT_NE(t.find("SNAPSHOT INTERRUPTED: capture stopped 1.0 s ago; the copy stood at\n"), std::string::npos) << t;
  EXPECT_EQ(nlohmann::json::parse(FormatLagJson(r))["capture"]["snapshot_stopped"], true);

  r.capture_status->stopped = false;  // killed: the record grows old
  r.capture_status->updated_us = 1700000000250000 - 30'000'000;
  t = FormatLagTable(r);
  EXPECT_NE(t.find("SNAPSHOT NOT REPORTED for 30.0 s"), std::string::npos) << t;

  r.capture_status->snapshot = "";  // the copy is done
  t = FormatLagTable(r);
  EXPECT_EQ(t.find("SNAPSHOT"), std::string::npos) << t;
}

// During the initial copy the slot is not streamed yet, so PostgreSQL calls it
// inactive; while capture reports the copy, the slot line says why instead of
// reading as a dead capture. Once capture stopped or went silent, INACTIVE.
TEST(LagFormatTest, SlotOfARunningInitialCopyIsNotCalledInactive) {
  LagReport r = SampleReport();
  r.source.active = false;
  transport::CaptureStatus s = StatusOfACaptureWithoutFlowControl();
  s.snapshot = "initial snapshot: 10 of ~100 rows, 0 of 1 tables done, 10 rows/s, ETA 9 s";
  r.capture_status = s;
  std::string t = FormatLagTable(r);
  EXPECT_NE(t.find("slot confirmed 0/3000000 (initial copy in progress, not streamed yet)"), std::string::npos) << t;
  EXPECT_EQ(t.find("INACTIVE"), std::string::npos) << t;
  auto j = nlohmann::json::parse(FormatLagJson(r));
  EXPECT_EQ(j["capture"]["slot_active"], false) << "what PostgreSQL says, unchanged";
  EXPECT_EQ(j["capture"]["initial_copy_running"], true);

  r.capture_status->stopped = true;
  EXPECT_NE(FormatLagTable(r).find("slot confirmed 0/3000000 (INACTIVE)"), std::string::npos) << FormatLagTable(r);
  EXPECT_EQ(nlohmann::json::parse(FormatLagJson(r))["capture"]["initial_copy_running"], false);

  r.capture_status->stopped = false;  // killed: the record grows old
  r.capture_status->updated_us = 1700000000250000 - 30'000'000;
  EXPECT_NE(FormatLagTable(r).find("(INACTIVE)"), std::string::npos) << FormatLagTable(r);
  EXPECT_EQ(nlohmann::json::parse(FormatLagJson(r))["capture"]["initial_copy_running"], false);

  r.capture_status->updated_us = 1700000000250000 - 1'000'000;
  r.capture_status->snapshot = "";  // no copy: an inactive slot is a capture not running
  EXPECT_NE(FormatLagTable(r).find("(INACTIVE)"), std::string::npos) << FormatLagTable(r);
  r.capture_status.reset();
  EXPECT_NE(FormatLagTable(r).find("(INACTIVE)"), std::string::npos) << FormatLagTable(r);
  EXPECT_EQ(nlohmann::json::parse(FormatLagJson(r))["capture"]["initial_copy_running"], false);
}

// An incremental snapshot (`ferry snapshot`) is shown under the same heading
// as the initial copy, under its own label, and in the JSON beside it.
TEST(LagFormatTest, IncrementalSnapshotProgressIsShownUnderTheSnapshotHeading) {
  LagReport r = SampleReport();
  transport::CaptureStatus s = StatusOfACaptureWithoutFlowControl();
  s.incremental_snapshot = "incremental snapshot: 2000 of ~20000 rows, 0 of 1 tables done, 500 rows/s, ETA 36 s\n"
                           "  public.c: 2000 of ~20000 rows (10%), 500 rows/s, ETA 36 s";
  r.capture_status = s;
  std::string t = FormatLagTable(r);
  EXPECT_NE(t.find("SNAPSHOT (reported 1.0 s ago)\n           incremental snapshot: 2000 of ~20000 rows"),
            std::string::npos) << t;
  EXPECT_NE(t.find("\n             public.c: 2000 of ~20000 rows (10%), 500 rows/s, ETA 36 s\n"), std::string::npos)
      << t;
  EXPECT_EQ(t.find("initial copy in progress"), std::string::npos) << "the slot streams during it\n" << t;
  auto j = nlohmann::json::parse(FormatLagJson(r));
  EXPECT_EQ(j["capture"]["incremental_snapshot"], s.incremental_snapshot);
  EXPECT_TRUE(j["capture"]["snapshot"].is_null()) << "no initial copy runs";
  EXPECT_EQ(j["capture"]["initial_copy_running"], false);

  r.capture_status->stopped = true;
  EXPECT_NE(FormatLagTable(r).find("SNAPSHOT INTERRUPTED: capture stopped 1.0 s ago"), std::string::npos)
      << FormatLagTable(r);

  r.capture_status->stopped = false;
  r.capture_status->incremental_snapshot = "";  // finished or cancelled
  t = FormatLagTable(r);
  EXPECT_EQ(t.find("SNAPSHOT"), std::string::npos) << t;
  EXPECT_TRUE(nlohmann::json::parse(FormatLagJson(r))["capture"]["incremental_snapshot"].is_null());
}

}  // namespace
}  // namespace ferry::reconcile
