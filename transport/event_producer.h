// EventProducer: publishes change events to Kafka with librdkafka's idempotent
// producer (enable.idempotence=true, acks=all), so retries never duplicate or
// reorder messages within a partition.
//
// Delivery is reported through the DeliveryCallback, once per produced message,
// with the caller's token, from inside Poll()/Produce()/Flush()/EnsureTopic() on
// the calling thread. Only a success report means Kafka has the message; capture
// confirms an LSN to the slot only from those.
//
// Topics: the first Produce to a topic calls EnsureTopic with the default
// TopicSpec (callers whose topic needs a fixed partition count call it first
// with theirs). A missing topic is created, never left to a broker's
// auto-creation (often off; else with the broker's partition count and a
// max.message.bytes of ~1 MB): on the dev broker through its topic requests
// (transport/topic_requests.h), on Kafka with CreateTopics, with
// max.message.bytes = the producer's message.max.bytes (64 MiB). An existing
// topic is checked: its partition count (an exact TopicSpec refuses another),
// replicas, and on Kafka its max.message.bytes and cleanup.policy
// (DescribeConfigs; compaction would drop change events: refused). A cluster
// that does not answer DescribeConfigs is noted at debug level, and the
// producer's own limit applies.
//
// Too large: Produce refuses, with InvalidArgument naming the row (table,
// commit LSN, key; transport/event_label.h) and the setting to raise, an event
// larger than the topic's max.message.bytes (when known) or the producer's
// message.max.bytes. One the broker refuses anyway fails its delivery, and the
// producer (gapless), with the same kind of message from FatalError().
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
  // Partitions of the topics this producer creates whose TopicSpec names none
  // (--topic-partitions). 0: the cluster's default (the dev broker's
  // --partitions; Kafka's num.partitions).
  int topic_partitions = 0;
  // Replication factor of the topics created on Kafka
  // (--topic-replication-factor); -1: the broker's default.replication.factor.
  // The dev broker ignores it.
  int replication_factor = -1;
};

// What a topic must be.
struct TopicSpec {
  // Partitions if it is created; 0: EventProducerOptions::topic_partitions.
  int partitions = 0;
  // It must have exactly `partitions` (> 0), e.g. 1 for a topic whose events
  // stay in one order: an existing topic with another count is refused, and so
  // is a topic_partitions option that differs.
  bool exact_partitions = false;
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

  // Enqueues one message, to `partition`, or (kAnyPartition) to the partition
  // chosen from `key` (murmur2, as Java clients do), so that equal keys land in
  // one partition. Blocks, serving delivery reports, while librdkafka's local
  // queue is full: Aborted (the message not enqueued) when a stop is requested
  // meanwhile (common/signals.h).
  static constexpr int32_t kAnyPartition = -1;
  Status Produce(const std::string& topic, std::string_view key, std::string_view value,
                 uint64_t token, int32_t partition = kAnyPartition);
  // Serves delivery reports; waits up to timeout_ms for one.
  void Poll(int timeout_ms);
  // Waits until every enqueued message is reported, up to timeout_ms.
  Status Flush(int timeout_ms);
  // Messages produced but not yet reported.
  int64_t InFlight() const;
  // A fatal producer error (idempotence broken), if any; OK otherwise.
  Status FatalError() const;
  // Makes sure the topic exists as `spec` says and its metadata is known, so
  // the first produce does not wait for it (see "Topics" above). InvalidArgument
  // names what is wrong with an existing topic, or why Kafka refused to create
  // it, and what to do; Unavailable when the cluster does not answer in time.
  Status EnsureTopic(const std::string& topic, const TopicSpec& spec, int timeout_ms);
  Status EnsureTopic(const std::string& topic, int timeout_ms) { return EnsureTopic(topic, TopicSpec{}, timeout_ms); }

 private:
  struct Impl;
  explicit EventProducer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::transport
