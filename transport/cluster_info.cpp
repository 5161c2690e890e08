#include "transport/cluster_info.h"

#include <librdkafka/rdkafka.h>

#include <memory>

namespace ferry::transport {

Result<std::string> FetchClusterId(const KafkaOptions& options, int timeout_ms) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& k, const std::string& v) -> Status {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      return Status::InvalidArgument("Kafka property " + k + ": " + err);
    }
    return Status::OK();
  };
  Status st = set("bootstrap.servers", options.brokers);
  for (const auto& [k, v] : options.properties) {
    if (st.ok()) st = set(k, v);
  }
  if (!st.ok()) {
    rd_kafka_conf_destroy(conf);
    return st;
  }
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> rk(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err), &rd_kafka_destroy);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("creating Kafka client: ") + err);
  }
  char* id = rd_kafka_clusterid(rk.get(), timeout_ms);
  if (id == nullptr) {
    return Status::Unavailable("no Kafka broker answered at " + options.brokers + " within " +
                               std::to_string(timeout_ms) + " ms");
  }
  std::string out(id);
  rd_kafka_mem_free(rk.get(), id);
  return out;
}

bool IsDevBrokerClusterId(const std::string& cluster_id) {
  return cluster_id.rfind("mockCluster", 0) == 0;
}

}  // namespace ferry::transport
