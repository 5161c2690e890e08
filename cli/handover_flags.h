// The flags `ferry cutover` and `ferry rollback` share: how the handover
// runbook runs (reconcile/handover.h), and how its report is printed.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "cli/cli_support.h"
#include "reconcile/handover.h"

namespace ferry::cli {

struct HandoverFlags {
  reconcile::HandoverPolicy policy;
  KafkaFlags kafka;
  std::vector<std::string> tables;
  std::string timeout = "10m";
  std::string settle_timeout = "30s";
  bool json = false;
  std::string log_level = "info";
};

// --brokers, --kafka-property, --fence, --fence-role, --keep-fence-on-failure,
// --timeout, --tables, --settle-timeout, --json, --log-level. `fenced` names
// the database --fence makes read-only ("source", "target").
void AddHandoverFlags(CLI::App* cmd, HandoverFlags* flags, const std::string& fenced);
// Parses durations and table names into flags->policy; InvalidArgument when malformed.
Status FinishHandoverFlags(HandoverFlags* flags, transport::KafkaOptions* kafka);
// Prints a report to stdout.
void PrintReport(const std::string& text);
// 0 when every step succeeded, 2 when one failed for bad input, else 1.
int HandoverExitCode(const reconcile::HandoverReport& report);

}  // namespace ferry::cli
