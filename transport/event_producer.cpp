#include "transport/event_producer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <thread>

#include "common/ferry_metrics.h"
#include "transport/event_label.h"
#include "common/signals.h"
#include "transport/rdkafka_util.h"
#include "transport/topic_admin.h"
#include "transport/topic_requests.h"

namespace ferry::transport {

namespace {

// What Kafka adds around one record in a batch of its own (batch header 61
// bytes, record header up to ~21): a record is too large when key + value + this
// exceed max.message.bytes.
constexpr int64_t kRecordOverhead = 100;

// Applied before the user's --kafka-property pairs, which may override them.
const Properties kProducerDefaults = {
    {"enable.idempotence", "true"},     // retries never duplicate or reorder
    {"acks", "all"},                    // (implied by idempotence; stated anyway)
    {"partitioner", "murmur2_random"},  // Java clients' key hashing
    {"linger.ms", "5"},                 // small batches, low latency
    // Change events compress well (measured on the demo's tables: one-row
    // transactions 3.8x, a snapshot's full batches 13x) for little CPU, so a
    // broker's retention holds that many more events: on the dev broker
    // (5 MiB per partition) 51,000 instead of 13,500 streamed events.
    {"compression.type", "lz4"},
    // One event carries a whole row, TOASTed values included: 1 MB (the
    // client's default) is too small for real tables.
    {"message.max.bytes", std::to_string(kMaxEventBytes)},
    // Memory: at most 128 MiB of events wait in the producer's queue (room for
    // the largest one); past that Produce waits for deliveries (the client's
    // default, 1 GiB, would let a backlog of large rows grow the process).
    {"queue.buffering.max.kbytes", "131072"},
    // A partition must hold a gapless prefix of what capture produced: apply
    // treats an event older than one it already applied from a partition as a
    // replay. So a message never times out while a later one gets through
    // (retry until Kafka takes it; the slot keeps the backlog meanwhile), and
    // any other error that could leave a gap is fatal: capture stops rather
    // than skip.
    {"message.timeout.ms", "0"},
    {"enable.gapless.guarantee", "true"},
};

static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "tokens travel as message opaques");

void* TokenToOpaque(uint64_t token) {
  return reinterpret_cast<void*>(static_cast<uintptr_t>(token));
}
uint64_t OpaqueToToken(void* opaque) { return reinterpret_cast<uintptr_t>(opaque); }

// Properties whose user overrides would break capture's guarantees, and the
// only values accepted for them.
Status CheckSafeOverrides(const KafkaOptions& options) {
  static const std::map<std::string, std::vector<std::string>> kRequired = {
      {"enable.idempotence", {"true"}},
      {"acks", {"all", "-1"}},
      {"message.timeout.ms", {"0"}},
      {"enable.gapless.guarantee", {"true"}},
  };
  for (const auto& [key, value] : options.properties) {
    auto it = kRequired.find(key);
    if (it == kRequired.end()) continue;
    if (std::find(it->second.begin(), it->second.end(), value) != it->second.end()) continue;
    return Status::InvalidArgument(
        "--kafka-property " + key + "=" + value +
        " is refused: capture needs every partition to hold all events in order, without gaps, "
        "and this setting could lose or reorder events; leave " + key + " at ferry's default (" +
        it->second.front() + ")");
  }
  return Status::OK();
}

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// A numeric property of the client as configured, or `fallback`.
int64_t ConfNumber(rd_kafka_t* rk, const char* name, int64_t fallback) {
  char value[64];
  size_t size = sizeof value;
  if (rd_kafka_conf_get(rd_kafka_conf(rk), name, value, &size) != RD_KAFKA_CONF_OK) return fallback;
  return std::strtoll(value, nullptr, 10);
}

}  // namespace

struct EventProducer::Impl {
  // A topic known to exist as its TopicSpec says.
  struct Topic {
    TopicPtr handle;
    int partitions = 0;
    int64_t max_bytes = kMaxEventBytes;  // the largest record it takes
    std::string limit;                   // the setting that says so
    std::string fix;                     // how to raise it
  };

  ~Impl() {
    // Topic handles go before the client that owns them.
    topics.clear();
    request_topic.reset();
    rk.reset();
  }

