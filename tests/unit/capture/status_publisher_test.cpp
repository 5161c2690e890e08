// StatusPublisher against the dev broker: what `ferry lag` reads of the
// copies capture runs (transport/capture_status.h).
#include "capture/status_publisher.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "tests/unit/transport/kafka_test_util.h"

namespace ferry::capture {
namespace {

using transport::CaptureStatus;
using transport::KafkaOptions;
using namespace std::chrono_literals;

class StatusPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = transport::testing::StartBroker();
    ASSERT_NE(broker_, nullptr);
  }
  std::unique_ptr<StatusPublisher> Make(std::chrono::milliseconds interval) {
    auto writer = transport::CaptureStatusWriter::Create(KafkaOptions{broker_->bootstrap(), {}}, "sp");
    EXPECT_TRUE(writer.ok()) << writer.status().ToString();
    if (!writer.ok()) return nullptr;
    return std::make_unique<StatusPublisher>("sp_slot", std::move(writer).value(), interval);
  }
  // The latest record once `want` holds of it (writes are asynchronous), or the last one read.
  CaptureStatus ReadUntil(const std::function<bool(const CaptureStatus&)>& want) {
    CaptureStatus last;
    for (int i = 0; i < 50; ++i) {
      auto seen = transport::ReadCaptureStatus(KafkaOptions{broker_->bootstrap(), {}}, "sp", "sp_slot", 10000);
      if (seen.ok() && seen->has_value()) {
        last = **seen;
        if (want(last)) break;
      }
      std::this_thread::sleep_for(100ms);
    }
    return last;
  }
  std::unique_ptr<transport::DevBroker> broker_;
};

// An incremental snapshot's progress travels beside the initial copy's, each
// written at once when it starts and when it ends, neither clearing the other.
TEST_F(StatusPublisherTest, IncrementalSnapshotProgressIsWrittenAtOnceAndClearedAtOnce) {
  auto status = Make(1h);  // nothing between a copy's start and end is due
  ASSERT_NE(status, nullptr);
  status->SetSnapshot("initial snapshot: 1 of ~9 rows");
  status->SetIncrementalSnapshot("incremental snapshot: 5 of ~20 rows\n  public.c: 5 of ~20 rows (25%)");
  CaptureStatus s = ReadUntil([](const CaptureStatus& r) { return !r.incremental_snapshot.empty(); });
  EXPECT_EQ(s.incremental_snapshot, "incremental snapshot: 5 of ~20 rows\n  public.c: 5 of ~20 rows (25%)");
  EXPECT_EQ(s.snapshot, "initial snapshot: 1 of ~9 rows");

  status->SetIncrementalSnapshot("incremental snapshot: 10 of ~20 rows");  // not due: not written
  status->SetIncrementalSnapshot("");  // finished or cancelled: written at once
  s = ReadUntil([](const CaptureStatus& r) { return r.incremental_snapshot.empty(); });
  EXPECT_EQ(s.incremental_snapshot, "");
  EXPECT_EQ(s.snapshot, "initial snapshot: 1 of ~9 rows");
}

}  // namespace
}  // namespace ferry::capture
