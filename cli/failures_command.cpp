// `ferry failures list|show ID|retry ID|drop ID --state-dir DIR`: what apply
// parked, and what to do with it. Works whether apply runs or not
// (cli/failure_access.h).
#include <spdlog/spdlog.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "apply/apply_runner.h"
#include "cli/cli_support.h"
#include "cli/commands.h"
#include "cli/failure_access.h"
#include "common/logging.h"
#include "transport/change_event.pb.h"

namespace ferry::cli {

namespace {

using checkpoint::ParkedEvent;

struct FailuresFlags {
  FailureAccess access;
  std::string conflict = "replace";
  uint64_t id = 0;
  bool json = false;
  int timeout_s = 30;
  std::string log_level = "warn";
};

std::string Utc(int64_t us) {
  std::time_t t = static_cast<std::time_t>(us / 1'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

const char* KindName(ParkedEvent::Kind k) {
  return k == ParkedEvent::Kind::kEvent ? "event" : "garbage";
}

// The payload for people: the event's fields, or the raw bytes escaped.
std::string Payload(const ParkedEvent& r) {
  if (r.kind == ParkedEvent::Kind::kEvent) {
    ferry::v1::ChangeEvent e;
    if (e.ParseFromString(r.payload)) return e.ShortDebugString();
  }
  std::string out;
  for (unsigned char c : r.payload.substr(0, 512)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return r.payload.size() > 512 ? out + "..." : out;
}

nlohmann::json ToJson(const ParkedEvent& r, bool with_payload) {
  nlohmann::json j = {{"id", r.id},
                      {"kind", KindName(r.kind)},
                      {"event", r.description},
                      {"topic", r.source.topic},
                      {"partition", r.source.partition},
                      {"offset", r.offset},
                      {"error", r.error},
                      {"attempts", r.attempts},
                      {"first_seen", Utc(r.first_seen_us)},
                      {"last_seen", Utc(r.last_seen_us)}};
  if (with_payload) j["payload"] = Payload(r);
  return j;
}

Status List(const FailuresFlags& f) {
  return ReadFailures(f.access, [&](checkpoint::FailureStore& store) -> Status {
    FERRY_ASSIGN_OR_RETURN(auto records, store.List());
    if (f.json) {
      nlohmann::json all = nlohmann::json::array();
      for (const auto& r : records) all.push_back(ToJson(r, false));
      std::cout << all.dump(2) << "\n";
      return Status::OK();
    }
    std::cout << records.size() << " parked\n";
    for (const auto& r : records) {
      std::cout << r.id << "  " << KindName(r.kind) << "  attempts " << r.attempts << "  first "
                << Utc(r.first_seen_us) << "  last " << Utc(r.last_seen_us) << "  "
                << r.description << "\n    error: " << r.error << "\n";
    }
    return Status::OK();
  });
}

Status Show(const FailuresFlags& f) {
  return ReadFailures(f.access, [&](checkpoint::FailureStore& store) -> Status {
    FERRY_ASSIGN_OR_RETURN(ParkedEvent r, store.Get(f.id));
    nlohmann::json j = ToJson(r, true);
    if (f.json) {
      std::cout << j.dump(2) << "\n";
      return Status::OK();
    }
    for (const auto& [key, value] : j.items()) {
      std::cout << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump())
                << "\n";
    }
    return Status::OK();
  });
}

Status Request(FailuresFlags& f, const std::string& request) {
  FERRY_ASSIGN_OR_RETURN(f.access.rule, apply::ParseConflictRule(f.conflict));
  f.access.timeout = std::chrono::seconds(f.timeout_s);
  FERRY_ASSIGN_OR_RETURN(std::string text, RunFailureRequest(f.access, request));
  std::cout << text << "\n";
  return Status::OK();
}

void AddStateDirFlag(CLI::App* cmd, FailuresFlags* f) {
  cmd->add_option("--state-dir", f->access.state_dir, "apply's --state-dir")
      ->envname("FERRY_STATE_DIR")
      ->required();
}

CLI::App* AddSub(CLI::App* parent, const std::string& name, const std::string& help,
                 std::shared_ptr<FailuresFlags> f, int* exit_code,
                 std::function<Status(FailuresFlags&)> run) {
  CLI::App* cmd = parent->add_subcommand(name, help);
  AddStateDirFlag(cmd, f.get());
  AddLogLevelFlag(cmd, &f->log_level);
  cmd->callback([f, exit_code, run, name] {
    InitLogging(f->log_level, "failures");
    *exit_code = ExitCode(run(*f), "failures " + name);
  });
  return cmd;
}

void AddIdArg(CLI::App* cmd, FailuresFlags* f) {
  cmd->add_option("ID", f->id, "Parked event id (from `ferry failures list`)")->required();
}

void AddReplayFlags(CLI::App* cmd, FailuresFlags* f) {
  cmd->add_option("--target", f->access.target_conninfo,
                  "Target connection string; needed when apply is not running")
      ->envname("FERRY_TARGET");
  cmd->add_option("--conflict", f->conflict, "Conflict rule, as apply's")->capture_default_str();
  cmd->add_option("--timeout", f->timeout_s, "Seconds to wait for a running apply to answer")
      ->capture_default_str();
}

}  // namespace

void AddFailuresCommand(CLI::App& app, int* exit_code) {
  CLI::App* cmd = app.add_subcommand(
      "failures", "Inspect and handle events apply parked (--on-error park/retry); works whether "
                  "apply is running or not");
  cmd->require_subcommand(1);
  auto f = std::make_shared<FailuresFlags>();
  CLI::App* list = AddSub(cmd, "list", "List parked events in park order", f, exit_code, List);
  list->add_flag("--json", f->json, "JSON instead of text");
  CLI::App* show = AddSub(cmd, "show", "Show one parked event, its error and payload", f,
                          exit_code, Show);
  AddIdArg(show, f.get());
  show->add_flag("--json", f->json, "JSON instead of text");
  CLI::App* retry = AddSub(cmd, "retry", "Replay one parked event now (the first of its row)", f,
                           exit_code,
                           [](FailuresFlags& f) { return Request(f, "retry " + std::to_string(f.id)); });
  AddIdArg(retry, f.get());
  AddReplayFlags(retry, f.get());
  CLI::App* drop = AddSub(cmd, "drop", "Delete one parked event for good (it is logged)", f,
                          exit_code,
                          [](FailuresFlags& f) { return Request(f, "drop " + std::to_string(f.id)); });
  AddIdArg(drop, f.get());
  drop->add_option("--timeout", f->timeout_s, "Seconds to wait for a running apply to answer")
      ->capture_default_str();
}

void AddReconcileCommand(CLI::App& app, int* exit_code) {
  auto f = std::make_shared<FailuresFlags>();
  auto once = std::make_shared<bool>(false);
  f->log_level = "info";
  CLI::App* cmd = app.add_subcommand(
      "reconcile", "Replay parked events whose cause is fixed, in order per row (a running apply "
                   "does this by itself every second)");
  AddStateDirFlag(cmd, f.get());
  AddReplayFlags(cmd, f.get());
  cmd->add_flag("--once", *once, "One pass, then exit (the only mode so far)")->required();
  AddLogLevelFlag(cmd, &f->log_level);
  cmd->callback([f, exit_code] {
    InitLogging(f->log_level, "reconcile");
    *exit_code = ExitCode(Request(*f, "reconcile"), "reconcile");
  });
}

}  // namespace ferry::cli