  static void OnDeliveryReport(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    static_cast<Impl*>(opaque)->OnDelivery(*m);
  }
  void OnDelivery(const rd_kafka_message_t& m);
  Status Fatal() const;
  Result<Topic*> TopicFor(const std::string& topic);
  Status Ensure(const std::string& topic, const TopicSpec& spec, const Deadline& deadline);
  Status Create(const std::string& topic, int partitions, bool dev_broker, const Deadline& deadline);
  Status RequestFromDevBroker(const std::string& topic, int partitions, const Deadline& deadline);
  Status WaitListed(const std::string& topic, const Deadline& deadline);
  Status CheckPartitions(const std::string& topic, int partitions, const TopicSpec& spec) const;
  Result<Topic> Limit(const std::string& topic, bool dev_broker, const Deadline& deadline);
  Status TooLarge(const std::string& topic, const Topic& t, std::string_view key, std::string_view value) const;

  DeliveryCallback on_delivery;
  EventProducerOptions options;
  std::string brokers;
  int64_t max_message_bytes = kMaxEventBytes;  // the producer's message.max.bytes
  int64_t batch_size = 1000000;                // the producer's batch.size (librdkafka's default)
  int64_t in_flight = 0;
  std::map<std::string, Topic, std::less<>> topics;
  TopicPtr request_topic;  // the dev broker's kTopicRequestsTopic, once used
  int requests_in_flight = 0;  // topic requests whose delivery report was not served yet
  // The largest message Kafka refused as too large, named, for FatalError().
  std::string refused_too_large;
  size_t refused_size = 0;
  KafkaPtr rk;
};

namespace {

void OnClientError(rd_kafka_t* rk, int err, const char* reason, void*) {
  metrics::ProducerErrors().Increment();
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    spdlog::error("Kafka producer fatal error: {}", FatalErrorText(rk));
  } else {
    spdlog::warn("Kafka producer: {} ({})", reason,
                 rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
  }
}

}  // namespace

void EventProducer::Impl::OnDelivery(const rd_kafka_message_t& m) {
  if (request_topic != nullptr && m.rkt == request_topic.get()) {
    --requests_in_flight;
    if (m.err) spdlog::warn("topic request not delivered: {}", KafkaErrorText(m.err));
    return;
  }
  --in_flight;
  Delivery d;
  d.token = OpaqueToToken(m._private);
  d.partition = m.partition;
  d.offset = m.offset;
  if (m.err) {
    metrics::ProducerErrors().Increment();
    std::string topic = rd_kafka_topic_name(m.rkt);
    std::string where = "delivering to " + topic + "[" + std::to_string(m.partition) + "]";
    if (m.err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && m.len >= refused_size) {
      refused_size = m.len;
      refused_too_large =
          "Kafka refused " +
          DescribeMessage({static_cast<const char*>(m.key), m.key ? m.key_len : 0},
                          {static_cast<const char*>(m.payload), m.payload ? m.len : 0}) +
          " as larger than topic " + topic + " takes: raise the topic's max.message.bytes (kafka-configs.sh "
          "--alter --entity-type topics --entity-name " + topic + " --add-config max.message.bytes=" +
          std::to_string(kMaxEventBytes) + "; without it the broker's message.max.bytes applies); capture "
          "resumes from this event";
    }
    Status fatal = Fatal();
    d.status = fatal.ok() ? KafkaStatus(m.err, where) : fatal.WithContext(where);
  }
  on_delivery(d);
}

Status EventProducer::Impl::Fatal() const {
  std::string text = FatalErrorText(rk.get());
  if (text.empty()) return Status::OK();
  if (!refused_too_large.empty()) {
    return Status::InvalidArgument(refused_too_large + " (the producer stopped: " + text + ")");
  }
  return Status::Internal("Kafka producer fatal error (idempotent delivery can no longer be "
                          "guaranteed; restart the producer): " + text);
}

Result<EventProducer::Impl::Topic*> EventProducer::Impl::TopicFor(const std::string& topic) {
  auto it = topics.find(topic);
  if (it == topics.end()) {
    FERRY_RETURN_IF_ERROR(Ensure(topic, TopicSpec{}, Deadline(options.connect_timeout_ms)));
    it = topics.find(topic);
  }
  return &it->second;
}

