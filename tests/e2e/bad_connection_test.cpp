// A connection the server refuses for who we are or what we ask for is a
// configuration mistake, not an outage: capture, apply and validate exit 2 at
// once with the server's message (wrong or missing password, a database that
// does not exist, a role without LOGIN). A server that is down is retried: the
// process keeps running, says so, and goes on once the server is back.
#include <gtest/gtest.h>

#include <chrono>

#include "tests/support/eventually.h"
#include "tests/support/ferry_command.h"
#include "tests/support/pipeline.h"

namespace ferry::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class BadConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = Pipeline::Start("badconn");
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pl_ = std::move(p).value();
    for (PgCluster* c : {&pl_->source(), &pl_->target()}) {
      c->Sql("CREATE ROLE ferry_pw LOGIN SUPERUSER PASSWORD 'right'");
      c->Sql("CREATE ROLE ferry_nologin NOLOGIN SUPERUSER");
      ASSERT_TRUE(c->PrependHbaRule("local all ferry_pw scram-sha-256").ok());
    }
  }

  // `ferry <args>` must exit 2 within a few seconds, its log naming `expected`.
  void ExpectConfigError(const std::string& name, std::vector<std::string> args,
                         const std::vector<std::string>& expected) {
    args.insert(args.begin(), FerryBinary());
    ChildProcess p;
    ASSERT_TRUE(p.Start(args, pl_->dir() + "/" + name + ".log"));
    auto start = std::chrono::steady_clock::now();
    int code = p.Wait(milliseconds(15000));
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string log = ReadWholeFile(p.log_path());
    EXPECT_EQ(code, 2) << name << ": a configuration error must not be retried:\n" << log;
    EXPECT_LT(took, 5.0) << name << ":\n" << log;
    for (const auto& text : expected) EXPECT_NE(log.find(text), std::string::npos) << name << ":\n" << log;
    std::printf("%s: exit %d after %.2f s\n", name.c_str(), code, took);
  }

  std::vector<std::string> Capture(const std::string& source) {
    return {"capture", "--source", source, "--brokers", pl_->brokers(), "--state-dir", pl_->dir() + "/cs"};
  }
  std::vector<std::string> Apply(const std::string& target) {
    return {"apply", "--target", target, "--brokers", pl_->brokers(), "--state-dir", pl_->dir() + "/as"};
  }

  std::unique_ptr<Pipeline> pl_;
};

TEST_F(BadConnectionTest, RefusedConnectionsExitTwoAtOnceWithTheServersMessage) {
  const std::string src = pl_->source().conninfo(), dst = pl_->target().conninfo();
  ExpectConfigError("capture-wrong-password", Capture(src + " user=ferry_pw password=wrong"),
                    {"password authentication failed for user \"ferry_pw\"", "28P01"});
  ExpectConfigError("apply-wrong-password", Apply(dst + " user=ferry_pw password=wrong"),
                    {"password authentication failed for user \"ferry_pw\"", "28P01"});
  ExpectConfigError("apply-no-password", Apply(dst + " user=ferry_pw"),
                    {"asks for a password and none was given"});
  ExpectConfigError("capture-missing-database", Capture(src + " dbname=no_such_db"),
                    {"database \"no_such_db\" does not exist", "3D000"});
  ExpectConfigError("apply-role-without-login", Apply(dst + " user=ferry_nologin"),
                    {"role \"ferry_nologin\" is not permitted to log in", "28000"});
  ExpectConfigError("validate-wrong-password",
                    {"validate", "--source", src + " user=ferry_pw password=wrong", "--target", dst},
                    {"password authentication failed"});
  // The right password gets in (the rule asks for one, it is not a blanket refusal).
  FerryRun ok = RunFerry({"validate", "--source", src + " user=ferry_pw password=right", "--target", dst},
                         pl_->dir() + "/validate-ok.log");
  EXPECT_EQ(ok.exit_code, 0) << ReadWholeFile(pl_->dir() + "/validate-ok.log");
}

TEST_F(BadConnectionTest, ServerThatIsDownIsRetriedUntilItIsBack) {
  pl_->CreateOnBoth("CREATE TABLE t (id int PRIMARY KEY)");
  ASSERT_TRUE(pl_->source().Stop().ok());
  ASSERT_TRUE(pl_->target().Stop().ok());
  ASSERT_TRUE(pl_->StartCapture({"--snapshot", "never"}));
  ASSERT_TRUE(pl_->StartApply());
  auto says_retrying = [](ChildProcess& p) {
    return ReadWholeFile(p.log_path()).find("cannot connect to PostgreSQL") != std::string::npos &&
           ReadWholeFile(p.log_path()).find("retrying") != std::string::npos;
  };
  EXPECT_TRUE(Eventually([&] { return says_retrying(pl_->capture()); }, seconds(15)))
      << pl_->capture().LogTail();
  EXPECT_TRUE(Eventually([&] { return says_retrying(pl_->apply()); }, seconds(15))) << pl_->apply().LogTail();
  ASSERT_TRUE(pl_->capture().running()) << pl_->capture().LogTail();
  ASSERT_TRUE(pl_->apply().running()) << pl_->apply().LogTail();

  ASSERT_TRUE(pl_->source().Restart().ok());
  ASSERT_TRUE(pl_->target().Restart().ok());
  ASSERT_TRUE(pl_->WaitCaptureStreaming(seconds(60))) << pl_->capture().LogTail();
  pl_->source().Sql("INSERT INTO t SELECT generate_series(1, 10)");
  EXPECT_TRUE(pl_->WaitConverged("t", "id", seconds(60))) << pl_->Diff("t", "id") << pl_->apply().LogTail();
}

}  // namespace
}  // namespace ferry::testing
