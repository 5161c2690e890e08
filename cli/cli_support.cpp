#include "cli/cli_support.h"

#include <spdlog/spdlog.h>

namespace ferry::cli {

Result<transport::KafkaOptions> KafkaFlags::ToOptions() const {
  transport::KafkaOptions o;
  o.brokers = brokers;
  for (const auto& p : properties) {
    FERRY_ASSIGN_OR_RETURN(auto kv, transport::ParseKafkaProperty(p));
    o.properties.push_back(std::move(kv));
  }
  return o;
}

void AddKafkaFlags(CLI::App* cmd, KafkaFlags* flags) {
  cmd->add_option("--brokers", flags->brokers, "Kafka bootstrap servers, HOST:PORT[,...]")
      ->envname("FERRY_BROKERS")
      ->required();
  cmd->add_option("--kafka-property", flags->properties,
                  "librdkafka property key=value, passed through untouched (repeatable)");
}

void AddLogLevelFlag(CLI::App* cmd, std::string* level) {
  cmd->add_option("--log-level", *level, "trace, debug, info, warn or error")
      ->envname("FERRY_LOG_LEVEL")
      ->capture_default_str();
}

void AddMetricsFlag(CLI::App* cmd, std::string* addr) {
  cmd->add_option("--metrics-addr", *addr,
                  "Serve Prometheus metrics at http://ADDR/metrics: HOST:PORT, or :PORT for "
                  "loopback (default: off)")
      ->envname("FERRY_METRICS_ADDR");
}

Result<std::unique_ptr<metrics::MetricsServer>> StartMetrics(const std::string& addr) {
  if (addr.empty()) return std::unique_ptr<metrics::MetricsServer>();
  return metrics::MetricsServer::Start(addr, metrics::Registry::Default());
}

int ExitCode(const Status& status, const std::string& command) {
  if (status.ok()) return 0;
  spdlog::error("ferry {} failed: {}", command, status.ToString());
  return status.code() == Status::Code::kInvalidArgument ? 2 : 1;
}

}  // namespace ferry::cli