Status EventProducer::Impl::Ensure(const std::string& topic, const TopicSpec& spec, const Deadline& deadline) {
  if (spec.exact_partitions && spec.partitions <= 0) {
    return Status::InvalidArgument("topic " + topic + ": an exact partition count must be positive");
  }
  if (spec.exact_partitions && options.topic_partitions > 0 && options.topic_partitions != spec.partitions) {
    return Status::InvalidArgument("--topic-partitions " + std::to_string(options.topic_partitions) +
                                   " does not fit topic " + topic + ", which needs exactly " +
                                   std::to_string(spec.partitions) + " (its events must stay in one order)");
  }
  if (auto it = topics.find(topic); it != topics.end()) return CheckPartitions(topic, it->second.partitions, spec);
  if (!IsLegalTopicName(topic)) {
    return Status::InvalidArgument("'" + topic + "' is not a legal Kafka topic name");
  }
  FERRY_ASSIGN_OR_RETURN(auto existing, FetchTopics(rk.get(), deadline.RemainingMs()));
  bool dev_broker = existing.contains(kTopicRequestsTopic);
  auto found = existing.find(topic);
  if (found == existing.end() || found->second == 0) {
    int partitions = spec.partitions > 0 ? spec.partitions : options.topic_partitions;
    FERRY_RETURN_IF_ERROR(Create(topic, partitions, dev_broker, deadline));
  }
  // Naming the topic fills librdkafka's metadata cache too, so the first
  // produce does not wait for it.
  FERRY_ASSIGN_OR_RETURN(TopicLayout layout, DescribeTopicLayout(rk.get(), topic, std::max(deadline.RemainingMs(), 1)));
  FERRY_RETURN_IF_ERROR(CheckPartitions(topic, layout.partitions, spec));
  if (!dev_broker && options.replication_factor > 0 && layout.min_replicas < options.replication_factor) {
    spdlog::warn("topic {} has partitions with {} replicas, fewer than --topic-replication-factor {}: a broker "
                 "lost can lose acknowledged events; raise it with kafka-reassign-partitions.sh",
                 topic, layout.min_replicas, options.replication_factor);
  }
  FERRY_ASSIGN_OR_RETURN(Topic t, Limit(topic, dev_broker, deadline));
  t.partitions = layout.partitions;
  t.handle.reset(rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr));
  if (t.handle == nullptr) {
    return Status::InvalidArgument("topic " + topic + ": " + KafkaErrorText(rd_kafka_last_error()));
  }
  topics.emplace(topic, std::move(t));
  return Status::OK();
}

Status EventProducer::Impl::Create(const std::string& topic, int partitions, bool dev_broker,
                                   const Deadline& deadline) {
  if (!dev_broker) {
    NewTopicSettings settings{partitions > 0 ? partitions : -1, options.replication_factor, max_message_bytes};
    FERRY_RETURN_IF_ERROR(CreateTopic(rk.get(), topic, settings, deadline));
    spdlog::info("created topic {} ({} partitions, replication factor {}, max.message.bytes {})", topic,
                 partitions > 0 ? std::to_string(partitions) : "the broker's default",
                 options.replication_factor > 0 ? std::to_string(options.replication_factor) : "the broker's default",
                 max_message_bytes);
    return WaitListed(topic, deadline);
  }
  FERRY_RETURN_IF_ERROR(RequestFromDevBroker(topic, partitions, deadline));
  FERRY_RETURN_IF_ERROR(WaitListed(topic, deadline));
  // The topic exists, so the request was delivered: its report is served now
  // (as Produce serves reports while it waits for room), or a producer that
  // sends nothing else (capture's under --snapshot only) would hold it to the
  // end, and librdkafka warn at exit of a message "still in queue".
  while (requests_in_flight > 0 && !deadline.Expired()) rd_kafka_poll(rk.get(), 10);
  return Status::OK();
}

Status EventProducer::Impl::RequestFromDevBroker(const std::string& topic, int partitions,
                                                 const Deadline& deadline) {
  if (request_topic == nullptr) {
    request_topic.reset(rd_kafka_topic_new(rk.get(), kTopicRequestsTopic, nullptr));
  }
  std::string request = EncodeTopicRequest({topic, partitions});
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk.get(), RD_KAFKA_V_RKT(request_topic.get()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(request.data(), request.size()), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++requests_in_flight;
      break;
    }
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || deadline.Expired()) {
      return KafkaStatus(err, "asking the dev broker to create topic " + topic);
    }
    rd_kafka_poll(rk.get(), 10);
  }
  spdlog::info("asked the dev broker to create topic {}", topic);
  return Status::OK();
}

// Until metadata lists the new topic with its partitions.
Status EventProducer::Impl::WaitListed(const std::string& topic, const Deadline& deadline) {
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(auto existing, FetchTopics(rk.get(), deadline.RemainingMs()));
    auto it = existing.find(topic);
    if (it != existing.end() && it->second > 0) return Status::OK();
    FERRY_RETURN_IF_ERROR(Fatal());  // a dev broker request can never be delivered
    if (deadline.Expired()) break;
    SleepMs(20);
  }
  return Status::Unavailable("Kafka at " + brokers + " did not list topic " + topic + " in time after creating it");
}

