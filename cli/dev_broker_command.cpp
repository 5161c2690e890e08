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
#include "transport/cluster_info.h"
#include "transport/dev_broker.h"

namespace ferry::cli {

namespace {

constexpr char kDescription[] =
    "Run a Kafka-protocol dev broker (librdkafka's mock cluster) on loopback until SIGINT or "
    "SIGTERM. Prints its bootstrap address as the first line of stdout. For tests and demos "
    "only: it keeps about 5 MiB per partition and silently evicts older messages; it persists "
    "nothing: a restarted dev broker is a new, empty cluster (no events, no consumer-group "
    "offsets) at a new address, and capture refuses it until told apply had applied everything "
    "(--new-kafka-cluster); it cannot list consumer groups nor describe topic configs. Refuses a "
    "--bootstrap-file naming a dev broker that still answers.";

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

// A bootstrap file left by another dev broker: refused while that one still
// answers (capture and apply reading the file would move to an empty cluster);
// a dead one's is replaced, saying what was lost with it.
Status CheckBootstrapFile(const std::string& path) {
  std::ifstream in(path);
  std::string previous;
  if (!in || !std::getline(in, previous) || previous.empty()) return Status::OK();
  auto id = transport::FetchClusterId(transport::KafkaOptions{previous, {}}, 2000);
  if (id.ok()) {
    return Status::InvalidArgument(
        "--bootstrap-file " + path + " names " + previous + ", where a Kafka broker (cluster " + *id +
        ") still answers: another dev broker is running. Capture and apply reading this file would move to "
        "a new, empty cluster while their positions refer to that one. Stop it first, or give this dev "
        "broker another --bootstrap-file");
  }
  spdlog::warn("--bootstrap-file {} names {}, where no dev broker answers any more: it was killed without "
               "removing the file, and every event and consumer-group offset it held is gone. Capture refuses "
               "this new dev broker until told that apply had applied everything (see `ferry capture "
               "--new-kafka-cluster`)",
               path, previous);
  return Status::OK();
}

int RunDevBroker(const DevBrokerFlags& flags) {
  InitLogging(flags.log_level, "dev-broker");
  InstallStopSignals();
  if (!flags.bootstrap_file.empty()) {
    Status st = CheckBootstrapFile(flags.bootstrap_file);
    if (!st.ok()) return ExitCode(st, "dev-broker");
  }
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
      "notice, and nothing survives a restart (a restarted dev broker is a new cluster: capture "
      "refuses it until told nothing was lost). Not for data you need.");
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
