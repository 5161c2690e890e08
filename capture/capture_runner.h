// RunCapture: the capture stage's main loop.
//
// source slot --pgoutput--> EventBuilder --ChangeEvents--> Kafka (idempotent)
//                                   AckTracker <--delivery reports--
// slot confirmed LSN <-- AckTracker.Confirmable(), stored in RocksDB first.
//
// The loop owns retry: a retriable failure (source or broker unreachable, slot
// briefly still held by a killed predecessor) restarts the session with
// jittered backoff, after waiting for in-flight events to be acknowledged.
// Non-retriable failures (bad config, wrong wal_level, malformed stream) return.
// SIGINT/SIGTERM stop it cleanly: events flushed, last LSN confirmed.
#pragma once

#include <cstdint>
#include <string>

#include "capture/source_setup.h"
#include "common/status.h"
#include "transport/kafka_options.h"

namespace ferry::capture {

struct CaptureOptions {
  SourceOptions source;
  transport::KafkaOptions kafka;
  std::string topic_prefix = "ferry";
  std::string state_dir = "ferry-state";  // RocksDB lives in <state_dir>/capture
  // auto: on against the dev broker (which evicts old messages), off otherwise.
  std::string flow_control = "auto";
  std::string flow_control_group = "ferry-apply";
  int64_t flow_control_max_bytes = 2 << 20;
  bool slot_metrics = false;  // query the slot's WAL retention for metrics (--metrics-addr)
};

Status RunCapture(const CaptureOptions& options);

}  // namespace ferry::capture
