// PgConn's bounds on a server that goes silent, and TerminateBackend, against
// a real cluster.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/pg.h"
#include "common/server_wait.h"
#include "tests/support/eventually.h"
#include "tests/support/pg_cluster.h"

namespace ferry::testing {
namespace {

class PgConnTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = PgCluster::Start("pgconnect", /*logical=*/false);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cluster_ = std::move(c).value().release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  static PgCluster* cluster_;
};

PgCluster* PgConnTest::cluster_ = nullptr;

// The value libpq uses for `keyword` on a live connection.
std::string Setting(const PgConn& conn, const std::string& keyword) {
  std::string value = "<unset>";
  PQconninfoOption* options = PQconninfo(conn.get());
  for (PQconninfoOption* o = options; o != nullptr && o->keyword != nullptr; ++o) {
    if (keyword == o->keyword && o->val != nullptr) value = o->val;
  }
  PQconninfoFree(options);
  return value;
}

TEST_F(PgConnTest, KeepalivesAndTimeoutsBoundASilentServerUnlessTheConnectionStringSetsThem) {
  auto conn = PgConn::Connect(cluster_->conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(Setting(*conn, "connect_timeout"), "10");
  EXPECT_EQ(Setting(*conn, "keepalives"), "1");
  EXPECT_EQ(Setting(*conn, "keepalives_idle"), "30");
  EXPECT_EQ(Setting(*conn, "keepalives_interval"), "10");
  EXPECT_EQ(Setting(*conn, "keepalives_count"), "3");
  EXPECT_EQ(Setting(*conn, "tcp_user_timeout"), "60000");

  auto custom =
      PgConn::Connect(cluster_->conninfo() + " keepalives_idle=7 tcp_user_timeout=1234 connect_timeout=4");
  ASSERT_TRUE(custom.ok()) << custom.status().ToString();
  EXPECT_EQ(Setting(*custom, "keepalives_idle"), "7");
  EXPECT_EQ(Setting(*custom, "tcp_user_timeout"), "1234");
  EXPECT_EQ(Setting(*custom, "connect_timeout"), "4");
  EXPECT_EQ(Setting(*custom, "keepalives_interval"), "10");  // the rest keep ferry's defaults
}

TEST_F(PgConnTest, TerminateBackendEndsTheServerProcessOfAConnection) {
  auto victim = PgConn::Connect(cluster_->conninfo(), {{"application_name", "ferry-test-victim"}});
  ASSERT_TRUE(victim.ok()) << victim.status().ToString();
  std::string pid = std::to_string(PQbackendPID(victim->get()));
  ASSERT_EQ(cluster_->Sql("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid), "1");

  Status st = TerminateBackend(victim->get());
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::string gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid;
  EXPECT_TRUE(Eventually([&] { return cluster_->Sql(gone) == "0"; }, std::chrono::seconds(10)));
  auto after = victim->Exec("SELECT 1");
  EXPECT_TRUE(after.status().IsRetriable()) << after.status().ToString();
}

TEST_F(PgConnTest, ExecGivesUpAServerProcessThatStoppedAnsweringAndEndsIt) {
  auto conn = PgConn::Connect(cluster_->conninfo(), {{"application_name", "ferry-test-frozen"}});
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  int pid = PQbackendPID(conn->get());
  SetStallTimeout(std::chrono::seconds(1));
  kill(pid, SIGSTOP);
  auto start = std::chrono::steady_clock::now();
  auto r = conn->Exec("SELECT 1");
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  kill(pid, SIGCONT);
  SetStallTimeout(std::chrono::minutes(5));

  EXPECT_TRUE(r.status().IsRetriable()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("stopped answering"), std::string::npos) << r.status().ToString();
  EXPECT_GE(took, 1.0);
  EXPECT_LT(took, 4.0);
  // Ended rather than left to run what it was sent once resumed.
  std::string gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid);
  EXPECT_TRUE(Eventually([&] { return cluster_->Sql(gone) == "0"; }, std::chrono::seconds(10)));
}

// Rows as they come, each one line; a COPY the server fails halfway, a
// statement that is not a COPY, and a row the caller refuses are errors.
TEST_F(PgConnTest, CopyOutHandsOverEachRowAndReportsAFailureHalfway) {
  auto conn = PgConn::Connect(cluster_->conninfo());
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  std::vector<std::string> rows;
  auto keep = [&](std::string_view row) {
    rows.emplace_back(row);
    return Status::OK();
  };
  Status st = conn->CopyOut("COPY (SELECT g, 'a' || chr(9) || 'b' FROM generate_series(1, 3) g) TO STDOUT", keep);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(rows, (std::vector<std::string>{"1\ta\\tb\n", "2\ta\\tb\n", "3\ta\\tb\n"}));  // the tab in a value escaped
  auto usable = conn->QueryScalar("SELECT 7");
  ASSERT_TRUE(usable.ok()) << usable.status().ToString();
  EXPECT_EQ(*usable, "7");

  rows.clear();
  st = conn->CopyOut("COPY (SELECT 10 / (100000 - g) FROM generate_series(1, 200000) g) TO STDOUT", keep);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("division by zero"), std::string::npos) << st.ToString();
  EXPECT_GT(rows.size(), 0u) << "rows before the failure came as they were sent";
  EXPECT_LT(rows.size(), 100000u);

  auto fresh = PgConn::Connect(cluster_->conninfo());
  ASSERT_TRUE(fresh.ok());
  st = fresh->CopyOut("SELECT 1", keep);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  auto again = PgConn::Connect(cluster_->conninfo());
  ASSERT_TRUE(again.ok());
  st = again->CopyOut("COPY (SELECT 1) TO STDOUT", [](std::string_view) { return Status::Aborted("enough"); });
  EXPECT_EQ(st.code(), Status::Code::kAborted) << st.ToString();
}

}  // namespace
}  // namespace ferry::testing
