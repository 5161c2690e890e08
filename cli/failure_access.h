// How `ferry failures` and `ferry reconcile` reach apply's failure store
// (<state-dir>/failures) whether apply runs or not.
//
// RocksDB admits one writer per directory. Reading (list, show) opens the store
// itself when no process holds it, else a read-only secondary view that
// catches up with the running apply's writes. Changing it (retry, drop,
// reconcile) opens the store itself when no process holds it, else sends the
// request to the running apply, which answers between batches
// (checkpoint/failure_requests.h).
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <functional>
#include <string>

#include "apply/target_writer.h"
#include "checkpoint/failure_store.h"
#include "common/status.h"

namespace ferry::cli {

struct FailureAccess {
  std::string state_dir;
  std::string target_conninfo;  // needed to replay when apply is not running
  apply::ConflictRule rule = apply::ConflictRule::kReplace;  // as apply's --conflict
  std::chrono::seconds timeout{30};  // for an answer from a running apply
};

Status ReadFailures(const FailureAccess& access,
                   const std::function<Status(checkpoint::FailureStore&)>& read);
// Runs "retry <id>", "drop <id>" or "reconcile"; the text for the operator.
Result<std::string> RunFailureRequest(const FailureAccess& access, const std::string& request);

// Flags shared by `ferry failures ...` and `ferry reconcile`.
struct FailureFlags {
  FailureAccess access;
  std::string conflict = "replace";
  uint64_t id = 0;
  bool json = false;
  int timeout_s = 30;
  std::string log_level = "warn";
};

void AddStateDirFlag(CLI::App* cmd, FailureFlags* f);
// --timeout
void AddTimeoutFlag(CLI::App* cmd, FailureFlags* f);
// --target, --conflict, --timeout
void AddReplayFlags(CLI::App* cmd, FailureFlags* f);
// RunFailureRequest with the flags, printing its answer on stdout.
Status RunAndPrint(FailureFlags& f, const std::string& request);

}  // namespace ferry::cli
