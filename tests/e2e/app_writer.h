// An application writing to one database, for the rollback and bidirectional
// tests: each round is one transaction of the statements `round(n)` returns
// (INSERT, UPDATE, DELETE; an empty one is skipped),
// and the writer counts the rows those statements changed (each is one change
// event a capture of that database publishes). Like an application's pool, a
// lost connection is reconnected and the round tried again; any other refusal
// (a fence: "read-only transaction") ends the run, its error kept.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/pg.h"

namespace ferry::testing {

class AppWriter {
 public:
  using Round = std::function<std::vector<std::string>(int64_t n)>;
  AppWriter(std::string conninfo, Round round) : conninfo_(std::move(conninfo)), round_(std::move(round)) {}
  ~AppWriter() { Stop(); }

  void Start() {
    stop_ = false;
    failed_ = false;
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Waits until `n` more rounds committed; false on timeout or failure.
  bool WaitRounds(int64_t n, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    int64_t goal = rounds_ + n;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (rounds_ < goal && !failed_ && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return rounds_ >= goal;
  }
  int64_t rounds() const { return rounds_; }
  int64_t rows_changed() const { return rows_; }
  // REQUIRES: Stop() was called, or WaitRounds() returned false.
  std::string error() const { return failed_ ? error_ : ""; }

 private:
  void Run() {
    Result<PgConn> conn = PgConn::Connect(conninfo_);
    while (!stop_) {
      if (!conn.ok()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        conn = PgConn::Connect(conninfo_);
        continue;
      }
      Result<int64_t> changed = RunRound(*conn, next_round_);
      if (changed.ok()) {
        rows_ += *changed;
        ++next_round_;
        ++rounds_;
      } else if (changed.status().code() == Status::Code::kUnavailable) {
        conn = changed.status();  // reconnect; the round is tried again
      } else {
        error_ = changed.status().ToString();
        failed_ = true;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  Result<int64_t> RunRound(const PgConn& conn, int64_t n) {
    FERRY_RETURN_IF_ERROR(conn.Exec("BEGIN").status());
    int64_t changed = 0;
    for (const auto& sql : round_(n)) {
      if (sql.empty()) continue;
      Result<PgResult> r = conn.Exec(sql);
      if (!r.ok()) {
        conn.Exec("ROLLBACK").status().PermitUncheckedError();
        return r.status();
      }
      const char* tuples = PQcmdTuples(r->get());
      if (tuples != nullptr && *tuples != '\0') changed += std::stoll(tuples);
    }
    FERRY_RETURN_IF_ERROR(conn.Exec("COMMIT").status());
    return changed;
  }

  std::string conninfo_;
  Round round_;
  int64_t next_round_ = 1;  // the writer thread's alone
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::atomic<int64_t> rounds_{0};
  std::atomic<int64_t> rows_{0};
  std::string error_;  // written before failed_ is set
  std::thread thread_;
};

}  // namespace ferry::testing
