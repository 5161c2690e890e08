#include "transport/capture_status.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "transport/event_producer.h"
#include "transport/rdkafka_util.h"

namespace ferry::transport {

namespace {

constexpr int kTopicTimeoutMs = 10000;
constexpr int64_t kRecordsScanned = 64;  // read back from the end to find the slot's latest

}  // namespace

std::string CaptureStatusTopic(std::string_view topic_prefix) {
  return std::string(topic_prefix) + "-status";
}

std::string EncodeCaptureStatus(const CaptureStatus& s) {
  return nlohmann::json{{"slot", s.slot},
                        {"flow_control", s.flow_control},
                        {"paused", s.paused},
                        {"since_us", s.since_us},
                        {"updated_us", s.updated_us},
                        {"group", s.group},
                        {"partition", s.partition},
                        {"behind_bytes", s.behind_bytes},
                        {"bound_bytes", s.bound_bytes},
                        {"problem", s.problem},
                        {"snapshot", s.snapshot},
                        {"incremental_snapshot", s.incremental_snapshot},
                        {"stopped", s.stopped}}
      .dump();
}

std::optional<CaptureStatus> DecodeCaptureStatus(std::string_view value) {
  nlohmann::json j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  CaptureStatus s;
  try {
    s.slot = j.at("slot").get<std::string>();
    s.paused = j.at("paused").get<bool>();
    s.since_us = j.at("since_us").get<int64_t>();
    s.updated_us = j.at("updated_us").get<int64_t>();
    s.group = j.value("group", "");
    s.partition = j.value("partition", "");
    s.behind_bytes = j.value("behind_bytes", int64_t{0});
    s.bound_bytes = j.value("bound_bytes", int64_t{0});
    s.problem = j.value("problem", "");
    s.snapshot = j.value("snapshot", "");
    s.incremental_snapshot = j.value("incremental_snapshot", "");
    s.flow_control = j.value("flow_control", true);
    s.stopped = j.value("stopped", false);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  return s;
}

struct CaptureStatusWriter::Impl {
  std::string topic;
  std::unique_ptr<EventProducer> producer;
  bool failed = false;  // logged once
  void Failed(const Status& st) {
    if (!failed) spdlog::warn("capture status not written to {} ({}); `ferry lag` will not show it", topic, st.ToString());
    failed = true;
  }
};

CaptureStatusWriter::CaptureStatusWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CaptureStatusWriter::~CaptureStatusWriter() {
  if (impl_->producer) impl_->producer->Flush(2000).PermitUncheckedError();
}

Result<std::unique_ptr<CaptureStatusWriter>> CaptureStatusWriter::Create(const KafkaOptions& options,
                                                                         const std::string& topic_prefix) {
  auto impl = std::make_unique<Impl>();
  impl->topic = CaptureStatusTopic(topic_prefix);
  EventProducerOptions po;
  po.connect_timeout_ms = kTopicTimeoutMs;
  po.topic_partitions = 1;  // one partition: the latest record is the last one
  FERRY_ASSIGN_OR_RETURN(impl->producer, EventProducer::Create(options, [](const Delivery&) {}, po));
  FERRY_RETURN_IF_ERROR(impl->producer->EnsureTopic(impl->topic, kTopicTimeoutMs));
  return std::unique_ptr<CaptureStatusWriter>(new CaptureStatusWriter(std::move(impl)));
}

void CaptureStatusWriter::Write(const CaptureStatus& s) {
  Status st = impl_->producer->Produce(impl_->topic, s.slot, EncodeCaptureStatus(s), 0);
  if (!st.ok()) return impl_->Failed(st);
  impl_->producer->Poll(0);
}

Result<std::optional<CaptureStatus>> ReadCaptureStatus(const KafkaOptions& options, const std::string& topic_prefix,
                                                       const std::string& slot, int timeout_ms) {
  Deadline deadline(timeout_ms);
  std::string topic = CaptureStatusTopic(topic_prefix);
  // librdkafka assigns partitions only with a group.id; this one never joins
  // nor commits.
  FERRY_ASSIGN_OR_RETURN(ConfPtr conf, MakeConf(options, {{"group.id", "__ferry_status_reader"},
                                                          {"enable.auto.commit", "false"},
                                                          {"enable.partition.eof", "true"}}));
  FERRY_ASSIGN_OR_RETURN(KafkaPtr rk, NewClient(RD_KAFKA_CONSUMER, std::move(conf)));
  FERRY_ASSIGN_OR_RETURN(auto topics, FetchTopics(rk.get(), deadline.RemainingMs()));
  auto it = topics.find(topic);
  if (it == topics.end() || it->second == 0) return std::optional<CaptureStatus>();
  FERRY_ASSIGN_OR_RETURN(Watermarks w, QueryWatermarks(rk.get(), {topic, 0}, deadline.RemainingMs()));
  if (w.high <= w.low) return std::optional<CaptureStatus>();
  PartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), 0)->offset = std::max(w.low, w.high - kRecordsScanned);
  rd_kafka_resp_err_t err = rd_kafka_assign(rk.get(), list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaStatus(err, "reading " + topic);
  std::optional<CaptureStatus> latest;
  while (!deadline.Expired()) {
    MessagePtr m(rd_kafka_consumer_poll(rk.get(), std::max(1, std::min(100, deadline.RemainingMs()))));
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) break;
    if (m->err) continue;
    std::string_view key(static_cast<const char*>(m->key), m->key ? m->key_len : 0);
    if (key != slot) continue;
    auto s = DecodeCaptureStatus(std::string_view(static_cast<const char*>(m->payload), m->len));
    if (s) latest = std::move(s);
    if (m->offset + 1 >= w.high) break;
  }
  rd_kafka_consumer_close(rk.get());
  return latest;
}

}  // namespace ferry::transport
