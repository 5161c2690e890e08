// kill -9 apply, then capture, in the middle of a running workload; restart
// both: the target equals the source, nothing lost, nothing doubled.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <thread>

#include "tests/e2e/workload.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Small transactions touching every table, as fast as one connection goes.
class Workload {
 public:
  explicit Workload(const PgCluster& source) : source_(source) {}
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
    if (!conn.ok()) {
      error_ = conn.status().ToString();
      return;
    }
    for (int64_t i = 1; !stop_; ++i) {
      std::string n = std::to_string(i);
      auto r = conn->Exec(
          "BEGIN;"
          "INSERT INTO events VALUES (" + n + ", 'tx " + n + "', now());"
          "INSERT INTO accounts (id, name, balance) VALUES (" + std::to_string(i % 500) + ", 'a', " + n +
          ") ON CONFLICT (id) DO UPDATE SET balance = accounts.balance + 1, name = 'u" + n + "';"
          "INSERT INTO order_items VALUES (" + std::to_string(i % 97) + ", " + std::to_string(i % 7) +
          ", 'sku', 1) ON CONFLICT (order_id, line) DO UPDATE SET qty = order_items.qty + 1;"
          "DELETE FROM events WHERE id = " + std::to_string(i - 40) + " AND " + n + " % 3 = 0;"
          "COMMIT;");
      if (!r.ok()) {
        error_ = r.status().ToString();
        return;
      }
      ++txs_;
    }
  }
  const PgCluster& source_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> txs_{0};
  std::string error_;
  std::thread thread_;
};

TEST(CrashTest, KillNineApplyThenCaptureMidWorkloadLosesAndDoublesNothing) {
  auto p = Pipeline::Start("crash");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Pipeline& pl = **p;
  pl.CreateOnBoth(kWorkloadSchema);
  ASSERT_TRUE(pl.StartApply());
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.WaitCaptureStreaming()) << pl.capture().LogTail();

  Workload w(pl.source());
  w.Start();
  std::this_thread::sleep_for(seconds(3));
  pl.apply().Kill();
  std::this_thread::sleep_for(seconds(1));
  pl.capture().Kill();
  int64_t at_kill = w.transactions();
  std::this_thread::sleep_for(seconds(1));
  ASSERT_TRUE(pl.StartCapture());
  ASSERT_TRUE(pl.StartApply());
  std::this_thread::sleep_for(seconds(3));
  w.Stop();
  ASSERT_EQ(w.error(), "");
  ASSERT_GT(at_kill, 100) << "the workload should have been running when the processes died";
  ASSERT_GT(w.transactions(), at_kill) << "the workload should have gone on after the crash";

  for (const auto& [table, order] : kWorkloadTables) {
    EXPECT_TRUE(pl.WaitConverged(table, order, seconds(120)))
        << pl.Diff(table, order) << "\ncapture log:\n" << pl.capture().LogTail()
        << "\napply log:\n" << pl.apply().LogTail();
  }
}

}  // namespace
}  // namespace ferry::testing
