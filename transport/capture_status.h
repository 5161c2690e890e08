// Capture's status for other processes: whether flow control holds capture
// back, since when, and by which consumer group, and how far its initial copy
// and its incremental snapshots have come. `ferry lag` reads it, so an
// operator sees why the slot's confirmed position does not move, and how long
// a copy has to go.
//
// It travels in a one-partition topic per topic prefix, CaptureStatusTopic():
// "<prefix>-status" (outside apply's "<prefix>.*" subscription). Key: the slot;
// value: JSON,
//
//   {"slot":"ferry","flow_control":true,"paused":true,"since_us":..,"updated_us":..,
//    "group":"ferry-apply","partition":"ferry.changes[0]","behind_bytes":2150000,
//    "bound_bytes":2097152,"problem":"...",
//    "snapshot":"initial snapshot: .. rows ..\n  public.t: ..",
//    "incremental_snapshot":"incremental snapshot: .. rows ..\n  public.u: ..","stopped":false}
//
// Capture writes one when it starts, whether flow control is on or off
// (capture/status_publisher.h), on every pause and resume, every few seconds
// while paused or while its initial copy or an incremental snapshot runs, when
// either ends, and when it stops; the latest record for a slot is its state
// ("updated_us" says how fresh). Records written before "flow_control" and
// "stopped" existed came from flow control only, hence their defaults; before
// "incremental_snapshot" existed, none was reported (""). Writing is best
// effort: a failure is logged and never stops capture.
//
// Thread-safety: one thread uses a CaptureStatusWriter.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "transport/kafka_options.h"

namespace ferry::transport {

struct CaptureStatus {
  std::string slot;
  bool flow_control = true;  // false: flow control is off, and the fields down to `problem` say nothing
  bool paused = false;
  int64_t since_us = 0;    // Unix microseconds the pause began; 0 while running
  int64_t updated_us = 0;  // Unix microseconds this record was written
  std::string group;       // the consumer group furthest behind
  std::string partition;   // where it is furthest behind, "topic[p]"
  int64_t behind_bytes = 0;  // estimated bytes written there and not yet read by the group
  int64_t bound_bytes = 0;   // capture pauses above this (--flow-control-max-bytes)
  std::string problem;       // why the group may never catch up, when capture can tell
  std::string snapshot;      // the initial copy's progress as capture logs it; "" when none runs
  // The running incremental snapshot's (`ferry snapshot`) progress as capture
  // logs it; "" when none runs.
  std::string incremental_snapshot;
  // Capture stopped after writing this (a clean stop); `snapshot` and
  // `incremental_snapshot`, if any, are where its copies stood then.
  bool stopped = false;
};

std::string CaptureStatusTopic(std::string_view topic_prefix);
std::string EncodeCaptureStatus(const CaptureStatus& s);
std::optional<CaptureStatus> DecodeCaptureStatus(std::string_view value);

class CaptureStatusWriter {
 public:
  static Result<std::unique_ptr<CaptureStatusWriter>> Create(const KafkaOptions& options,
                                                             const std::string& topic_prefix);
  ~CaptureStatusWriter();
  // Enqueues `s` (never blocks on the broker); a failure is logged once.
  void Write(const CaptureStatus& s);

 private:
  struct Impl;
  explicit CaptureStatusWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The latest status capture wrote for `slot`; nullopt when there is none (no
// flow control, or a capture that never wrote one).
Result<std::optional<CaptureStatus>> ReadCaptureStatus(const KafkaOptions& options,
                                                       const std::string& topic_prefix,
                                                       const std::string& slot, int timeout_ms);

}  // namespace ferry::transport
