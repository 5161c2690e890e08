// DevBroker: librdkafka's mock cluster (rdkafka_mock.h) hosted in this process
// on loopback. A real Kafka-protocol broker for tests and the demo; see
// shared DEV-BROKER.md for its limits (about 5 MiB kept per partition, older
// messages silently evicted; no persistence; no transaction markers).
//
// Thread-safety: the mock cluster runs its own thread, and a second thread
// serves topic-creation requests; the methods here may be called from any one
// thread.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

typedef struct rd_kafka_mock_cluster_s rd_kafka_mock_cluster_t;

namespace ferry::transport {

struct DevBrokerOptions {
  int brokers = 1;      // --brokers-count
  // Partitions of the topics ferry creates on it (--partitions): every topic an
  // EventProducer writes to. librdkafka 2.0.2's mock cluster fixes the
  // partition count of topics auto-created by metadata requests at 4 and has no
  // CreateTopics, so the dev broker creates topics on request instead: see
  // transport/topic_requests.h. A foreign client producing to a new topic still
  // gets 4 partitions.
  int partitions = 8;
};

class DevBroker {
 public:
  static Result<std::unique_ptr<DevBroker>> Start(const DevBrokerOptions& options);
  ~DevBroker();
  // "127.0.0.1:PORT[,...]"
  std::string bootstrap() const;
  // For fault injection in tests (rd_kafka_mock_broker_set_down, ...).
  rd_kafka_mock_cluster_t* mock() const;

 private:
  struct Impl;
  explicit DevBroker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::transport
