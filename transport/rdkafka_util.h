// Internal to transport/: owned librdkafka handles and the helpers every Kafka
// client here shares (configuration, metadata, error text). Not part of the
// stage's contract; other stages use the public headers.
//
// Thread-safety: free functions are thread-safe; handles follow librdkafka's rules.
#pragma once

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/topic_partition.h"
#include "transport/kafka_options.h"

namespace ferry::transport {

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* p) const { rd_kafka_destroy(p); }
  void operator()(rd_kafka_conf_t* p) const { rd_kafka_conf_destroy(p); }
  void operator()(rd_kafka_topic_t* p) const { rd_kafka_topic_destroy(p); }
  void operator()(rd_kafka_topic_partition_list_t* p) const {
    rd_kafka_topic_partition_list_destroy(p);
  }
  void operator()(rd_kafka_message_t* p) const { rd_kafka_message_destroy(p); }
  void operator()(const rd_kafka_metadata_t* p) const { rd_kafka_metadata_destroy(p); }
  void operator()(rd_kafka_queue_t* p) const { rd_kafka_queue_destroy(p); }
  void operator()(rd_kafka_event_t* p) const { rd_kafka_event_destroy(p); }
  void operator()(rd_kafka_error_t* p) const { rd_kafka_error_destroy(p); }
  void operator()(rd_kafka_NewTopic_t* p) const { rd_kafka_NewTopic_destroy(p); }
  void operator()(rd_kafka_AdminOptions_t* p) const { rd_kafka_AdminOptions_destroy(p); }
};

using KafkaPtr = std::unique_ptr<rd_kafka_t, RdKafkaDeleter>;
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, RdKafkaDeleter>;
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, RdKafkaDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, RdKafkaDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, RdKafkaDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, RdKafkaDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, RdKafkaDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, RdKafkaDeleter>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, RdKafkaDeleter>;
using NewTopicPtr = std::unique_ptr<rd_kafka_NewTopic_t, RdKafkaDeleter>;
using AdminOptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, RdKafkaDeleter>;

using Properties = std::vector<std::pair<std::string, std::string>>;

// A configuration with bootstrap.servers, then `defaults`, then the user's
// properties (so they win), and librdkafka's log routed to spdlog.
// InvalidArgument names a property librdkafka rejects.
Result<ConfPtr> MakeConf(const KafkaOptions& options, const Properties& defaults);

// Creates a client from `conf` (consumed either way).
Result<KafkaPtr> NewClient(rd_kafka_type_t type, ConfPtr conf);

// Routes librdkafka's log lines for clients made from `conf` to spdlog.
void RouteLogToSpdlog(rd_kafka_conf_t* conf);

// Topic name -> partition count (0 while the topic reports an error, e.g. no
// leader yet), from a metadata request for all topics. Unlike a request that
// names a topic, this never auto-creates one.
Result<std::map<std::string, int>> FetchTopics(rd_kafka_t* rk, int timeout_ms);

// A partition's log start (low) and end (high) offsets.
struct Watermarks {
  int64_t low = 0;
  int64_t high = 0;
};
Result<Watermarks> QueryWatermarks(rd_kafka_t* rk, const TopicPartition& tp, int timeout_ms);

// "Broker: Offset out of range (OFFSET_OUT_OF_RANGE)"
std::string KafkaErrorText(rd_kafka_resp_err_t err);

// Unavailable for errors that go away by themselves (timeouts, brokers down,
// leadership moving), Internal otherwise; the message is "<what>: <error>".
Status KafkaStatus(rd_kafka_resp_err_t err, const std::string& what);

// The error text of a fatal client error, or empty when there is none.
std::string FatalErrorText(rd_kafka_t* rk);

// Milliseconds left until a point in time, for APIs that take a timeout each.
class Deadline {
 public:
  explicit Deadline(int timeout_ms)
      : end_(std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms)) {}
  int RemainingMs() const;
  bool Expired() const { return RemainingMs() == 0; }

 private:
  std::chrono::steady_clock::time_point end_;
};

// Runs one Admin API request: `start(options, queue)` issues it (e.g.
// rd_kafka_CreateTopics); returns its result event. Unavailable when no answer
// comes before `deadline`; the request-level error, if any, as KafkaStatus.
template <typename Start>
Result<EventPtr> AdminRequest(rd_kafka_t* rk, rd_kafka_admin_op_t op, const Deadline& deadline,
                              const std::string& what, Start start) {
  char err[512];
  AdminOptionsPtr admin(rd_kafka_AdminOptions_new(rk, op));
  rd_kafka_AdminOptions_set_request_timeout(admin.get(), std::max(deadline.RemainingMs(), 1), err, sizeof err);
  QueuePtr queue(rd_kafka_queue_new(rk));
  start(admin.get(), queue.get());
  EventPtr ev(rd_kafka_queue_poll(queue.get(), deadline.RemainingMs() + 1000));
  if (ev == nullptr) return Status::Unavailable(what + ": no answer");
  if (rd_kafka_event_error(ev.get())) {
    const char* detail = rd_kafka_event_error_string(ev.get());
    return KafkaStatus(rd_kafka_event_error(ev.get()), what + (detail ? std::string(" (") + detail + ")" : ""));
  }
  return ev;
}

}  // namespace ferry::transport
