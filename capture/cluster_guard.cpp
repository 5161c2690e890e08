#include "capture/cluster_guard.h"

#include "checkpoint/kafka_cluster.h"
#include "transport/cluster_info.h"

namespace ferry::capture {

Status CheckKafkaCluster(checkpoint::PositionStore& store, const CaptureOptions& o, const std::string& slot_key) {
  FERRY_ASSIGN_OR_RETURN(std::string id, transport::FetchClusterId(o.kafka, 10000));
  FERRY_ASSIGN_OR_RETURN(std::optional<Lsn> confirmed, store.GetLsn(slot_key));
  const std::string& slot = o.source.slot;
  std::string upto = confirmed ? " (up to LSN " + confirmed->ToString() + ")" : "";
  checkpoint::KafkaClusterCheck check;
  check.owner = "capture of slot " + slot;
  check.cluster_id = id;
  check.has_positions = confirmed.has_value();
  check.accept_change = o.accept_new_kafka_cluster;
  check.consequence =
      "The events capture confirmed to slot \"" + slot + "\"" + upto + " are only in that cluster: a restarted "
      "dev broker is a new, empty one, and each of them that apply had not yet applied is lost. If apply had "
      "applied everything (`ferry lag` showed no lag), start capture once with --new-kafka-cluster, and start "
      "apply without its Kafka positions (stop it, remove <its --state-dir>/apply; its position on the target "
      "keeps it from applying an event twice). Otherwise start over: stop capture and apply, drop slot \"" +
      slot + "\", remove both state directories and copy the tables again (--snapshot initial), or repair the "
      "target with `ferry validate --repair`";
  return checkpoint::CheckKafkaCluster(store, check);
}

}  // namespace ferry::capture
