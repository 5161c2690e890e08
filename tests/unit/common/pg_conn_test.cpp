// PgConn's bounds on a server that goes silent, against a real cluster.
#include <gtest/gtest.h>

#include <chrono>

#include "common/pg.h"
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

}  // namespace
}  // namespace ferry::testing
