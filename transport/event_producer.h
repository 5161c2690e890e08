// EventProducer: publishes change events to Kafka with librdkafka's idempotent
// producer (enable.idempotence=true, acks=all), so retries never duplicate or
// reorder messages within a partition.
//
// Delivery is reported through the DeliveryCallback, once per produced message,
// with the caller's token, from inside Poll()/Produce()/Flush()/EnsureTopic() on
// the calling thread. Only a success report means Kafka has the message; capture
// confirms an LSN to the slot only from those.
//
// Topics: the first Produce to a topic calls EnsureTopic, so a new topic is
// created with EventProducerOptions::topic_partitions (on the dev broker, its
// --partitions, 8 by default) rather than left to a broker's auto-creation.
//
// A fatal error (idempotence can no longer be guaranteed) fails every later
// Produce/Flush with it, and the messages still queued are reported failed.
//
// Thread-safety: one thread uses an EventProducer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "transport/kafka_options.h"

namespace ferry::transport {

struct Delivery {
  uint64_t token = 0;
  Status status;  // OK, or why the message could not be delivered (after all retries)
  int32_t partition = -1;
  int64_t offset = -1;
};

struct EventProducerOptions {
  // How long Create waits for a broker to answer, and the first Produce to a
  // topic (or EnsureTopic from Produce) waits for the topic to exist.
  int connect_timeout_ms = 10000;
  // Partitions of the topics this producer creates. 0: the cluster's default
  // (the dev broker's --partitions; Kafka's num.partitions via auto-creation).
  // > 0 against Kafka: created with the CreateTopics admin request.
  int topic_partitions = 0;
};

class EventProducer {
 public:
  using DeliveryCallback = std::function<void(const Delivery&)>;

  // Fails with InvalidArgument for a bad property, Unavailable when no broker
  // answers within `connect_timeout_ms` (checked with a metadata request).
  static Result<std::unique_ptr<EventProducer>> Create(const KafkaOptions& options,
                                                        DeliveryCallback on_delivery,
                                                        int connect_timeout_ms = 10000);
  static Result<std::unique_ptr<EventProducer>> Create(const KafkaOptions& options,
                                                        DeliveryCallback on_delivery,
                                                        const EventProducerOptions& producer);
  ~EventProducer();

  // Enqueues one message; the partition is chosen from `key` (murmur2, as Java
  // clients do), so equal keys land in one partition. Blocks, serving delivery
  // reports, while librdkafka's local queue is full: Aborted (the message not
  // enqueued) when a stop is requested meanwhile (common/signals.h).
  Status Produce(const std::string& topic, std::string_view key, std::string_view value,
                 uint64_t token);
  // Serves delivery reports; waits up to timeout_ms for one.
  void Poll(int timeout_ms);
  // Waits until every enqueued message is reported, up to timeout_ms.
  Status Flush(int timeout_ms);
  // Messages produced but not yet reported.
  int64_t InFlight() const;
  // A fatal producer error (idempotence broken), if any; OK otherwise.
  Status FatalError() const;
  // Makes sure the topic exists and its metadata is known, so the first produce
  // does not wait for it. A missing topic is created: on the dev broker through
  // its topic-creation requests (transport/topic_requests.h); on Kafka with
  // CreateTopics when topic_partitions > 0, else by auto-creation where the
  // cluster allows it (NotFound when it does not).
  Status EnsureTopic(const std::string& topic, int timeout_ms);

 private:
  struct Impl;
  explicit EventProducer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::transport
