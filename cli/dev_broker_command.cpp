// `ferry dev-broker`: librdkafka's mock cluster as a throwaway local broker.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "cli/cli_support.h"
#include "cli/commands.h"
#include "common/logging.h"
#include "common/signals.h"
#include "common/status.h"
#include "transport/dev_broker.h"

namespace ferry::cli {

namespace {

constexpr char kDescription[] =
    "Run a Kafka-protocol dev broker (librdkafka's mock cluster) on loopback until SIGINT or "
    "SIGTERM. Prints its bootstrap address as the first line of stdout. For tests and demos "
    "only: it keeps about 5 MiB per partition and silently evicts older messages, and it "
    "persists nothing (a restarted dev broker is empty, at a new address).";

struct DevBrokerFlags {
  transport::DevBrokerOptions broker;
  std::string bootstrap_file;
  std::string log_level = "info";
  std::string metrics_addr;
};

// Writes `line` to `path` through a temporary file and a rename, so a reader
// sees either no file or the whole line.
Status WriteFileAtomically(const std::string& path, const std::string& line) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << line << '\n';
    out.flush();
    if (!out) return Status::IOError("writing " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::IOError("renaming " + tmp + " to " + path);
  }
  return Status::OK();
}

int RunDevBroker(const DevBrokerFlags& flags) {
  InitLogging(flags.log_level, "dev-broker");
  InstallStopSignals();
  // The dev broker has no metrics of its own; the endpoint shows it is up.
  auto server = StartMetrics(flags.metrics_addr);
  if (!server.ok()) {
    spdlog::error("{}", server.status().ToString());
    return 2;
  }
  auto broker = transport::DevBroker::Start(flags.broker);
  if (!broker.ok()) {
    spdlog::error("{}", broker.status().ToString());
    return 1;
  }
  std::string bootstrap = (*broker)->bootstrap();
  std::fputs((bootstrap + "\n").c_str(), stdout);
  std::fflush(stdout);
  if (!flags.bootstrap_file.empty()) {
    Status st = WriteFileAtomically(flags.bootstrap_file, bootstrap);
    if (!st.ok()) {
      spdlog::error("{}", st.ToString());
      return 1;
    }
  }
  spdlog::info("dev broker listening at {} ({} broker(s); topics ferry creates get {} partitions)",
               bootstrap, flags.broker.brokers, flags.broker.partitions);
  spdlog::warn(
      "dev broker retention: about 5 MiB per partition; older messages are evicted without "
      "notice, and nothing survives a restart. Not for data you need.");
  while (!StopRequested()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  spdlog::info("dev broker stopping");
  // A stale file would point a later reader at a dead address.
  if (!flags.bootstrap_file.empty()) std::remove(flags.bootstrap_file.c_str());
  return 0;
}

}  // namespace

void AddDevBrokerCommand(CLI::App& app, int* exit_code) {
  CLI::App* cmd = app.add_subcommand("dev-broker", kDescription);
  auto flags = std::make_shared<DevBrokerFlags>();
  cmd->add_option("--brokers-count", flags->broker.brokers, "Number of brokers")
      ->check(CLI::Range(1, 16))
      ->capture_default_str();
  cmd->add_option("--partitions", flags->broker.partitions,
                  "Partitions of each topic ferry creates on it")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--bootstrap-file", flags->bootstrap_file,
                  "Also write the bootstrap address to this file (atomically; removed on exit)");
  cmd->add_option("--log-level", flags->log_level, "trace|debug|info|warn|error")
      ->capture_default_str();
  AddMetricsFlag(cmd, &flags->metrics_addr);
  cmd->callback([flags, exit_code] { *exit_code = RunDevBroker(*flags); });
}

}  // namespace ferry::cli
