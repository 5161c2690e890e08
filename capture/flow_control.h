// FlowControl: pauses reading the slot while the apply group is too far behind.
//
// Against a broker that silently evicts old messages (the dev broker keeps
// about 5 MiB per partition), a backlog in Kafka is a backlog that can be lost.
// Pausing capture leaves the backlog in the source's WAL instead, which keeps
// it safely. The estimate per partition is (messages not yet committed by the
// group) x (average size of the messages this capture produced).
//
// Thread-safety: one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "common/status.h"
#include "transport/group_lag.h"

namespace ferry::capture {

struct FlowControlOptions {
  std::string group = "ferry-apply";        // the apply consumer group to watch
  int64_t max_partition_bytes = 2 << 20;    // pause above this estimated backlog per partition
  std::chrono::milliseconds check_interval{1000};
};

class FlowControl {
 public:
  FlowControl(FlowControlOptions options, std::unique_ptr<transport::GroupLagMonitor> monitor)
      : options_(std::move(options)), monitor_(std::move(monitor)) {}

  void OnProduced(const std::string& topic, size_t bytes);
  // True while capture should not read more from the slot. Queries Kafka once
  // per check_interval, or sooner once max_partition_bytes were produced since
  // the last query; resumes below half the bound (hysteresis).
  Result<bool> ShouldPause();

 private:
  Result<int64_t> WorstPartitionBytes();

  FlowControlOptions options_;
  std::unique_ptr<transport::GroupLagMonitor> monitor_;
  std::set<std::string> topics_;
  int64_t produced_messages_ = 0;
  int64_t produced_bytes_ = 0;
  int64_t bytes_since_check_ = 0;
  bool paused_ = false;
  std::chrono::steady_clock::time_point next_check_{};
};

}  // namespace ferry::capture
