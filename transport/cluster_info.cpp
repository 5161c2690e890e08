#include "transport/cluster_info.h"

#include "transport/rdkafka_util.h"

namespace ferry::transport {

Result<std::string> FetchClusterId(const KafkaOptions& options, int timeout_ms) {
  FERRY_ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(options, {}));
  FERRY_ASSIGN_OR_RETURN(KafkaPtr rk, NewClient(RD_KAFKA_PRODUCER, std::move(conf)));
  char* id = rd_kafka_clusterid(rk.get(), timeout_ms);
  if (id == nullptr) {
    return Status::Unavailable("no Kafka broker answered at " + options.brokers + " within " +
                               std::to_string(timeout_ms) + " ms");
  }
  std::string out(id);
  rd_kafka_mem_free(rk.get(), id);
  return out;
}

Result<std::map<std::string, int>> ListTopics(const KafkaOptions& options, int timeout_ms) {
  FERRY_ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(options, {}));
  FERRY_ASSIGN_OR_RETURN(KafkaPtr rk, NewClient(RD_KAFKA_PRODUCER, std::move(conf)));
  return FetchTopics(rk.get(), timeout_ms);
}

bool IsDevBrokerClusterId(const std::string& cluster_id) {
  return cluster_id.rfind("mockCluster", 0) == 0;
}

}  // namespace ferry::transport