Status EventProducer::Impl::CheckPartitions(const std::string& topic, int partitions, const TopicSpec& spec) const {
  if (!spec.exact_partitions || partitions == spec.partitions) return Status::OK();
  return Status::InvalidArgument(
      "topic " + topic + " has " + std::to_string(partitions) + " partitions, and it needs exactly " +
      std::to_string(spec.partitions) + ": its events must stay in one order. Delete it (it is created again "
      "as needed; apply must then start over) or choose another --topic-prefix");
}

// The largest record the topic takes, and the setting that says so. The
// producer's message.max.bytes, or the topic's max.message.bytes when it is
// smaller and the cluster says it (DescribeConfigs).
Result<EventProducer::Impl::Topic> EventProducer::Impl::Limit(const std::string& topic, bool dev_broker,
                                                              const Deadline& deadline) {
  Topic t;
  t.max_bytes = max_message_bytes;
  t.limit = "the producer's message.max.bytes";
  t.fix = "raise it with --kafka-property message.max.bytes=N (and the topic's max.message.bytes to match)";
  if (dev_broker) {
    spdlog::debug("topic {}: max.message.bytes not checked: the dev broker (librdkafka's mock) has no "
                  "DescribeConfigs, and takes records of any size", topic);
    return t;
  }
  Result<TopicConfig> config = DescribeTopicConfig(rk.get(), topic, Deadline(std::min(deadline.RemainingMs(), 5000)));
  if (!config.ok()) {
    spdlog::debug("topic {}: its configuration could not be read ({}): max.message.bytes and cleanup.policy "
                  "not checked", topic, config.status().ToString());
    return t;
  }
  if (config->cleanup_policy && config->cleanup_policy->find("compact") != std::string::npos) {
    return Status::InvalidArgument("topic " + topic + " has cleanup.policy=" + *config->cleanup_policy +
                                   ": compaction keeps only the last event of each key, so apply would miss "
                                   "changes. Set cleanup.policy=delete (kafka-configs.sh --alter --entity-type "
                                   "topics --entity-name " + topic + " --add-config cleanup.policy=delete)");
  }
  if (config->max_message_bytes && *config->max_message_bytes < max_message_bytes) {
    t.max_bytes = *config->max_message_bytes;
    t.limit = "topic " + topic + "'s max.message.bytes (" + config->max_message_bytes_source + ")";
    t.fix = "raise it with kafka-configs.sh --alter --entity-type topics --entity-name " + topic +
            " --add-config max.message.bytes=" + std::to_string(max_message_bytes);
    spdlog::warn("topic {} takes records of at most {} bytes (max.message.bytes, {}), capture's events of up to "
                 "{}: a larger row will stop capture, naming it. Raise it: kafka-configs.sh --alter "
                 "--entity-type topics --entity-name {} --add-config max.message.bytes={}",
                 topic, t.max_bytes, config->max_message_bytes_source, max_message_bytes, topic, max_message_bytes);
  }
  if (config->max_message_bytes && *config->max_message_bytes < batch_size) {
    // Kafka limits whole batches: small events batched together would be refused too.
    spdlog::warn("topic {}'s max.message.bytes {} is below the producer's batch.size {}: a batch of small events "
                 "could be refused as too large; raise the topic's limit or set --kafka-property batch.size={}",
                 topic, *config->max_message_bytes, batch_size, *config->max_message_bytes - kRecordOverhead);
  }
  return t;
}

Status EventProducer::Impl::TooLarge(const std::string& topic, const Topic& t, std::string_view key,
                                     std::string_view value) const {
  return Status::InvalidArgument(DescribeMessage(key, value) + ", is larger than the " +
                                 std::to_string(t.max_bytes) + " bytes " + topic + " takes by " + t.limit +
                                 ": " + t.fix + "; capture resumes from this event");
}

EventProducer::EventProducer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EventProducer::~EventProducer() {
  if (impl_->in_flight > 0) {
    spdlog::warn("closing the Kafka producer with {} messages not acknowledged", impl_->in_flight);
  }
}

