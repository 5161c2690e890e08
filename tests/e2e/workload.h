// The schema and workload the end-to-end tests replicate.
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/pg_cluster.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {

// Three tables covering the types and keys the pipeline must carry exactly:
// composite primary key; text with quotes/unicode/newlines; NULLs; 30-digit
// numeric; timestamptz; jsonb; bytea; text[].
inline const char* kWorkloadSchema = R"sql(
CREATE TABLE accounts (
  id bigint PRIMARY KEY,
  name text,
  balance numeric(40, 8),
  opened timestamptz,
  profile jsonb,
  avatar bytea,
  tags text[]
);
CREATE TABLE order_items (
  order_id int,
  line int,
  sku text NOT NULL,
  qty int,
  PRIMARY KEY (order_id, line)
);
CREATE TABLE events (
  id bigint PRIMARY KEY,
  payload text,
  at timestamptz
);
)sql";

// (table, ORDER BY) pairs to compare.
inline const std::vector<std::pair<std::string, std::string>> kWorkloadTables = {
    {"accounts", "id"}, {"order_items", "order_id, line"}, {"events", "id"}};

// Small transactions touching every table, as fast as one connection goes.
class Workload {
 public:
  // tolerate_outage: a failed transaction (the source restarting) is retried on
  // a new connection instead of ending the workload.
  explicit Workload(const PgCluster& source, bool tolerate_outage = false)
      : source_(source), tolerate_outage_(tolerate_outage) {}
  ~Workload() { Stop(); }
  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t transactions() const { return txs_; }
  std::string error() const { return error_; }

 private:
  void Run() {
    auto conn = source_.Connect();
    for (int64_t i = 1; !stop_; ++i) {
      if (!conn.ok()) {
        if (!tolerate_outage_) {
          error_ = conn.status().ToString();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        conn = source_.Connect();
        --i;
        continue;
      }
      std::string n = std::to_string(i);
      auto r = conn->Exec(
          "BEGIN;"
          "INSERT INTO events VALUES (" + n + ", 'tx " + n + "', now()) ON CONFLICT (id) DO NOTHING;"
          "INSERT INTO accounts (id, name, balance) VALUES (" + std::to_string(i % 500) + ", 'a', " + n +
          ") ON CONFLICT (id) DO UPDATE SET balance = accounts.balance + 1, name = 'u" + n + "';"
          "INSERT INTO order_items VALUES (" + std::to_string(i % 97) + ", " + std::to_string(i % 7) +
          ", 'sku', 1) ON CONFLICT (order_id, line) DO UPDATE SET qty = order_items.qty + 1;"
          "DELETE FROM events WHERE id = " + std::to_string(i - 40) + " AND " + n + " % 3 = 0;"
          "COMMIT;");
      if (!r.ok()) {
        if (!tolerate_outage_) {
          error_ = r.status().ToString();
          return;
        }
        // Whether it committed is unknown; the next attempt reuses the number,
        // and every statement is written to be repeatable.
        conn = source_.Connect();
        --i;
        continue;
      }
      ++txs_;
    }
  }
  const PgCluster& source_;
  bool tolerate_outage_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> txs_{0};
  std::string error_;
  std::thread thread_;
};

// A pipeline over the workload schema: both clusters, the broker, apply and
// capture running, capture streaming.
class WorkloadPipelineTest : public ::testing::Test {
 protected:
  void StartPipeline(const std::string& name) {
    auto p = Pipeline::Start(name);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pl_ = std::move(p).value();
    pl_->CreateOnBoth(kWorkloadSchema);
    ASSERT_TRUE(pl_->StartApply());
    ASSERT_TRUE(pl_->StartCapture());
    ASSERT_TRUE(pl_->WaitCaptureStreaming()) << pl_->capture().LogTail();
  }

  // Every workload table ends equal on both sides.
  void ExpectConverged(std::chrono::seconds timeout = std::chrono::seconds(120)) {
    for (const auto& [table, order] : kWorkloadTables) {
      EXPECT_TRUE(pl_->WaitConverged(table, order, timeout))
          << pl_->Diff(table, order) << "\ncapture log:\n" << pl_->capture().LogTail()
          << "\napply log:\n" << pl_->apply().LogTail();
    }
  }

  std::unique_ptr<Pipeline> pl_;
};

}  // namespace ferry::testing
