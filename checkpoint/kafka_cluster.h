// Which Kafka cluster a stage's positions refer to.
//
// Positions kept across runs (capture's confirmed LSN: the events up to it are
// in Kafka; apply's offsets) mean something only in the cluster they were taken
// in. Pointed at another one (a restarted dev broker is a new, empty cluster:
// librdkafka's mock names itself afresh each time), a stage would go on as if
// the events were still there. So each stage records the cluster id beside its
// positions, and at start compares it with the cluster it talks to.
//
// Thread-safety: as the store.
#pragma once

#include <string>

#include "checkpoint/position_store.h"
#include "common/status.h"

namespace ferry::checkpoint {

struct KafkaClusterCheck {
  std::string owner;       // names the positions, e.g. "capture of slot ferry" (also the key)
  std::string cluster_id;  // the cluster talked to now
  bool has_positions = false;  // positions taken in the recorded cluster exist
  bool accept_change = false;  // the operator said the change is fine (recorded then)
  std::string consequence;     // what a change means for `owner`, and what to do
};

// Records the cluster when none is recorded, or when it changed and nothing (or
// the operator) says it matters. InvalidArgument naming both clusters and
// `consequence` when it changed under positions taken in the other one.
Status CheckKafkaCluster(PositionStore& store, const KafkaClusterCheck& check);

}  // namespace ferry::checkpoint
