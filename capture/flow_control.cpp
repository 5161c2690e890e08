#include "capture/flow_control.h"

#include <spdlog/spdlog.h>

#include <vector>

namespace ferry::capture {

void FlowControl::OnProduced(const std::string& topic, size_t bytes) {
  if (topics_.insert(topic).second) next_check_ = {};
  ++produced_messages_;
  produced_bytes_ += static_cast<int64_t>(bytes);
  // A fast producer (a snapshot) could put more than the bound into one partition
  // between two timed looks: look again once that much has been produced.
  bytes_since_check_ += static_cast<int64_t>(bytes);
  if (bytes_since_check_ > options_.max_partition_bytes) next_check_ = {};
}

Result<int64_t> FlowControl::WorstPartitionBytes() {
  std::vector<std::string> topics(topics_.begin(), topics_.end());
  FERRY_ASSIGN_OR_RETURN(auto lags, monitor_->Query(topics, 5000));
  int64_t avg = produced_messages_ ? produced_bytes_ / produced_messages_ : 0;
  int64_t worst = 0;
  for (const auto& l : lags) worst = std::max(worst, l.lag() * avg);
  return worst;
}

Result<bool> FlowControl::ShouldPause() {
  auto now = std::chrono::steady_clock::now();
  if (topics_.empty() || now < next_check_) return paused_;
  next_check_ = now + (paused_ ? options_.check_interval / 4 : options_.check_interval);
  bytes_since_check_ = 0;
  FERRY_ASSIGN_OR_RETURN(int64_t worst, WorstPartitionBytes());
  bool was = paused_;
  paused_ = paused_ ? worst > options_.max_partition_bytes / 2 : worst > options_.max_partition_bytes;
  if (paused_ != was) {
    if (paused_) {
      spdlog::info("flow control: pausing the slot, apply group '{}' is ~{} KiB behind on a "
                   "partition (bound {} KiB)",
                   options_.group, worst / 1024, options_.max_partition_bytes / 1024);
    } else {
      spdlog::info("flow control: resuming, apply group '{}' caught up to ~{} KiB", options_.group,
                   worst / 1024);
    }
  }
  return paused_;
}

}  // namespace ferry::capture
