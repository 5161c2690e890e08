#include "tests/support/pipeline.h"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <thread>

namespace ferry::testing {

Result<std::unique_ptr<Pipeline>> Pipeline::Start(const std::string& name, bool in_process_broker,
                                                   bool logical_target) {
  std::unique_ptr<Pipeline> p(new Pipeline());
  FERRY_ASSIGN_OR_RETURN(p->source_, PgCluster::Start(name + "-src", true));
  FERRY_ASSIGN_OR_RETURN(p->target_, PgCluster::Start(name + "-dst", logical_target));
  if (in_process_broker) {
    FERRY_ASSIGN_OR_RETURN(p->in_process_broker_, transport::DevBroker::Start({}));
    p->brokers_ = p->in_process_broker_->bootstrap();
    return p;
  }
  std::string file = p->dir() + "/bootstrap";
  if (!p->broker_.Start({FerryBinary(), "dev-broker", "--bootstrap-file", file}, p->dir() + "/broker.log")) {
    return Status::Internal("cannot start dev-broker");
  }
  for (int i = 0; i < 200 && p->brokers_.empty(); ++i) {
    std::ifstream in(file);
    std::getline(in, p->brokers_);
    if (p->brokers_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (p->brokers_.empty()) return Status::Internal("dev-broker wrote no bootstrap address:\n" + p->broker_.LogTail());
  return p;
}

Pipeline::~Pipeline() {
  capture_.Kill();
  apply_.Kill();
  apply2_.Kill();
  reverse_capture_.Kill();
  reverse_apply_.Kill();
  broker_.Kill();
}

void Pipeline::CreateOnBoth(const std::string& ddl) {
  source_->Sql(ddl);
  target_->Sql(ddl);
}

bool Pipeline::StartCapture(const std::vector<std::string>& extra) {
  std::vector<std::string> argv{FerryBinary(), "capture", "--source", source_->conninfo(),
                                "--brokers", brokers_, "--state-dir", dir() + "/state"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return capture_.Start(argv, dir() + "/capture.log");
}

bool Pipeline::StartApply(const std::vector<std::string>& extra) {
  return StartApplyProcess(apply_, "apply", extra);
}

bool Pipeline::StartSecondApply(const std::vector<std::string>& extra) {
  return StartApplyProcess(apply2_, "apply2", extra);
}

bool Pipeline::StartReverseCapture(const std::vector<std::string>& extra) {
  std::vector<std::string> argv{FerryBinary(), "capture", "--source", target_->conninfo(), "--brokers", brokers_,
                                "--state-dir", dir() + "/state-reverse", "--slot", "ferry_reverse",
                                "--publication", "ferry_reverse", "--snapshot", "never",
                                "--topic-prefix", "ferry_reverse", "--flow-control-group", "ferry-apply_reverse"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return reverse_capture_.Start(argv, dir() + "/reverse-capture.log");
}

bool Pipeline::StartReverseApply(const std::vector<std::string>& extra) {
  std::vector<std::string> argv{FerryBinary(), "apply", "--target", source_->conninfo(), "--brokers", brokers_,
                                "--state-dir", dir() + "/state-reverse-apply",
                                "--topic-prefix", "ferry_reverse", "--group", "ferry-apply_reverse",
                                "--kafka-property", "session.timeout.ms=6000",
                                "--kafka-property", "heartbeat.interval.ms=500"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return reverse_apply_.Start(argv, dir() + "/reverse-apply.log");
}

bool Pipeline::WaitReverseCaptureStreaming(std::chrono::seconds timeout) {
  return WaitSlotActive(*target_, reverse_capture_, "ferry_reverse", timeout);
}

int Pipeline::Stop(ChildProcess& p) {
  p.Signal(SIGTERM);
  int code = p.Wait(std::chrono::seconds(30));
  if (code == -1) p.Kill();
  return code;
}

bool Pipeline::StartApplyProcess(ChildProcess& p, const std::string& name,
                                 const std::vector<std::string>& extra) {
  // A restarted member must not wait out a dead one's 45 s default session.
  std::vector<std::string> argv{FerryBinary(), "apply", "--target", target_->conninfo(),
                                "--brokers", brokers_, "--state-dir", dir() + "/state-" + name,
                                "--kafka-property", "session.timeout.ms=6000",
                                "--kafka-property", "heartbeat.interval.ms=500"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return p.Start(argv, dir() + "/" + name + ".log");
}

bool Pipeline::WaitCaptureStreaming(std::chrono::seconds timeout) {
  return WaitSlotActive(*source_, capture_, "ferry", timeout);
}

bool Pipeline::WaitSlotActive(const PgCluster& c, ChildProcess& capture, const std::string& slot,
                              std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline && capture.running()) {
    if (c.Sql("SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = '" + slot + "'") == "1") {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

namespace {

// The rows of a read that failed: its error, so that Diff shows it.
std::vector<std::string> ErrorRows(const Status& s) {
  std::string row = "<";
  row += s.ToString();
  row += '>';
  return {row};
}

}  // namespace

std::vector<std::string> Pipeline::Rows(const PgCluster& c, const std::string& table,
                                        const std::string& order_by) {
  std::vector<std::string> rows;
  auto conn = c.Connect();
  if (!conn.ok()) return ErrorRows(conn.status());
  // Both sides print under the same settings, whatever their databases' defaults.
  auto set = conn->Exec("SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'; "
                        "SET extra_float_digits = 3");
  if (!set.ok()) return ErrorRows(set.status());
  auto r = conn->Exec("SELECT t::text FROM " + table + " t ORDER BY " + order_by);
  if (!r.ok()) return ErrorRows(r.status());
  for (int i = 0; i < PQntuples(r->get()); ++i) rows.emplace_back(PQgetvalue(r->get(), i, 0));
  return rows;
}

std::string Pipeline::Diff(const std::string& table, const std::string& order_by) {
  auto s = Rows(*source_, table, order_by);
  auto t = Rows(*target_, table, order_by);
  if (s == t) return "";
  for (size_t i = 0; i < std::max(s.size(), t.size()); ++i) {
    std::string a = i < s.size() ? s[i] : "<none>";
    std::string b = i < t.size() ? t[i] : "<none>";
    if (a != b) {
      return table + ": " + std::to_string(s.size()) + " source rows, " + std::to_string(t.size()) +
             " target rows; first difference at row " + std::to_string(i) + ":\n  source: " +
             a.substr(0, 300) + "\n  target: " + b.substr(0, 300);
    }
  }
  return "";
}

bool Pipeline::WaitConverged(const std::string& table, const std::string& order_by,
                             std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Diff(table, order_by).empty()) return true;
    // A capture that exited 0 is done (--snapshot only), not dead: apply may
    // still be applying what it sent.
    const bool capture_died = !capture_.running() && capture_.Wait(std::chrono::milliseconds(0)) != 0;
    if (capture_died || !apply_.running()) return Diff(table, order_by).empty();
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return false;
}

}  // namespace ferry::testing
