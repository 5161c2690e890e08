// Rollback after a cutover, as a runbook runs it, with an application writing
// through role `app` (inserts, updates, deletes, ids from a bigserial and
// invoice numbers from a sequence):
//   forward pipeline under load -> `ferry cutover --fence --prepare-rollback`
//   -> the reverse pipeline runs (the commands the report printed) -> the
//   application writes on the target -> `ferry rollback --fence`
// and the source ends holding every write, equal to the target, its sequences
// ahead of every value used, its fence lifted: the application writes there
// again. Once with the reverse capture and apply killed (kill -9) while the
// application writes on the target, and a first rollback that times out while
// the reverse apply is down (state "rolling back", the target kept fenced):
// nothing is lost.
#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/e2e/app_writer.h"
#include "tests/support/eventually.h"
#include "tests/support/ferry_command.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::seconds;

constexpr const char* kSchema =
    "CREATE SEQUENCE invoice_no START 1000;"
    "CREATE TABLE orders (id bigserial PRIMARY KEY, invoice bigint NOT NULL, status text NOT NULL, note text);";
constexpr const char* kAppRole =
    "CREATE ROLE app LOGIN;"
    "GRANT ALL ON ALL TABLES IN SCHEMA public TO app;"
    "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app;";

// A round of the application on the database `where` names: a new order, the
// oldest new one paid, every fifth round the oldest paid one deleted.
AppWriter::Round OrdersRound(const std::string& where) {
  return [where](int64_t n) {
    return std::vector<std::string>{
        "INSERT INTO orders (invoice, status, note) VALUES (nextval('invoice_no'), 'new', '" + where + "')",
        "UPDATE orders SET status = 'paid', note = note || ' paid on " + where +
            "' WHERE id = (SELECT min(id) FROM orders WHERE status = 'new')",
        n % 5 == 0 ? "DELETE FROM orders WHERE id = (SELECT min(id) FROM orders WHERE status = 'paid')"
                   : ""};
  };
}

class RollbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = Pipeline::Start("rollback", /*in_process_broker=*/false, /*logical_target=*/true);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pl_ = std::move(p).value();
    pl_->CreateOnBoth(kSchema);
    pl_->source().Sql(kAppRole);
    pl_->target().Sql(kAppRole);
    ASSERT_TRUE(pl_->StartApply());
    ASSERT_TRUE(pl_->StartCapture());
    ASSERT_TRUE(pl_->WaitCaptureStreaming()) << pl_->capture().LogTail();
  }

  FerryRun Run(const std::string& command, const std::vector<std::string>& extra) {
    std::vector<std::string> args{command, "--source", pl_->source().conninfo(), "--target",
                                  pl_->target().conninfo(), "--brokers", pl_->brokers(), "--settle-timeout", "5s"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunFerry(args, pl_->dir() + "/" + command + ".log");
  }

  // The forward pipeline under load, then the cutover that prepares rollback;
  // the application then moves to the target and the reverse pipeline runs.
  void CutOverWithRollbackPrepared(AppWriter& on_source) {
    on_source.Start();
    ASSERT_TRUE(on_source.WaitRounds(100)) << on_source.error();
    ASSERT_TRUE(Eventually([&] { return pl_->target().Sql("SELECT count(*) FROM orders") != "0"; }, seconds(60)))
        << pl_->apply().LogTail();
    FerryRun cutover = Run("cutover", {"--slot", "ferry", "--group", "ferry-apply", "--topic-prefix", "ferry",
                                       "--fence", "--prepare-rollback", "--timeout", "120s"});
    ASSERT_EQ(cutover.exit_code, 0) << cutover.out << pl_->apply().LogTail();
    std::printf("%s", cutover.out.c_str());
    EXPECT_NE(cutover.out.find("rollback  prepared: slot \"ferry_reverse\""), std::string::npos) << cutover.out;
    EXPECT_NE(cutover.out.find("ferry capture --source"), std::string::npos) << cutover.out;
    EXPECT_NE(cutover.out.find("--snapshot never --topic-prefix 'ferry_reverse'"), std::string::npos)
        << cutover.out;
    EXPECT_NE(cutover.out.find("ferry apply --target"), std::string::npos) << cutover.out;
    on_source.Stop();
    EXPECT_NE(on_source.error().find("read-only"), std::string::npos) << on_source.error();
    // The switch: the forward pipeline is stopped, the reverse one started.
    EXPECT_EQ(Pipeline::Stop(pl_->capture()), 0) << pl_->capture().LogTail();
    EXPECT_EQ(Pipeline::Stop(pl_->apply()), 0) << pl_->apply().LogTail();
    ASSERT_TRUE(pl_->StartReverseCapture());
    ASSERT_TRUE(pl_->StartReverseApply());
    ASSERT_TRUE(pl_->WaitReverseCaptureStreaming()) << pl_->reverse_capture().LogTail();
  }

  // `ferry rollback --fence`: exit 0, state "rolled back"; the application on
  // the target is stopped by the fence.
  void RollBack(AppWriter& on_target) {
    FerryRun rollback = Run("rollback", {"--fence", "--timeout", "120s", "--json"});
    ASSERT_EQ(rollback.exit_code, 0) << rollback.out << pl_->reverse_apply().LogTail()
                                     << pl_->reverse_capture().LogTail();
    auto report = nlohmann::json::parse(rollback.out);
    EXPECT_EQ(report["state"], "rolled back") << rollback.out;
    EXPECT_EQ(report["fence"]["roles"], nlohmann::json::array({"app"})) << rollback.out;
    EXPECT_EQ(report["source_unfenced"]["roles"], nlohmann::json::array({"app"})) << rollback.out;
    on_target.Stop();
    EXPECT_NE(on_target.error().find("read-only"), std::string::npos) << on_target.error();
  }

  // The source holds every write and equals the target; its sequences are
  // ahead of every value used; the application writes there again.
  void ExpectSourceReady(int64_t target_rounds) {
    EXPECT_EQ(pl_->Diff("orders", "id"), "");
    EXPECT_GE(std::stoll(pl_->source().Sql("SELECT count(*) FROM orders WHERE note LIKE '%target%'")),
              target_rounds / 2)
        << "the target's writes reached the source";
    for (const char* seq : {"orders_id_seq", "invoice_no"}) {
      std::string q = std::string("SELECT last_value || ',' || is_called FROM ") + seq;
      EXPECT_EQ(pl_->source().Sql(q), pl_->target().Sql(q)) << seq;
    }
    EXPECT_GT(std::stoll(pl_->source().Sql("SELECT nextval('orders_id_seq')")),
              std::stoll(pl_->target().Sql("SELECT max(id) FROM orders")));
    EXPECT_GT(std::stoll(pl_->source().Sql("SELECT nextval('invoice_no')")),
              std::stoll(pl_->target().Sql("SELECT max(invoice) FROM orders")));
    AppWriter again(pl_->source().conninfo() + " user=app", OrdersRound("source again"));
    again.Start();
    EXPECT_TRUE(again.WaitRounds(10)) << "the source is not writable again: " << again.error();
  }

  std::unique_ptr<Pipeline> pl_;
};

