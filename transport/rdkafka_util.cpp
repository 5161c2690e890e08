#include "transport/rdkafka_util.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string_view>

namespace ferry::transport {

namespace {

// librdkafka logs with syslog levels: 0 emerg .. 7 debug.
void LogToSpdlog(const rd_kafka_t* rk, int level, const char* facility, const char* line) {
  spdlog::level::level_enum lvl = spdlog::level::debug;
  if (level <= 3) {
    lvl = spdlog::level::err;
  } else if (level == 4) {
    lvl = spdlog::level::warn;
  } else if (level == 5) {
    lvl = spdlog::level::info;
  }
  // Capture's producers set enable.gapless.guarantee on purpose (event_producer.cpp),
  // and librdkafka calls it experimental each time one is created: four
  // warnings at every capture start that ask nothing of the user.
  if (lvl == spdlog::level::warn && std::string_view(facility) == "CONFWARN" &&
      std::string_view(line).find("enable.gapless.guarantee is experimental") != std::string_view::npos) {
    lvl = spdlog::level::debug;
  }
  spdlog::log(lvl, "librdkafka {} {}: {}", rk ? rd_kafka_name(rk) : "-", facility, line);
}

Status SetProperty(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    return Status::InvalidArgument("Kafka property " + key + "=" + value + ": " + err);
  }
  return Status::OK();
}

}  // namespace

void RouteLogToSpdlog(rd_kafka_conf_t* conf) { rd_kafka_conf_set_log_cb(conf, &LogToSpdlog); }

Result<ConfPtr> MakeConf(const KafkaOptions& options, const Properties& defaults) {
  ConfPtr conf(rd_kafka_conf_new());
  RouteLogToSpdlog(conf.get());
  if (!options.brokers.empty()) {
    FERRY_RETURN_IF_ERROR(SetProperty(conf.get(), "bootstrap.servers", options.brokers));
  }
  for (const auto& [key, value] : defaults) {
    FERRY_RETURN_IF_ERROR(SetProperty(conf.get(), key, value));
  }
  for (const auto& [key, value] : options.properties) {
    FERRY_RETURN_IF_ERROR(SetProperty(conf.get(), key, value));
  }
  return conf;
}

Result<KafkaPtr> NewClient(rd_kafka_type_t type, ConfPtr conf) {
  char err[512];
  // rd_kafka_new takes the conf only when it succeeds.
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (rk == nullptr) {
    return Status::InvalidArgument(std::string("creating Kafka client: ") + err);
  }
  (void)conf.release();
  return KafkaPtr(rk);
}

Result<Watermarks> QueryWatermarks(rd_kafka_t* rk, const TopicPartition& tp, int timeout_ms) {
  Watermarks w;
  rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, tp.topic.c_str(), tp.partition,
                                                             &w.low, &w.high, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaStatus(err, "querying the offsets of " + tp.ToString());
  }
  return w;
}

Result<std::map<std::string, int>> FetchTopics(rd_kafka_t* rk, int timeout_ms) {
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &raw, std::max(timeout_ms, 1));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return KafkaStatus(err, "listing Kafka topics");
  MetadataPtr md(raw);
  std::map<std::string, int> topics;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    topics[t.topic] = t.err == RD_KAFKA_RESP_ERR_NO_ERROR ? t.partition_cnt : 0;
  }
  return topics;
}

std::string KafkaErrorText(rd_kafka_resp_err_t err) {
  return std::string(rd_kafka_err2str(err)) + " (" + rd_kafka_err2name(err) + ")";
}

Status KafkaStatus(rd_kafka_resp_err_t err, const std::string& what) {
  std::string message = what + ": " + KafkaErrorText(err);
  switch (err) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
      return Status::Unavailable(std::move(message));
    default:
      return Status::Internal(std::move(message));
  }
}

std::string FatalErrorText(rd_kafka_t* rk) {
  char reason[512];
  rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk, reason, sizeof reason);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return std::string(reason) + " (" + rd_kafka_err2name(err) + ")";
}

int Deadline::RemainingMs() const {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      end_ - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

}  // namespace ferry::transport
