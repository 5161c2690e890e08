// `ferry cutover` as a runbook runs it, against the whole pipeline, with an
// application role writing to the source through a sequence:
//   - with apply stopped, cutover --fence times out waiting for zero lag, says
//     NOT READY, exits 1, and lifts its fence (the application writes again);
//   - with apply running, cutover --fence stops the application's writes,
//     waits for zero lag, validates, carries the sequences, exits 0: every row
//     the application committed is on the target, and the target's next ids
//     follow the source's;
//   - cutover --unfence gives the source back to the application.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "tests/support/ferry_command.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

// The application: inserts into `orders` (a bigserial key) as role `app`, and
// draws invoice numbers from a standalone sequence, until the source refuses.
class App {
 public:
  explicit App(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  ~App() { Stop(); }
  void Start() {
    stop_ = false;
    error_.clear();
    failed_ = false;
    thread_ = std::thread([this] {
      // Like an application's pool: a lost connection is reconnected; a
      // refused write ends the run.
      auto conn = PgConn::Connect(conninfo_);
      while (!stop_) {
        if (!conn.ok()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          conn = PgConn::Connect(conninfo_);
          continue;
        }
        auto r = conn->Exec("INSERT INTO orders (invoice, note) VALUES (nextval('invoice_no'), 'o''k')");
        if (r.ok()) {
          ++committed_;
        } else if (r.status().code() == Status::Code::kUnavailable) {
          conn = r.status();
        } else {
          error_ = r.status().ToString();
          failed_ = true;
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Waits until the app has committed `n` more rows; false on timeout.
  bool WaitProgress(int64_t n) {
    int64_t goal = committed_ + n;
    for (int i = 0; i < 600 && committed_ < goal && !failed_; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return committed_ >= goal;
  }
  // REQUIRES: Stop() was called, or WaitProgress() returned false.
  std::string error() const { return failed_ ? error_ : ""; }

 private:
  std::string conninfo_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> committed_{0};
  std::atomic<bool> failed_{false};
  std::string error_;  // written before failed_ is set; read once the thread has ended
  std::thread thread_;
};

class CutoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = Pipeline::Start("cutover");
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pl_ = std::move(p).value();
    pl_->CreateOnBoth(
        "CREATE SEQUENCE invoice_no START 1000;"
        "CREATE TABLE orders (id bigserial PRIMARY KEY, invoice bigint NOT NULL, note text);");
    pl_->source().Sql(
        "CREATE ROLE app LOGIN;"
        "GRANT ALL ON ALL TABLES IN SCHEMA public TO app;"
        "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app;");
    ASSERT_TRUE(pl_->StartCapture());
    ASSERT_TRUE(pl_->WaitCaptureStreaming()) << pl_->capture().LogTail();
  }

  FerryRun Cutover(const std::vector<std::string>& extra) {
    std::vector<std::string> args{"cutover",        "--source",  pl_->source().conninfo(),
                                  "--target",       pl_->target().conninfo(),
                                  "--slot",         "ferry",     "--brokers", pl_->brokers(),
                                  "--group",        "ferry-apply", "--topic-prefix", "ferry",
                                  "--settle-timeout", "5s"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunFerry(args, pl_->dir() + "/cutover.log");
  }

  std::string AppConninfo() { return pl_->source().conninfo() + " user=app"; }

  std::unique_ptr<Pipeline> pl_;
};

TEST_F(CutoverTest, FencesWaitsValidatesCarriesSequencesAndRollsBackWhenNotReady) {
  App app(AppConninfo());
  app.Start();
  ASSERT_TRUE(app.WaitProgress(50)) << app.error();

  // Apply is not running: lag cannot reach zero. Not ready, and the fence is lifted.
  FerryRun failed = Cutover({"--fence", "--timeout", "3s"});
  EXPECT_EQ(failed.exit_code, 1) << failed.out;
  EXPECT_NE(failed.out.find("NOT READY (wait for zero lag failed)"), std::string::npos) << failed.out;
  EXPECT_NE(failed.out.find("lifted again"), std::string::npos) << failed.out;
  app.Stop();
  EXPECT_NE(app.error().find("read-only"), std::string::npos)
      << "the fence should have stopped the application: " << app.error();
  app.Start();
  EXPECT_TRUE(app.WaitProgress(50)) << "the failed cutover left the source fenced: " << app.error();

  // Apply running, the application busy: cutover goes through.
  ASSERT_TRUE(pl_->StartApply());
  FerryRun ok = Cutover({"--fence", "--timeout", "120s"});
  ASSERT_EQ(ok.exit_code, 0) << ok.out << pl_->apply().LogTail();
  EXPECT_NE(ok.out.find("READY to take traffic"), std::string::npos) << ok.out;
  std::printf("%s", ok.out.c_str());
  app.Stop();
  EXPECT_NE(app.error().find("read-only"), std::string::npos) << app.error();

  // Every row the application committed is on the target, without waiting.
  EXPECT_EQ(pl_->Diff("orders", "id"), "");
  // The sequences carried over: the target's next values follow the source's.
  for (const char* seq : {"orders_id_seq", "invoice_no"}) {
    std::string q = std::string("SELECT last_value || ',' || is_called FROM ") + seq;
    EXPECT_EQ(pl_->target().Sql(q), pl_->source().Sql(q)) << seq;
  }
  // The fence may end a session between its nextval() and its commit, so the
  // source's sequence can be ahead of max(id): the target must continue from
  // the sequence, never reuse an id the source has committed.
  int64_t source_last = std::stoll(pl_->source().Sql("SELECT last_value FROM orders_id_seq"));
  int64_t target_next = std::stoll(pl_->target().Sql("SELECT nextval('orders_id_seq')"));
  EXPECT_EQ(target_next, source_last + 1);
  EXPECT_GT(target_next, std::stoll(pl_->source().Sql("SELECT max(id) FROM orders")));

  // Rollback: the source takes the application's writes again.
  FerryRun unfence = Cutover({"--unfence", "--json"});
  ASSERT_EQ(unfence.exit_code, 0) << unfence.out;
  EXPECT_NE(unfence.out.find("\"state\": \"rolled back\""), std::string::npos) << unfence.out;
  app.Start();
  EXPECT_TRUE(app.WaitProgress(10)) << app.error();
  app.Stop();
}

}  // namespace
}  // namespace ferry::testing
