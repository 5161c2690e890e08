// EventProducer: publishes change events to Kafka with librdkafka's idempotent
// producer (enable.idempotence=true, acks=all), so retries never duplicate or
// reorder messages within a partition.
//
// Delivery is reported through the DeliveryCallback, once per produced message,
// with the caller's token, from inside Poll()/Produce()/Flush() on the calling
// thread. Only a success report means Kafka has the message; capture confirms an
// LSN to the slot only from those.
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

class EventProducer {
 public:
  using DeliveryCallback = std::function<void(const Delivery&)>;

  // Fails with InvalidArgument for a bad property, Unavailable when no broker
  // answers within `connect_timeout_ms` (checked with a metadata request).
  static Result<std::unique_ptr<EventProducer>> Create(const KafkaOptions& options,
                                                        DeliveryCallback on_delivery,
                                                        int connect_timeout_ms = 10000);
  ~EventProducer();

  // Enqueues one message; the partition is chosen from `key` (murmur2, as Java
  // clients do), so equal keys land in one partition. Blocks, serving delivery
  // reports, while librdkafka's local queue is full.
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
  // Makes sure topic metadata is known (auto-creating the topic where the
  // cluster allows), so the first produce does not wait for it.
  Status EnsureTopic(const std::string& topic, int timeout_ms);

 private:
  struct Impl;
  explicit EventProducer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry::transport
