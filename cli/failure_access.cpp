#include "cli/failure_access.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "apply/apply_runner.h"
#include "apply/failure_reconciler.h"
#include "checkpoint/failure_requests.h"

namespace ferry::cli {

namespace {

Status CheckStoreExists(const std::string& state_dir) {
  std::string dir = apply::FailureStoreDir(state_dir);
  if (std::filesystem::exists(dir)) return Status::OK();
  return Status::InvalidArgument("no failure store at " + dir +
                                 ": is --state-dir the directory apply uses?");
}

}  // namespace

Status ReadFailures(const FailureAccess& access,
                    const std::function<Status(checkpoint::FailureStore&)>& read) {
  FERRY_RETURN_IF_ERROR(CheckStoreExists(access.state_dir));
  std::string dir = apply::FailureStoreDir(access.state_dir);
  auto store = checkpoint::FailureStore::Open(dir);
  if (store.ok()) return read(**store);
  if (!store.status().IsRetriable()) return store.status();
  // Apply holds the store: read through a secondary instance of our own.
  std::string scratch = access.state_dir + "/failures-readers/" + std::to_string(getpid());
  Status st;
  {
    auto view = checkpoint::FailureStore::OpenReadOnly(dir, scratch);
    st = view.ok() ? read(**view) : view.status();
  }
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  return st;
}

Result<std::string> RunFailureRequest(const FailureAccess& access, const std::string& request) {
  FERRY_RETURN_IF_ERROR(CheckStoreExists(access.state_dir));
  auto store = checkpoint::FailureStore::Open(apply::FailureStoreDir(access.state_dir));
  if (!store.ok() && store.status().IsRetriable()) {
    return checkpoint::SendFailureRequest(access.state_dir, request, access.timeout);
  }
  if (!store.ok()) return store.status();
  apply::Reconciler reconciler(**store);
  if (request.starts_with("drop ")) return reconciler.Execute(request, nullptr);
  if (access.target_conninfo.empty()) {
    return Status::InvalidArgument("apply is not running: --target is needed to replay '" +
                                   request + "'");
  }
  FERRY_ASSIGN_OR_RETURN(auto writer,
                         apply::TargetWriter::Connect(access.target_conninfo, {access.rule}));
  return reconciler.Execute(request, writer.get());
}

void AddStateDirFlag(CLI::App* cmd, FailureFlags* f) {
  cmd->add_option("--state-dir", f->access.state_dir, "apply's --state-dir")
      ->envname("FERRY_STATE_DIR")
      ->required();
}

void AddTimeoutFlag(CLI::App* cmd, FailureFlags* f) {
  cmd->add_option("--timeout", f->timeout_s, "Seconds to wait for a running apply to answer")
      ->capture_default_str();
}

void AddReplayFlags(CLI::App* cmd, FailureFlags* f) {
  cmd->add_option("--target", f->access.target_conninfo,
                  "Target connection string; needed when apply is not running")
      ->envname("FERRY_TARGET");
  cmd->add_option("--conflict", f->conflict, "Conflict rule, as apply's")->capture_default_str();
  AddTimeoutFlag(cmd, f);
}

Status RunAndPrint(FailureFlags& f, const std::string& request) {
  FERRY_ASSIGN_OR_RETURN(f.access.rule, apply::ParseConflictRule(f.conflict));
  f.access.timeout = std::chrono::seconds(f.timeout_s);
  FERRY_ASSIGN_OR_RETURN(std::string text, RunFailureRequest(f.access, request));
  std::cout << text << "\n";
  return Status::OK();
}

}  // namespace ferry::cli
