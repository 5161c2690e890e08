#include "transport/dev_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "transport/rdkafka_util.h"
#include "transport/topic_requests.h"

namespace ferry::transport {

namespace {

struct MockClusterDeleter {
  void operator()(rd_kafka_mock_cluster_t* p) const { rd_kafka_mock_cluster_destroy(p); }
};
using MockClusterPtr = std::unique_ptr<rd_kafka_mock_cluster_t, MockClusterDeleter>;

}  // namespace

struct DevBroker::Impl {
  ~Impl() {
    stop = true;
    if (requests != nullptr) {  // ends the service thread's waiting poll
      QueuePtr queue(rd_kafka_queue_get_consumer(requests.get()));
      if (queue != nullptr) rd_kafka_queue_yield(queue.get());
    }
    if (service.joinable()) service.join();
    if (requests != nullptr) rd_kafka_consumer_close(requests.get());
    // Clients first, then the cluster, then the handle hosting it.
    // (rd_kafka_mock_cluster_destroy may take up to a second: librdkafka's own.)
    requests.reset();
    mock.reset();
    host.reset();
  }

  Status StartTopicService();
  void ServeTopicRequests();
  void CreateTopic(std::string_view request);

  DevBrokerOptions options;
  int replication_factor = 1;
  KafkaPtr host;  // the rd_kafka_t the mock cluster lives on
  MockClusterPtr mock;
  KafkaPtr requests;  // reads kTopicRequestsTopic
  std::atomic<bool> stop{false};
  std::thread service;
};

Status DevBroker::Impl::StartTopicService() {
  rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(mock.get(), kTopicRequestsTopic, 1, replication_factor);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaStatus(err, "creating the request topic");
  KafkaOptions client{rd_kafka_mock_cluster_bootstraps(mock.get()), {}};
  FERRY_ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(client, {{"group.id", "__ferry_dev_broker"},
                                                         {"enable.auto.commit", "false"},
                                                         {"fetch.wait.max.ms", "50"},
                                                         {"fetch.error.backoff.ms", "50"}}));
  FERRY_ASSIGN_OR_RETURN(requests, NewClient(RD_KAFKA_CONSUMER, std::move(conf)));
  PartitionListPtr parts(rd_kafka_topic_partition_list_new(1));
  // Offset 0 rather than BEGINNING: a logical offset costs a 500 ms lookup timer.
  rd_kafka_topic_partition_list_add(parts.get(), kTopicRequestsTopic, 0)->offset = 0;
  err = rd_kafka_assign(requests.get(), parts.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaStatus(err, "reading the request topic");
  service = std::thread([this] { ServeTopicRequests(); });
  return Status::OK();
}

void DevBroker::Impl::ServeTopicRequests() {
  while (!stop) {
    MessagePtr m(rd_kafka_consumer_poll(requests.get(), 100));
    if (m == nullptr) continue;
    if (m->err) {
      spdlog::debug("dev broker request reader: {}", rd_kafka_message_errstr(m.get()));
      continue;
    }
    CreateTopic(std::string_view(static_cast<const char*>(m->payload), m->len));
  }
}

void DevBroker::Impl::CreateTopic(std::string_view request) {
  std::optional<TopicRequest> r = DecodeTopicRequest(request);
  if (!r) {
    spdlog::warn("dev broker: ignoring a malformed topic request: {}", request.substr(0, 300));
    return;
  }
  int partitions = r->partitions > 0 ? r->partitions : options.partitions;
  rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(mock.get(), r->topic.c_str(), partitions, replication_factor);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    spdlog::info("dev broker: created topic {} with {} partitions", r->topic, partitions);
  } else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    spdlog::warn("dev broker: creating topic {}: {}", r->topic, KafkaErrorText(err));
  }
}

DevBroker::DevBroker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DevBroker::~DevBroker() = default;

Result<std::unique_ptr<DevBroker>> DevBroker::Start(const DevBrokerOptions& options) {
  if (options.brokers < 1) return Status::InvalidArgument("the dev broker needs at least 1 broker");
  if (options.partitions < 1) {
    return Status::InvalidArgument("topics on the dev broker need at least 1 partition");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->replication_factor = std::min(3, options.brokers);
  // The hosting handle is no client: only warnings (not "no bootstrap.servers").
  FERRY_ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(KafkaOptions{}, {{"log_level", "4"}}));
  FERRY_ASSIGN_OR_RETURN(impl->host, NewClient(RD_KAFKA_PRODUCER, std::move(conf)));
  impl->mock.reset(rd_kafka_mock_cluster_new(impl->host.get(), options.brokers));
  if (impl->mock == nullptr) {
    return Status::Unavailable("starting librdkafka's mock cluster failed (see the log above)");
  }
  FERRY_RETURN_IF_ERROR(impl->StartTopicService());
  return std::unique_ptr<DevBroker>(new DevBroker(std::move(impl)));
}

std::string DevBroker::bootstrap() const {
  return rd_kafka_mock_cluster_bootstraps(impl_->mock.get());
}

rd_kafka_mock_cluster_t* DevBroker::mock() const { return impl_->mock.get(); }

}  // namespace ferry::transport
