// `ferry failures list|show ID|retry ID|drop ID --state-dir DIR`: what apply
// parked, and what to do with it. Works whether apply runs or not
// (cli/failure_access.h).

#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/cli_support.h"
#include "cli/commands.h"
#include "cli/failure_access.h"
#include "common/logging.h"
#include "transport/change_event.pb.h"

namespace ferry::cli {

namespace {

using checkpoint::ParkedEvent;

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

Status List(const FailureFlags& f) {
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

Status Show(const FailureFlags& f) {
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

CLI::App* AddSub(CLI::App* parent, const std::string& name, const std::string& help,
                 std::shared_ptr<FailureFlags> f, int* exit_code,
                 std::function<Status(FailureFlags&)> run) {
  CLI::App* cmd = parent->add_subcommand(name, help);
  AddStateDirFlag(cmd, f.get());
  AddLogLevelFlag(cmd, &f->log_level);
  cmd->callback([f, exit_code, run, name] {
    InitLogging(f->log_level, "failures");
    *exit_code = ExitCode(run(*f), "failures " + name);
  });
  return cmd;
}

void AddIdArg(CLI::App* cmd, FailureFlags* f) {
  cmd->add_option("ID", f->id, "Parked event id (from `ferry failures list`)")->required();
}

}  // namespace

void AddFailuresCommand(CLI::App& app, int* exit_code) {
  CLI::App* cmd = app.add_subcommand(
      "failures", "Inspect and handle events apply parked (--on-error park/retry); works whether "
                  "apply is running or not");
  cmd->require_subcommand(1);
  auto f = std::make_shared<FailureFlags>();
  CLI::App* list = AddSub(cmd, "list", "List parked events in park order", f, exit_code, List);
  list->add_flag("--json", f->json, "JSON instead of text");
  CLI::App* show = AddSub(cmd, "show", "Show one parked event, its error and payload", f,
                          exit_code, Show);
  AddIdArg(show, f.get());
  show->add_flag("--json", f->json, "JSON instead of text");
  CLI::App* retry = AddSub(cmd, "retry", "Replay one parked event now (the first of its row)", f,
                           exit_code,
                           [](FailureFlags& f) { return RunAndPrint(f, "retry " + std::to_string(f.id)); });
  AddIdArg(retry, f.get());
  AddReplayFlags(retry, f.get());
  CLI::App* drop = AddSub(cmd, "drop", "Delete one parked event for good (it is logged)", f,
                          exit_code,
                          [](FailureFlags& f) { return RunAndPrint(f, "drop " + std::to_string(f.id)); });
  AddIdArg(drop, f.get());
  AddTimeoutFlag(drop, f.get());
}

}  // namespace ferry::cli
