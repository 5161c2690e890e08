// Capture's side of checkpoint/kafka_cluster.h: the events capture confirmed
// to its slot are in one Kafka cluster; started against another (a restarted
// or second dev broker), it refuses until told that nothing was lost
// (CaptureOptions::accept_new_kafka_cluster).
//
// Thread-safety: a function.
#pragma once

#include <string>

#include "capture/capture_runner.h"
#include "checkpoint/position_store.h"
#include "common/status.h"

namespace ferry::capture {

// `slot_key`: where capture keeps the slot's confirmed LSN in `store`.
// Unavailable when no broker answers.
Status CheckKafkaCluster(checkpoint::PositionStore& store, const CaptureOptions& o, const std::string& slot_key);

}  // namespace ferry::capture
