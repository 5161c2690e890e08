#include "capture/status_publisher.h"

namespace ferry::capture {

StatusPublisher::StatusPublisher(std::string slot, std::unique_ptr<transport::CaptureStatusWriter> writer,
                                 std::chrono::milliseconds interval)
    : writer_(std::move(writer)), interval_(interval) {
  record_.slot = std::move(slot);
  record_.flow_control = false;  // until flow control says otherwise
  Publish();
}

StatusPublisher::~StatusPublisher() {
  record_.paused = false;
  record_.since_us = 0;
  record_.stopped = true;
  Publish();
}

void StatusPublisher::Publish() {
  last_ = std::chrono::steady_clock::now();
  if (!writer_) return;
  record_.updated_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  writer_->Write(record_);
}

void StatusPublisher::PublishIfDue() {
  if (std::chrono::steady_clock::now() - last_ >= interval_) Publish();
}

void StatusPublisher::SetSnapshot(std::string progress) { SetProgress(record_.snapshot, std::move(progress)); }

void StatusPublisher::SetIncrementalSnapshot(std::string progress) {
  SetProgress(record_.incremental_snapshot, std::move(progress));
}

void StatusPublisher::SetProgress(std::string& field, std::string progress) {
  // A copy's start and end are written at once, what lies between every interval.
  const bool changed = progress.empty() != field.empty();
  field = std::move(progress);
  if (changed) return Publish();
  if (!field.empty()) PublishIfDue();
}

}  // namespace ferry::capture