TEST_F(RollbackTest, TheSourceTakesBackEveryWriteMadeOnTheTarget) {
  AppWriter on_source(pl_->source().conninfo() + " user=app", OrdersRound("source"));
  ASSERT_NO_FATAL_FAILURE(CutOverWithRollbackPrepared(on_source));
  AppWriter on_target(pl_->target().conninfo() + " user=app", OrdersRound("target"));
  on_target.Start();
  ASSERT_TRUE(on_target.WaitRounds(300)) << on_target.error();
  ASSERT_NO_FATAL_FAILURE(RollBack(on_target));
  ExpectSourceReady(on_target.rounds());
}

TEST_F(RollbackTest, KilledReverseCaptureAndApplyLoseNothing) {
  AppWriter on_source(pl_->source().conninfo() + " user=app", OrdersRound("source"));
  ASSERT_NO_FATAL_FAILURE(CutOverWithRollbackPrepared(on_source));
  AppWriter on_target(pl_->target().conninfo() + " user=app", OrdersRound("target"));
  on_target.Start();
  ASSERT_TRUE(on_target.WaitRounds(150)) << on_target.error();
  ASSERT_TRUE(Eventually(
      [&] { return pl_->source().Sql("SELECT count(*) FROM orders WHERE note LIKE '%target%'") != "0"; }, seconds(60)))
      << "the reverse pipeline carries writes before it is killed: " << pl_->reverse_apply().LogTail();
  pl_->reverse_capture().Kill();
  pl_->reverse_apply().Kill();
  ASSERT_TRUE(on_target.WaitRounds(150)) << on_target.error();  // written while nothing carries them
  ASSERT_TRUE(pl_->StartReverseCapture());
  ASSERT_TRUE(pl_->StartReverseApply());
  ASSERT_TRUE(on_target.WaitRounds(150)) << on_target.error();
  pl_->reverse_apply().Kill();  // again, mid-stream
  ASSERT_TRUE(on_target.WaitRounds(100)) << on_target.error();
  // A rollback while nothing applies the reverse stream: lag cannot reach zero;
  // the target stays fenced, as asked: rolling back.
  FerryRun early = Run("rollback", {"--fence", "--keep-fence-on-failure", "--timeout", "2s", "--json"});
  EXPECT_EQ(early.exit_code, 1) << early.out;
  auto report = nlohmann::json::parse(early.out);
  EXPECT_EQ(report["state"], "rolling back") << early.out;
  EXPECT_EQ(report["failed_step"], "wait for zero lag") << early.out;
  ASSERT_TRUE(pl_->StartReverseApply());
  ASSERT_NO_FATAL_FAILURE(RollBack(on_target));
  ExpectSourceReady(on_target.rounds());
}

}  // namespace
}  // namespace ferry::testing
