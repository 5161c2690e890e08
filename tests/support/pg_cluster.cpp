#include "tests/support/pg_cluster.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "tests/support/process.h"

namespace ferry::testing {

namespace {
std::string Script() { return std::string(FERRY_SOURCE_DIR) + "/scripts/pg-cluster.sh"; }

Result<std::string> RunCapture(const std::string& command) {
  ShellResult r = RunShellCommand(command);
  if (r.status != 0) return Status::Internal("command failed (" + std::to_string(r.status) + "): " + command);
  while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}
}  // namespace

int RunShell(const std::string& command) { return RunShellCommand(command).status; }

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/ferry-" + prefix + "-XXXXXX";
  char* made = mkdtemp(tmpl.data());
  path_ = made ? made : "";
  if (made) chmod(made, 0755);
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

Result<std::unique_ptr<PgCluster>> PgCluster::Start(const std::string& name, bool logical) {
  std::string tmpl = "/tmp/ferry-pg-" + name + "-XXXXXX";
  char* made = mkdtemp(tmpl.data());
  if (made == nullptr) return Status::IOError("mkdtemp failed");
  chmod(made, 0755);
  std::unique_ptr<PgCluster> c(new PgCluster(made, logical));
  FERRY_RETURN_IF_ERROR(c->StartServer());
  return c;
}

Status PgCluster::StartServer(bool from_template) {
  std::string cmd = Script() + " start " + dir_ + (logical_ ? " --logical" : "") +
                    (from_template ? " --from-template" : "");
  FERRY_ASSIGN_OR_RETURN(conninfo_, RunCapture(cmd));
  return Status::OK();
}

Status PgCluster::Stop(const std::string& mode) {
  if (RunShell(Script() + " stop " + dir_ + " " + mode) != 0) {
    return Status::Internal("stopping cluster " + dir_ + " failed");
  }
  return Status::OK();
}

Status PgCluster::Restart() { return StartServer(); }

Status PgCluster::StartAnotherCluster() { return StartServer(/*from_template=*/false); }

Status PgCluster::PrependHbaRule(const std::string& rule) {
  std::string path = dir_ + "/data/pg_hba.conf";
  std::string rules;
  {
    std::ifstream in(path);
    if (!in) return Status::IOError("cannot read " + path);
    rules.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::ofstream out(path, std::ios::trunc);
  out << rule << "\n" << rules;
  out.close();
  if (!out) return Status::IOError("cannot write " + path);
  FERRY_ASSIGN_OR_RETURN(PgConn conn, Connect());
  FERRY_ASSIGN_OR_RETURN(std::string loaded, conn.QueryScalar("SELECT pg_conf_load_time()"));
  FERRY_RETURN_IF_ERROR(conn.Exec("SELECT pg_reload_conf()").status());
  // The postmaster reloads asynchronously: wait until it did.
  for (int i = 0; i < 100; ++i) {
    FERRY_ASSIGN_OR_RETURN(std::string now, conn.QueryScalar("SELECT pg_conf_load_time()"));
    if (now != loaded) return Status::OK();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Internal("the server did not reload its configuration");
}

PgCluster::~PgCluster() {
  Stop("immediate").PermitUncheckedError();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string PgCluster::Sql(const std::string& sql) const {
  auto conn = Connect();
  if (!conn.ok()) {
    ADD_FAILURE() << conn.status().ToString();
    return "";
  }
  auto r = conn->Exec(sql);
  if (!r.ok()) {
    ADD_FAILURE() << r.status().ToString();
    return "";
  }
  PGresult* res = r->get();
  if (PQntuples(res) == 0 || PQnfields(res) == 0) return "";
  return PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0);
}

}  // namespace ferry::testing
