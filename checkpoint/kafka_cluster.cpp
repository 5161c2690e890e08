#include "checkpoint/kafka_cluster.h"

#include <spdlog/spdlog.h>

namespace ferry::checkpoint {

Status CheckKafkaCluster(PositionStore& store, const KafkaClusterCheck& check) {
  const std::string key = "kafka_cluster/" + check.owner;
  FERRY_ASSIGN_OR_RETURN(auto recorded, store.GetMeta(key));
  if (recorded == check.cluster_id) return Status::OK();
  if (recorded && check.has_positions) {
    std::string what = "Kafka is now cluster " + check.cluster_id + ", but the positions of the " + check.owner +
                       " were taken in cluster " + *recorded;
    if (!check.accept_change) return Status::InvalidArgument(what + ". " + check.consequence);
    spdlog::warn("{}; going on as asked", what);
  }
  return store.PutMeta(key, check.cluster_id);
}

}  // namespace ferry::checkpoint
