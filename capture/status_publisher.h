// StatusPublisher: the one writer of capture's status record for `ferry lag`
// (transport/capture_status.h), whether flow control is on or off.
//
// Three parts of capture feed it: flow control sets its part of record() and
// calls Publish() on a pause or resume, PublishIfDue() while paused (so the
// pause reads as current); the initial copy calls SetSnapshot() with its
// progress, and a running incremental snapshot SetIncrementalSnapshot() with
// its own (and PublishIfDue() between its chunks): written at once when the
// copy starts, then at most every `interval`, and with "" once done (or
// cancelled), written at once (so `ferry lag` shows nothing stale after it).
// A record is written when the publisher is made (replacing what an earlier
// capture of the slot left) and when it goes (stopped: true, not paused, the
// copies' progress as it stood).
//
// Thread-safety: one thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "transport/capture_status.h"

namespace ferry::capture {

class StatusPublisher {
 public:
  // `writer` null: nothing is written (the status topic could not be made).
  StatusPublisher(std::string slot, std::unique_ptr<transport::CaptureStatusWriter> writer,
                  std::chrono::milliseconds interval = std::chrono::seconds(2));
  ~StatusPublisher();
  StatusPublisher(const StatusPublisher&) = delete;
  StatusPublisher& operator=(const StatusPublisher&) = delete;

  // What the next record says; `slot` and `updated_us` are set on writing.
  transport::CaptureStatus& record() { return record_; }
  void Publish();
  // Publishes when `interval` has passed since the last record.
  void PublishIfDue();
  void SetSnapshot(std::string progress);
  void SetIncrementalSnapshot(std::string progress);

 private:
  void SetProgress(std::string& field, std::string progress);
  std::unique_ptr<transport::CaptureStatusWriter> writer_;
  std::chrono::milliseconds interval_;
  transport::CaptureStatus record_;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace ferry::capture