Result<std::unique_ptr<EventProducer>> EventProducer::Create(const KafkaOptions& options,
                                                             DeliveryCallback on_delivery,
                                                             int connect_timeout_ms) {
  EventProducerOptions producer;
  producer.connect_timeout_ms = connect_timeout_ms;
  return Create(options, std::move(on_delivery), producer);
}

Result<std::unique_ptr<EventProducer>> EventProducer::Create(const KafkaOptions& options,
                                                             DeliveryCallback on_delivery,
                                                             const EventProducerOptions& producer) {
  FERRY_RETURN_IF_ERROR(CheckSafeOverrides(options));
  auto impl = std::make_unique<Impl>();
  impl->on_delivery = std::move(on_delivery);
  impl->options = producer;
  impl->brokers = options.brokers;
  FERRY_ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(options, kProducerDefaults));
  rd_kafka_conf_set_opaque(conf.get(), impl.get());
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::OnDeliveryReport);
  rd_kafka_conf_set_error_cb(conf.get(), &OnClientError);
  FERRY_ASSIGN_OR_RETURN(impl->rk, NewClient(RD_KAFKA_PRODUCER, std::move(conf)));
  impl->max_message_bytes = ConfNumber(impl->rk.get(), "message.max.bytes", impl->max_message_bytes);
  impl->batch_size = ConfNumber(impl->rk.get(), "batch.size", impl->batch_size);

  // A metadata request for no topic in particular: does any broker answer?
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(impl->rk.get(), 0, nullptr, &md, std::max(producer.connect_timeout_ms, 1));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable("no Kafka broker answered at " + options.brokers + " within " +
                               std::to_string(producer.connect_timeout_ms) +
                               " ms: " + KafkaErrorText(err));
  }
  MetadataPtr owned(md);
  return std::unique_ptr<EventProducer>(new EventProducer(std::move(impl)));
}

Status EventProducer::Produce(const std::string& topic, std::string_view key,
                              std::string_view value, uint64_t token, int32_t partition) {
  static_assert(kAnyPartition == RD_KAFKA_PARTITION_UA);
  FERRY_RETURN_IF_ERROR(impl_->Fatal());
  FERRY_ASSIGN_OR_RETURN(Impl::Topic * t, impl_->TopicFor(topic));
  if (static_cast<int64_t>(key.size() + value.size()) + kRecordOverhead > t->max_bytes) {
    return impl_->TooLarge(topic, *t, key, value);
  }
  rd_kafka_topic_t* rkt = t->handle.get();
  // An empty key is no key: librdkafka then picks a random partition.
  const char* key_data = key.empty() ? nullptr : key.data();
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        impl_->rk.get(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key_data, key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_OPAQUE(TokenToOpaque(token)), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++impl_->in_flight;
      return Status::OK();
    }
    if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
      return Status::InvalidArgument(
          "an event of " + std::to_string(value.size()) + " bytes for topic " + topic +
          " is larger than the producer allows: raise it with --kafka-property message.max.bytes=N "
          "(and the topic's max.message.bytes on the brokers); capture resumes from this event");
    }
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      FERRY_RETURN_IF_ERROR(impl_->Fatal());
      return KafkaStatus(err, "producing to " + topic);
    }
    // The local queue is full: serve delivery reports until there is room.
    rd_kafka_poll(impl_->rk.get(), 100);
    FERRY_RETURN_IF_ERROR(impl_->Fatal());
    if (StopRequested()) {
      return Status::Aborted("stop requested while Kafka at " + impl_->brokers +
                             " takes no more events (the producer's queue is full): stopping without them");
    }
  }
}

void EventProducer::Poll(int timeout_ms) { rd_kafka_poll(impl_->rk.get(), timeout_ms); }

Status EventProducer::Flush(int timeout_ms) {
  rd_kafka_resp_err_t err = rd_kafka_flush(impl_->rk.get(), timeout_ms);
  FERRY_RETURN_IF_ERROR(impl_->Fatal());
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    return Status::Unavailable(std::to_string(impl_->in_flight) +
                               " messages still not acknowledged by Kafka at " + impl_->brokers +
                               " after " + std::to_string(timeout_ms) + " ms");
  }
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaStatus(err, "flushing the producer");
  return Status::OK();
}

int64_t EventProducer::InFlight() const { return impl_->in_flight; }

Status EventProducer::FatalError() const { return impl_->Fatal(); }

Status EventProducer::EnsureTopic(const std::string& topic, const TopicSpec& spec, int timeout_ms) {
  return impl_->Ensure(topic, spec, Deadline(timeout_ms));
}

}  // namespace ferry::transport
