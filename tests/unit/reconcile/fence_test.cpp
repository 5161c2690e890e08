// FenceSource/UnfenceSource against a real cluster: application roles lose
// write access and their sessions, replication and ferry's own role do not.
#include "reconcile/fence.h"

#include <gtest/gtest.h>

#include "tests/support/pg_cluster.h"

namespace ferry::testing {
namespace {

std::string As(const PgCluster& c, const std::string& role) {
  return c.conninfo() + " user=" + role;
}

TEST(FenceTest, ApplicationRolesBecomeReadOnlyWhileReplicationAndFerryGoOn) {
  auto c = PgCluster::Start("fence", /*logical=*/true);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  PgCluster& pg = **c;
  pg.Sql("CREATE ROLE app LOGIN; CREATE ROLE repl LOGIN REPLICATION; "
         "CREATE TABLE orders (id int PRIMARY KEY); GRANT ALL ON orders TO app");

  auto app_session = PgConn::Connect(As(pg, "app"));
  ASSERT_TRUE(app_session.ok()) << app_session.status().ToString();
  ASSERT_TRUE(app_session->Exec("INSERT INTO orders VALUES (1)").ok());
  auto walsender = PgConn::Connect(As(pg, "repl"), {{"replication", "database"}});
  ASSERT_TRUE(walsender.ok()) << walsender.status().ToString();

  auto ferry = pg.Connect();
  ASSERT_TRUE(ferry.ok());
  reconcile::FenceResult fenced;
  Status st = reconcile::FenceSource(*ferry, {}, &fenced);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(fenced.roles, std::vector<std::string>{"app"}) << "superusers and REPLICATION roles are not fenced";
  EXPECT_EQ(fenced.terminated_sessions, 1);

  EXPECT_FALSE(app_session->Exec("SELECT 1").ok()) << "the app's session was terminated";
  auto app_again = PgConn::Connect(As(pg, "app"));
  ASSERT_TRUE(app_again.ok());
  auto write = app_again->Exec("INSERT INTO orders VALUES (2)");
  EXPECT_FALSE(write.ok());
  EXPECT_NE(write.status().message().find("read-only transaction"), std::string::npos) << write.status().ToString();
  EXPECT_TRUE(app_again->Exec("SELECT count(*) FROM orders").ok()) << "reads still work";
  EXPECT_TRUE(walsender->Exec("IDENTIFY_SYSTEM").ok()) << "the walsender is untouched";
  EXPECT_TRUE(ferry->Exec("INSERT INTO orders VALUES (3)").ok()) << "ferry's own session writes";

  // Fencing the replication role by name still spares its walsender.
  reconcile::FenceOptions named;
  named.roles = {"repl"};
  st = reconcile::FenceSource(*ferry, named, &fenced);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(fenced.terminated_sessions, 0);
  EXPECT_TRUE(walsender->Exec("IDENTIFY_SYSTEM").ok()) << "a walsender is never terminated";

  reconcile::FenceResult unfenced;
  st = reconcile::UnfenceSource(*ferry, &unfenced);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(unfenced.roles, (std::vector<std::string>{"app", "repl"}));
  auto app_after = PgConn::Connect(As(pg, "app"));
  ASSERT_TRUE(app_after.ok());
  EXPECT_TRUE(app_after->Exec("INSERT INTO orders VALUES (4)").ok());
  EXPECT_EQ(pg.Sql("SELECT count(*) FROM pg_db_role_setting"), "0") << "no setting left behind";
}

}  // namespace
}  // namespace ferry::testing
