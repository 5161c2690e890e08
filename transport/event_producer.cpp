#include "transport/event_producer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <thread>

#include "common/ferry_metrics.h"
#include "common/signals.h"
#include "transport/rdkafka_util.h"
#include "transport/topic_requests.h"

namespace ferry::transport {

namespace {

constexpr char kMaxEventBytes[] = "67108864";  // 64 MiB

// Applied before the user's --kafka-property pairs, which may override them.
const Properties kProducerDefaults = {
    {"enable.idempotence", "true"},     // retries never duplicate or reorder
    {"acks", "all"},                    // (implied by idempotence; stated anyway)
    {"partitioner", "murmur2_random"},  // Java clients' key hashing
    {"linger.ms", "5"},                 // small batches, low latency
    // One event carries a whole row, TOASTed values included: 1 MB (the
    // client's default) is too small for real tables.
    {"message.max.bytes", kMaxEventBytes},
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

}  // namespace

struct EventProducer::Impl {
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
  Result<rd_kafka_topic_t*> TopicHandle(const std::string& topic);
  Status Ensure(const std::string& topic, const Deadline& deadline);
  Status RequestFromDevBroker(const std::string& topic, const Deadline& deadline);
  Status CreateWithAdminRequest(const std::string& topic, const Deadline& deadline);
  Status AutoCreate(const std::string& topic, const Deadline& deadline);

  DeliveryCallback on_delivery;
  EventProducerOptions options;
  std::string brokers;
  int64_t in_flight = 0;
  // Topics known to exist, with their handles.
  std::map<std::string, TopicPtr, std::less<>> topics;
  TopicPtr request_topic;  // the dev broker's kTopicRequestsTopic, once used
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
    std::string where = std::string("delivering to ") + rd_kafka_topic_name(m.rkt) + "[" +
                        std::to_string(m.partition) + "]";
    Status fatal = Fatal();
    d.status = fatal.ok() ? KafkaStatus(m.err, where) : fatal.WithContext(where);
  }
  on_delivery(d);
}

Status EventProducer::Impl::Fatal() const {
  std::string text = FatalErrorText(rk.get());
  if (text.empty()) return Status::OK();
  return Status::Internal("Kafka producer fatal error (idempotent delivery can no longer be "
                          "guaranteed; restart the producer): " + text);
}

Result<rd_kafka_topic_t*> EventProducer::Impl::TopicHandle(const std::string& topic) {
  auto it = topics.find(topic);
  if (it == topics.end()) {
    FERRY_RETURN_IF_ERROR(Ensure(topic, Deadline(options.connect_timeout_ms)));
    it = topics.find(topic);
  }
  return it->second.get();
}

Status EventProducer::Impl::Ensure(const std::string& topic, const Deadline& deadline) {
  if (topics.contains(topic)) return Status::OK();
  if (!IsLegalTopicName(topic)) {
    return Status::InvalidArgument("'" + topic + "' is not a legal Kafka topic name");
  }
  FERRY_ASSIGN_OR_RETURN(auto existing, FetchTopics(rk.get(), deadline.RemainingMs()));
  auto it = existing.find(topic);
  if (it == existing.end() || it->second == 0) {
    if (existing.contains(kTopicRequestsTopic)) {
      FERRY_RETURN_IF_ERROR(RequestFromDevBroker(topic, deadline));
    } else {
      if (options.topic_partitions > 0) {
        FERRY_RETURN_IF_ERROR(CreateWithAdminRequest(topic, deadline));
      }
      FERRY_RETURN_IF_ERROR(AutoCreate(topic, deadline));
    }
  }
  TopicPtr rkt(rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr));
  if (rkt == nullptr) {
    return Status::InvalidArgument("topic " + topic + ": " + KafkaErrorText(rd_kafka_last_error()));
  }
  // Fills librdkafka's metadata cache now rather than at the first produce.
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk.get(), 0, rkt.get(), &md, std::max(deadline.RemainingMs(), 1)) ==
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    MetadataPtr owned(md);
  }
  topics.emplace(topic, std::move(rkt));
  return Status::OK();
}

