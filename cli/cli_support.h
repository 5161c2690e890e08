// Flags and exit handling shared by the subcommands.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

#include "common/metrics_server.h"
#include "common/status.h"
#include "transport/kafka_options.h"

namespace ferry::cli {

struct KafkaFlags {
  std::string brokers;
  std::vector<std::string> properties;
  // Builds KafkaOptions; InvalidArgument for a malformed --kafka-property.
  Result<transport::KafkaOptions> ToOptions() const;
};

// --brokers (env FERRY_BROKERS) and --kafka-property key=value (repeatable).
void AddKafkaFlags(CLI::App* cmd, KafkaFlags* flags);
// --log-level (env FERRY_LOG_LEVEL).
void AddLogLevelFlag(CLI::App* cmd, std::string* level);

// --metrics-addr (env FERRY_METRICS_ADDR): serve Prometheus metrics; off when empty.
void AddMetricsFlag(CLI::App* cmd, std::string* addr);
// The metrics server for `addr`, or null when `addr` is empty (metrics off).
Result<std::unique_ptr<metrics::MetricsServer>> StartMetrics(const std::string& addr);

// Logs a failed run and maps it to an exit code: 0 ok, 2 bad input or
// configuration (fix and rerun), 1 anything else.
int ExitCode(const Status& status, const std::string& command);

}  // namespace ferry::cli
