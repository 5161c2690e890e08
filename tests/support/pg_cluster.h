// A throwaway PostgreSQL 15 cluster for tests, started through
// scripts/pg-cluster.sh (the same script the demo uses). Unix socket only, in its
// own folder under /tmp, so clusters never clash. Stopped and removed on destruction.
#pragma once

#include <memory>
#include <string>

#include "common/pg.h"
#include "common/status.h"

namespace ferry::testing {

class PgCluster {
 public:
  // logical: wal_level=logical (a source). name: folder prefix, for debugging.
  static Result<std::unique_ptr<PgCluster>> Start(const std::string& name, bool logical);
  ~PgCluster();

  const std::string& conninfo() const { return conninfo_; }
  const std::string& dir() const { return dir_; }
  Result<PgConn> Connect() const { return PgConn::Connect(conninfo_); }

  // Runs SQL and fails the calling test on error; returns the first value of the
  // first row ("" when there is none).
  std::string Sql(const std::string& sql) const;

  // Puts `rule` first in pg_hba.conf (so it wins over the trust rules) and
  // reloads the server: e.g. "local all alice scram-sha-256".
  Status PrependHbaRule(const std::string& rule);

  Status Stop(const std::string& mode = "fast");
  Status Restart();
  // Starts another cluster in this folder, after the test moved the stopped
  // one's data directory away: a fresh initdb, so another system identifier
  // (every other start copies one initdb's files: pg-cluster.sh --from-template).
  Status StartAnotherCluster();

 private:
  PgCluster(std::string dir, bool logical) : dir_(std::move(dir)), logical_(logical) {}
  Status StartServer(bool from_template = true);
  std::string dir_;
  bool logical_;
  std::string conninfo_;
};

// Runs a shell command; returns its exit status.
int RunShell(const std::string& command);

// A new empty folder under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace ferry::testing