Status EventProducer::Impl::RequestFromDevBroker(const std::string& topic,
                                                 const Deadline& deadline) {
  if (request_topic == nullptr) {
    request_topic.reset(rd_kafka_topic_new(rk.get(), kTopicRequestsTopic, nullptr));
  }
  std::string request = EncodeTopicRequest({topic, options.topic_partitions});
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk.get(), RD_KAFKA_V_RKT(request_topic.get()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE(request.data(), request.size()), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || deadline.Expired()) {
      return KafkaStatus(err, "asking the dev broker to create topic " + topic);
    }
    rd_kafka_poll(rk.get(), 10);
  }
  spdlog::info("asked the dev broker to create topic {}", topic);
  for (;;) {
    FERRY_ASSIGN_OR_RETURN(auto existing, FetchTopics(rk.get(), deadline.RemainingMs()));
    auto it = existing.find(topic);
    if (it != existing.end() && it->second > 0) return Status::OK();
    FERRY_RETURN_IF_ERROR(Fatal());  // the request itself can never be delivered
    if (deadline.Expired()) break;
    SleepMs(20);
  }
  return Status::Unavailable("the dev broker at " + brokers + " did not create topic " + topic +
                             " in time");
}

Status EventProducer::Impl::CreateWithAdminRequest(const std::string& topic,
                                                   const Deadline& deadline) {
  char err[512];
  NewTopicPtr new_topic(
      rd_kafka_NewTopic_new(topic.c_str(), options.topic_partitions, -1, err, sizeof err));
  if (new_topic == nullptr) return Status::InvalidArgument("topic " + topic + ": " + err);
  // The brokers' default (about 1 MB) would refuse what the producer sends.
  rd_kafka_NewTopic_set_config(new_topic.get(), "max.message.bytes", kMaxEventBytes);
  AdminOptionsPtr admin(rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  rd_kafka_AdminOptions_set_request_timeout(admin.get(), std::max(deadline.RemainingMs(), 1), err,
                                            sizeof err);
  QueuePtr queue(rd_kafka_queue_new(rk.get()));
  rd_kafka_NewTopic_t* request[] = {new_topic.get()};
  rd_kafka_CreateTopics(rk.get(), request, 1, admin.get(), queue.get());
  EventPtr ev(rd_kafka_queue_poll(queue.get(), deadline.RemainingMs() + 1000));
  std::string what = "creating topic " + topic;
  if (ev == nullptr) return Status::Unavailable(what + ": no answer");
  if (rd_kafka_event_error(ev.get())) return KafkaStatus(rd_kafka_event_error(ev.get()), what);
  size_t n = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev.get()), &n);
  for (size_t i = 0; i < n; ++i) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
    if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) return Status::OK();
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaStatus(e, what);
  }
  spdlog::info("created topic {} with {} partitions", topic, options.topic_partitions);
  return Status::OK();
}

Status EventProducer::Impl::AutoCreate(const std::string& topic, const Deadline& deadline) {
  // A metadata request naming the topic creates it where the cluster allows.
  TopicPtr rkt(rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr));
  rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR__TIMED_OUT;
  for (;;) {
    const rd_kafka_metadata_t* raw = nullptr;
    last = rd_kafka_metadata(rk.get(), 0, rkt.get(), &raw, std::max(deadline.RemainingMs(), 1));
    if (last == RD_KAFKA_RESP_ERR_NO_ERROR) {
      MetadataPtr md(raw);
      last = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
      if (last == RD_KAFKA_RESP_ERR_NO_ERROR && md->topics[0].partition_cnt > 0) {
        return Status::OK();
      }
    }
    if (deadline.Expired()) break;
    SleepMs(100);
  }
  if (last == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
    return Status::NotFound("topic " + topic + " does not exist and the cluster at " + brokers +
                            " does not create topics automatically: create it, or set the "
                            "producer's topic partitions");
  }
  return KafkaStatus(last, "waiting for topic " + topic);
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
                              std::string_view value, uint64_t token) {
  FERRY_RETURN_IF_ERROR(impl_->Fatal());
  FERRY_ASSIGN_OR_RETURN(rd_kafka_topic_t * rkt, impl_->TopicHandle(topic));
  // An empty key is no key: librdkafka then picks a random partition.
  const char* key_data = key.empty() ? nullptr : key.data();
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        impl_->rk.get(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key_data, key.size()),
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

Status EventProducer::EnsureTopic(const std::string& topic, int timeout_ms) {
  return impl_->Ensure(topic, Deadline(timeout_ms));
}

}  // namespace ferry::transport
